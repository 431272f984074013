// test/benchTimeLoop.test.ts: the bench's sampling loop (bench/harness/timeLoop.ts) and its
// check-then-time driver (bench/measure.ts measureTogether) with fake implementations: the
// implementations of one config take turns batch by batch, each gets its own sample count, a
// throwing or empty one ends alone, a wrong or failing check is never timed, rows keep their order.
// No duration is asserted: the fakes return made-up samples.
import { timeInterleaved, timeLoop } from '../bench/harness/timeLoop';
import { Contender, ImplSpec, measureTogether, measureWithFloors } from '../bench/measure';
import type { CpuFloor, FloorProbe } from '../bench/harness/cpuFloor';
import { probeDrift } from '../bench/harness/cpuPeak';
import type { CpuPeak, PeakProbe } from '../bench/harness/cpuPeak';
import { summarize } from '../bench/harness/stats';
import type { Stats } from '../bench/harness/stats';
import type { CheckResult } from '../bench/harness/referenceCheck';

/** A fake batch runner that logs its id per call and returns `count` samples of `value`. */
function fake(id: string, value: number, log: string[], failOnCall?: number) {
  let calls = 0;
  return async (count: number): Promise<number[]> => {
    calls += 1;
    log.push(id);
    if (calls === failOnCall) throw new Error(`${id} broke on call ${calls}`);
    return Array.from({ length: count }, (_, i) => value + (i % 3));
  };
}

describe('timeInterleaved', () => {
  it('alternates the contenders batch by batch and gives each exactly fixedReps samples', async () => {
    const log: string[] = [];
    const out = await timeInterleaved([fake('a', 10, log), fake('b', 10.001, log), fake('c', 10.002, log)],
      { budgetMs: 0, fixedReps: 40, warmupReps: 2 });
    for (const [i, r] of out.entries()) {
      if (r instanceof Error) throw r;
      expect(r.reps).toBe(40);
      expect(r.min).toBe(10 + i / 1000);
      expect(r.median).toBeGreaterThanOrEqual(10);
      expect(r.median).toBeLessThanOrEqual(12.01);
    }
    // The lanes' estimates agree (~11 "ms" a sample → 18 samples a batch), so each round runs a, b,
    // c in that order: no lane runs twice before the others had their turn.
    expect(log.length % 3).toBe(0);
    for (let i = 0; i < log.length; i += 3) expect(log.slice(i, i + 3)).toEqual(['a', 'b', 'c']);
    expect(log.length).toBeGreaterThan(6);
  });

  it('ends a throwing contender alone; the others finish', async () => {
    const log: string[] = [];
    // One warm-up call, then a batch of 40 (200 / 5) and one of the last 20: b's third call is its second timed batch.
    const out = await timeInterleaved([fake('a', 5, log), fake('b', 5, log, 3), fake('c', 5, log)],
      { budgetMs: 0, fixedReps: 60, warmupReps: 1 });
    expect(out[1]).toBeInstanceOf(Error);
    expect((out[1] as Error).message).toBe('b broke on call 3');
    expect(log.filter((id) => id === 'b')).toHaveLength(3);
    for (const i of [0, 2]) expect((out[i] as { reps: number }).reps).toBe(60);
  });

  it('a batch that returns no samples is an error, not an endless loop', async () => {
    const out = await timeInterleaved([async () => [], fake('a', 1, [])], { budgetMs: 0, fixedReps: 5 });
    expect(out[0]).toBeInstanceOf(Error);
    expect((out[0] as Error).message).toMatch(/returned no samples/);
    expect((out[1] as { reps: number }).reps).toBe(5);
  });

  it('with a budget, every contender reaches minReps', async () => {
    const sleepy = (v: number) => async (count: number) => {
      await new Promise((r) => setTimeout(r, 1));
      return Array<number>(count).fill(v);
    };
    const out = await timeInterleaved([sleepy(50), sleepy(400)], { budgetMs: 5, minReps: 7, warmupReps: 1 });
    for (const r of out) expect((r as { reps: number }).reps).toBeGreaterThanOrEqual(7);
  });

  it('timeLoop is the one-contender case and rethrows its error', async () => {
    expect((await timeLoop(fake('a', 3, []), { budgetMs: 0, fixedReps: 9 })).reps).toBe(9);
    await expect(timeLoop(fake('a', 3, [], 2), { budgetMs: 0, fixedReps: 9, warmupReps: 1 })).rejects.toThrow('a broke on call 2');
  });
});

describe('measureTogether', () => {
  const spec = (impl: string): ImplSpec => ({ impl, bytes: 100, flops: 200, copies: 1, tolerance: 1e-3 });
  const verdict = (ok: boolean): CheckResult => ({ ok, relErr: ok ? 1e-4 : 0.5, tolerance: 1e-3, nonFinite: 0, compared: 10 });
  function contender(impl: string, log: string[], check: () => Promise<CheckResult>): Contender {
    return {
      spec: spec(impl),
      check,
      batch: fake(impl, 2, log),
      row: (stats, c) => ({ impl, status: 'ok', stats, bytes: 100, flops: 200, relErr: c.relErr, copies: 1, clock: 'wall' }),
      launch: () => ({ kernel: `${impl}-kernel` }),
    };
  }

  it('times only the contenders whose check passed, side by side, and keeps the rows in order', async () => {
    const log: string[] = [];
    const { rows } = await measureTogether([
      contender('good1', log, async () => verdict(true)),
      contender('wrong', log, async () => verdict(false)),
      contender('throws', log, async () => { throw new TypeError('no such op'); }),
      contender('good2', log, async () => verdict(true)),
    ], { budgetMs: 0, fixedReps: 12, warmupReps: 1 });
    expect(rows.map((r) => [r.impl, r.status])).toEqual([['good1', 'ok'], ['wrong', 'wrong'], ['throws', 'error'], ['good2', 'ok']]);
    expect(log).not.toContain('wrong');
    expect(log).not.toContain('throws');
    expect(log.slice(0, 2)).toEqual(['good1', 'good2']);
    expect(rows[0].stats?.reps).toBe(12);
    expect(rows[3].stats?.reps).toBe(12);
    expect(rows[1].stats).toBeNull();
    expect(rows[1].relErr).toBe(0.5);
    expect(rows[1].launch).toEqual({ kernel: 'wrong-kernel' });
    expect(rows[2].note).toBe('TypeError: no such op');
  });

  it('a contender whose timing throws becomes an error row carrying its check, and recovers before the others go on', async () => {
    const log: string[] = [];
    const recovered: string[] = [];
    const broken: Contender = { ...contender('late', log, async () => verdict(true)), batch: fake('late', 2, log, 2),
      recover: async () => { recovered.push(`after ${log.length} calls`); } };
    const { rows: [row, other] } = await measureTogether([broken, contender('fine', log, async () => verdict(true))],
      { budgetMs: 0, fixedReps: 12, warmupReps: 1 });
    expect(row.status).toBe('error');
    expect(row.relErr).toBe(1e-4);
    expect(row.note).toBe('Error: late broke on call 2');
    // late's second call (its first timed batch) threw: recovered at once, before fine's next turn.
    expect(recovered).toEqual(['after 3 calls']);
    expect(other.status).toBe('ok');
  });

  it('a check that throws is recovered from; a wrong one needs no recovery', async () => {
    const recovered: string[] = [];
    const { rows } = await measureTogether([
      { ...contender('throws', [], async () => { throw new Error('queued'); }), recover: async () => { recovered.push('throws'); } },
      { ...contender('wrong', [], async () => verdict(false)), recover: async () => { recovered.push('wrong'); } },
    ], { budgetMs: 0, fixedReps: 3 });
    expect(rows.map((r) => r.status)).toEqual(['error', 'wrong']);
    expect(recovered).toEqual(['throws']);
  });

  it('measureWithFloors gives each pool its own floor samples and the FMA probe its own', async () => {
    const log: string[] = [];
    const seen: Record<string, number> = {};
    const floor = (threads: number): CpuFloor =>
      ({ bytesPerS: 1, threads, bufferBytes: 1, samples: 1, shape: { streams: 1, prefetchBytes: 0 }, source: 't' });
    // Structural fakes: a probe's batch returns samples of its own value; its refresh records the min it got.
    const floorProbe = (id: string, value: number): FloorProbe => ({
      batch: fake(id, value, log),
      refreshedFloor: (st: Stats | Error | undefined) => {
        seen[id] = st instanceof Error || st === undefined ? -1 : st.min;
        return floor(value);
      },
    }) as unknown as FloorProbe;
    const peak: CpuPeak = { flopsPerS: 1, threads: 2, isa: 'avx512', samples: 1, flopsPerIteration: 512, source: 't' };
    let peakRuns: Stats | null = null;
    const peakProbe = {
      batch: fake('peak', 70, log),
      refreshedPeak: (st: Stats | Error | undefined) => {
        seen.peak = st instanceof Error || st === undefined ? -1 : st.min;
        peakRuns = st instanceof Error || st === undefined ? null : st;
        return { ...peak, flopsPerS: 2 };
      },
    } as unknown as PeakProbe;
    const out = await measureWithFloors([contender('sparq', log, async () => verdict(true))], { budgetMs: 0, fixedReps: 6, warmupReps: 1 },
      [{ floor: floor(2), floorProbe: floorProbe('floor2', 20) }, { floor: floor(3), floorProbe: null }, { floor: floor(1), floorProbe: floorProbe('floor1', 10) }],
      peakProbe);
    expect(seen).toEqual({ floor2: 20, floor1: 10, peak: 70 });
    expect(out.floors.map((f) => f?.threads)).toEqual([20, 3, 10]);
    expect(out.peak?.flopsPerS).toBe(2);
    // the host drift is the spread of those same probe runs (the fake's runs take 70–72 ms)
    const runs = peakRuns as Stats | null;
    expect(runs?.reps).toBe(6);
    expect(out.hostDrift).toBeGreaterThan(0);
    expect(out.hostDrift).toBeCloseTo((runs?.p90 ?? NaN) / (runs?.p10 ?? NaN) - 1, 12);
    expect(out.rows[0].stats?.min).toBe(2);
    const without = await measureWithFloors([contender('sparq', [], async () => verdict(true))], { budgetMs: 0, fixedReps: 3, warmupReps: 1 }, []);
    expect(without.peak).toBeNull();
    expect(without.hostDrift).toBeNull();
  });
});

describe('probeDrift (the host drift column)', () => {
  it('is p90/p10 − 1 of the probe runs, and null with too few runs or none', () => {
    expect(probeDrift(summarize([10, 10, 10, 10, 10]))).toBe(0);
    // sorted 10..19: p10 at rank 0.9 → 10.9, p90 at rank 8.1 → 18.1
    expect(probeDrift(summarize([19, 10, 11, 12, 13, 14, 15, 16, 17, 18]))).toBeCloseTo(18.1 / 10.9 - 1, 12);
    expect(probeDrift(summarize([10, 20, 30, 40]))).toBeNull();
    expect(probeDrift(new Error('probe failed'))).toBeNull();
    expect(probeDrift(undefined)).toBeNull();
  });
});

describe('timeInterleaved batch sizes', () => {
  it('follow the wall time a sample takes, not the per-op time it reports (a sample of 20 ops)', async () => {
    // Each sample stands for 20 ops of 0.25 ms (5 ms of wall time) and reports 0.25: sized by the
    // report, a batch was 256 samples (1.3 s, the whole timed phase); by wall time it is ~40 (200 ms).
    const sizes: number[] = [];
    const batch = async (count: number): Promise<number[]> => {
      sizes.push(count);
      await new Promise((r) => setTimeout(r, 5 * count));
      return Array<number>(count).fill(0.25);
    };
    const [stats] = await timeInterleaved([batch], { budgetMs: 0, fixedReps: 120, warmupReps: 1 });
    expect((stats as Stats).reps).toBe(120);
    expect((stats as Stats).median).toBe(0.25);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(64); // ~40; a 5 ms timer may fire at 4 ms (50); sized by the report: 120
    expect(sizes.length).toBeGreaterThanOrEqual(4); // the warm-up call, then several batches
  });
});
