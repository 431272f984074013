// Deterministic random inputs on fp16 grids, so sparq, the peers and the float64 reference all
// see exactly the same values.
import { encodeF16, f16Table } from './halfFloat';

/** xoshiro128** in 32-bit arithmetic: fast, seeded, good enough for benchmark data. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    this.a = seed | 0 || 1;
    this.b = 0x9e3779b9;
    this.c = 0x85ebca6b;
    this.d = 0xc2b2ae35;
    for (let i = 0; i < 16; i++) this.u32();
  }

  /** A uniform 32-bit unsigned integer (xoshiro128**). */
  u32(): number {
    const r = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return r;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.u32() / 4294967296;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

const GRID_STEPS = 2047;  // r/2048 for |r| <= 2047 has an 11-bit significand: exact in fp16

/**
 * fp16 bits of values uniform on the grid (r / 2048)·scale, r ∈ [−2047, 2047]; `scale` must be a
 * power of two so every value is exact in fp16.
 */
export function randomF16(count: number, scale: number, rng: Rng): Uint16Array {
  if (!Number.isInteger(Math.log2(scale))) throw new RangeError(`randomF16: scale must be a power of two, got ${scale}`);
  const lut = new Uint16Array(2 * GRID_STEPS + 1);
  for (let r = -GRID_STEPS; r <= GRID_STEPS; r++) lut[r + GRID_STEPS] = encodeF16((r / 2048) * scale);
  const out = new Uint16Array(count);
  for (let i = 0; i < count; i++) out[i] = lut[rng.u32() % lut.length];
  return out;
}

/** Uniform 4-bit codes 0..15. */
export function randomCodes(count: number, rng: Rng): Uint8Array {
  const out = new Uint8Array(count);
  for (let i = 0; i < count; i += 8) {
    const r = rng.u32();
    const end = Math.min(8, count - i);
    for (let j = 0; j < end; j++) out[i + j] = (r >>> (4 * j)) & 0xf;
  }
  return out;
}

/** fp16 scales uniform in [lo, hi), rounded to fp16. */
export function randomScales(count: number, lo: number, hi: number, rng: Rng): Uint16Array {
  const out = new Uint16Array(count);
  for (let i = 0; i < count; i++) out[i] = encodeF16(lo + (hi - lo) * rng.next());
  return out;
}

/** fp16 bits of w = fp16((q − zeroPoint)·s) for codes[n, k] and scales[n, k/g] (the w4a16 contract). */
export function dequantizeW4(codes: Uint8Array, scales: Uint16Array, n: number, k: number, g: number, zeroPoint: number): Uint16Array {
  const table = f16Table();
  const out = new Uint16Array(n * k);
  const lut = new Uint16Array(16);
  const groups = k / g;
  for (let row = 0; row < n; row++) {
    for (let grp = 0; grp < groups; grp++) {
      const s = table[scales[row * groups + grp]];
      // (q − 8)·s is exact in fp32 (4-bit × 11-bit significands); one rounding to fp16.
      for (let q = 0; q < 16; q++) lut[q] = encodeF16(Math.fround((q - zeroPoint) * s));
      const base = row * k + grp * g;
      for (let i = 0; i < g; i++) out[base + i] = lut[codes[base + i]];
    }
  }
  return out;
}
