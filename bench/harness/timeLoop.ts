// The run loop shared by every measured implementation: warm up, then sample until the wall-time
// budget is spent (or a fixed count is reached), in batches sized from the running estimate; the
// implementations of one config take turns batch by batch (timeInterleaved).
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
  const [only] = await timeInterleaved([run], options);
  if (only instanceof Error) throw only;
  return only;
}

/** One contender's progress through the loop. */
interface Lane {
  readonly run: SampleBatch;
  estimate: number;
  warmReps: number;
  warmMs: number;
  readonly samples: number[];
  timedMs: number;
  error: Error | null;
}

function isWarm(lane: Lane, options: TimeLoopOptions, warmupReps: number): boolean {
  return lane.warmReps >= warmupReps && lane.warmMs >= options.budgetMs * WARMUP_FRACTION;
}

function isDone(lane: Lane, options: TimeLoopOptions, minReps: number, maxReps: number): boolean {
  if (lane.samples.length >= (options.fixedReps ?? maxReps)) return true;
  return options.fixedReps === undefined && lane.samples.length >= minReps && lane.timedMs >= options.budgetMs;
}

/** Runs one batch of `lane`; a throw ends that lane (its result is the error), never the others. */
async function runBatch(lane: Lane, count: number): Promise<{ samples: number[]; spentMs: number } | null> {
  const t0 = wallMs();
  try {
    const samples = await lane.run(count);
    if (samples.length === 0) throw new Error(`a batch of ${count} returned no samples`);
    const spentMs = wallMs() - t0;
    // Batches are sized by wall time per sample: a sample may stand for several ops (sparq's
    // `copies` between two marks, ORT's nodes per run) and report the time of one, so the median
    // alone made each batch `copies` × 200 ms — one contender's whole timed phase in one batch of
    // seconds, the contenders no longer taking turns (2026-12-05 review: 6.4 s and 5.0 s batches).
    lane.estimate = Math.max(spentMs / samples.length, median(samples));
    return { samples, spentMs };
  } catch (e) {
    lane.error = e instanceof Error ? e : new Error(String(e));
    return null;
  }
}

/**
 * Several implementations of one config sampled side by side: each gets the budget it would get
 * alone (warm-up, then at least minReps and budgetMs of its own batches, or fixedReps), but the
 * batches take turns, one per contender per round, so a slow spell of the host (the CI VMs' speed
 * swings ±2× within minutes) falls on all of them instead of on whichever ran then. Returns each
 * contender's summary, or the error its batch threw (the others go on).
 */
export async function timeInterleaved(runs: readonly SampleBatch[], options: TimeLoopOptions): Promise<Array<Stats | Error>> {
  const minReps = options.minReps ?? 5;
  const maxReps = options.maxReps ?? 500;
  const warmupReps = options.warmupReps ?? 2;
  const lanes: Lane[] = runs.map((run) => ({ run, estimate: Infinity, warmReps: 0, warmMs: 0, samples: [], timedMs: 0, error: null }));
  const live = (l: Lane): boolean => l.error === null;

  for (let round = lanes.filter((l) => live(l) && !isWarm(l, options, warmupReps)); round.length > 0;
    round = lanes.filter((l) => live(l) && !isWarm(l, options, warmupReps))) {
    for (const lane of round) {
      const batch = await runBatch(lane, lane.warmReps < warmupReps ? 1 : batchSize(lane.estimate, MAX_BATCH));
      if (batch === null) continue;
      lane.warmReps += batch.samples.length;
      lane.warmMs += batch.spentMs;
    }
  }

  for (let round = lanes.filter((l) => live(l) && !isDone(l, options, minReps, maxReps)); round.length > 0;
    round = lanes.filter((l) => live(l) && !isDone(l, options, minReps, maxReps))) {
    for (const lane of round) {
      const remaining = (options.fixedReps ?? maxReps) - lane.samples.length;
      const batch = await runBatch(lane, batchSize(lane.estimate, remaining));
      if (batch === null) continue;
      lane.samples.push(...batch.samples);
      lane.timedMs += batch.spentMs;
    }
  }
  return lanes.map((l) => l.error ?? summarize(l.samples));
}
