// The cpu side of the device check's shared cases, in a worker thread: the same case function
// (test/cases) with the same seed on a cpu context, while the main thread runs the device side.
// Each side draws its inputs and computes its float64 reference and bounds in JS; one after the
// other on the JS thread they cost twice the host time of one, and on the device machine that
// time is spent on the GPU's clock. The worker changes where the cpu side runs, not what it checks.
import { isMainThread, parentPort, Worker, workerData } from 'worker_threads';

import { open, type Context } from '../../src';
import { runDenseCase, type DenseCase } from '../../test/cases/dense.cases';
import { runInt8Case, type Int8Case, type Int8CaseResult } from '../../test/cases/int8.cases';
import { runSparseCase, type SparseCase } from '../../test/cases/sparse.cases';
import { runW4A16Case, type W4A16Case } from '../../test/cases/w4a16.cases';
import { f16ArrayToNumbers } from '../../test/reference';

export type CpuSideJob =
  | { op: 'dense'; c: DenseCase; seed: number }
  | { op: 'w4a16'; c: W4A16Case; seed: number }
  | { op: 'sparse'; c: SparseCase; seed: number };

/** What a matmul case's check needs of its cpu run (caseRow): the output's values and its per-element bounds. */
export interface CpuMatmulSide {
  /** the cpu's output, converted here (off the main thread) to float64 */
  values: Float64Array;
  bound: Float64Array;
}

type Request = { id: number } & (CpuSideJob | { op: 'int8'; c: Int8Case; seed: number });
type Reply = { id: number; result?: CpuMatmulSide | Int8CaseResult; error?: string };

/** Marks the worker (workerData) so that loading this module anywhere else starts nothing. */
const ROLE = 'sparq-device-check-cpu-side';

/** The main thread's handle on the worker: one job at a time per call, answered in any order. */
export class CpuSide {
  private readonly worker: Worker;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (r: unknown) => void; reject: (e: Error) => void }>();

  constructor() {
    this.worker = new Worker(__filename, { workerData: { role: ROLE } });
    this.worker.on('message', (m: Reply) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.error !== undefined) p.reject(new Error(m.error));
      else p.resolve(m.result);
    });
    const failAll = (e: Error): void => {
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    this.worker.on('error', failAll);
    this.worker.on('exit', (code) => failAll(new Error(`the cpu side's worker exited (code ${code})`)));
  }

  matmul(job: CpuSideJob): Promise<CpuMatmulSide> {
    return this.request(job) as Promise<CpuMatmulSide>;
  }

  int8(c: Int8Case, seed: number): Promise<Int8CaseResult> {
    return this.request({ op: 'int8', c, seed }) as Promise<Int8CaseResult>;
  }

  /** Ends the worker (a suite's child also ends with process.exit, which ends it too). */
  async close(): Promise<void> {
    await this.worker.terminate();
  }

  private request(job: CpuSideJob | { op: 'int8'; c: Int8Case; seed: number }): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, ...job } satisfies Request);
    });
  }
}

async function runJob(cpu: Context, job: Request): Promise<{ result: CpuMatmulSide | Int8CaseResult; transfer: ArrayBuffer[] }> {
  if (job.op === 'int8') return { result: await runInt8Case(cpu, job.c, job.seed), transfer: [] };
  const r =
    job.op === 'dense' ? await runDenseCase(cpu, job.c, job.seed) : job.op === 'w4a16' ? await runW4A16Case(cpu, job.c, job.seed) : await runSparseCase(cpu, job.c, job.seed);
  // Both arrays are made in JS here, so they move rather than copy (67 MB each for the 8.4 M-output case).
  const values = f16ArrayToNumbers(r.y);
  return { result: { values, bound: r.bound }, transfer: [values.buffer as ArrayBuffer, r.bound.buffer as ArrayBuffer] };
}

function serve(port: NonNullable<typeof parentPort>): void {
  const cpu = open({ backend: 'cpu' });
  cpu.catch(() => undefined); // reported with each job's reply
  port.on('message', (job: Request) => {
    cpu
      .then((ctx) => runJob(ctx, job))
      .then(
        ({ result, transfer }) => port.postMessage({ id: job.id, result } satisfies Reply, transfer),
        (e: unknown) => port.postMessage({ id: job.id, error: e instanceof Error ? e.message : String(e) } satisfies Reply),
      );
  });
}

if (!isMainThread && parentPort && (workerData as { role?: string } | null)?.role === ROLE) serve(parentPort);
