// Waiting for this process's threads to go idle before the next timed batch.
//
// onnxruntime's intra-op workers spin after a run instead of sleeping. Measured on the 2-core CI
// box (2026-12-03, onnxruntime-node 1.30, intraOpNumThreads 2): after 20 MatMul runs the idle
// process still burned ~50 ms of CPU, and a sparq w4a16 m = 1 call started 0–50 ms after them took
// 1.2–1.9 ms instead of 0.61–0.68 ms (one of the two cores was taken). The benchmarks interleave
// contenders batch by batch, so every sparq, floor and peak batch that followed an ORT batch ran
// beside that spin. The ORT peer now waits here after its runs (outside its samples), so each
// contender starts on an idle machine; ORT keeps its default (spinning) configuration.

/** Why waitForIdle returned. */
export interface IdleWait {
  /** Wall time spent waiting, ms. */
  readonly waitedMs: number;
  /** True when a quiet window was seen; false when maxMs ran out first. */
  readonly idle: boolean;
}

export interface IdleOptions {
  /** Length of one observation window, ms. Defaults to 5. */
  readonly windowMs?: number;
  /** A window is quiet when the process used less than this fraction of one core in it. Defaults to 0.2. */
  readonly busyFraction?: number;
  /** Give up after this long, ms. Defaults to 400. */
  readonly maxMs?: number;
}

function wallMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/**
 * Sleeps in windows of `windowMs` until one window in which the whole process (every thread)
 * used less than `busyFraction` of a core, or until `maxMs`. The caller's thread sleeps in
 * setTimeout meanwhile, so what is counted is other threads' work: a peer's spinning pool.
 */
export async function waitForIdle(options: IdleOptions = {}): Promise<IdleWait> {
  const windowMs = options.windowMs ?? 5;
  const busyFraction = options.busyFraction ?? 0.2;
  const maxMs = options.maxMs ?? 400;
  const start = wallMs();
  for (;;) {
    const cpu0 = cpuMicros();
    const t0 = wallMs();
    await new Promise<void>((resolve) => { setTimeout(resolve, windowMs); });
    const elapsedMs = wallMs() - t0;
    const usedMs = (cpuMicros() - cpu0) / 1e3;
    const waitedMs = wallMs() - start;
    if (usedMs < busyFraction * elapsedMs) return { waitedMs, idle: true };
    if (waitedMs >= maxMs) return { waitedMs, idle: false };
  }
}
