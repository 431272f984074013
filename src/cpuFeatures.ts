import { native } from './native';

/** What this CPU supports: the best SIMD path, all supported paths, and the default thread count. */
export function cpuFeatures(): { best: string; supported: string[]; defaultThreads: number } {
  return native().cpuIsa();
}
