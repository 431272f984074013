/**
 * Independent float64 references and bit-level fp16/bf16 codecs written from the IEEE 754 rules,
 * not from the library (tests compare the library against these).
 */

// Module-local aliases for what the per-element loops call: under jest's vm context every lookup
// of a global (Math, Number, Object) costs 25-100× a local one, enough to make a 100×1001×1024
// reference take 40 s instead of 0.4 s.
const { abs, floor, log2, imul } = Math;
const isFiniteNumber = Number.isFinite;
const isNaNNumber = Number.isNaN;
const sameValue = Object.is;

// floor(log2(a)) for a finite a > 0 from the float64 exponent field (IEEE 754 binary64; typed arrays
// share the platform's byte order, so the high word is [1] on little-endian hosts and [0] on
// big-endian ones). Math.log2 is not exact near powers of two and costs 5-10x more per element.
const f64Box = new Float64Array(1);
const f64Words = new Uint32Array(f64Box.buffer);
const HIGH_WORD = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;
function exponentOf(a: number): number {
  f64Box[0] = a;
  const biased = (f64Words[HIGH_WORD] >>> 20) & 0x7ff;
  if (biased !== 0) return biased - 1023;
  return floor(log2(a)); // float64 subnormal (below 2^-1022): never on an fp16 path, exact enough there
}

/** fp16 bits → number, exact, from the definition (sign, exponent, fraction). */
function f16FromFields(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  if (exp === 0) return sign * mant * 2 ** -24;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

// All 65536 values, each from the definition once: the checks convert millions of outputs per
// case (the device check's 8.4 M-output dense case spent ~1.2 s a pass on the H200's host), and a
// lookup takes half the time (8 M values in node: 1.2–1.4 s → 0.59–0.68 s, a loaded 2-core box,
// 2026-12-05). Built at first use, then shared by every call in this module.
let f16Values: Float64Array | null = null;
function f16Table(): Float64Array {
  if (f16Values === null) {
    f16Values = new Float64Array(0x10000);
    for (let h = 0; h < 0x10000; h++) f16Values[h] = f16FromFields(h);
  }
  return f16Values;
}

/** fp16 bits → number, exact (bits above the low 16 are ignored). */
export function f16BitsToNumber(h: number): number {
  return (f16Values ?? f16Table())[h & 0xffff];
}

// bf16 is the high half of an fp32: one shared box, not two typed arrays per call.
const f32Box = new Float32Array(1);
const f32Word = new Uint32Array(f32Box.buffer);

/** bf16 bits → number, exact. */
export function bf16BitsToNumber(b: number): number {
  f32Word[0] = (b & 0xffff) << 16;
  return f32Box[0];
}

function roundHalfEven(x: number): number {
  const f = floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** number → fp16 bits, round-to-nearest-even, from the definition (exact for fp32 and fp64 inputs). */
export function numberToF16Bits(v: number): number {
  if (isNaNNumber(v)) return 0x7e00;
  const sign = v < 0 || sameValue(v, -0) ? 0x8000 : 0;
  const a = abs(v);
  if (a >= 65520) return sign | 0x7c00; // at or above the midpoint between 65504 and 2^16 → Inf
  if (a < 2 ** -14) return sign | roundHalfEven(a / 2 ** -24); // subnormal grid (may round up into the normals)
  let e = exponentOf(a);
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
    t = imul(t ^ (t >>> 15), t | 1);
    t ^= t + imul(t ^ (t >>> 7), t | 61);
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
  return referenceMatmulWithMagnitude(w, x, m, n, k, bias).values;
}

/**
 * The float64 reference of a matmul with what each element's error bound needs: `values[i·n + j]`
 * = Σ_k X[i,k]·W[j,k] (+ bias[j]) and `absSum[i·n + j]` = Σ_k |X[i,k]·W[j,k]| (+ |bias[j]|), over
 * `k` products.
 */
export interface MatmulReference {
  values: Float64Array;
  absSum: Float64Array;
  /** columns of the output (n), for reporting an element as [row, col] */
  cols: number;
  /** length of the reduction: the number of products summed into each element */
  k: number;
}

/** What a shared matmul case returns: the output, its reference with bounds, and the old norm figure. */
export interface MatmulCaseResult {
  /** ‖y − ref‖_F / ‖ref‖_F (NaN if any element is not finite) */
  relError: number;
  /** output bits, for comparing backends */
  y: Uint16Array;
  reference: MatmulReference;
  /** {@link elementBounds} of `reference` */
  bound: Float64Array;
}

/** The result record of a case from its output and reference. */
export function matmulCaseResult(y: Uint16Array, reference: MatmulReference): MatmulCaseResult {
  return { relError: relErrorF16(y, reference.values), y, reference, bound: elementBounds(reference) };
}

/** {@link referenceMatmul} plus Σ|x·w| (+|bias|) per element, in one float64 pass. */
export function referenceMatmulWithMagnitude(
  w: Float64Array,
  x: Float64Array,
  m: number,
  n: number,
  k: number,
  bias?: Float64Array,
): MatmulReference {
  const values = new Float64Array(m * n);
  const absSum = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = bias ? bias[j] : 0;
      let a = bias ? abs(bias[j]) : 0;
      const xo = i * k;
      const wo = j * k;
      for (let t = 0; t < k; t++) {
        const p = x[xo + t] * w[wo + t];
        s += p;
        a += abs(p);
      }
      values[i * n + j] = s;
      absSum[i * n + j] = a;
    }
  return { values, absSum, cols: n, k };
}

/** Spacing of the fp16 grid at |v|: 2^(e−10) for |v| in [2^e, 2^(e+1)), 2^-24 below 2^-14, 32 from 2^15 up. */
export function ulpF16(v: number): number {
  const a = abs(v);
  if (!(a >= 2 ** -14)) return 2 ** -24;
  if (a >= 2 ** 15) return 32;
  return 2 ** (exponentOf(a) - 10);
}

/**
 * c in the per-element bound |y − ref| ≤ 2·ulp_fp16(ref) + c·k·2⁻²³·Σ|x·w| (docs: DESIGN.md
 * "Numerical contracts": fp32 accumulation in any order, one final fp16 rounding; a bias is one
 * more term of the sum and of Σ|·|).
 *
 * Derivation. The products of two fp16 values are exact in fp32 (22 significant bits, exponents
 * far inside fp32's range), so all accumulation error comes from the additions. Summing the k
 * products (+ bias) in any order — any binary tree, split-K partials included — takes at most k
 * additions on any path, each with relative error ≤ u, so |ŝ − s| ≤ γ_k·Σ|x·w|, γ_k = k·u/(1 − k·u)
 * (Higham, Accuracy and Stability, §4.2).
 * - IEEE fp32 round-to-nearest: u = 2⁻²⁴, i.e. c = ½·1/(1 − k·2⁻²⁴) ≈ 0.5.
 * - Tensor-core mma (fp16 in, fp32 accumulate) is not IEEE: each block of b products plus the
 *   accumulator is aligned to the block's largest exponent, truncated, summed, and normalized toward
 *   zero (Fasi et al., "Numerical behavior of NVIDIA tensor cores", PeerJ CS 2021). Each of the
 *   b + 1 aligned terms loses < 2⁻²³ of the block's largest term (≤ Σ|x·w|) and the normalization
 *   < 2⁻²³ of the block's sum, so k/b blocks cost ≤ (k/b)·(b + 2)·2⁻²³·Σ|x·w| = (1 + 2/b)·k·2⁻²³·Σ|x·w|:
 *   c ≤ 1.5 for b ≥ 4 (sm_70 and later), times γ's 1/(1 − k·2⁻²³) < 1.002 for k ≤ 2¹⁴.
 * So c = 2: the tensor-core case with margin, 4× the IEEE case (cpu, sim).
 * c = 2 also absorbs the final rounding's share that 2·ulp(ref) does not cover: rounding ŝ to fp16
 * costs ≤ ½·ulp16(ŝ) ≤ ½·ulp16(|ref| + E), which is ≤ ulp16(ref) while E ≤ |ref| and ≤ 2⁻¹⁰·E when
 * cancellation leaves |ref| < E (E the accumulation term).
 * What it rejects (unless the terms involved are tiny): fp16 partial sums, a skipped or doubled k
 * step, a wrong scale; always: an unwritten (NaN) element.
 */
export const ACCUMULATION_C = 2;

/** The per-element bound 2·ulp_fp16(ref) + c·k·2⁻²³·Σ|x·w| for every element of `ref`. */
export function elementBounds(ref: MatmulReference): Float64Array {
  const bound = new Float64Array(ref.values.length);
  const perUnit = ACCUMULATION_C * ref.k * 2 ** -23;
  for (let i = 0; i < bound.length; i++) bound[i] = 2 * ulpF16(ref.values[i]) + perUnit * ref.absSum[i];
  return bound;
}

/** One element outside its bound (or not finite). */
export interface ElementMiss {
  index: number;
  row: number;
  col: number;
  got: number;
  want: number;
  bound: number;
  /** |got − want| / bound; Infinity for a non-finite got */
  ratio: number;
}

export interface ElementwiseCheck {
  /** every element finite and within its bound */
  ok: boolean;
  /** max over elements of |got − want| / bound (Infinity if any element is NaN/Inf) */
  maxRatio: number;
  /** elements outside their bound, non-finite ones included */
  failed: number;
  /** elements of `got` that are NaN or ±Inf (never written: outputs are NaN-poisoned first) */
  nonFinite: number;
  /** the first few misses, in index order */
  firstMisses: ElementMiss[];
  /** ‖got − want‖_F / ‖want‖_F (NaN if any element is not finite): the old figure, kept */
  relNorm: number;
  count: number;
}

/**
 * Every element of `got` (fp16 bits) against `want` within its own `bound`: |got − want| ≤ bound,
 * and NaN/Inf is a miss wherever `want` is finite. `cols` is the output's n, for [row, col].
 */
export function checkElementwise(got: Uint16Array, want: Float64Array, bound: Float64Array, cols: number, report = 5): ElementwiseCheck {
  if (got.length !== want.length || bound.length !== want.length)
    throw new Error(`checkElementwise: ${got.length} outputs, ${want.length} reference values, ${bound.length} bounds`);
  let maxRatio = 0;
  let failed = 0;
  let nonFinite = 0;
  let num = 0;
  let den = 0;
  const firstMisses: ElementMiss[] = [];
  for (let i = 0; i < want.length; i++) {
    const g = f16BitsToNumber(got[i]);
    const r = want[i];
    if (!isFiniteNumber(g)) nonFinite++;
    let miss: boolean;
    let ratio: number;
    if (isFiniteNumber(g) && isFiniteNumber(r)) {
      const err = abs(g - r);
      miss = !(err <= bound[i]);
      ratio = err / bound[i];
    } else {
      miss = !(sameValue(g, r) && !isNaNNumber(r)); // only the same infinity on both sides agrees
      ratio = miss ? Infinity : 0;
    }
    if (ratio > maxRatio) maxRatio = ratio;
    if (miss) {
      failed++;
      if (firstMisses.length < report) firstMisses.push({ index: i, row: floor(i / cols), col: i % cols, got: g, want: r, bound: bound[i], ratio });
    }
    num += (g - r) ** 2;
    den += r ** 2;
  }
  const relNorm = nonFinite ? NaN : Math.sqrt(num) / Math.sqrt(den || 1);
  return { ok: failed === 0, maxRatio, failed, nonFinite, firstMisses, relNorm, count: want.length };
}

/** One line for a check: max ratio, the norm, and on failure the first misses and the seed. */
export function describeElementwise(label: string, c: ElementwiseCheck, seed: number): string {
  const head = `${label}: max err/bound ${c.maxRatio.toPrecision(3)}, rel norm ${c.relNorm.toExponential(2)}`;
  if (c.ok) return head;
  const misses = c.firstMisses.map((e) => `[${e.row}, ${e.col}] (#${e.index}) got ${e.got} ref ${e.want} err ${abs(e.got - e.want).toExponential(3)} > bound ${e.bound.toExponential(3)}`);
  return `${head}; ${c.failed} of ${c.count} elements outside their bound (${c.nonFinite} non-finite), first: ${misses.join('; ')} (seed ${seed})`;
}

/** fp16 bits → Float64Array of their values (a backend's output used as the other side of a check). */
export function f16ArrayToNumbers(bits: Uint16Array): Float64Array {
  const out = new Float64Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = f16BitsToNumber(bits[i]);
  return out;
}

/** Elementwise a + b (the bound for comparing two backends: each within its own bound of the reference). */
export function addBounds(a: Float64Array, b: Float64Array): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] + b[i];
  return out;
}

/** ‖got − ref‖_F / ‖ref‖_F, with got given as fp16 bits; NaN if any element is not finite. */
export function relErrorF16(got: Uint16Array, ref: Float64Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    const g = f16BitsToNumber(got[i]);
    if (!isFiniteNumber(g)) return NaN;
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
