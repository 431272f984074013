// Memory stays flat under create/use/dispose cycles (test/fuzz/leakCycles.ts in a child process):
// 10,000 cycles each of tensors, w4a16/sparse/int8 weights and contexts on cpu (fewer, tinier, on
// sim), with no --expose-gc (the real case); then the same loops with no dispose() or close() at
// all, where two GCs must give everything back. The figures are printed every run (docs/api.md
// "What sparq promises under bad input and load" records them).
import { spawnSync } from 'child_process';
import * as os from 'os';
import * as path from 'path';

import { open } from '../src';
import { native } from '../src/native';
import { compiledScript } from './helpers/compiled';
import type { Held, Row } from './fuzz/leakCycles';

interface LeakSummary {
  mode: 'dispose' | 'gc';
  rows: Row[];
  held: Held | null;
}

/** RSS growth allowed after the warm-up (a quarter of the cycles, not counted). Seen: ≤ 12 MiB. */
const GROWTH_BOUND_MIB = 32;
/** What a disposed weight may still hold while referenced (its wrappers), least of three batches. Seen: 0.4-2.1 KiB; ~35 KiB before a95cd60. */
const HELD_BOUND_KIB = 8;

const script = compiledScript(path.join('test', 'fuzz', 'leakCycles'));

function run(mode: 'dispose' | 'gc'): LeakSummary {
  const args = mode === 'gc' ? ['--expose-gc', script] : [script];
  const r = spawnSync(process.execPath, args, {
    encoding: 'utf8',
    cwd: os.tmpdir(),
    env: { ...process.env, SPARQ_LEAK_MODE: mode },
    timeout: 110000,
    killSignal: 'SIGKILL',
  });
  const line = r.stdout.split('\n').find((l) => l.startsWith('LEAK_SUMMARY '));
  if (r.status !== 0 || !line) throw new Error(`leakCycles (${mode}) exited ${r.status ?? r.signal}:\n${r.stderr.slice(-4000)}`);
  return JSON.parse(line.slice('LEAK_SUMMARY '.length)) as LeakSummary;
}

function table(s: LeakSummary): string {
  const lines = s.rows.map(
    (r) =>
      `  ${`${r.name} [${r.backend}]`.padEnd(22)} ${String(r.cycles).padStart(6)} cycles  RSS ${r.rssWarmMiB.toFixed(1)} → ${r.rssEndMiB.toFixed(1)} MiB ` +
      `(${r.growthMiB >= 0 ? '+' : ''}${r.growthMiB.toFixed(1)}, max ${r.rssMaxMiB.toFixed(1)})  external ${r.externalWarmMiB.toFixed(1)} → ${r.externalEndMiB.toFixed(1)} MiB  ` +
      `threads ${r.threadsWarm} → ${r.threadsEnd}  live allocations ${r.allocsWarm} → ${r.allocsEnd}  ${r.ms} ms`,
  );
  if (s.held) lines.push(`  disposed but reachable: ${s.held.count} weights hold ${s.held.kibPerObject} KiB each (least of batches: ${s.held.batchKib.join(', ')} KiB)`);
  return lines.join('\n');
}

describe('memory under create/use/dispose cycles (child process)', () => {
  it(`with dispose() and close(), no --expose-gc: RSS grows < ${GROWTH_BOUND_MIB} MiB after warm-up; a disposed weight holds < ${HELD_BOUND_KIB} KiB; threads back`, () => {
    const s = run('dispose');
    console.log(`leak test, every object disposed (no --expose-gc):\n${table(s)}`);
    for (const r of s.rows) {
      expect([`${r.name} [${r.backend}]`, r.growthMiB < GROWTH_BOUND_MIB]).toEqual([`${r.name} [${r.backend}]`, true]);
      expect([`${r.name} [${r.backend}] threads`, r.threadsEnd]).toEqual([`${r.name} [${r.backend}] threads`, r.threadsWarm]);
      // every allocation a cycle made was freed (the context rows count the long-lived measuring context only)
      expect([`${r.name} [${r.backend}] live allocations`, r.allocsEnd]).toEqual([`${r.name} [${r.backend}] live allocations`, r.allocsWarm]);
    }
    expect(s.rows.map((r) => `${r.name} [${r.backend}]`)).toEqual(expect.arrayContaining(['tensor [cpu]', 'w4a16 weight [cpu]', 'sparse weight [cpu]', 'int8 weight [cpu]', 'context [cpu]']));
    expect(s.rows.find((r) => r.name === 'context' && r.backend === 'cpu')!.cycles).toBe(10000);
    expect(s.held!.kibPerObject).toBeLessThan(HELD_BOUND_KIB);
  });

  it(`without any dispose() or close(): after a GC, RSS within ${GROWTH_BOUND_MIB} MiB of the warm-up, V8's external memory back exactly, threads back`, () => {
    const s = run('gc');
    console.log(`leak test, nothing disposed (the GC backstop, --expose-gc):\n${table(s)}`);
    for (const r of s.rows) {
      const row = `${r.name} [${r.backend}]`;
      expect([row, r.growthMiB < GROWTH_BOUND_MIB]).toEqual([row, true]);
      // sparq reports every buffer to V8 (AdjustExternalMemory) and takes it back in the finalizer.
      expect([row, Math.abs(r.externalEndMiB - r.externalWarmMiB) < 1]).toEqual([row, true]);
      expect([`${row} threads`, r.threadsEnd]).toEqual([`${row} threads`, r.threadsWarm]);
    }
  });
});

describe('liveAllocations (what the leak rows compare)', () => {
  for (const backend of ['cpu', ...(native().hasSim ? ['sim' as const] : [])] as const)
    it(`[${backend}] counts tensors and weight parts while alive and drops back once they are disposed`, async () => {
      const sq = await open({ backend });
      try {
        const base = sq.liveAllocations;
        const ts = [1, 2, 3].map(() => sq.tensor(new Uint16Array(64).fill(0x3c00), [8, 8], 'f16'));
        const w = await sq.int8.quantize(new Uint16Array(8 * 64).fill(0x3c00), [8, 64]);
        expect(sq.liveAllocations).toBeGreaterThanOrEqual(base + 3 + 1);
        for (const t of ts) t.dispose();
        w.dispose();
        await sq.synchronize();
        expect(sq.liveAllocations).toBe(base);
      } finally {
        await sq.close();
      }
      expect(sq.liveAllocations).toBe(0);
    });
});
