/**
 * An independent implementation of the int8 (LLM.int8()) contract of DESIGN.md, written from the
 * contract's text and IEEE 754 rules, not from the library: every fp32 step is one correctly
 * rounded operation (Math.fround of an exact or innocuously double-rounded double result), the fma
 * is exact (TwoSum with a midpoint fix), the accumulator is an exact integer. Tests demand the
 * library's codes, outlier lists and Y bits equal this.
 */
import { f16BitsToNumber, numberToF16Bits } from './reference';

const { abs, floor, fround } = Math;

/** Round half to even, for the |v| ≤ 128 values the quantizers produce. */
export function rne(v: number): number {
  const f = floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
/** The fp32 neighbour of fp32 value r in the direction of `toward` (r ≠ toward, both finite). */
function nextF32(r: number, toward: number): number {
  if (r === 0) return toward > 0 ? 2 ** -149 : -(2 ** -149);
  f32[0] = r;
  const away = toward > r === r > 0; // moving away from zero grows the magnitude bits
  u32[0] = away ? u32[0] + 1 : u32[0] - 1;
  return f32[0];
}

/**
 * fp32 fma(a, b, c) = round32(a·b + c) with one rounding. a·b of two fp32 values is exact in a
 * double; the double sum s may round, and only when s lands exactly on an fp32 midpoint can
 * round32(s) differ from round32(a·b + c): then the sign of the TwoSum error decides.
 */
export function fmaF32(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  if (!Number.isFinite(s)) return fround(s);
  const bv = s - p;
  const err = p - (s - bv) + (c - bv);
  let r = fround(s);
  if (r !== s && err !== 0) {
    const other = nextF32(r, s);
    const mid = (r + other) / 2;
    if (s === mid && err > 0 === s > r) r = other;
  }
  return r;
}

export interface Int8Codes {
  codes: Int8Array; // [n*k]
  scb: Float32Array; // [n]
}

/** SCB[j] = max|W[j,:]|; CB = rne(fp32(fp32(w·127) / SCB)); SCB = 0 ⇒ 0. */
export function quantizeWeightsRef(w: Uint16Array, n: number, k: number): Int8Codes {
  const codes = new Int8Array(n * k);
  const scb = new Float32Array(n);
  for (let j = 0; j < n; j++) {
    let mx = 0;
    for (let c = 0; c < k; c++) mx = Math.max(mx, abs(f16BitsToNumber(w[j * k + c])));
    scb[j] = mx;
    if (mx === 0) continue;
    for (let c = 0; c < k; c++) codes[j * k + c] = rne(fround(fround(f16BitsToNumber(w[j * k + c]) * 127) / mx));
  }
  return { codes, scb };
}

export interface Int8RefResult {
  y: Uint16Array; // [m*n] fp16 bits
  outliers: Int32Array; // increasing
}

/** The whole contract: outliers, rowStat, CA, exact acc, t, o (fma in increasing column order), Y. */
export function int8MatmulRef(
  wq: Int8Codes,
  x: Uint16Array,
  m: number,
  n: number,
  k: number,
  threshold: number,
  bias?: Uint16Array,
): Int8RefResult {
  const xv = new Float64Array(m * k);
  for (let i = 0; i < m * k; i++) xv[i] = f16BitsToNumber(x[i]);
  const isOutlier = new Uint8Array(k);
  // |x| ≥ threshold on the number itself (x is an fp16 value, exact here): the kernels' fp32 compare
  // uses the smallest fp32 ≥ threshold, which gives the same set.
  if (threshold > 0) for (let i = 0; i < m * k; i++) if (abs(xv[i]) >= threshold) isOutlier[i % k] = 1;
  const outliers: number[] = [];
  for (let c = 0; c < k; c++) if (isOutlier[c]) outliers.push(c);
  const rowStat = new Float64Array(m);
  const ca = new Int32Array(m * k);
  for (let i = 0; i < m; i++) {
    let st = 0;
    for (let c = 0; c < k; c++) if (!isOutlier[c]) st = Math.max(st, abs(xv[i * k + c])); // a NaN makes it NaN (IEEE max)
    rowStat[i] = st;
    if (st === 0) continue;
    for (let c = 0; c < k; c++) if (!isOutlier[c]) ca[i * k + c] = rne(fround(fround(xv[i * k + c] * 127) / st));
  }
  const y = new Uint16Array(m * n);
  const { codes, scb } = wq;
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let acc = 0; // |acc| < 2^31: exact in a double
      for (let c = 0; c < k; c++) acc += ca[i * k + c] * codes[j * k + c];
      const t = fround(fround(fround(fround(acc) * rowStat[i]) * scb[j]) / 16129);
      let o = 0;
      for (const c of outliers) o = fmaF32(xv[i * k + c], fround(fround(codes[j * k + c] * scb[j]) / 127), o);
      let v = fround(t + o);
      if (bias) v = fround(v + f16BitsToNumber(bias[j]));
      y[i * n + j] = numberToF16Bits(v);
    }
  return { y, outliers: Int32Array.from(outliers) };
}
