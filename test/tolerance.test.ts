/**
 * The per-element accuracy check (test/reference.ts `checkElementwise`, used by every shared case
 * through helpers/tolerance.ts and by the device check) against the defect it exists for: one lane
 * of an mma.m16n8k16 skipping one k16 step. The relative Frobenius norm (the old check) misses it;
 * the per-element bound catches it.
 */
import { open } from '../src';
import { dequantize, drawW4A16Inputs, runW4A16Case, type W4A16Case, type W4A16CaseResult } from './cases/w4a16.cases';
import { expectElementwise } from './helpers/tolerance';
import {
  addBounds,
  checkElementwise,
  describeElementwise,
  f16ArrayToNumbers,
  f16BitsToNumber,
  freshSeed,
  numberToF16Bits,
  relErrorF16,
  rng,
  ulpF16,
} from './reference';

const NORM_TOLERANCE = 2e-3; // DESIGN.md "Numerical contracts", w4a16: ‖Y−ref‖/‖ref‖ ≤ 2e-3

/** The shape of the issue: a real W4A16 case, run on the cpu backend. */
const CASE: W4A16Case = { name: 'm=100 n=1001 k=1024 g=128', m: 100, n: 1001, k: 1024, groupSize: 128, bias: false, tolerance: NORM_TOLERANCE };

interface Defect {
  /** output elements the lane holds in its C fragment: rows {g, g+8} × cols {2t, 2t+1} of one 16×8 tile */
  elements: number[];
  lane: number;
  tileRow: number;
  tileCol: number;
  kStep: number;
  y: Uint16Array;
}

/**
 * The output with one lane's k16 step skipped: for the 4 elements lane (g = lane/4, t = lane%4) holds
 * in the m16n8 accumulator of tile (tileRow, tileCol), the contribution Σ_{k in step} X·W of one
 * 16-wide k range is subtracted from the correct result, then rounded to fp16.
 */
function skipOneK16Step(c: W4A16Case, correct: Uint16Array, x: Float64Array, w: Float64Array, next: () => number): Defect {
  const tileRow = Math.floor(next() * Math.floor(c.m / 16));
  const tileCol = Math.floor(next() * Math.floor(c.n / 8));
  const lane = Math.floor(next() * 32);
  const kStep = Math.floor(next() * (c.k / 16));
  const g = lane >> 2;
  const t = lane & 3;
  const y = correct.slice();
  const elements: number[] = [];
  for (const i of [tileRow * 16 + g, tileRow * 16 + g + 8])
    for (const j of [tileCol * 8 + 2 * t, tileCol * 8 + 2 * t + 1]) {
      let skipped = 0;
      for (let kk = kStep * 16; kk < kStep * 16 + 16; kk++) skipped += x[i * c.k + kk] * w[j * c.k + kk];
      const e = i * c.n + j;
      y[e] = numberToF16Bits(f16BitsToNumber(correct[e]) - skipped);
      elements.push(e);
    }
  return { elements, lane, tileRow, tileCol, kStep, y };
}

describe('per-element accuracy check [cpu]', () => {
  const seed = freshSeed();
  let got: W4A16CaseResult;
  let x: Float64Array;
  let w: Float64Array;

  beforeAll(async () => {
    const sq = await open({ backend: 'cpu' });
    got = await runW4A16Case(sq, CASE, seed);
    const inputs = drawW4A16Inputs(CASE, seed);
    x = inputs.x.values;
    w = dequantize(inputs.codes, inputs.scales, CASE.n, CASE.k, CASE.groupSize);
  });

  it(`w4a16 ${CASE.name}: the correct cpu output passes every element's bound and the norm`, () => {
    const check = checkElementwise(got.y, got.reference.values, got.bound, CASE.n);
    expectElementwise(check, 'cpu vs float64 reference', seed);
    expect(check.nonFinite).toBe(0);
    expect(check.relNorm).toBeLessThanOrEqual(NORM_TOLERANCE);
    expect(check.relNorm).toBeCloseTo(got.relError, 12);
    // the bound is not vacuous: it is a small fraction of each element's Σ|x·w|
    let worst = 0;
    for (let e = 0; e < got.bound.length; e++) worst = Math.max(worst, got.bound[e] / got.reference.absSum[e]);
    expect(worst).toBeLessThan(0.01);
  });

  it(`w4a16 ${CASE.name}: one lane skipping one k16 step passes the norm check (< 2e-3) and fails the per-element check at that lane's elements`, () => {
    // The norm misses ~99.6% of such defects (measured: 887 of 200000 draws over 5 seeds reached
    // 2e-3); the claim is that it misses them at all, so draw lane, tile and k step until it does.
    const next = rng(seed ^ 0x9e3779b9);
    let defect = skipOneK16Step(CASE, got.y, x, w, next);
    let oldNorm = relErrorF16(defect.y, got.reference.values);
    for (let tries = 1; tries < 20 && !(oldNorm < NORM_TOLERANCE); tries++) {
      defect = skipOneK16Step(CASE, got.y, x, w, next);
      oldNorm = relErrorF16(defect.y, got.reference.values);
    }
    // Can fail by chance only when all 4 skipped 16-product sums are below their elements' bounds
    // (17 of 200000 draws: then the defect is within what fp32 accumulation may do).
    const where = `seed ${seed}, tile (${defect.tileRow}, ${defect.tileCol}), lane ${defect.lane}, k step ${defect.kStep}`;
    const check = checkElementwise(defect.y, got.reference.values, got.bound, CASE.n);
    // eslint-disable-next-line no-console
    console.log(`injected defect (${where}): rel norm ${oldNorm.toExponential(3)} (was ${got.relError.toExponential(3)}); ${describeElementwise('per-element', check, seed)}`);

    expect(oldNorm).toBeGreaterThan(got.relError); // the defect is in the output...
    if (!(oldNorm < NORM_TOLERANCE)) throw new Error(`old norm check caught the defect too: ${oldNorm} (${where})`);
    expect(oldNorm).toBeLessThan(NORM_TOLERANCE); // ...and the old check lets it through

    expect(check.ok).toBe(false);
    expect(check.maxRatio).toBeGreaterThan(1);
    expect(check.failed).toBeGreaterThanOrEqual(1);
    expect(check.failed).toBeLessThanOrEqual(4);
    for (const miss of check.firstMisses) {
      expect(defect.elements).toContain(miss.index);
      expect(miss.index).toBe(miss.row * CASE.n + miss.col);
      expect(Math.abs(miss.got - miss.want)).toBeGreaterThan(miss.bound);
    }
    // what the shared-case tests report: index, got, ref, bound and the seed
    const first = check.firstMisses[0];
    expect(() => expectElementwise(check, 'w4a16 [cpu] vs float64 reference', seed)).toThrow(
      new RegExp(`\\[${first.row}, ${first.col}\\] \\(#${first.index}\\) got ${first.got} ref ${first.want}.*> bound .*\\(seed ${seed}\\)`),
    );
  });

  it(`w4a16 ${CASE.name}: a last-bit difference in every element (two correct backends) passes the check against cpu`, () => {
    const next = rng(seed + 1);
    const other = got.y.map((h) => (next() < 0.5 ? h ^ 1 : h));
    const vsCpu = checkElementwise(other, f16ArrayToNumbers(got.y), addBounds(got.bound, got.bound), CASE.n);
    expectElementwise(vsCpu, 'last-bit flip vs cpu', seed);
    const vsRef = checkElementwise(other, got.reference.values, got.bound, CASE.n);
    expectElementwise(vsRef, 'last-bit flip vs float64 reference', seed);
  });

  it('an element left NaN (never written) or Inf fails with its index; the norm is NaN', () => {
    for (const bad of [0x7e00, 0x7c00, 0xfc00]) {
      const y = got.y.slice();
      const e = (seed % (CASE.m * CASE.n)) >>> 0;
      y[e] = bad;
      const check = checkElementwise(y, got.reference.values, got.bound, CASE.n);
      expect(check.ok).toBe(false);
      expect([check.failed, check.nonFinite, check.maxRatio]).toEqual([1, 1, Infinity]);
      expect(check.firstMisses[0]).toMatchObject({ index: e, row: Math.floor(e / CASE.n), col: e % CASE.n });
      expect(check.relNorm).toBeNaN();
    }
  });

  it('ulpF16 is the fp16 grid spacing at every positive finite fp16 value, subnormals and the top included', () => {
    let wrong = 0;
    for (let h = 0x0001; h <= 0x7bfe; h++) {
      const v = f16BitsToNumber(h);
      if (ulpF16(v) !== f16BitsToNumber(h + 1) - v || ulpF16(-v) !== ulpF16(v)) wrong++;
    }
    expect(wrong).toBe(0);
    expect([ulpF16(0), ulpF16(1), ulpF16(65504), ulpF16(2 ** -14), ulpF16(0.75)]).toEqual([2 ** -24, 2 ** -10, 32, 2 ** -24, 2 ** -11]);
  });
});
