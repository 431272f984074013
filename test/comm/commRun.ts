/**
 * Runs the ranks of a comm test (test/comm/commRank.ts, one per job, as worker_threads or child
 * processes) and checks their reports against the contract: shared by test/comm.test.ts and the
 * device check's cuda comm case (bench/harness/deviceSuites.ts).
 */
import { fork } from 'child_process';
import { Worker } from 'worker_threads';

import { allreduceRmsnormContract } from '../allreduceReference';
import { callGamma, rankInputs, type CommCall, type RankJob, type RankReport } from './commInputs';

export type Launch = 'worker' | 'process';

/**
 * Runs one rank per job with `script` and collects every report until each rank has ended. With
 * `deadlineMs`, ranks still running then are terminated (workers) or killed (processes) and the
 * promise rejects naming them: a rank stuck outside the comm's bounded waits (e.g. opening its
 * context) cannot hang the caller.
 */
export function runRanks(script: string, jobs: RankJob[], launch: Launch | Launch[], deadlineMs?: number): Promise<RankReport[]> {
  return new Promise((resolve, reject) => {
    const reports: RankReport[] = [];
    const running = new Map<number, () => void>();  // rank → how to stop it
    let timer: NodeJS.Timeout | undefined;
    const done = (rank: number): void => {
      running.delete(rank);
      if (running.size === 0) {
        if (timer) clearTimeout(timer);
        resolve(reports);
      }
    };
    jobs.forEach((job, i) => {
      const how = Array.isArray(launch) ? launch[i] : launch;
      if (how === 'worker') {
        const w = new Worker(script, { workerData: job });
        running.set(job.rank, () => void w.terminate());
        w.on('message', (m: RankReport) => reports.push(m));
        w.on('error', reject);
        w.on('exit', () => done(job.rank));
      } else {
        const c = fork(script, [JSON.stringify(job)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
        running.set(job.rank, () => void c.kill('SIGKILL'));
        c.on('message', (m) => reports.push(m as RankReport));
        c.on('error', reject);
        c.on('exit', () => done(job.rank));
      }
    });
    if (deadlineMs !== undefined) {
      timer = setTimeout(() => {
        const stuck = [...running.keys()];
        for (const stop of running.values()) stop();
        reject(new Error(`ranks ${stuck.join(', ')} still running after ${deadlineMs} ms; stopped`));
      }, deadlineMs);
    }
  });
}

export function reportBits(b64: string | undefined): Uint16Array {
  const buf = Buffer.from(b64 ?? '', 'base64');
  return new Uint16Array(buf.buffer, buf.byteOffset, buf.byteLength / 2);
}

/** What differs from the contract: one line per rank error, missing result, or output that is not bit-exact. */
export function contractDiffs(reports: RankReport[], seed: number, size: number, calls: CommCall[]): string[] {
  const diffs = reports.filter((r) => r.error).map((r) => `rank ${r.rank}${r.call === undefined ? '' : ` call ${r.call}`}: ${r.error?.name}: ${r.error?.message}`);
  for (const [i, call] of calls.entries()) {
    const inputs = Array.from({ length: size }, (_, r) => rankInputs(seed, i, r, call));
    const want = allreduceRmsnormContract({
      xs: inputs.map((v) => v.x),
      residuals: inputs.map((v) => v.residual),
      gamma: callGamma(seed, i, call),
      tokens: call.tokens,
      hidden: call.hidden,
      eps: 1e-6,
    });
    for (let r = 0; r < size; r++) {
      const got = reports.find((m) => m.rank === r && m.call === i && !m.error);
      if (!got) {
        if (!reports.some((m) => m.rank === r && m.error)) diffs.push(`rank ${r} call ${i}: no result`);
        continue;
      }
      const same = (a: Uint16Array, b: Uint16Array): boolean => a.length === b.length && a.every((v, j) => v === b[j]);
      if (!same(reportBits(got.out), want.out[r])) diffs.push(`rank ${r} call ${i}: out is not the contract's bits`);
      if (!same(reportBits(got.residual), want.residual[r])) diffs.push(`rank ${r} call ${i}: residual is not the contract's bits`);
    }
  }
  return diffs;
}
