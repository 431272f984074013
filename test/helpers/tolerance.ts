import type { BackendName } from '../../src';
import { relDiffF16 } from '../reference';

/** Fails with the value, the bound and the seed (so a failure can be replayed), then asserts it. */
export function expectWithin(value: number, tolerance: number, what: string, seed: number): void {
  if (!(value <= tolerance)) throw new Error(`${what} ${value} > ${tolerance} (seed ${seed})`);
  expect(value).toBeLessThanOrEqual(tolerance);
}

/**
 * A shared case's result: within tolerance of the float64 reference and, off the cpu backend, of
 * the cpu backend's result on the same inputs (`runOnCpu` replays the case with the same seed).
 */
export async function expectReferenceAndCpu(
  backend: BackendName,
  got: { relError: number; y: Uint16Array },
  runOnCpu: () => Promise<{ y: Uint16Array }>,
  tolerance: number,
  seed: number,
): Promise<void> {
  expectWithin(got.relError, tolerance, 'relError', seed);
  if (backend === 'cpu') return;
  const cpu = await runOnCpu();
  expectWithin(relDiffF16(got.y, cpu.y), tolerance, 'vs cpu', seed);
}
