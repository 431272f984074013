import type { CpuIsa } from './context';
import { native } from './native';

/** The most CPU threads open() takes (its `threads` option and `SPARQ_THREADS`). */
export const MAX_THREADS = 1024;

/** A thread count open() takes: an integer in 1..MAX_THREADS. */
export function isThreadCount(n: unknown): n is number {
  return Number.isInteger(n) && (n as number) >= 1 && (n as number) <= MAX_THREADS;
}

/**
 * `SPARQ_THREADS` as `open()` reads it: undefined when unset or empty, its count when it is digits
 * alone (spaces around allowed), NaN otherwise — `open()` refuses that, and 0 or a count past
 * MAX_THREADS (until 2026-12-06 `Number()` took '0x10' as 16 and '1e1' as 10).
 */
export function threadsFromEnv(raw: string | undefined): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  return /^[0-9]+$/.test(raw.trim()) ? Number(raw) : NaN;
}

/**
 * What this CPU supports: the best SIMD path, all supported paths, and the default thread count —
 * what `open()` takes without a `threads` option: `SPARQ_THREADS` from `process.env` when it is a
 * count in 1..1024, else the hardware threads (a `SPARQ_THREADS` that is set but not such a count
 * makes `open()` reject; this reports the hardware threads then). Read in TypeScript, as `open()`
 * reads it: a worker_thread's `process.env` need not be the process environment, and a native
 * `getenv` on its thread could race Node's `setenv` on the main thread.
 */
export function cpuFeatures(): { best: CpuIsa; supported: CpuIsa[]; defaultThreads: number } {
  const f = native().cpuIsa();
  const fromEnv = threadsFromEnv(process.env.SPARQ_THREADS);
  return { best: f.best as CpuIsa, supported: f.supported as CpuIsa[], defaultThreads: isThreadCount(fromEnv) ? fromEnv : f.hardwareThreads };
}
