import type { CpuIsa } from './context';
import { describeValue, SparqArgumentError } from './errors';

/** The SIMD paths a CPU kernel can be forced to (`open({ cpuIsa })`, `SPARQ_CPU_ISA`). */
export const CPU_ISAS: readonly CpuIsa[] = ['avx512', 'avx2', 'scalar'];

/**
 * `value` ('' = the best path) when it names a path, else a SparqArgumentError in the one wording
 * every caller uses: `open`, and the conversions, which read `SPARQ_CPU_ISA` at each call.
 * @param from what the message names, e.g. `open: cpuIsa` or `toF16: SPARQ_CPU_ISA`.
 * @param argument the error's `argument`: the option or the variable.
 */
export function checkCpuIsa(value: unknown, from: string, argument: string): string {
  if (value === '' || CPU_ISAS.includes(value as CpuIsa)) return value as string;
  throw new SparqArgumentError(`${from} must be one of 'avx512', 'avx2', 'scalar', got ${describeValue(value)}`, { argument });
}
