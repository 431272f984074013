/**
 * int8 cases shared by jest (every backend present) and the device check: inputs with planted
 * outlier columns (LLM activations carry a few columns ×20–60), and the bit-exact answer of the
 * independent contract implementation (test/int8Reference.ts). No jest here.
 */
import type { Context } from '../../src';
import { int8MatmulRef, quantizeWeightsRef, type Int8Codes } from '../int8Reference';
import { f16BitsToNumber, nanPoison, numberToF16Bits, randomF16, rng } from '../reference';

export interface Int8Case {
  name: string;
  m: number;
  n: number;
  k: number;
  /** 0 (pure int8), 6 (with planted outliers, one value exactly 6), or 'all' (every column an outlier) */
  threshold: 0 | 6 | 'all';
  bias: boolean;
  /** row 0 of X and row 0 of W all zeros (rowStat = 0, SCB = 0) */
  zeroRows: boolean;
}

/**
 * m ∈ {1, 8, 33, 64} × thresholds {0, 6, all} on odd n and k (k = 499 among them), bias on about
 * half, zero rows in some; plus k = 1 and n = 1.
 */
export function int8Cases(backend: string): Int8Case[] {
  const out: Int8Case[] = [];
  const [n, k] = backend === 'sim' ? [67, 499] : [131, 499];
  for (const m of [1, 8, 33, 64])
    for (const threshold of [0, 6, 'all'] as const) {
      const bias = (m + (threshold === 'all' ? 1 : threshold)) % 2 === 1;
      const zeroRows = m === 8 || m === 33;
      out.push({ name: `m=${m} n=${n} k=${k} threshold=${threshold}${bias ? ' +bias' : ''}${zeroRows ? ' zero rows' : ''}`, m, n, k, threshold, bias, zeroRows });
    }
  // every tail of 1–15 rows past 16 (the VNNI kernel runs a tail of ≤ 8 rows on its dot form
  // beside the 16-row panels)
  if (backend !== 'sim') for (let m = 17; m <= 31; m++) out.push({ name: `m=${m} n=${n} k=${k} threshold=6${m % 2 ? ' +bias' : ''}`, m, n, k, threshold: 6, bias: m % 2 === 1, zeroRows: false });
  out.push({ name: 'm=5 n=9 k=1 threshold=6 +bias', m: 5, n: 9, k: 1, threshold: 6, bias: true, zeroRows: false });
  out.push({ name: 'm=3 n=1 k=37 threshold=all', m: 3, n: 1, k: 37, threshold: 'all', bias: false, zeroRows: false });
  out.push({ name: 'm=65 n=24 k=200 threshold=6 +bias', m: 65, n: 24, k: 200, threshold: 6, bias: true, zeroRows: false });
  // few CTAs over a long k: the GEMM splits k (int32 totals, the last arrival's epilogue) on a GPU
  // and on the simulator alike (int8_plan.cuh ChooseSplits)
  out.push({ name: 'm=3 n=100 k=4096 threshold=6 +bias (split k)', m: 3, n: 100, k: 4096, threshold: 6, bias: true, zeroRows: false });
  return out;
}

export interface Int8Inputs {
  w: Uint16Array;
  x: Uint16Array;
  bias?: Uint16Array;
  threshold: number;
  /** columns that were given outlier values */
  planted: number[];
}

const F16_SIX = 0x4600;

/** X and W uniform in [−1, 1) (fp16), a few X columns scaled ×20–60, zero rows when asked. */
export function drawInt8Inputs(c: Int8Case, seed: number): Int8Inputs {
  const next = rng(seed);
  const w = randomF16(c.n * c.k, next).bits;
  const xr = randomF16(c.m * c.k, next);
  const x = xr.bits;
  const bias = c.bias ? randomF16(c.n, next).bits : undefined;
  const planted: number[] = [];
  if (c.threshold === 6 && c.k >= 4) {
    // about 1% of columns (at least 2), a third of their rows scaled ×20–60: LLM.int8()'s picture
    const count = Math.max(2, Math.round(c.k / 100));
    while (planted.length < count) {
      const col = Math.floor(next() * c.k);
      if (!planted.includes(col)) planted.push(col);
    }
    for (const col of planted)
      for (let i = 0; i < c.m; i++) {
        if (i % 3 !== 0 && c.m > 1) continue;
        const v = xr.values[i * c.k + col];
        const scaled = (v >= 0 ? 1 : -1) * (20 + 40 * next()) * Math.max(Math.abs(v), 0.2);
        x[i * c.k + col] = numberToF16Bits(scaled);
      }
    // a value exactly at the threshold makes its column an outlier (|x| ≥ t)
    const atCol = (planted[0] + 1) % c.k;
    x[(c.m - 1) * c.k + atCol] = F16_SIX;
    planted.push(atCol);
  } else if (c.threshold === 6) {
    x[0] = F16_SIX;
    planted.push(0);
  }
  if (c.zeroRows) {
    x.fill(0, 0, c.k);
    w.fill(0, 0, c.k);
  }
  let threshold: number = c.threshold === 'all' ? 0 : c.threshold;
  if (c.threshold === 'all') {
    // the smallest column max: every column has a row at or above it
    threshold = Infinity;
    for (let col = 0; col < c.k; col++) {
      let mx = 0;
      for (let i = 0; i < c.m; i++) mx = Math.max(mx, Math.abs(f16BitsToNumber(x[i * c.k + col])));
      threshold = Math.min(threshold, mx);
    }
  }
  return { w, x, bias, threshold, planted };
}

export interface Int8CaseResult {
  /** from the library */
  codes: Int8Array;
  scb: Float32Array;
  y: Uint16Array;
  outliers: Int32Array;
  /** from the independent contract implementation */
  want: { codes: Int8Codes; y: Uint16Array; outliers: Int32Array };
}

/** quantize, NaN-poisoned `out`, matmul; the library's codes, Y and outliers beside the reference's. */
export async function runInt8Case(sq: Context, c: Int8Case, seed: number): Promise<Int8CaseResult> {
  const inp = drawInt8Inputs(c, seed);
  const iw = await sq.int8.quantize(inp.w, [c.n, c.k]);
  const tx = sq.tensor(inp.x, [c.m, c.k], 'f16');
  const tb = inp.bias ? sq.tensor(inp.bias, [c.n], 'f16') : undefined;
  const out = sq.tensor(nanPoison(c.m * c.n), [c.m, c.n], 'f16');
  try {
    const r = sq.int8.matmul(iw, tx, { bias: tb, out, threshold: inp.threshold });
    const [y, outliers, read] = await Promise.all([out.read(), r.outlierColumns, iw.read()]);
    const wq = quantizeWeightsRef(inp.w, c.n, c.k);
    const ref = int8MatmulRef(wq, inp.x, c.m, c.n, c.k, inp.threshold, inp.bias);
    return { codes: read.codes, scb: read.scb, y, outliers, want: { codes: wq, y: ref.y, outliers: ref.outliers } };
  } finally {
    for (const t of [iw, tx, tb, out]) t?.dispose();
  }
}

/** Where two arrays first differ ('' when equal). */
export function firstDifference(label: string, got: ArrayLike<number>, want: ArrayLike<number>): string {
  if (got.length !== want.length) return `${label}: length ${got.length} vs ${want.length}`;
  for (let i = 0; i < got.length; i++) if (!Object.is(got[i], want[i])) return `${label}[${i}]: ${got[i]} vs ${want[i]}`;
  return '';
}

/** int8 is bit-exact by contract: what differs from the independent implementation (and, given, from the cpu's Y). */
export function int8Mismatches(got: Int8CaseResult, onCpu?: Int8CaseResult): string[] {
  return [
    firstDifference('codes', got.codes, got.want.codes.codes),
    firstDifference('scb', got.scb, got.want.codes.scb),
    firstDifference('outlierColumns', got.outliers, got.want.outliers),
    firstDifference('y vs reference', got.y, got.want.y),
    onCpu ? firstDifference('y vs cpu', got.y, onCpu.y) : '',
  ].filter((d) => d !== '');
}
