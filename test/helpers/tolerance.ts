import type { BackendName } from '../../src';
import { addBounds, checkElementwise, describeElementwise, f16ArrayToNumbers, relDiffF16, type ElementwiseCheck, type MatmulCaseResult } from '../reference';

/** Fails with the value, the bound and the seed (so a failure can be replayed), then asserts it. */
export function expectWithin(value: number, tolerance: number, what: string, seed: number): void {
  if (!(value <= tolerance)) throw new Error(`${what} ${value} > ${tolerance} (seed ${seed})`);
  expect(value).toBeLessThanOrEqual(tolerance);
}

/**
 * Every element within its own bound; on failure the message names the first offending elements
 * (index, got, ref, bound) and the seed. Returns the check for further figures.
 */
export function expectElementwise(check: ElementwiseCheck, what: string, seed: number): ElementwiseCheck {
  if (!check.ok) throw new Error(describeElementwise(what, check, seed));
  expect(check.maxRatio).toBeLessThanOrEqual(1);
  return check;
}

/**
 * A shared case's result: every element within its per-element bound of the float64 reference
 * (NaN/Inf is a failure), then the relative Frobenius norm within `tolerance` (the contract's
 * figure); off the cpu backend the same two checks against the cpu backend's result on the same
 * inputs (`runOnCpu` replays the case with the same seed), each element within the sum of both
 * sides' bounds, since both are approximations of the reference.
 */
export async function expectReferenceAndCpu(
  backend: BackendName,
  got: MatmulCaseResult,
  runOnCpu: () => Promise<MatmulCaseResult>,
  tolerance: number,
  seed: number,
): Promise<void> {
  expectElementwise(checkElementwise(got.y, got.reference.values, got.bound, got.reference.cols), `${backend} vs float64 reference`, seed);
  expectWithin(got.relError, tolerance, 'relError', seed);
  if (backend === 'cpu') return;
  const cpu = await runOnCpu();
  expectElementwise(checkElementwise(got.y, f16ArrayToNumbers(cpu.y), addBounds(got.bound, cpu.bound), got.reference.cols), `${backend} vs cpu`, seed);
  expectWithin(relDiffF16(got.y, cpu.y), tolerance, 'vs cpu', seed);
}
