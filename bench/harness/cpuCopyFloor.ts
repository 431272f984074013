// The CPU floor of an op that writes as much as it reads (allreduceRmsnorm: x and residual in, out
// and res_out back): (bytes it must read + write) / (copy bandwidth of the same thread pool,
// measured in the same run). The probe is native (native/cpu/read_probe.cc CopyProbe): each pool
// thread copies one contiguous slice of a buffer far larger than L3 into another, with memcpy or
// with streaming stores (the op's large outputs stream), timed between two sq.mark()s. The floor is
// the fastest sample of either way, as cpuFloor.ts takes its read: a slower sample is the host
// doing something else, and a floor an op can beat is no floor. Until 2026-12-06 the allreduce
// bench used one sq.copy (one memcpy on the stream's thread: one core's bandwidth), and the op's
// two threads passed it by up to 30%.
import type { Context } from '../../src/index';
import { native } from '../../src/native';
import { ROW_BYTES, SAMPLES, cpuFloorBufferBytes } from './cpuFloor';
import { markedRuns } from './markedRuns';

export interface CpuCopyFloor {
  /** Bytes read + written per second (the fastest of the samples). */
  readonly bytesPerS: number;
  /** One line: how it was measured. */
  readonly source: string;
}

const WAYS = [{ nonTemporal: false, label: 'memcpy' }, { nonTemporal: true, label: 'streaming stores' }] as const;

/** The copy bandwidth of `sq`'s thread pool (bytes read + written per second), or null off the cpu backend. */
export async function measureCpuCopyFloor(sq: Context): Promise<CpuCopyFloor | null> {
  if (sq.backend !== 'cpu') return null;
  // Half the read floor's buffer each: the pair is as far past L3 as its one buffer, in as much memory.
  const bytes = Math.max(ROW_BYTES, Math.floor(cpuFloorBufferBytes() / 2 / ROW_BYTES) * ROW_BYTES);
  const src = sq.zeros([bytes / ROW_BYTES, ROW_BYTES], 'u8'); // zero-filled: every page is backed
  const dst = sq.zeros([bytes / ROW_BYTES, ROW_BYTES], 'u8');
  const b = native();
  try {
    await b.copyProbe(sq.handle, dst.handle, src.handle); // warm-up (page tables, pool wake-up)
    let best = { ms: Infinity, label: '' };
    // The ways interleaved sample by sample, so a slow spell of the host does not fall on one.
    for (let i = 0; i < SAMPLES; i++) {
      for (const way of WAYS) {
        const [ms] = await markedRuns(sq, 1, () => b.copyProbe(sq.handle, dst.handle, src.handle, way.nonTemporal));
        if (ms !== undefined && ms < best.ms) best = { ms, label: way.label };
      }
    }
    const mib = (bytes / 2 ** 20).toFixed(0);
    return {
      bytesPerS: (2 * bytes) / (best.ms / 1000),
      source: `copy probe: ${sq.threads} pool thread(s) each copying a contiguous slice of ${mib} MiB into another ` +
        `buffer, bytes read + written; fastest of ${SAMPLES} samples each of memcpy and streaming stores: ${best.label}`,
    };
  } finally {
    src.dispose();
    dst.dispose();
  }
}
