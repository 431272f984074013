// The CPU floor of a layer: (bytes the op must read) / (DRAM read bandwidth measured in the same
// run with the same thread pool as the op): DESIGN.md "Performance targets", issue 13. The probe
// is native (native/cpu/read_probe.cc): each pool thread sums one contiguous slice of a buffer far
// larger than L3, in stream order like every op, timed between two sq.mark()s. How a thread reads
// fastest depends on the CPU (one plain stream on AMD Zen 4; several streams with a software
// prefetch on an Intel Xeon, where one stream drew half of what the dense gemv reads), so every
// read shape in READ_SHAPES is sampled and the floor is the fastest sample of any, as STREAM
// reports its best rate: a slower sample is the machine doing something else (the second core
// taken, a neighbour on the memory) or a way of reading this CPU does not favour, and a floor a
// kernel's median can beat is no floor.
import * as os from 'os';
import type { Context, Tensor } from '../../src/index';
import { markedRuns } from './markedRuns';
import { Stats } from './stats';
import { SampleBatch } from './timeLoop';
import { native } from '../../src/native';
import { l3CacheBytes } from './machineInfo';

export interface CpuFloor {
  /** Bytes read per second (the fastest of the samples). */
  readonly bytesPerS: number;
  /** The pool that read: the context's threads. */
  readonly threads: number;
  readonly bufferBytes: number;
  readonly samples: number;
  /** The read shape of the fastest sample. */
  readonly shape: ReadShape;
  /** One line: how it was measured. */
  readonly source: string;
}

/** How each pool thread reads its slice: `streams` runs a line of each in turn, a prefetch ahead. */
export interface ReadShape {
  readonly streams: number;
  readonly prefetchBytes: number;
}

/** The read shapes sampled: a plain stream, and the several-streams-with-prefetch ways that won on Intel. */
export const READ_SHAPES: readonly ReadShape[] = [
  { streams: 1, prefetchBytes: 0 },
  { streams: 4, prefetchBytes: 1024 },
  { streams: 8, prefetchBytes: 1024 },
];

function describeShape(s: ReadShape): string {
  return `${s.streams} stream${s.streams === 1 ? '' : 's'}${s.prefetchBytes > 0 ? `, prefetch ${s.prefetchBytes} B ahead` : ''}`;
}

const MIN_BUFFER_BYTES = 2 ** 30;     // 1 GiB
const L3_MULTIPLE = 4;                // 4 x L3: no cache keeps more than a sliver of it
const MAX_BUFFER_BYTES = 4 * 2 ** 30; // a bound for huge-L3 parts
const MAX_FREE_FRACTION = 0.25;       // never more than a quarter of the free memory
export const ROW_BYTES = 2 ** 20;     // the buffer is [MiB rows, 1 MiB]: dims stay small
export const SAMPLES = 5; // per read shape (the copy floor's per way of copying too)

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
    let best = { ms: Infinity, shape: READ_SHAPES[0] };
    // Shapes interleaved sample by sample, so a slow spell of the host does not fall on one shape.
    for (let i = 0; i < SAMPLES; i++) {
      for (const shape of READ_SHAPES) {
        const t0 = sq.mark();
        const sum = b.readProbe(sq.handle, buffer.handle, shape.streams, shape.prefetchBytes);
        const t1 = sq.mark();
        await sum;
        const ms = (await t1) - (await t0);
        if (ms < best.ms) best = { ms, shape };
      }
    }
    const l3 = l3CacheBytes();
    const gib = (bytes / 2 ** 30).toFixed(2);
    const tried = READ_SHAPES.map(describeShape).join('; ');
    return {
      bytesPerS: bytes / (best.ms / 1000), threads: sq.threads, bufferBytes: bytes, samples: SAMPLES * READ_SHAPES.length,
      shape: best.shape,
      source: `read probe: ${sq.threads} pool thread(s) each reading a contiguous slice of a ${gib} GiB buffer ` +
        `(${l3 === null ? 'L3 size unknown' : `L3 ${(l3 / 2 ** 20).toFixed(0)} MiB`}); fastest of ${SAMPLES} samples each of ` +
        `${READ_SHAPES.length} read shapes (${tried}): ${describeShape(best.shape)}`,
    };
  } finally {
    buffer.dispose();
  }
}

/**
 * The floor's read, kept for the run, so each config can sample it again side by side with its rows
 * (bench/measure.ts measureTogether's `alongside`): a floor taken once at the start can fall in a
 * slow spell of the host and make every later row look closer to it than it is. A config's floor
 * is the fastest read seen, at the start or in its own rounds (refreshedFloor).
 */
export class FloorProbe {
  private constructor(private readonly sq: Context, private readonly buffer: Tensor<'u8'>, readonly floor: CpuFloor) {}

  /** Null off the cpu backend or without a start floor. */
  static open(sq: Context, floor: CpuFloor | null): FloorProbe | null {
    if (sq.backend !== 'cpu' || floor === null) return null;
    return new FloorProbe(sq, sq.zeros([floor.bufferBytes / ROW_BYTES, ROW_BYTES], 'u8'), floor);
  }

  /** `count` reads of the whole buffer in the floor's read shape, ms each (stream time). */
  readonly batch: SampleBatch = (count) =>
    markedRuns(this.sq, count, () =>
      native().readProbe(this.sq.handle, this.buffer.handle, this.floor.shape.streams, this.floor.shape.prefetchBytes));

  /** The start floor, raised to the fastest of `sampled` where that read faster. */
  refreshedFloor(sampled: Stats | Error | undefined): CpuFloor {
    if (sampled === undefined || sampled instanceof Error || !(sampled.min > 0)) return this.floor;
    const bytesPerS = this.floor.bufferBytes / (sampled.min / 1000);
    return bytesPerS > this.floor.bytesPerS ? { ...this.floor, bytesPerS } : this.floor;
  }

  dispose(): void {
    this.buffer.dispose();
  }
}

/** One pool's start floor and its kept read (null where there is none). */
export interface PoolFloor {
  readonly floor: CpuFloor | null;
  readonly floorProbe: FloorProbe | null;
}

/**
 * Floor sampling beside one config's rows for several pools (the main context and the --threads
 * ones): `batches` go to measureTogether's `alongside`; `floors(sampled)` then gives each pool's
 * floor in `pools` order (a pool without a probe keeps its start floor).
 */
export function floorsAlongside(pools: readonly PoolFloor[]): {
  batches: SampleBatch[];
  floors(sampled: ReadonlyArray<Stats | Error>): Array<CpuFloor | null>;
} {
  return {
    batches: pools.flatMap((p) => (p.floorProbe === null ? [] : [p.floorProbe.batch])),
    floors(sampled) {
      let i = 0;
      return pools.map((p) => (p.floorProbe === null ? p.floor : p.floorProbe.refreshedFloor(sampled[i++])));
    },
  };
}

/** "30.6 GB/s (2 threads, 1 stream)". */
export function describeFloor(f: CpuFloor): string {
  return `${(f.bytesPerS / 1e9).toFixed(1)} GB/s (${f.threads} thread${f.threads === 1 ? '' : 's'}, ${describeShape(f.shape)})`;
}
