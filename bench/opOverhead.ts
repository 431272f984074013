// bench/opOverhead.ts: what one op costs the JavaScript thread, beside its kernel. A tiny layer
// (the kernel is a few hundred nanoseconds on cpu, a few microseconds on a GPU) enqueued over and
// over, each output disposed after a read() every 32 ops, as a decode loop's outputs are; the
// figure is the JS thread's own CPU time per op (Linux: /proc/self/task/<pid>/schedstat), so
// neighbours on a shared box and the stream worker's own time do not count. On a GPU this is the
// op's floor: a token of a 32-layer model calls ~200 of them.
//
//   node dist/bench/opOverhead.js [--backend cpu|sim|cuda] [--ops 20000] [--reps 7]
//
// Prints one JSON line: per op kind the median over --reps of (JS-thread µs / op).
import { readFileSync } from 'fs';

import { type Tensor } from '../src';
import { UsageError, type CliArgs } from './harness/cliArgs';
import { randomF16, Rng } from './harness/randomData';
import { openBackend, standaloneMachine, standaloneMain } from './harness/standalone';
import { summarize } from './harness/stats';

const USAGE = `node dist/bench/opOverhead.js [options]
  --backend auto|cpu|cuda|sim  sparq backend (default auto)
  --ops N      ops per sample (default 20000)
  --reps R     samples per op kind, after one warm-up (default 7)
  --help
Prints one JSON line: per op kind the JS thread's µs per op (median, p10, p90) and the machine.
`;

// /proc's per-thread CPU time moves in scheduler ticks on some kernels (~4 ms steps seen on the
// 2026-12-07 CI box): a sample shorter than this many ns is mostly rounding, so the run says so.
const MIN_SAMPLE_NS = 100e6;

/** CPU time the process's main (JS) thread has run, in ns. */
function jsThreadNs(): number {
  return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]);
}

async function main(args: CliArgs): Promise<void> {
  const backend = args.string('backend', 'auto');
  const ops = args.int('ops', 20000);
  const reps = args.int('reps', 7);
  const unknown = args.unknown();
  if (unknown.length > 0) throw new UsageError(`unknown option ${unknown.join(', ')}`);

  const sq = await openBackend(backend);
  try {
    const [n, k] = [64, 128];
    const rng = new Rng(20261205);
    const w = randomF16(n * k, 2 ** -4, rng);
    const x = sq.tensor(randomF16(k, 1, rng), [1, k], 'f16');
    const dense = sq.tensor(w, [n, k], 'f16');
    const w4a16 = await sq.w4a16.quantize(w, [n, k], { groupSize: 64 });
    const sparse = await sq.sparse.encode(await sq.sparse.prune(w, [n, k], 0.5), [n, k]);
    const int8 = await sq.int8.quantize(w, [n, k]);
    const kinds: Record<string, () => Tensor<'f16'>> = {
      'dense.matmul': () => sq.dense.matmul(dense, x),
      'w4a16.matmul': () => sq.w4a16.matmul(w4a16, x),
      'sparse.matmul': () => sq.sparse.matmul(sparse, x),
      'int8.matmul': () => sq.int8.matmul(int8, x).y, // reads its outlier columns back (the default)
      'int8.matmul { outlierColumns: false }': () => sq.int8.matmul(int8, x, { outlierColumns: false }).y,
    };
    const usPerOp: Record<string, { median: number; p10: number; p90: number }> = {};
    let shortestSampleNs = Infinity;
    for (const [name, op] of Object.entries(kinds)) {
      const samples: number[] = [];
      for (let rep = 0; rep <= reps; rep++) {
        const t0 = jsThreadNs();
        let made: Tensor<'f16'>[] = [];
        for (let i = 0; i < ops; i++) {
          made.push(op());
          if (made.length === 32) {
            await made[31].read();
            for (const t of made) t.dispose();
            made = [];
          }
        }
        for (const t of made) t.dispose();
        await sq.synchronize();
        const ns = jsThreadNs() - t0;
        if (rep > 0) {
          // rep 0 warms up
          samples.push(ns / ops / 1000);
          shortestSampleNs = Math.min(shortestSampleNs, ns);
        }
      }
      const s = summarize(samples);
      usPerOp[name] = { median: s.median, p10: s.p10, p90: s.p90 };
    }
    for (const t of [x, dense]) t.dispose();
    for (const pw of [w4a16, sparse, int8]) pw.dispose();
    console.log(
      JSON.stringify({
        bench: 'opOverhead',
        backend: sq.backend,
        device: sq.device?.name ?? null,
        threads: sq.threads,
        shape: [n, k],
        ops,
        reps,
        jsThreadUsPerOp: usPerOp,
        shortestSampleMs: shortestSampleNs / 1e6,
        date: new Date().toISOString(),
        machine: standaloneMachine(sq),
      }),
    );
    if (shortestSampleNs < MIN_SAMPLE_NS)
      process.stderr.write(
        `opOverhead: a sample took only ${(shortestSampleNs / 1e6).toFixed(1)} ms of JS-thread time, where the clock ` +
          `(/proc/self/task/<pid>/schedstat) may move in ticks of a few ms: the figures are imprecise; raise --ops\n`,
      );
  } finally {
    await sq.close();
  }
}

standaloneMain('opOverhead', USAGE, main);
