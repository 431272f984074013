/**
 * w4a16 cases shared by jest (every backend present) and the device check (cuda vs cpu), plus the
 * independent float64 dequant reference and RTN quantizer. No jest here.
 */
import type { Context } from '../../src';
import { f16BitsToNumber, nanPoison, numberToF16Bits, randomF16, referenceMatmul, relErrorF16, rng } from '../reference';

export interface W4A16Case {
  name: string;
  m: number;
  n: number;
  k: number;
  groupSize: number;
  bias: boolean;
  tolerance: number;
}

/** w = fp16((q − 8)·s), as float64. */
export function dequantize(codes: Uint8Array, scales: Uint16Array, n: number, k: number, g: number): Float64Array {
  const w = new Float64Array(n * k);
  const groups = k / g;
  for (let j = 0; j < n; j++)
    for (let c = 0; c < k; c++) {
      const s = f16BitsToNumber(scales[j * groups + Math.floor(c / g)]);
      w[j * k + c] = f16BitsToNumber(numberToF16Bits((codes[j * k + c] - 8) * s));
    }
  return w;
}

function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  return d > 0.5 ? f + 1 : d < 0.5 ? f : f % 2 === 0 ? f : f + 1;
}

/** The contract's RTN, written independently: fp32 arithmetic (Math.fround), fp16 scale, round-half-even codes. */
export function referenceRtn(wBits: Uint16Array, n: number, k: number, g: number): { codes: Uint8Array; scales: Uint16Array } {
  const codes = new Uint8Array(n * k);
  const scales = new Uint16Array((n * k) / g);
  for (let j = 0; j < n; j++)
    for (let gi = 0; gi < k / g; gi++) {
      let max = -Infinity;
      let min = Infinity;
      for (let c = gi * g; c < (gi + 1) * g; c++) {
        const v = f16BitsToNumber(wBits[j * k + c]);
        max = Math.max(max, v);
        min = Math.min(min, v);
      }
      const s32 = Math.max(Math.fround(max / 7), Math.fround(-min / 8));
      const sBits = numberToF16Bits(s32);
      scales[j * (k / g) + gi] = sBits;
      const s = f16BitsToNumber(sBits);
      for (let c = gi * g; c < (gi + 1) * g; c++) {
        const q = s === 0 ? 8 : roundHalfEven(Math.fround(f16BitsToNumber(wBits[j * k + c]) / s)) + 8;
        codes[j * k + c] = Math.min(15, Math.max(0, q));
      }
    }
  return { codes, scales };
}

/** m in {1, 5, 16, 33, 64, 100} × group sizes 32/64/128/per-channel, odd n, k a multiple of the group. */
export function w4a16Cases(backend: string): W4A16Case[] {
  const tol = 2e-3;
  const out: W4A16Case[] = [];
  const shapes: [number, number, number][] =
    backend === 'sim'
      ? [
          [35, 96, 32],
          [67, 128, 64],
          [129, 256, 128],
          [17, 72, 72],
        ]
      : [
          [35, 160, 32],
          [67, 192, 64],
          [129, 384, 128],
          [17, 200, 200],
          [1001, 1024, 128],
        ];
  const ms = backend === 'sim' ? [1, 5, 16, 33, 64, 100] : [1, 5, 16, 33, 64, 100];
  for (const [n, k, g] of shapes)
    for (const m of ms) {
      if (backend === 'sim' && m * n * k > 64 * 129 * 256) continue;
      out.push({ name: `m=${m} n=${n} k=${k} g=${g === k ? 'k' : g}`, m, n, k, groupSize: g, bias: (m + n) % 2 === 0, tolerance: tol });
    }
  return out;
}

export interface W4A16CaseResult {
  relError: number;
  y: Uint16Array;
}

/** fromCodes with random codes/scales, NaN-poisoned `out`, reference on the dequantized weights. */
export async function runW4A16Case(sq: Context, c: W4A16Case, seed: number): Promise<W4A16CaseResult> {
  const next = rng(seed);
  const codes = Uint8Array.from({ length: c.n * c.k }, () => Math.floor(next() * 16));
  const scales = randomF16((c.n * c.k) / c.groupSize, next, 0.001, 0.02).bits;
  const x = randomF16(c.m * c.k, next);
  const bias = c.bias ? randomF16(c.n, next) : undefined;
  const qw = await sq.w4a16.fromCodes(codes, scales, [c.n, c.k], { groupSize: c.groupSize });
  const tx = sq.tensor(x.bits, [c.m, c.k], 'f16');
  const tb = bias ? sq.tensor(bias.bits, [c.n], 'f16') : undefined;
  const out = sq.tensor(nanPoison(c.m * c.n), [c.m, c.n], 'f16');
  try {
    const y = await sq.w4a16.matmul(qw, tx, { bias: tb, out }).read();
    const ref = referenceMatmul(dequantize(codes, scales, c.n, c.k, c.groupSize), x.values, c.m, c.n, c.k, bias?.values);
    return { relError: relErrorF16(y, ref), y };
  } finally {
    for (const t of [qw, tx, tb, out]) t?.dispose();
  }
}
