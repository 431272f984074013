/**
 * Two independent implementations of group.allreduceRmsnorm, written from DESIGN.md, not from the
 * library: a float64 reference (no intermediate rounding but the residual's, which the norm is
 * defined on) for the tolerance checks, and the contract step by step (Math.fround for each fp32
 * operation) for the bit checks.
 */
import { f16BitsToNumber, numberToF16Bits } from './reference';

const { fround, sqrt } = Math; // module-local: global lookups are slow under jest's vm context

// fp16 bits → value for all 65536 patterns (from the exact decoder), so the loops below (and the
// tests' per-element checks) index a table.
export const F16_VALUE = Float64Array.from({ length: 65536 }, (_, h) => f16BitsToNumber(h));

// fp32 value → fp16 bits, round-to-nearest-even, on the fp32 bit pattern (exact for fp32 inputs,
// which is all the contract rounds): ~20× faster than the general numberToF16Bits.
const f32Box = new Float32Array(1);
const u32Box = new Uint32Array(f32Box.buffer);
function f32ToF16Bits(v: number): number {
  f32Box[0] = v;
  const u = u32Box[0];
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  const mant = u & 0x7fffff;
  if (exp === 0xff) return sign | (mant ? 0x7e00 : 0x7c00);
  const e = exp - 127 + 15; // fp16 biased exponent
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // below half the smallest subnormal
    const m = mant | 0x800000; // 24-bit significand
    const shift = 14 - e; // to the 2^-24 grid
    const q = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    return sign | (rem > half || (rem === half && (q & 1) === 1) ? q + 1 : q);
  }
  const q = mant >>> 13;
  const rem = mant & 0x1fff;
  const h = sign | (e << 10) | q;
  return rem > 0x1000 || (rem === 0x1000 && (q & 1) === 1) ? h + 1 : h; // a carry into the exponent is right
}

/** @internal exported for its own test against the exact general rounding */
export const f32ToF16BitsForTest = f32ToF16Bits;

export interface AllreduceInputs {
  xs: Uint16Array[];
  residuals: Uint16Array[];
  gamma: Uint16Array;
  tokens: number;
  hidden: number;
  eps: number;
}

/** Per rank: the float64 sum + residual, and the float64 RMSNorm of its fp16 rounding. */
export function allreduceRmsnormRef(a: AllreduceInputs): { out: Float64Array[]; residual: Float64Array[] } {
  const { xs, residuals, gamma, tokens, hidden, eps } = a;
  const n = tokens * hidden;
  const sum = new Float64Array(n);
  for (const x of xs) for (let i = 0; i < n; i++) sum[i] += F16_VALUE[x[i]];
  const g = Float64Array.from(gamma, (b) => F16_VALUE[b]);
  const out: Float64Array[] = [];
  const residual: Float64Array[] = [];
  for (const res of residuals) {
    const r64 = new Float64Array(n);
    const o64 = new Float64Array(n);
    for (let t = 0; t < tokens; t++) {
      let ss = 0;
      for (let j = 0; j < hidden; j++) {
        const i = t * hidden + j;
        r64[i] = sum[i] + F16_VALUE[res[i]];
        const rounded = F16_VALUE[numberToF16Bits(r64[i])];
        o64[i] = rounded;
        ss += rounded * rounded;
      }
      const rstd = 1 / sqrt(ss / hidden + eps);
      for (let j = 0; j < hidden; j++) {
        const i = t * hidden + j;
        o64[i] = o64[i] * rstd * g[j];
      }
    }
    residual.push(r64);
    out.push(o64);
  }
  return { out, residual };
}

/** The contract's bits: fp32 rank sum in order, one fp16 rounding of s + residual, fp64 sum of squares, two fp32 products. */
export function allreduceRmsnormContract(a: AllreduceInputs): { out: Uint16Array[]; residual: Uint16Array[] } {
  const { xs, residuals, gamma, tokens, hidden, eps } = a;
  const n = tokens * hidden;
  const sum = new Float64Array(n); // holds fp32 values
  for (let i = 0; i < n; i++) {
    let s = F16_VALUE[xs[0][i]];
    for (let r = 1; r < xs.length; r++) s = fround(s + F16_VALUE[xs[r][i]]);
    sum[i] = s;
  }
  const g = Float64Array.from(gamma, (b) => F16_VALUE[b]);
  const epsF = fround(eps);
  const out: Uint16Array[] = [];
  const residual: Uint16Array[] = [];
  for (const res of residuals) {
    const rb = new Uint16Array(n);
    const ob = new Uint16Array(n);
    for (let t = 0; t < tokens; t++) {
      let ss = 0;
      for (let j = 0; j < hidden; j++) {
        const i = t * hidden + j;
        rb[i] = f32ToF16Bits(fround(sum[i] + F16_VALUE[res[i]]));
        const v = F16_VALUE[rb[i]];
        ss += v * v;
      }
      const rstd = fround(1 / sqrt(ss / hidden + epsF));
      for (let j = 0; j < hidden; j++) {
        const i = t * hidden + j;
        ob[i] = f32ToF16Bits(fround(fround(F16_VALUE[rb[i]] * rstd) * g[j]));
      }
    }
    residual.push(rb);
    out.push(ob);
  }
  return { out, residual };
}
