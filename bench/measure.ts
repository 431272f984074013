// Check-then-time for the implementations of one config: a wrong result is reported, never timed;
// the checked ones are timed side by side (measureTogether).
import type { Context, LaunchInfo, Tensor } from '../src/index';
import { decodeF16 } from './harness/halfFloat';
import { CheckResult, Sample, compareToReference, describeCheck } from './harness/referenceCheck';
import { ImplResult } from './harness/results';
import { CpuFloor, PoolFloor, floorsAlongside } from './harness/cpuFloor';
import { CpuPeak, PeakProbe, probeDrift } from './harness/cpuPeak';
import { Stats } from './harness/stats';
import { SampleBatch, TimeLoopOptions, timeInterleaved } from './harness/timeLoop';
import { OrtPeer } from './peers/onnx';
import { sparqSampler } from './sparqTiming';

/** What is being measured and what it costs per call. */
export interface ImplSpec {
  readonly impl: string;
  readonly bytes: number;
  readonly flops: number;
  readonly copies: number;
  /** Relative-error tolerance against the float64 reference. */
  readonly tolerance: number;
}

/** The float64 reference of one config on a sample of output elements. */
export interface Reference {
  readonly values: Float64Array;
  readonly sample: Sample;
  readonly n: number;
}

const F16_NAN = 0x7e00;

/** An f16 [m, n] output filled with NaN, so an element the kernel never writes fails the check. */
export function poisonedOutput(sq: Context, m: number, n: number): Tensor<'f16'> {
  return sq.tensor(new Uint16Array(m * n).fill(F16_NAN), [m, n], 'f16');
}

function message(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

function failed(spec: ImplSpec, status: 'wrong' | 'error', check: CheckResult | null, note: string, ours?: boolean): ImplResult {
  return { impl: spec.impl, status, stats: null, bytes: spec.bytes, flops: spec.flops,
    relErr: check?.relErr ?? null, copies: spec.copies, clock: null, note, ...(ours === true ? { ours } : {}) };
}

/**
 * One implementation of a config, ready to be checked once and then timed beside the others of
 * the same config (measureTogether).
 */
export interface Contender {
  readonly spec: ImplSpec;
  /** Runs the implementation once and compares its output with the reference. */
  check(): Promise<CheckResult>;
  /** Timed repetitions, after a passing check. */
  readonly batch: SampleBatch;
  /** The row of a checked and timed contender. */
  row(stats: Stats, check: CheckResult): ImplResult;
  /** What the backend launched for the checked call (sparq ops), for every row, failed ones too. */
  launch?(): unknown;
  /** After this contender failed (check or batch): clear what the failure left behind (a sparq
   *  context's queued error, which would otherwise fail the next contender's marks). */
  recover?(): Promise<void>;
  /** sparq's own op: its rows carry `ours` (ImplResult), so its failure fails the run. */
  readonly ours?: boolean;
}

/** measureTogether's result: the rows in the contenders' order, and the `alongside` samplers' summaries. */
export interface Measured {
  readonly rows: ImplResult[];
  readonly alongside: Array<Stats | Error>;
}

/**
 * Checks every contender (a wrong or failing one is reported, never timed), then times the rest
 * side by side, batch by batch (timeInterleaved): on a host whose speed drifts, every row of the
 * config then saw the same spells. `alongside` samplers (the CPU floor's read) take their turns in
 * the same rounds.
 */
export async function measureTogether(contenders: readonly Contender[], loop: TimeLoopOptions,
                                      alongside: readonly SampleBatch[] = []): Promise<Measured> {
  const rows: Array<ImplResult | null> = [];
  const checked: Array<{ at: number; contender: Contender; check: CheckResult }> = [];
  for (const contender of contenders) {
    let check: CheckResult;
    try {
      check = await contender.check();
    } catch (e) {
      await contender.recover?.();
      rows.push({ ...failed(contender.spec, 'error', null, message(e), contender.ours), launch: contender.launch?.() });
      continue;
    }
    if (!check.ok) {
      rows.push({ ...failed(contender.spec, 'wrong', check, describeCheck(contender.spec.impl, check), contender.ours), launch: contender.launch?.() });
      continue;
    }
    checked.push({ at: rows.length, contender, check });
    rows.push(null);
  }
  const recovering = (c: Contender): SampleBatch => async (count) => {
    try {
      return await c.batch(count);
    } catch (e) {
      await c.recover?.();
      throw e;
    }
  };
  const timed = await timeInterleaved([...checked.map((c) => recovering(c.contender)), ...alongside], loop);
  checked.forEach(({ at, contender, check }, i) => {
    const t = timed[i];
    rows[at] = t instanceof Error ? { ...failed(contender.spec, 'error', check, message(t), contender.ours), launch: contender.launch?.() } : contender.row(t, check);
  });
  return { rows: rows.map((r) => r as ImplResult), alongside: timed.slice(checked.length) };
}

/**
 * measureTogether with the CPU floor of every pool in `pools` (the main context first, then the
 * --threads ones) sampled in the same rounds; `floors` in `pools` order (harness/cpuFloor.ts).
 * With `peakProbe` the main pool's FMA peak is sampled in those rounds too: `peak` is its start
 * peak raised to the fastest probe run beside these rows, `hostDrift` the spread of those runs
 * (harness/cpuPeak.ts probeDrift); both null without one.
 */
export async function measureWithFloors(contenders: readonly Contender[], loop: TimeLoopOptions,
                                        pools: readonly PoolFloor[], peakProbe: PeakProbe | null = null):
  Promise<{ rows: ImplResult[]; floors: Array<CpuFloor | null>; peak: CpuPeak | null; hostDrift: number | null }> {
  const sampled = floorsAlongside(pools);
  const alongside = peakProbe === null ? sampled.batches : [...sampled.batches, peakProbe.batch];
  const measured = await measureTogether(contenders, loop, alongside);
  const floorsSampled = measured.alongside.slice(0, sampled.batches.length);
  const peakRuns = peakProbe === null ? undefined : measured.alongside[sampled.batches.length];
  const peak = peakProbe === null ? null : peakProbe.refreshedPeak(peakRuns);
  return { rows: measured.rows, floors: sampled.floors(floorsSampled), peak, hostDrift: probeDrift(peakRuns) };
}

/**
 * A sparq op: `first()` runs it once (into a poisoned output) for the check, `enqueue` is timed
 * with stream marks, one sample per `spec.copies` ops (one per weight copy), like onnxruntime's
 * sample of one run over that many nodes.
 * @param first enqueues one op on weight copy 0 and returns its output tensor.
 */
export function sparqContender(sq: Context, spec: ImplSpec, ref: Reference, first: () => Tensor<'f16'>,
                               enqueue: (i: number) => void): Contender {
  const sampler = sparqSampler(sq, enqueue, spec.copies);
  let launch: LaunchInfo | null = null;
  return {
    spec,
    ours: true,
    batch: sampler.batch,
    launch: () => launch,
    recover: () => sq.synchronize().then(() => undefined, () => undefined),
    async check() {
      const y = decodeF16(await first().read());
      launch = sq.lastLaunch;
      return compareToReference(y, ref.n, ref.values, ref.sample, spec.tolerance);
    },
    row(stats, check) {
      const enqueueMicros = sampler.enqueueMicros();
      const launchBound = sq.backend === 'cuda' && enqueueMicros >= 0.5 * stats.median * 1e3;
      return { impl: spec.impl, status: 'ok', stats, bytes: spec.bytes, flops: spec.flops, relErr: check.relErr,
        copies: spec.copies, clock: 'stream', launch, ours: true,
        note: launchBound ? `possibly launch-bound: enqueue ${enqueueMicros.toFixed(1)} µs/op` : undefined };
    },
  };
}

/** An onnxruntime session (its input already set): checked once, timed with the wall clock around `run`. */
export function ortContender(peer: OrtPeer, spec: ImplSpec, ref: Reference): Contender {
  return {
    spec,
    batch: (count) => peer.timeRuns(count),
    async check() {
      return compareToReference(await peer.output(), ref.n, ref.values, ref.sample, spec.tolerance);
    },
    row(stats, check) {
      return { impl: spec.impl, status: 'ok', stats, bytes: spec.bytes, flops: spec.flops, relErr: check.relErr,
        copies: spec.copies, clock: 'wall' };
    },
  };
}

/** One sparq op measured alone (sparqContender). */
export async function measureSparq(sq: Context, spec: ImplSpec, ref: Reference, first: () => Tensor<'f16'>,
                                   enqueue: (i: number) => void, loop: TimeLoopOptions): Promise<ImplResult> {
  const { rows } = await measureTogether([sparqContender(sq, spec, ref, first, enqueue)], loop);
  return rows[0];
}

/** A placeholder row for an implementation that does not apply or could not be set up. */
export function skipped(spec: ImplSpec, note: string): ImplResult {
  return { impl: spec.impl, status: 'skipped', stats: null, bytes: spec.bytes, flops: spec.flops, relErr: null,
    copies: spec.copies, clock: null, note };
}
