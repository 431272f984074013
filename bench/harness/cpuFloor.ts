// The CPU floor of a layer: (bytes the op must read) / (DRAM read bandwidth measured in the same
// run with the same thread pool as the op): DESIGN.md "Performance targets", issue 13. The probe
// is native (native/cpu/read_probe.cc): each pool thread sums one contiguous slice of a buffer far
// larger than L3 as one sequential stream, in stream order like every op, timed between two
// sq.mark()s. The floor is the fastest of the samples, as STREAM reports its best rate: a slower
// sample is the machine doing something else (the second core taken, a neighbour on the memory),
// and a floor a kernel's median can beat is no floor.
import * as os from 'os';
import type { Context } from '../../src/index';
import { native } from '../../src/native';
import { l3CacheBytes } from './machineInfo';

export interface CpuFloor {
  /** Bytes read per second (the fastest of the samples). */
  readonly bytesPerS: number;
  /** The pool that read: the context's threads. */
  readonly threads: number;
  readonly bufferBytes: number;
  readonly samples: number;
  /** One line: how it was measured. */
  readonly source: string;
}

const MIN_BUFFER_BYTES = 2 ** 30;     // 1 GiB
const L3_MULTIPLE = 4;                // 4 x L3: no cache keeps more than a sliver of it
const MAX_BUFFER_BYTES = 4 * 2 ** 30; // a bound for huge-L3 parts
const MAX_FREE_FRACTION = 0.25;       // never more than a quarter of the free memory
const ROW_BYTES = 2 ** 20;            // the buffer is [MiB rows, 1 MiB]: dims stay small
const SAMPLES = 7;

/** max(1 GiB, 4 x L3), capped at 4 GiB and a quarter of free memory; whole MiB. */
export function cpuFloorBufferBytes(): number {
  const want = Math.max(MIN_BUFFER_BYTES, L3_MULTIPLE * (l3CacheBytes() ?? 0));
  const capped = Math.min(want, MAX_BUFFER_BYTES, Math.floor(os.freemem() * MAX_FREE_FRACTION));
  return Math.max(ROW_BYTES, Math.floor(capped / ROW_BYTES) * ROW_BYTES);
}

/** The DRAM read bandwidth of `sq`'s thread pool, or null off the cpu backend. */
export async function measureCpuFloor(sq: Context): Promise<CpuFloor | null> {
  if (sq.backend !== 'cpu') return null;
  const bytes = cpuFloorBufferBytes();
  const buffer = sq.zeros([bytes / ROW_BYTES, ROW_BYTES], 'u8'); // zero-filled: every page is backed
  const b = native();
  try {
    await b.readProbe(sq.handle, buffer.handle); // warm-up (page tables, pool wake-up)
    const ms: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const t0 = sq.mark();
      const sum = b.readProbe(sq.handle, buffer.handle);
      const t1 = sq.mark();
      await sum;
      ms.push((await t1) - (await t0));
    }
    const l3 = l3CacheBytes();
    const gib = (bytes / 2 ** 30).toFixed(2);
    return {
      bytesPerS: bytes / (Math.min(...ms) / 1000), threads: sq.threads, bufferBytes: bytes, samples: SAMPLES,
      source: `read probe: ${sq.threads} pool thread(s) each reading a contiguous slice as one sequential stream of a ${gib} GiB buffer ` +
        `(${l3 === null ? 'L3 size unknown' : `L3 ${(l3 / 2 ** 20).toFixed(0)} MiB`}), best of ${SAMPLES}`,
    };
  } finally {
    buffer.dispose();
  }
}

/** "30.6 GB/s (2 threads)". */
export function describeFloor(f: CpuFloor): string {
  return `${(f.bytesPerS / 1e9).toFixed(1)} GB/s (${f.threads} thread${f.threads === 1 ? '' : 's'})`;
}
