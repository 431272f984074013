// The run loop shared by every measured implementation: warm up, then sample until the wall-time
// budget is spent (or a fixed count is reached), in batches sized from the running estimate.
import { Stats, median, summarize } from './stats';

/** Runs `count` timed repetitions and returns one duration (ms) per repetition. */
export type SampleBatch = (count: number) => Promise<number[]>;

export interface TimeLoopOptions {
  /** Wall-time budget for the timed phase, ms. */
  budgetMs: number;
  /** Take exactly this many samples, ignoring the budget. */
  fixedReps?: number;
  /** Defaults to 5. */
  minReps?: number;
  /** Defaults to 500. */
  maxReps?: number;
  /** Warm-up: at least this many reps and ~15% of the budget. Defaults to 2. */
  warmupReps?: number;
}

const WARMUP_FRACTION = 0.15;
/** Wall time one batch should take: long enough to amortize awaiting, short enough to obey the budget. */
const TARGET_BATCH_MS = 200;
const MAX_BATCH = 256;

function wallMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

function batchSize(estimateMs: number, remaining: number): number {
  const fit = estimateMs > 0 ? Math.floor(TARGET_BATCH_MS / estimateMs) : MAX_BATCH;
  return Math.max(1, Math.min(fit, MAX_BATCH, remaining));
}

/** Warms up, then samples `run` within the budget; returns the summary of the timed samples. */
export async function timeLoop(run: SampleBatch, options: TimeLoopOptions): Promise<Stats> {
  const minReps = options.minReps ?? 5;
  const maxReps = options.maxReps ?? 500;
  const warmupReps = options.warmupReps ?? 2;

  const warmStart = wallMs();
  let estimate = Infinity;
  for (let done = 0; done < warmupReps || wallMs() - warmStart < options.budgetMs * WARMUP_FRACTION;) {
    const batch = await run(done < warmupReps ? 1 : batchSize(estimate, MAX_BATCH));
    estimate = median(batch);
    done += batch.length;
  }

  const samples: number[] = [];
  const start = wallMs();
  for (;;) {
    const target = options.fixedReps ?? maxReps;
    const remaining = target - samples.length;
    if (remaining <= 0) break;
    if (options.fixedReps === undefined && samples.length >= minReps && wallMs() - start >= options.budgetMs) break;
    const batch = await run(batchSize(estimate, remaining));
    samples.push(...batch);
    estimate = median(batch);
  }
  return summarize(samples);
}
