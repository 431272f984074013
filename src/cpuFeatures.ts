import type { CpuIsa } from './context';
import { native } from './native';

/** The most CPU threads open() takes (its `threads` option and `SPARQ_THREADS`). */
const MAX_THREADS = 1024;

/**
 * What this CPU supports: the best SIMD path, all supported paths, and the default thread count —
 * what `open()` takes without a `threads` option: `SPARQ_THREADS` from `process.env` when it is an
 * integer in 1..1024, else the hardware threads. Read in TypeScript, as `open()` reads it: a
 * worker_thread's `process.env` need not be the process environment, and a native `getenv` on its
 * thread could race Node's `setenv` on the main thread.
 */
export function cpuFeatures(): { best: CpuIsa; supported: CpuIsa[]; defaultThreads: number } {
  const f = native().cpuIsa();
  const raw = process.env.SPARQ_THREADS;
  const fromEnv = raw === undefined || raw === '' ? NaN : Number(raw);
  const defaultThreads = Number.isInteger(fromEnv) && fromEnv >= 1 && fromEnv <= MAX_THREADS ? fromEnv : f.hardwareThreads;
  return { best: f.best as CpuIsa, supported: f.supported as CpuIsa[], defaultThreads };
}
