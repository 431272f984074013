// "Check once before timing": compare an output against a float64 reference on a sample of
// elements (a few rows, spread columns), and require every element of the output to be finite.
import { f16Table } from './halfFloat';

/** Which output elements are compared: the first, last and middle rows, columns spread evenly. */
export interface Sample {
  readonly rows: readonly number[];
  readonly cols: readonly number[];
}

export interface CheckResult {
  readonly ok: boolean;
  readonly relErr: number;
  readonly tolerance: number;
  /** Output elements that were NaN/Inf (e.g. never written: outputs are poisoned with NaN first). */
  readonly nonFinite: number;
  readonly compared: number;
}

/**
 * Rows and columns of an [m, n] output to check: every row where m ≤ maxRows, else rows 0–3 and
 * `maxRows` rows spread over m, the i-th moved i rows on (at most m − 1), with the last row — so
 * every residue mod 4 is checked (the k-quad kernels run 4 rows a zmm, 16 a block; a plain spread
 * at m = 13 or 97 picked only rows ≡ 0 mod 4), at most maxRows + 4 rows; up to `maxCols` columns
 * spread over n, with the last.
 */
export function pickSample(m: number, n: number, maxRows = 4, maxCols = 512): Sample {
  const spread = (count: number, max: number): number[] => {
    if (count <= max) return Array.from({ length: count }, (_, i) => i);
    const picks = new Set<number>();
    for (let i = 0; i < max; i++) picks.add(Math.round((i * (count - 1)) / (max - 1)));
    return [...picks].sort((a, b) => a - b);
  };
  if (m <= maxRows) return { rows: spread(m, maxRows), cols: spread(n, maxCols) };
  const rows = new Set<number>([0, 1, 2, 3, m - 1]);
  spread(m, maxRows).forEach((r, i) => rows.add(Math.min(m - 1, r + i)));
  return { rows: [...rows].filter((r) => r < m).sort((a, b) => a - b), cols: spread(n, maxCols) };
}

/**
 * float64 reference Y[i, j] = Σ_k X[i, k]·W[j, k] over the sample, from fp16 bits.
 * @param x fp16 bits `[m, k]`; @param w fp16 bits `[n, k]` (nn.Linear layout).
 * @returns the sampled values, rows × cols, row-major.
 */
export function referenceMatmul(x: Uint16Array, w: Uint16Array, k: number, sample: Sample): Float64Array {
  const table = f16Table();
  const out = new Float64Array(sample.rows.length * sample.cols.length);
  const xRow = new Float64Array(k);
  sample.rows.forEach((i, ri) => {
    for (let t = 0; t < k; t++) xRow[t] = table[x[i * k + t]];
    sample.cols.forEach((j, cj) => {
      let acc = 0;
      const base = j * k;
      for (let t = 0; t < k; t++) acc += xRow[t] * table[w[base + t]];
      out[ri * sample.cols.length + cj] = acc;
    });
  });
  return out;
}

/**
 * ‖Y − ref‖ / ‖ref‖ over the sample, plus a count of non-finite elements over the whole output.
 * @param y the full output `[m, n]` row-major, as float32.
 */
export function compareToReference(y: Float32Array, n: number, ref: Float64Array, sample: Sample, tolerance: number): CheckResult {
  let nonFinite = 0;
  for (let i = 0; i < y.length; i++) if (!Number.isFinite(y[i])) nonFinite++;
  let diff2 = 0;
  let ref2 = 0;
  sample.rows.forEach((i, ri) => {
    sample.cols.forEach((j, cj) => {
      const r = ref[ri * sample.cols.length + cj];
      const d = y[i * n + j] - r;
      diff2 += d * d;
      ref2 += r * r;
    });
  });
  const relErr = ref2 > 0 ? Math.sqrt(diff2 / ref2) : Math.sqrt(diff2);
  return { ok: nonFinite === 0 && relErr <= tolerance, relErr, tolerance, nonFinite, compared: ref.length };
}

/** One line for a failed check. */
export function describeCheck(label: string, c: CheckResult): string {
  return `${label}: ${c.ok ? 'ok' : 'WRONG'} — rel. error ${c.relErr.toExponential(2)} (tolerance ${c.tolerance}), ` +
    `${c.nonFinite} non-finite, ${c.compared} elements compared`;
}
