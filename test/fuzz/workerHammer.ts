// test/fuzz/workerHammer.ts: sparq under worker_threads, run as a child process by
// test/workers.test.ts. Prints one line `WORKERS_SUMMARY {json}`.
//
//   SPARQ_WORKERS_MODE=hammer    4 workers, each with its own contexts, run the fuzzer's op table
//                                (runFuzz.ts: every op, some arguments malformed) for a fixed time,
//                                and re-run a matmul of each kind checking it bit for bit against
//                                its first result, while the main thread opens and closes contexts
//                                with a matmul on each. Backends: SPARQ_WORKERS_BACKENDS (cpu,sim).
//   SPARQ_WORKERS_MODE=terminate workers busy with queued matmuls and weight packing are
//                                terminate()d mid-op; the main thread's context must still work.
//   SPARQ_WORKERS_MODE=exit      process.exit(0) with matmuls queued on the main thread's cpu and
//                                sim contexts and in a worker.
import { isMainThread, parentPort, Worker, workerData } from 'worker_threads';

import type { BackendName, Context, Tensor } from '../../src';
import { open } from '../../src';
import { native } from '../../src/native';
import { freshSeed, randomF16, rng } from '../reference';
import { FuzzEnv } from './harness';
import { describeError, fail, probe, runOne, setMalformProbability, summary, watchProcess, weightedPicker } from './runFuzz';

interface WorkerReport {
  id: number;
  backend: BackendName;
  calls: number;
  exactChecks: number;
  mismatches: string[];
  failures: string[];
  codes: Record<string, number>;
}

interface HammerArgs {
  role: 'hammer' | 'busy';
  id: number;
  backend: BackendName;
  seconds: number;
  seed: number;
}

/** A matmul of each kind on fixed inputs, as a function returning its output bits. */
async function fixedMatmuls(sq: Context, seed: number, small: boolean): Promise<[string, () => Promise<Uint16Array>][]> {
  const next = rng(seed);
  const [m, n, k] = small ? [2, 16, 32] : [4, 48, 128];
  const w = randomF16(n * k, next).bits;
  const x = sq.tensor(randomF16(m * k, next).bits, [m, k], 'f16');
  const wt = sq.tensor(w, [n, k], 'f16');
  const q = await sq.w4a16.quantize(w, [n, k], { groupSize: 32 });
  const sp = await sq.sparse.encode(await sq.sparse.prune(w, [n, k], 0.5), [n, k]);
  const i8 = await sq.int8.quantize(w, [n, k]);
  const readAndFree = async (t: Tensor<'f16'>): Promise<Uint16Array> => {
    const y = await t.read();
    t.dispose();
    return y;
  };
  return [
    ['dense', () => readAndFree(sq.dense.matmul(wt, x))],
    ['w4a16', () => readAndFree(sq.w4a16.matmul(q, x))],
    ['sparse', () => readAndFree(sq.sparse.matmul(sp, x))],
    ['int8', () => readAndFree(sq.int8.matmul(i8, x, { threshold: 0.9 }).y)],
  ];
}

/** In a worker: the fuzzer's calls and bit-exact re-runs until the deadline. */
async function hammer(a: HammerArgs): Promise<WorkerReport> {
  setMalformProbability(0.15);
  const env = new FuzzEnv(a.backend, a.seed);
  await env.start();
  const next = weightedPicker(env);
  const exact = await fixedMatmuls(env.sq, a.seed, a.backend === 'sim');
  const first = await Promise.all(exact.map(([, run]) => run()));
  const report: WorkerReport = { id: a.id, backend: a.backend, calls: 0, exactChecks: 0, mismatches: [], failures: [], codes: {} };
  const deadline = Date.now() + a.seconds * 1000;
  const timeoutMs = a.backend === 'sim' ? 120000 : 30000;
  while (Date.now() < deadline) {
    await runOne(env, next(), report.calls++, timeoutMs);
    if (report.calls % 25 === 0) {
      const i = report.calls % exact.length;
      const y = await exact[i][1]();
      report.exactChecks++;
      const bad = y.findIndex((v, j) => v !== first[i][j]);
      if (bad >= 0) report.mismatches.push(`${exact[i][0]} call ${report.calls}: y[${bad}] = ${y[bad]}, first run ${first[i][bad]}`);
    }
    if (report.calls % 200 === 0) await probe(env, timeoutMs);
    if (env.pooled > 120) env.clearPools();
  }
  await probe(env, timeoutMs);
  await env.stop();
  report.failures = summary.failures.map((f) => `${f.op} [${f.notes.join('; ')}]: ${f.problem}`);
  report.codes = summary.codes;
  return report;
}

/** In a worker: keep the stream full until terminated (posts 'busy' once work is queued). */
async function busy(a: HammerArgs): Promise<void> {
  const sq = await open({ backend: a.backend, threads: 1 });
  const next = rng(a.seed);
  const [n, k] = a.backend === 'sim' ? [32, 64] : [256, 512];
  const w = randomF16(n * k, next).bits;
  const wt = sq.tensor(w, [n, k], 'f16');
  const x = sq.tensor(randomF16(8 * k, next).bits, [8, k], 'f16');
  for (let i = 0; i < 4; i++) sq.dense.matmul(wt, x);
  parentPort!.postMessage('busy');
  for (;;) {
    const q = sq.w4a16.quantize(w, [n, k]);
    const i8 = sq.int8.quantize(w, [n, k]);
    for (let i = 0; i < 4; i++) sq.dense.matmul(wt, x);
    sq.w4a16.matmul(await q, x);
    sq.int8.matmul(await i8, x);
  }
}

function startWorker(args: HammerArgs): Worker {
  return new Worker(__filename, { workerData: args });
}

function onceMessage(w: Worker): Promise<unknown> {
  return new Promise((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
}

async function modeHammer(backends: BackendName[], seconds: number, seed: number): Promise<object> {
  const workers: { w: Worker; done: Promise<unknown>; exited: Promise<unknown> }[] = [];
  for (let id = 0; id < 4; id++) {
    const backend = backends[id % backends.length];
    const w = startWorker({ role: 'hammer', id, backend, seconds, seed: (seed + id * 7919) >>> 0 });
    workers.push({ w, done: onceMessage(w), exited: new Promise((r) => w.once('exit', r)) });
  }
  // The main thread opens and closes contexts meanwhile, with a checked matmul on each.
  let mainCycles = 0;
  const mainErrors: string[] = [];
  let finished = false;
  const all = Promise.all(workers.map((x) => x.done)).finally(() => (finished = true));
  all.catch(() => undefined);
  while (!finished) {
    try {
      const sq = await open({ backend: 'cpu', threads: 1 });
      const w = sq.tensor(new Uint16Array(16 * 8).fill(0x3c00), [16, 8], 'f16'); // ones
      const x = sq.tensor(new Uint16Array(8).fill(0x3800), [1, 8], 'f16'); // halves
      const y = await sq.dense.matmul(w, x).read();
      if (!y.every((v) => v === 0x4400)) mainErrors.push(`main cycle ${mainCycles}: y = ${Array.from(y).join(',')}`); // 8 · 0.5 = 4
      await sq.close();
      mainCycles++;
    } catch (e) {
      mainErrors.push(`main cycle ${mainCycles}: ${describeError(e)}`);
    }
  }
  const reports = (await all) as WorkerReport[];
  await Promise.all(workers.map((x) => x.exited));
  return { mode: 'hammer', seed, seconds, workers: reports, mainCycles, mainErrors };
}

async function modeTerminate(backends: BackendName[], seed: number): Promise<object> {
  const sq = await open({ backend: 'cpu', threads: 1 });
  const rounds: string[] = [];
  for (const backend of backends) {
    for (let round = 0; round < 3; round++) {
      const w = startWorker({ role: 'busy', id: round, backend, seconds: 0, seed: seed + round });
      await onceMessage(w);
      // Mid-op: a matmul running, more queued, weights packing on the stream.
      await new Promise((r) => setTimeout(r, 5 + round * 20));
      const code = await w.terminate();
      rounds.push(`${backend}#${round}: exit ${code}`);
    }
  }
  const y = await sq.dense.matmul(sq.tensor(new Uint16Array(8).fill(0x3c00), [1, 8], 'f16'), sq.tensor(new Uint16Array(8).fill(0x3800), [1, 8], 'f16')).read();
  await sq.close();
  return { mode: 'terminate', rounds, afterwards: Array.from(y) };
}

async function modeExit(backends: BackendName[]): Promise<void> {
  const w = startWorker({ role: 'busy', id: 0, backend: 'cpu', seconds: 0, seed: 1 });
  await onceMessage(w);
  for (const backend of backends) {
    const sq = await open({ backend });
    const [n, k] = backend === 'sim' ? [32, 64] : [512, 512];
    const wt = sq.tensor(new Uint16Array(n * k).fill(0x3c00), [n, k], 'f16');
    const x = sq.tensor(new Uint16Array(4 * k).fill(0x3800), [4, k], 'f16');
    for (let i = 0; i < 8; i++) sq.dense.matmul(wt, x);
    void sq.w4a16.quantize(new Uint16Array(n * k).fill(0x3c00), [n, k]);
  }
  process.stdout.write(`WORKERS_SUMMARY ${JSON.stringify({ mode: 'exit', queuedOn: backends })}\n`);
  process.exit(0);
}

async function main(): Promise<void> {
  const mode = process.env.SPARQ_WORKERS_MODE ?? 'hammer';
  const seed = process.env.SPARQ_FUZZ_SEED ? Number(process.env.SPARQ_FUZZ_SEED) >>> 0 : freshSeed();
  const wanted = (process.env.SPARQ_WORKERS_BACKENDS ?? 'cpu,sim').split(',') as BackendName[];
  const backends = wanted.filter((b) => b === 'cpu' || (b === 'sim' && native().hasSim));
  let out: object;
  if (mode === 'terminate') out = await modeTerminate(backends, seed);
  else if (mode === 'exit') return modeExit(backends);
  else out = await modeHammer(backends, Number(process.env.SPARQ_WORKERS_SECONDS ?? 8), seed);
  process.stdout.write(`WORKERS_SUMMARY ${JSON.stringify(out)}\n`);
}

if (isMainThread) {
  main().catch((e: unknown) => {
    process.stdout.write(`WORKERS_SUMMARY ${JSON.stringify({ driverError: describeError(e) })}\n`);
    process.exitCode = 2;
  });
} else {
  const a = workerData as HammerArgs;
  watchProcess();
  if (a.role === 'busy') void busy(a);
  else
    hammer(a).then(
      (r) => parentPort!.postMessage(r),
      (e: unknown) => {
        fail(`worker ${a.id} driver error: ${describeError(e)}`);
        parentPort!.postMessage({ id: a.id, backend: a.backend, calls: 0, exactChecks: 0, mismatches: [], failures: summary.failures.map((f) => f.problem), codes: {} });
      },
    );
}
