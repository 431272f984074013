/**
 * One rank of a comm test, as a worker_thread (workerData) or a child process (argv[2] = JSON):
 * opens a cpu (or sim, or cuda) context, joins the comm, runs each call on inputs it draws itself (test/comm/
 * commInputs.ts) and reports every result or error to the parent.
 */
import { isMainThread, parentPort, workerData } from 'worker_threads';

import { open, type SparqError } from '../../src';
import { callGamma, rankInputs, type RankJob, type RankReport } from './commInputs';

const job: RankJob = isMainThread ? (JSON.parse(process.argv[2]) as RankJob) : (workerData as RankJob);

function report(r: RankReport): void {
  if (parentPort) parentPort.postMessage(r);
  else process.send?.(r);
}

function errorOf(e: unknown): RankReport['error'] {
  const s = e as SparqError;
  return { name: s.name, code: s.code, message: s.message, argument: s.argument };
}

const b64 = (a: Uint16Array): string => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');

async function main(): Promise<void> {
  const sq = await open(job.backend === 'sim' || job.backend === 'cuda' ? { backend: job.backend } : { backend: 'cpu', threads: 1 });
  try {
    let c;
    try {
      c = await sq.comm({ id: Uint8Array.from(Buffer.from(job.id, 'hex')), rank: job.rank, size: job.size, timeoutMs: job.timeoutMs, transport: job.transport, node: job.node });
    } catch (e) {
      report({ rank: job.rank, joined: false, error: errorOf(e) });
      return;
    }
    report({ rank: job.rank, joined: true, transport: c.transport });
    if (job.after === 'exit') process.exit(0);
    if (job.after === 'never-call') {
      await new Promise((r) => setTimeout(r, job.timeoutMs * 3));
      c.close();
      return;
    }
    if (job.after === 'exit-in-flight') {
      const call = job.calls[0];
      const t = (n: number): Uint16Array => new Uint16Array(n).fill(0x3c00);
      c.allreduceRmsnorm(sq.tensor(t(call.tokens * call.hidden), [call.tokens, call.hidden], 'f16'), sq.tensor(t(call.tokens * call.hidden), [call.tokens, call.hidden], 'f16'), sq.tensor(t(call.hidden), [call.hidden], 'f16'));
      setTimeout(() => process.exit(0), 300);
      await new Promise((r) => setTimeout(r, job.timeoutMs * 3));
      return;
    }
    let last: (() => void) | undefined; // the last checked call again, on its own tensors
    for (const [i, call] of job.calls.entries()) {
      const inp = rankInputs(job.seed, i, job.rank, call);
      const shape = [call.tokens, call.hidden];
      const x = sq.tensor(inp.x, shape, 'f16');
      const residual = sq.tensor(inp.residual, shape, 'f16');
      const gamma = sq.tensor(callGamma(job.seed, i, call), [call.hidden], 'f16');
      // outputs poisoned (fp16 NaN) before the call, so a row the kernel skips cannot pass
      const poison = (): Uint16Array => new Uint16Array(call.tokens * call.hidden).fill(0x7e00);
      const out0 = sq.tensor(poison(), shape, 'f16');
      const res0 = sq.tensor(poison(), shape, 'f16');
      const r = c.allreduceRmsnorm(x, residual, gamma, { eps: 1e-6, out: out0, residualOut: res0 });
      last = () => void c.allreduceRmsnorm(x, residual, gamma, { eps: 1e-6, out: out0, residualOut: res0 });
      try {
        const [out, res] = await Promise.all([r.out.read(), r.residual.read()]);
        const launch = sq.lastLaunch;
        report({ rank: job.rank, call: i, out: b64(out), residual: b64(res), kernel: launch?.kernel, bytesRead: launch?.bytesRead });
      } catch (e) {
        let nextCallError: RankReport['nextCallError'];
        try {
          c.allreduceRmsnorm(x, residual, gamma);
        } catch (e2) {
          nextCallError = { name: (e2 as Error).name, message: (e2 as Error).message };
        }
        report({ rank: job.rank, call: i, error: errorOf(e), broken: c.broken, nextCallError });
        return;
      }
    }
    if (job.timeCalls && last) {
      const us: number[] = [];
      for (let i = -5; i < job.timeCalls; i++) {
        const t0 = performance.now();
        last();
        await sq.synchronize();
        if (i >= 0) us.push((performance.now() - t0) * 1000);
      }
      us.sort((a, b) => a - b);
      const at = (q: number): number => us[Math.min(us.length - 1, Math.floor(q * us.length))];
      report({ rank: job.rank, timing: { n: us.length, medianUs: at(0.5), p10Us: at(0.1), p90Us: at(0.9) } });
    }
    c.close();
  } finally {
    await sq.close();
  }
}

main().catch((e) => {
  report({ rank: job.rank, error: errorOf(e) });
});
