/**
 * w4a16 cases shared by jest (every backend present) and the device check (cuda vs cpu), plus the
 * independent float64 dequant reference and RTN quantizer. No jest here.
 */
import type { Context } from '../../src';
import { f16BitsToNumber, matmulCaseResult, nanPoison, numberToF16Bits, randomF16, referenceMatmulWithMagnitude, rng, type MatmulCaseResult, type MatmulReference } from '../reference';

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
  const level = new Float64Array(16); // fp16((q − 8)·s) for the 16 codes of one group's scale
  for (let j = 0; j < n; j++)
    for (let gi = 0; gi < groups; gi++) {
      const s = f16BitsToNumber(scales[j * groups + gi]);
      for (let q = 0; q < 16; q++) level[q] = f16BitsToNumber(numberToF16Bits((q - 8) * s));
      for (let c = gi * g; c < (gi + 1) * g; c++) w[j * k + c] = level[codes[j * k + c]];
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
  // Many more tiles than an H200 has SMs (2048 vs 132): each CTA's cp.async ring wraps, which the
  // shapes above never do on a GPU (docs/verification.md, the PTX coverage table).
  if (backend !== 'sim')
    for (const m of [1, 16]) out.push({ name: `m=${m} n=4096 k=4096 g=128 (the ring wraps on a GPU)`, m, n: 4096, k: 4096, groupSize: 128, bias: m === 1, tolerance: tol });
  return out;
}

export type W4A16CaseResult = MatmulCaseResult;

/** A case's inputs, drawn from `seed` (the same draw every backend and the reference see). */
export interface W4A16Inputs {
  codes: Uint8Array;
  scales: Uint16Array;
  x: { bits: Uint16Array; values: Float64Array };
  bias?: { bits: Uint16Array; values: Float64Array };
}

/** Random codes (0..15), scales in [0.001, 0.02), X in [−1, 1), bias in [−1, 1) when the case has one. */
export function drawW4A16Inputs(c: W4A16Case, seed: number): W4A16Inputs {
  const next = rng(seed);
  const codes = new Uint8Array(c.n * c.k);
  for (let i = 0; i < codes.length; i++) codes[i] = (next() * 16) | 0; // no Math.* per element (slow under jest)
  const scales = randomF16((c.n * c.k) / c.groupSize, next, 0.001, 0.02).bits;
  const x = randomF16(c.m * c.k, next);
  const bias = c.bias ? randomF16(c.n, next) : undefined;
  return { codes, scales, x, bias };
}

/** The float64 reference (with Σ|x·w| per element) on the dequantized weights. */
export function referenceW4A16(c: W4A16Case, inputs: W4A16Inputs): MatmulReference {
  const w = dequantize(inputs.codes, inputs.scales, c.n, c.k, c.groupSize);
  return referenceMatmulWithMagnitude(w, inputs.x.values, c.m, c.n, c.k, inputs.bias?.values);
}

/** fromCodes with random codes/scales, NaN-poisoned `out`, reference on the dequantized weights. */
export async function runW4A16Case(sq: Context, c: W4A16Case, seed: number): Promise<W4A16CaseResult> {
  const inputs = drawW4A16Inputs(c, seed);
  const { codes, scales, x, bias } = inputs;
  const qw = await sq.w4a16.fromCodes(codes, scales, [c.n, c.k], { groupSize: c.groupSize });
  const tx = sq.tensor(x.bits, [c.m, c.k], 'f16');
  const tb = bias ? sq.tensor(bias.bits, [c.n], 'f16') : undefined;
  const out = sq.tensor(nanPoison(c.m * c.n), [c.m, c.n], 'f16');
  try {
    sq.w4a16.matmul(qw, tx, { bias: tb, out });
    // read the poisoned tensor itself: an element the op never wrote stays NaN and fails the check
    const y = await out.read();
    return matmulCaseResult(y, referenceW4A16(c, inputs));
  } finally {
    for (const t of [qw, tx, tb, out]) t?.dispose();
  }
}
