// test/fuzz/leakCycles.ts: create/use/dispose cycles of every kind of sparq object, run as a child
// process by test/leak.test.ts, measuring RSS and V8's external memory after a warm-up and at the end.
//
//   SPARQ_LEAK_MODE=dispose node dist/test/fuzz/leakCycles.js         (no --expose-gc: the real case)
//   SPARQ_LEAK_MODE=gc node --expose-gc dist/test/fuzz/leakCycles.js  (no dispose(): the GC backstop)
//
// dispose: every object is disposed (contexts closed); nothing may grow. Plus "disposed but
// reachable": N disposed weights kept referenced must hold no more than their small wrappers (the
// memory a GC would give back is the memory V8 cannot see).
// gc: nothing is disposed or closed; after the loop and two GCs the memory must be back.
// SPARQ_LEAK_SCALE scales every cycle count (e.g. 0.1 for a quick look). Prints one line
// `LEAK_SUMMARY {json}`.
import * as fs from 'fs';

import type { BackendName, Context, PackedWeight, Tensor } from '../../src';
import { open } from '../../src';
import { native } from '../../src/native';
import { rng, randomF16 } from '../reference';

const mode = process.env.SPARQ_LEAK_MODE === 'gc' ? 'gc' : 'dispose';
const scale = process.env.SPARQ_LEAK_SCALE ? Number(process.env.SPARQ_LEAK_SCALE) : 1;
const only = process.env.SPARQ_LEAK_ONLY ? new RegExp(process.env.SPARQ_LEAK_ONLY) : null;
const dispose = mode === 'dispose';
const next = rng(1);
const MiB = 1 << 20;

export interface Row {
  name: string;
  backend: BackendName;
  cycles: number;
  /** RSS (MiB) after the warm-up, half-way, at the end, and the most seen in between. */
  rssWarmMiB: number;
  rssMidMiB: number;
  rssEndMiB: number;
  rssMaxMiB: number;
  growthMiB: number;
  /** The external memory sparq reported to V8 (napi_adjust_external_memory: live tensors and weights), MiB. */
  externalWarmMiB: number;
  externalEndMiB: number;
  /** Threads of the process after the warm-up and at the end (contexts own a stream thread and a pool). */
  threadsWarm: number;
  threadsEnd: number;
  /** V8's heap (JS objects, the wrappers among them) after the warm-up and at the end, MiB. */
  heapWarmMiB: number;
  heapEndMiB: number;
  /** The backend's live allocations after the warm-up and at the end (synchronized first). */
  allocsWarm: number;
  allocsEnd: number;
  ms: number;
}

type Cycle = (sq: Context) => Promise<void>;

function release(...objects: (Tensor | PackedWeight<unknown>)[]): void {
  if (dispose) for (const o of objects) o.dispose();
}

/** A tensor made, read, copied and read again. */
function tensorCycle(n: number, k: number): Cycle {
  const data = randomF16(n * k, next).bits;
  return async (sq) => {
    const t = sq.tensor(data, [n, k], 'f16');
    const c = sq.copy(t);
    await c.read();
    release(t, c);
  };
}

/** A weight of `kind` made from fp16 values, one matmul with it, the output read. */
function weightCycle(kind: 'w4a16' | 'sparse' | 'int8', n: number, k: number): Cycle {
  const w = randomF16(n * k, next).bits;
  // A sparse weight is made 80% sparse, as one is used: a dense one is the largest case of its
  // cpu row lists (~3× the format's bytes), which only raises what waits for the GC in the
  // no-dispose run, not what a leak would show.
  if (kind === 'sparse') for (let i = 0; i < w.length; i++) if (next() < 0.8) w[i] = 0;
  const xData = randomF16(2 * k, next).bits;
  return async (sq) => {
    const x = sq.tensor(xData, [2, k], 'f16');
    let q: PackedWeight<unknown>;
    let y: Tensor;
    if (kind === 'w4a16') {
      const weight = await sq.w4a16.quantize(w, [n, k]);
      q = weight;
      y = sq.w4a16.matmul(weight, x);
    } else if (kind === 'sparse') {
      const weight = await sq.sparse.encode(w, [n, k]);
      q = weight;
      y = sq.sparse.matmul(weight, x);
    } else {
      const weight = await sq.int8.quantize(w, [n, k]);
      q = weight;
      const r = sq.int8.matmul(weight, x);
      await r.outlierColumns;
      y = r.y;
    }
    await y.read();
    release(x, q, y);
  };
}

/** A context opened, a tensor made on it, the context closed (or, without dispose, dropped). */
function contextCycle(backend: BackendName): Cycle {
  const data = randomF16(256, next).bits;
  return async () => {
    const c = await open({ backend, threads: 1 });
    await c.tensor(data, [16, 16], 'f16').read();
    if (dispose) await c.close();
  };
}

const rssMiB = (): number => process.memoryUsage().rss / MiB;
// V8's external-memory counter, which napi_adjust_external_memory moves (sparq's tensors and
// weights; V8's own ArrayBuffers count there too), read back from the addon:
// process.memoryUsage().external leaves sparq's part out on Node 20, so a check on it could not fail.
const externalMiB = (): number => native().v8ExternalBytes() / MiB;
const heapMiB = (): number => process.memoryUsage().heapTotal / MiB;
const threads = (): number => fs.readdirSync('/proc/self/task').length;

async function collect(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return;
  // Twice, with turns of the event loop between: N-API finalizers may run after the GC that found them.
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 20));
  }
  // A dropped context's finalizer stops its pool's threads, which can take longer than the turns above
  // on a loaded 2-core box (CI once saw 45 threads where 13 were due). Keep collecting while the count
  // still falls, up to 2 s. A real leak keeps the count flat, so the threads check still catches it.
  for (let i = 0, last = threads(), flat = 0; i < 100 && flat < 3; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 20));
    const now = threads();
    flat = now < last ? 0 : flat + 1;
    last = now;
  }
}

async function measure(name: string, backend: BackendName, cycles: number, cycle: Cycle): Promise<Row | null> {
  if (only && !only.test(`${name} [${backend}]`)) return null;
  cycles = Math.max(5, Math.round(cycles * scale));
  const sq = await open({ backend });
  const warm = Math.max(2, Math.floor(cycles / 4)); // the allocator and V8 heap reach their working size
  const t0 = Date.now();
  for (let i = 0; i < warm; i++) await cycle(sq);
  await sq.synchronize();
  await collect();
  await sq.synchronize(); // frees a GC queued run on the stream
  const allocsWarm = sq.liveAllocations;
  const rssWarm = rssMiB();
  const externalWarm = externalMiB();
  const heapWarm = heapMiB();
  const threadsWarm = threads();
  let rssMax = rssWarm;
  let rssMid = 0;
  for (let i = 0; i < cycles; i++) {
    await cycle(sq);
    if (i % 100 === 0) rssMax = Math.max(rssMax, rssMiB());
    if (i === Math.floor(cycles / 2)) {
      await collect();
      rssMid = rssMiB();
    }
  }
  await sq.synchronize();
  await collect();
  await sq.synchronize();
  const allocsEnd = sq.liveAllocations;
  const rssEnd = rssMiB();
  const threadsEnd = threads();
  const externalEnd = externalMiB(); // before close(), which would take back what handles never collected still hold
  await sq.close();
  const r2 = (v: number): number => Math.round(v * 100) / 100;
  return {
    name,
    backend,
    cycles,
    rssWarmMiB: r2(rssWarm),
    rssMidMiB: r2(rssMid),
    rssEndMiB: r2(rssEnd),
    rssMaxMiB: r2(Math.max(rssMax, rssEnd)),
    growthMiB: r2(rssEnd - rssWarm),
    externalWarmMiB: r2(externalWarm),
    externalEndMiB: r2(externalEnd),
    threadsWarm,
    threadsEnd,
    heapWarmMiB: r2(heapWarm),
    heapEndMiB: r2(heapMiB()),
    allocsWarm,
    allocsEnd,
    ms: Date.now() - t0,
  };
}

/** What disposed-but-reachable weights still hold: RSS per object (KiB) in each batch. */
export interface Held {
  count: number;
  /** RSS growth per object of each batch, all batches' objects kept reachable throughout. */
  batchKib: number[];
  /** The smallest batch figure: what the test bounds. */
  kibPerObject: number;
}

/**
 * Disposed weights kept reachable: what each still holds. Only its wrapper may remain until a GC;
 * before the fix a weight kept a copy of its packed bytes (~65 KiB here), which shows in every
 * batch. glibc's arenas grow in jumps (one CI run read 9.1 KiB/object over a single 1,500-object
 * loop, the next local runs 1.6-2.7), and a jump lands in one batch: so the figure is the smallest
 * of three batches.
 */
async function heldAfterDispose(count: number): Promise<Held | null> {
  if (only && !only.test('disposed but reachable')) return null;
  const batches = 3;
  const perBatch = Math.max(100, Math.round((count * scale) / batches));
  const sq = await open({ backend: 'cpu' });
  const [n, k] = [128, 256];
  const w = randomF16(n * k, next).bits;
  const kept: PackedWeight<unknown>[] = [];
  // Without the cpu row lists: they are one more part, freed by the same dispose() as the others
  // (and counted by the cycles), but at this shape each is a ~130 KiB allocation at glibc's mmap
  // threshold, which made this RSS-per-object figure swing from 0 to 39 KiB between runs with
  // nothing held (2026-12-01).
  const sparseOptions = { rowLists: false };
  const kinds = [() => sq.sparse.encode(w, [n, k], sparseOptions), () => sq.w4a16.quantize(w, [n, k]), () => sq.int8.quantize(w, [n, k])];
  for (let i = 0; i < 50; i++) (await kinds[i % 3]()).dispose();
  const batchKib: number[] = [];
  for (let b = 0; b < batches; b++) {
    await sq.synchronize();
    const before = process.memoryUsage().rss;
    for (let i = 0; i < perBatch; i++) {
      const q = await kinds[i % 3]();
      q.dispose();
      kept.push(q);
    }
    await sq.synchronize();
    batchKib.push(Math.round(((process.memoryUsage().rss - before) / perBatch / 1024) * 100) / 100);
  }
  await sq.close();
  kept.length = 0;
  return { count: perBatch * batches, batchKib, kibPerObject: Math.min(...batchKib) };
}

async function main(): Promise<void> {
  // First, while the heap is fresh (less for the arenas to jump from).
  const held = dispose ? await heldAfterDispose(1500) : null;
  const rows: (Row | null)[] = [];
  const sim = native().hasSim;
  // cpu: 10,000 cycles of each; sim (a simulated GPU runs each matmul) far fewer and tiny.
  // Without dispose() the loops are half as long: the point there is that a GC gives it all back.
  const cpuCycles = dispose ? 10000 : 5000;
  rows.push(await measure('tensor', 'cpu', cpuCycles, tensorCycle(64, 64)));
  rows.push(await measure('w4a16 weight', 'cpu', cpuCycles, weightCycle('w4a16', 64, 128)));
  rows.push(await measure('sparse weight', 'cpu', cpuCycles, weightCycle('sparse', 64, 128)));
  rows.push(await measure('int8 weight', 'cpu', cpuCycles, weightCycle('int8', 64, 128)));
  rows.push(await measure('context', 'cpu', dispose ? 10000 : 3000, contextCycle('cpu')));
  if (sim) {
    rows.push(await measure('tensor', 'sim', 2000, tensorCycle(16, 32)));
    rows.push(await measure('w4a16 weight', 'sim', 40, weightCycle('w4a16', 16, 32)));
    rows.push(await measure('sparse weight', 'sim', 40, weightCycle('sparse', 16, 32)));
    rows.push(await measure('int8 weight', 'sim', 8, weightCycle('int8', 16, 32)));
    rows.push(await measure('context', 'sim', dispose ? 2000 : 1000, contextCycle('sim')));
  }
  process.stdout.write(`LEAK_SUMMARY ${JSON.stringify({ mode, scale, rows: rows.filter((r) => r !== null), held })}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`leakCycles failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
