// The CPU compute peak of a layer's prefill rows: fp32 FMA flops per second that the context's
// thread pool reaches with its ISA, measured in the same run (issue 13 item 3: the prefill kernels'
// bar is a share of it). The probe is native (native/cpu/fma_probe.cc): every pool thread runs
// independent FMA chains in registers, timed between two sq.mark()s.
import type { Context } from '../../src/index';
import { native } from '../../src/native';
import { markedRuns } from './markedRuns';
import { Stats, median } from './stats';
import type { SampleBatch } from './timeLoop';

export interface CpuPeak {
  /** fp32 flops per second (median of the samples), all pool threads together. */
  readonly flopsPerS: number;
  readonly threads: number;
  readonly isa: string;
  readonly samples: number;
  /** fp32 flops one pool thread runs per probe iteration (512 on AVX-512, 192 on AVX2). */
  readonly flopsPerIteration: number;
  /** One line: how it was measured. */
  readonly source: string;
}

const ITERATIONS = 2e7; // ~50 ms a sample at AVX-512 rates: far above the marks' resolution
const SAMPLES = 5;

/** The FMA peak of `sq`'s pool, or null off the cpu backend and on the scalar ISA (no probe). */
export async function measureCpuPeak(sq: Context): Promise<CpuPeak | null> {
  if (sq.backend !== 'cpu') return null;
  const b = native();
  const warm = await b.fmaProbe(sq.handle, ITERATIONS / 10); // pool wake-up, clocks up
  if (warm.flopsPerIteration === 0) return null;
  const ms: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const t0 = sq.mark();
    const r = b.fmaProbe(sq.handle, ITERATIONS);
    const t1 = sq.mark();
    await r;
    ms.push((await t1) - (await t0));
  }
  const flops = sq.threads * ITERATIONS * warm.flopsPerIteration;
  return {
    flopsPerS: flops / (median(ms) / 1000), threads: sq.threads, isa: sq.cpuIsa, samples: SAMPLES,
    flopsPerIteration: warm.flopsPerIteration,
    source: `FMA probe: ${sq.threads} pool thread(s) each running independent ${sq.cpuIsa} fp32 FMA chains in registers, median of ${SAMPLES}`,
  };
}

// A sample beside a config's rows: ~10 ms at AVX-512 rates, so a 200 ms round holds ~20 of them.
const ALONGSIDE_ITERATIONS = 4e6;

/**
 * The FMA probe kept for the run, sampled again beside each config's rows (bench/measure.ts
 * measureWithFloors), like the floor's read (cpuFloor.ts FloorProbe): on a host whose speed swings
 * ±2× within minutes, a peak taken once at the start made "% of FMA peak" mostly a measure of that
 * start moment. A config's peak is the fastest the probe ran, at the start or in its own rounds, so
 * a row's share of it can only be understated, never flattered by a slow spell.
 */
export class PeakProbe {
  private constructor(private readonly sq: Context, readonly peak: CpuPeak) {}

  /** Null off the cpu backend or without a start peak (scalar). */
  static open(sq: Context, peak: CpuPeak | null): PeakProbe | null {
    return sq.backend === 'cpu' && peak !== null && peak.flopsPerIteration > 0 ? new PeakProbe(sq, peak) : null;
  }

  /** `count` probe runs of ALONGSIDE_ITERATIONS, ms each (stream time). */
  readonly batch: SampleBatch = (count) => markedRuns(this.sq, count, () => native().fmaProbe(this.sq.handle, ALONGSIDE_ITERATIONS));

  /** The start peak, raised to the fastest of `sampled` where the probe ran faster. */
  refreshedPeak(sampled: Stats | Error | undefined): CpuPeak {
    if (sampled === undefined || sampled instanceof Error || !(sampled.min > 0)) return this.peak;
    const flopsPerS = (this.peak.threads * ALONGSIDE_ITERATIONS * this.peak.flopsPerIteration) / (sampled.min / 1000);
    return flopsPerS > this.peak.flopsPerS ? { ...this.peak, flopsPerS } : this.peak;
  }
}

/** Fewer probe runs than this beside a config say nothing about its spell. */
const MIN_DRIFT_RUNS = 5;

/**
 * How much the host's speed moved while a config's rows were measured: p90 / p10 − 1 of the FMA
 * probe's run times in that config's own rounds (PeakProbe.batch), as a fraction; null with fewer
 * than MIN_DRIFT_RUNS runs or none. The probe does the same work every run, so the spread is the
 * host's: on the 2-core CI VM 9–13% in a calm spell, 35–200% in noisy ones (2026-12-03,
 * docs/benchmarks.md), and a row measured then is a measure of that spell.
 */
export function probeDrift(sampled: Stats | Error | undefined): number | null {
  if (sampled === undefined || sampled instanceof Error || sampled.reps < MIN_DRIFT_RUNS || !(sampled.p10 > 0)) return null;
  return sampled.p90 / sampled.p10 - 1;
}

/** The CPU tables' column of probeDrift, and its line in their titles. */
export const HOST_DRIFT_HEADER = 'host drift %';
export const HOST_DRIFT_NOTE = 'host drift % = p90/p10 − 1 of the FMA probe\'s run times beside this row\'s own samples (the same work each ' +
  'run; 9–13% in a calm spell of the CI VM: far past that, the row was measured while the host\'s speed moved)';

/** probeDrift as a percentage cell. */
export function driftPct(drift: number | null | undefined): number | null {
  return drift == null ? null : 100 * drift;
}

/** "391 GFLOP/s fp32 FMA (avx512, 2 threads)". */
export function describePeak(p: CpuPeak): string {
  return `${(p.flopsPerS / 1e9).toFixed(0)} GFLOP/s fp32 FMA (${p.isa}, ${p.threads} thread${p.threads === 1 ? '' : 's'})`;
}

/** The share of the peak a row's flops / median time reach, %; null without both. */
export function pctOfPeak(flops: number, medianMs: number | null | undefined, peakFlopsPerS: number | null | undefined): number | null {
  if (medianMs == null || peakFlopsPerS == null || peakFlopsPerS <= 0) return null;
  return (100 * flops) / (medianMs / 1000) / peakFlopsPerS;
}
