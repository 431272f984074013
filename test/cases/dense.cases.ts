/**
 * dense.matmul cases shared by jest (every backend present) and the device check (cuda vs cpu).
 * No jest here: this file also runs as dist/test/cases/dense.cases.js with plain node.
 */
import type { Context } from '../../src';
import { matmulCaseResult, nanPoison, randomF16, referenceMatmulWithMagnitude, rng, type MatmulCaseResult } from '../reference';

export interface DenseCase {
  name: string;
  m: number;
  n: number;
  k: number;
  bias: boolean;
  /** leading dims of X (their product is m); default [m] */
  lead?: number[];
  tolerance: number;
}

const DIMS = [1, 3, 17, 64, 129, 1000];

/** The odd shapes: every m, n, k in {1, 3, 17, 64, 129} plus each of them against 1000. */
export function denseCases(backend: string): DenseCase[] {
  const out: DenseCase[] = [];
  const tol = 2e-3;
  if (backend === 'sim') {
    // Each simulated CTA is 128+ host threads: small shapes that still cover every tail and instance.
    for (const [m, n, k] of [
      [1, 1, 1],
      [3, 17, 9],
      [17, 3, 64],
      [33, 40, 72],
      [64, 129, 17],
      [5, 8, 136],
    ])
      out.push({ name: `m=${m} n=${n} k=${k}`, m, n, k, bias: (m + n) % 2 === 0, tolerance: tol });
    out.push({ name: 'x [2,3,16] with bias', m: 6, n: 24, k: 16, bias: true, lead: [2, 3], tolerance: tol });
    // split-K on the simulator's 4 SMs (fewer output tiles than SMs, k of several tiles): 4, 3 and
    // 2 k splits, 16-byte, 16-byte and 2-byte copies, small_m and large instances
    for (const [m, n, k] of [
      [3, 40, 520],
      [40, 20, 200],
      [1, 70, 301],
    ])
      out.push({ name: `m=${m} n=${n} k=${k} (split-K)`, m, n, k, bias: true, tolerance: tol });
    return out;
  }
  const small = DIMS.slice(0, 5);
  for (const m of small) for (const n of small) for (const k of small) out.push({ name: `m=${m} n=${n} k=${k}`, m, n, k, bias: (m + n + k) % 2 === 1, tolerance: tol });
  for (const [m, n, k] of [
    [1000, 3, 17],
    [3, 1000, 129],
    [17, 64, 1000],
    [1, 1000, 1000],
    [129, 64, 1000],
    [1000, 129, 1],
    [64, 1000, 64],
    // k ≡ 2 and 6 (mod 8): the 4-byte cp.async path, which no other cuda shape reaches
    [17, 64, 66],
    [40, 24, 70],
  ])
    out.push({ name: `m=${m} n=${n} k=${k}`, m, n, k, bias: true, tolerance: tol });
  out.push({ name: 'x [2,3,129] with bias', m: 6, n: 17, k: 129, bias: true, lead: [2, 3], tolerance: tol });
  // the CPU's middle m (AVX-512: m 9–12, AVX2: 7–15, between the two-pass gemv and the row
  // kernels; the dot form until 2026-12-05, now the gemv in passes of 4 / 3 rows plus a remainder
  // of 0–3 / 0–2: every remainder on both ISAs), which DIMS never reach, with a bias (a mutant
  // dropping its bias survived every case above)
  for (const m of [7, 9, 10, 11, 12, 14]) out.push({ name: `m=${m} n=203 k=301 with bias`, m, n: 203, k: 301, bias: true, tolerance: tol });
  // every tail of 1–15 rows past 16 in the CPU rows kernels (AVX2: a last block of ≤ 8 rows runs
  // on one ymm; AVX-512: the k-quad kernel's last groups of 4 rows)
  for (let m = 18; m <= 31; m++) out.push({ name: `m=${m} n=50 k=301${m % 2 ? ' with bias' : ''}`, m, n: 50, k: 301, bias: m % 2 === 1, tolerance: tol });
  // split-K on a GPU (the device check runs this list on cuda): a handful of output tiles, long k
  for (const [m, n, k] of [
    [16, 256, 2048],
    [40, 128, 3000],
  ])
    out.push({ name: `m=${m} n=${n} k=${k} (split-K on a GPU)`, m, n, k, bias: true, tolerance: tol });
  // 8.4 M outputs with a bias: cuBLAS's path runs in two row chunks of ≤ 8 M fp32 accumulators
  // (cuda/dense.cu kBiasChunkFloats), the second of 3 rows. cuda only: elsewhere nothing chunks,
  // and its 8.4 M-element check costs ~4 s per cpu variant.
  if (backend === 'cuda')
    out.push({ name: 'm=2100 n=4000 k=16 (bias in row chunks on cuBLAS)', m: 2100, n: 4000, k: 16, bias: true, tolerance: tol });
  return out;
}

export type DenseCaseResult = MatmulCaseResult;

/** Runs one case on `sq`: fresh inputs from `seed`, NaN-poisoned `out`, float64 reference with per-element bounds. */
export async function runDenseCase(sq: Context, c: DenseCase, seed: number): Promise<DenseCaseResult> {
  const next = rng(seed);
  const w = randomF16(c.n * c.k, next);
  const x = randomF16(c.m * c.k, next);
  const bias = c.bias ? randomF16(c.n, next) : undefined;
  const lead = c.lead ?? [c.m];
  const tw = sq.tensor(w.bits, [c.n, c.k], 'f16');
  const tx = sq.tensor(x.bits, [...lead, c.k], 'f16');
  const tb = bias ? sq.tensor(bias.bits, [c.n], 'f16') : undefined;
  const out = sq.tensor(nanPoison(c.m * c.n), [...lead, c.n], 'f16');
  try {
    sq.dense.matmul(tw, tx, { bias: tb, out });
    // read the poisoned tensor itself: an element the op never wrote stays NaN and fails the check
    const bits = await out.read();
    return matmulCaseResult(bits, referenceMatmulWithMagnitude(w.values, x.values, c.m, c.n, c.k, bias?.values));
  } finally {
    for (const t of [tw, tx, tb, out]) t?.dispose();
  }
}
