import type { CpuIsa } from './context';
import { native } from './native';

/** What this CPU supports: the best SIMD path, all supported paths, and the default thread count. */
export function cpuFeatures(): { best: CpuIsa; supported: CpuIsa[]; defaultThreads: number } {
  return native().cpuIsa() as { best: CpuIsa; supported: CpuIsa[]; defaultThreads: number };
}
