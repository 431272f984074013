// Stream-time measurement of sparq ops: marks are enqueued between groups of ops, and a sample is
// the stream-time distance between two consecutive marks divided by the ops between them, i.e. the
// kernel time of an op run back to back with its neighbours (no JS, N-API or Promise time in it).
// A mark is not free on the cpu backend: its promise wakes the JS thread, which then competes with
// the pool for the cores — one op per mark measured a 4096² W4A16 m = 1 op 7–16% slower than eight
// per mark (2 threads, Zen 5, 2026-12-03). The matmul benches group an op per weight copy, as
// onnxruntime's sample is one run of that many nodes (docs/benchmarks.md "What is measured").
import type { Context } from '../src/index';
import { Stats } from './harness/stats';
import { SampleBatch, TimeLoopOptions, timeLoop } from './harness/timeLoop';

/** Below this many ops per batch the unmeasured lead-in op would cost more than it protects. */
const LEAD_IN_MIN_BATCH = 4;

export interface SparqTiming {
  readonly stats: Stats;
  /** Mean wall time JS spent enqueuing one op (op + mark), µs. When it approaches the median kernel
   *  time the stream may have run dry between ops and the numbers are launch-bound. */
  readonly enqueueMicros: number;
}

/** A SampleBatch over sparq ops, and what enqueuing them cost so far. */
export interface SparqSampler {
  readonly batch: SampleBatch;
  /** Mean wall time JS spent enqueuing one op (op + mark) over the batches run so far, µs. */
  enqueueMicros(): number;
}

/**
 * Samples `enqueue(i)` (which must only enqueue, never await) with stream marks.
 * A batch of c samples of g ops each is enqueued as [lead-in op] m0 (g ops) m1 (g ops) m2 … mc: the
 * lead-in keeps the stream busy while JS enqueues the rest, so the first sample does not include an
 * idle gap; each sample is the time between two marks / g.
 * @param opsPerSample g (≥ 1): the matmul benches pass their weight-copy count.
 */
export function sparqSampler(sq: Context, enqueue: (i: number) => void, opsPerSample = 1): SparqSampler {
  const group = Math.max(1, Math.floor(opsPerSample));
  let next = 0;
  let enqueueNs = 0n;
  let enqueued = 0;
  return {
    batch: async (count) => {
      if (count * group >= LEAD_IN_MIN_BATCH) enqueue(next++);
      const t0 = process.hrtime.bigint();
      const marks: Promise<number>[] = [sq.mark()];
      for (let i = 0; i < count; i++) {
        for (let j = 0; j < group; j++) enqueue(next++);
        marks.push(sq.mark());
      }
      enqueueNs += process.hrtime.bigint() - t0;
      enqueued += count * group;
      const t = await Promise.all(marks);
      return t.slice(1).map((v, i) => (v - t[i]) / group);
    },
    enqueueMicros: () => Number(enqueueNs) / 1e3 / Math.max(1, enqueued),
  };
}

/** Times `enqueue(i)` alone (sparqSampler under timeLoop), `opsPerSample` ops between marks. */
export async function timeSparq(sq: Context, enqueue: (i: number) => void, options: TimeLoopOptions,
                                opsPerSample = 1): Promise<SparqTiming> {
  const sampler = sparqSampler(sq, enqueue, opsPerSample);
  const stats = await timeLoop(sampler.batch, options);
  return { stats, enqueueMicros: sampler.enqueueMicros() };
}
