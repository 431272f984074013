// The API fuzzer (test/fuzz/runFuzz.ts, op table test/fuzz/ops.ts) in a child process, so that a
// crash shows as a crash: ≥ 10,000 calls over cpu and sim with a fresh seed each run (printed;
// SPARQ_FUZZ_SEED replays one). Then each of the fuzzer's checks is shown to fail on an injected
// defect (SPARQ_FUZZ_INJECT), so a green run means something.
import { spawnSync } from 'child_process';
import * as os from 'os';
import * as path from 'path';

import { backendMatrix } from './helpers/backends';
import { compiledScript } from './helpers/compiled';
import type { Summary } from './fuzz/runFuzz';

interface Run {
  status: number | null;
  signal: NodeJS.Signals | null;
  summary: Summary | undefined;
  stderr: string;
  wallMs: number;
}

const script = compiledScript(path.join('test', 'fuzz', 'runFuzz'));
const sim = backendMatrix().find((b) => b.backend === 'sim')!;

function fuzz(env: Record<string, string>): Run {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [script], {
    encoding: 'utf8',
    cwd: os.tmpdir(), // an injected abort's core file (where enabled) lands outside the checkout
    env: { ...process.env, ...env },
    timeout: 170000,
    killSignal: 'SIGKILL',
    maxBuffer: 64 << 20,
  });
  const line = r.stdout.split('\n').find((l) => l.startsWith('FUZZ_SUMMARY '));
  return {
    status: r.status,
    signal: r.signal,
    summary: line ? (JSON.parse(line.slice('FUZZ_SUMMARY '.length)) as Summary) : undefined,
    stderr: r.stderr,
    wallMs: Date.now() - t0,
  };
}

describe('API fuzzer (child process)', () => {
  it('≥ 10,000 calls on cpu and sim: no crash, every error a SparqError naming its argument, refusals refused, valid ops still right', () => {
    const run = fuzz({});
    const s = run.summary;
    // Printed in every run: the seed replays it (SPARQ_FUZZ_SEED=<seed> npx jest test/fuzz.test.ts).
    console.log(
      `API fuzzer: seed ${s?.seed}, ${s?.totalCalls} calls (${JSON.stringify(s?.calls)}; ${s?.validCalls} valid, ${s?.malformedCalls} malformed; ` +
        `${s?.rejected} refused), error codes ${JSON.stringify(s?.codes)}, ${s?.probes} probes (max error ${s?.probeMaxError?.toExponential(2)}), ` +
        `${JSON.stringify(s?.elapsedMs)} ms, ${s?.failureCount} failures`,
    );
    expect({ signal: run.signal, stderr: run.stderr.slice(-2000), summary: s !== undefined }).toEqual({ signal: null, stderr: expect.any(String), summary: true });
    expect({ seed: s!.seed, failures: s!.failures }).toEqual({ seed: s!.seed, failures: [] });
    expect(run.status).toBe(0);
    expect(s!.totalCalls).toBeGreaterThanOrEqual(10000);
    expect(s!.calls.cpu).toBeGreaterThan(0);
    if (sim.present) expect(s!.calls.sim).toBeGreaterThan(0);
    // The draws reach every kind of refusal, and valid calls as well.
    for (const code of ['ERR_SPARQ_ARGUMENT', 'ERR_SPARQ_SHAPE', 'ERR_SPARQ_DTYPE', 'ERR_SPARQ_DISPOSED']) expect(s!.codes[code]).toBeGreaterThan(0);
    expect(s!.validCalls).toBeGreaterThan(1000);
    expect(s!.probes).toBeGreaterThan(10);
  });

  describe('each check fails on the defect it exists for', () => {
    const small = { SPARQ_FUZZ_CALLS: 'cpu=300,sim=0', SPARQ_FUZZ_SEED: '7' };
    it.each([
      ['type-error', /threw a non-SparqError: TypeError/],
      ['accept', /accepted a call that must be refused/],
      ['wrong-answer', /probe: y\[0\] = .* > 0\.002\)/],
    ])('SPARQ_FUZZ_INJECT=%s → a failure naming it, exit 1', (inject, problem) => {
      const run = fuzz({ ...small, SPARQ_FUZZ_INJECT: inject });
      expect(run.status).toBe(1);
      expect(run.summary!.seed).toBe(7);
      expect(run.summary!.failures.map((f) => f.problem)).toContainEqual(expect.stringMatching(problem));
    });

    it('SPARQ_FUZZ_INJECT=abort → the child dies by SIGABRT with no summary', () => {
      const run = fuzz({ ...small, SPARQ_FUZZ_INJECT: 'abort' });
      expect(run.signal).toBe('SIGABRT');
      expect(run.summary).toBeUndefined();
    });
  });
});
