/**
 * Independent float64 references and bit-level fp16/bf16 codecs written from the IEEE 754 rules,
 * not from the library (tests compare the library against these).
 */

/** fp16 bits → number, exact. */
export function f16BitsToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  if (exp === 0) return sign * mant * 2 ** -24;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

/** bf16 bits → number, exact. */
export function bf16BitsToNumber(b: number): number {
  const u = new Uint32Array([b << 16]);
  return new Float32Array(u.buffer)[0];
}

function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** number → fp16 bits, round-to-nearest-even, from the definition (exact for fp32 and fp64 inputs). */
export function numberToF16Bits(v: number): number {
  if (Number.isNaN(v)) return 0x7e00;
  const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const a = Math.abs(v);
  if (a >= 65520) return sign | 0x7c00; // at or above the midpoint between 65504 and 2^16 → Inf
  if (a < 2 ** -14) return sign | roundHalfEven(a / 2 ** -24); // subnormal grid (may round up into the normals)
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e -= 1;
  if (2 ** (e + 1) <= a) e += 1;
  let q = roundHalfEven(a / 2 ** (e - 10)); // 1024..2048
  if (q === 2048) {
    q = 1024;
    e += 1;
  }
  if (e > 15) return sign | 0x7c00;
  return sign | ((e + 15) << 10) | (q - 1024);
}

/** fp32 value → bf16 bits, round-to-nearest-even on the fp32 bit pattern; NaN → a quiet NaN. */
export function f32ToBF16Bits(v: number): number {
  const f = new Float32Array([v]);
  const u = new Uint32Array(f.buffer)[0];
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) | 0x40) & 0xffff;
  const lower = u & 0xffff;
  let upper = u >>> 16;
  if (lower > 0x8000 || (lower === 0x8000 && (upper & 1) === 1)) upper += 1;
  return upper & 0xffff;
}

/** Deterministic-per-seed PRNG (mulberry32); tests draw a fresh seed each run and print it on failure. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function freshSeed(): number {
  return (Date.now() ^ Math.floor(Math.random() * 0x7fffffff)) >>> 0;
}

/** Uniform values in [lo, hi) (never all zero), rounded to fp16; returns both the bits and the exact values. */
export function randomF16(count: number, next: () => number, lo = -1, hi = 1): { bits: Uint16Array; values: Float64Array } {
  const bits = new Uint16Array(count);
  const values = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const h = numberToF16Bits(lo + (hi - lo) * next());
    bits[i] = h;
    values[i] = f16BitsToNumber(h);
  }
  return { bits, values };
}

/** Y[m][n] = Σ_k X[m][k]·W[n][k] (+ bias[n]) in float64. */
export function referenceMatmul(
  w: Float64Array,
  x: Float64Array,
  m: number,
  n: number,
  k: number,
  bias?: Float64Array,
): Float64Array {
  const y = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = bias ? bias[j] : 0;
      const xo = i * k;
      const wo = j * k;
      for (let t = 0; t < k; t++) s += x[xo + t] * w[wo + t];
      y[i * n + j] = s;
    }
  return y;
}

/** ‖got − ref‖_F / ‖ref‖_F, with got given as fp16 bits; NaN if any element is not finite. */
export function relErrorF16(got: Uint16Array, ref: Float64Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    const g = f16BitsToNumber(got[i]);
    if (!Number.isFinite(g)) return NaN;
    num += (g - ref[i]) ** 2;
    den += ref[i] ** 2;
  }
  return Math.sqrt(num) / Math.sqrt(den || 1);
}

/** fp16 bits all NaN: the poison every output is filled with before a run. */
export function nanPoison(count: number): Uint16Array {
  return new Uint16Array(count).fill(0x7e00);
}

/** ‖a − b‖_F / ‖b‖_F for two fp16 outputs (how sim/cuda results are compared with cpu's). */
export function relDiffF16(a: Uint16Array, b: Uint16Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    const x = f16BitsToNumber(a[i]);
    const y = f16BitsToNumber(b[i]);
    num += (x - y) ** 2;
    den += y ** 2;
  }
  return Math.sqrt(num / (den || 1));
}
