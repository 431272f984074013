/**
 * sparse cases shared by jest (every backend present) and the device check (cuda vs cpu), plus the
 * weight generator. The reference is the float64 matmul on the dense weight (test/reference.ts);
 * nothing here knows the encoded formats. No jest here.
 */
import type { Context } from '../../src';
import { matmulCaseResult, nanPoison, randomF16, referenceMatmulWithMagnitude, rng, type MatmulCaseResult } from '../reference';

export type SparseFormatChoice = 'bitmap' | 'tiled-csl';

export interface SparseCase {
  name: string;
  m: number;
  n: number;
  k: number;
  /** fraction of weights drawn as zero (bits 0x0000) */
  sparsity: number;
  format: SparseFormatChoice;
  bias: boolean;
  /** 'dense-tile': one whole 64×64 tile stored inside the sparse matrix (past any Flash-LLM capacity) */
  pattern: 'random' | 'dense-tile';
  tolerance: number;
}

/**
 * Sparsity {0, 30, 50, 80, 99, 100}% × both formats × m ∈ {1, 7, 16, 33, 64}, odd n and k, bias on
 * about half (always at 100%, where the bias is the whole answer); plus a fully stored tile inside a
 * 95% sparse matrix and an all-zero weight.
 */
export function sparseCases(backend: string): SparseCase[] {
  const tolerance = 2e-3;
  const out: SparseCase[] = [];
  const [n, k] = backend === 'sim' ? [67, 129] : [131, 301];
  const sparsities = [0, 0.3, 0.5, 0.8, 0.99, 1];
  const ms = [1, 7, 16, 33, 64];
  for (const format of ['bitmap', 'tiled-csl'] as const)
    for (const sparsity of sparsities)
      for (const m of ms) {
        const bias = sparsity === 1 || (m + Math.round(sparsity * 100)) % 2 === 1;
        out.push({ name: `${format} s=${sparsity * 100}% m=${m} n=${n} k=${k}${bias ? ' +bias' : ''}`, m, n, k, sparsity, format, bias, pattern: 'random', tolerance });
      }
  // every tail of 1–15 rows past 16 (where the CPU runs the rows kernels, the tail runs on the
  // kernel picked for that many rows, or in the rows kernel over the lanes on ymm up to 8 rows) on
  // 5 slabs, so one work unit holds all the whole blocks at 2 threads
  if (backend !== 'sim')
    for (const format of ['bitmap', 'tiled-csl'] as const)
      for (const sparsity of [0.5, 0.8])
        for (let m = 17; m <= 31; m++)
          out.push({ name: `${format} s=${sparsity * 100}% m=${m} n=257 k=301${m % 2 ? ' +bias' : ''}`, m, n: 257, k: 301, sparsity, format, bias: m % 2 === 1, pattern: 'random', tolerance });
  for (const format of ['bitmap', 'tiled-csl'] as const) {
    out.push({ name: `${format} dense 64x64 tile inside 95% m=16 n=150 k=200`, m: 16, n: 150, k: 200, sparsity: 0.95, format, bias: false, pattern: 'dense-tile', tolerance });
    out.push({ name: `${format} all-zero weight m=5 n=65 k=70 +bias`, m: 5, n: 65, k: 70, sparsity: 1, format, bias: true, pattern: 'random', tolerance });
  }
  return out;
}

export interface SparseInputs {
  w: { bits: Uint16Array; values: Float64Array };
  x: { bits: Uint16Array; values: Float64Array };
  bias?: { bits: Uint16Array; values: Float64Array };
}

/** Random sparse W (kept entries uniform in [−1, 1), never 0x0000), X and bias in [−1, 1). */
export function drawSparseInputs(c: SparseCase, seed: number): SparseInputs {
  const next = rng(seed);
  const w = randomF16(c.n * c.k, next);
  for (let i = 0; i < w.bits.length; i++) {
    if (next() < c.sparsity) {
      w.bits[i] = 0;
      w.values[i] = 0;
    } else if (w.bits[i] === 0) {
      w.bits[i] = 0x3400; // 0.25: a kept entry is never the zero pattern
      w.values[i] = 0.25;
    }
  }
  if (c.pattern === 'dense-tile') {
    const next2 = rng(seed ^ 0x5bd1e995);
    for (let r = 64; r < 128 && r < c.n; r++)
      for (let col = 64; col < 128 && col < c.k; col++) {
        const v = randomF16(1, next2);
        const zero = v.bits[0] === 0;
        w.bits[r * c.k + col] = zero ? 0x3400 : v.bits[0];
        w.values[r * c.k + col] = zero ? 0.25 : v.values[0];
      }
  }
  const x = randomF16(c.m * c.k, next);
  const bias = c.bias ? randomF16(c.n, next) : undefined;
  return { w, x, bias };
}

/** encode with the case's format, NaN-poisoned `out`, reference on the dense weight. */
export async function runSparseCase(sq: Context, c: SparseCase, seed: number): Promise<MatmulCaseResult> {
  const inputs = drawSparseInputs(c, seed);
  const { w, x, bias } = inputs;
  const sw = await sq.sparse.encode(w.bits, [c.n, c.k], { format: c.format });
  const tx = sq.tensor(x.bits, [c.m, c.k], 'f16');
  const tb = bias ? sq.tensor(bias.bits, [c.n], 'f16') : undefined;
  const out = sq.tensor(nanPoison(c.m * c.n), [c.m, c.n], 'f16');
  try {
    sq.sparse.matmul(sw, tx, { bias: tb, out });
    // read the poisoned tensor itself: an element the op never wrote stays NaN and fails the check
    const y = await out.read();
    return matmulCaseResult(y, referenceMatmulWithMagnitude(w.values, x.values, c.m, c.n, c.k, bias?.values));
  } finally {
    for (const t of [sw, tx, tb, out]) t?.dispose();
  }
}
