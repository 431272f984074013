// Thread scaling of the CPU rows (issue 13 item 5): the sparq rows of chosen m run again on
// contexts with other pool sizes (`--threads 1,2`), each with its own floor measured on that pool,
// so the JSON says how time and % of floor move with threads.
import type { Context } from '../../src/index';
import { CpuFloor, FloorProbe } from './cpuFloor';
import { ImplResult, threeDigits } from './results';

/** A context with another pool size, the floor its pool drew at the start, and that read kept for the run. */
export interface ScalingContext {
  readonly threads: number;
  readonly sq: Context;
  readonly floor: CpuFloor | null;
  readonly floorProbe: FloorProbe | null;
}

/** One sparq row at one pool size. */
export interface ThreadRun {
  readonly threads: number;
  readonly impl: string;
  readonly status: ImplResult['status'];
  readonly medianMs: number | null;
  readonly p10Ms: number | null;
  readonly p90Ms: number | null;
  /** The floor's bandwidth on this pool, bytes/s. */
  readonly floorBandwidth: number | null;
  readonly floorMs: number | null;
  readonly pctOfFloor: number | null;
  readonly note?: string;
}

/** Floor ms of `bytes` at `bandwidth` bytes/s, or null where not measured. */
export function floorMsOf(bytes: number, bandwidth: number | null | undefined): number | null {
  return bandwidth == null ? null : (bytes / bandwidth) * 1e3;
}

/** % of floor: floor ms / measured ms (100 = at the floor). */
export function pctOfFloor(floorMs: number | null, r: ImplResult | undefined): number | null {
  return floorMs === null || r?.stats == null ? null : (100 * floorMs) / r.stats.median;
}

export function threadRun(threads: number, r: ImplResult, floor: CpuFloor | null): ThreadRun {
  const floorMs = floorMsOf(r.bytes, floor?.bytesPerS);
  return { threads, impl: r.impl, status: r.status, medianMs: r.stats?.median ?? null, p10Ms: r.stats?.p10 ?? null,
    p90Ms: r.stats?.p90 ?? null, floorBandwidth: floor?.bytesPerS ?? null, floorMs, pctOfFloor: pctOfFloor(floorMs, r),
    note: r.note };
}

/** "1t 3.10 ms 81%, 2t 1.70 ms 74%" for a table cell; null when there are no runs of `impl`. */
export function scalingCell(runs: readonly ThreadRun[] | undefined, impl: string): string | null {
  const mine = (runs ?? []).filter((r) => r.impl === impl).sort((a, b) => a.threads - b.threads);
  if (mine.length === 0) return null;
  return mine.map((r) => `${r.threads}t ${r.medianMs === null ? r.status : threeDigits(r.medianMs)}` +
    `${r.pctOfFloor === null ? '' : ` ${r.pctOfFloor.toFixed(0)}%`}`).join(', ');
}
