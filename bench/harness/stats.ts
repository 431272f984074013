// Order statistics over timing samples.

/** Summary of a set of timing samples, in milliseconds. */
export interface Stats {
  readonly median: number;
  readonly p10: number;
  readonly p90: number;
  readonly min: number;
  readonly mean: number;
  readonly reps: number;
}

/** The q-quantile (0..1) of ascending `sorted`, linearly interpolated between ranks. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export function median(samples: readonly number[]): number {
  return quantile([...samples].sort((a, b) => a - b), 0.5);
}

export function summarize(samples: readonly number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  const sum = sorted.reduce((acc, v) => acc + v, 0);
  return {
    median: quantile(sorted, 0.5),
    p10: quantile(sorted, 0.1),
    p90: quantile(sorted, 0.9),
    min: sorted.length > 0 ? sorted[0] : NaN,
    mean: sorted.length > 0 ? sum / sorted.length : NaN,
    reps: sorted.length,
  };
}
