// sparq under worker_threads (test/fuzz/workerHammer.ts in a child process): 4 workers, each with
// its own contexts, run the fuzzer's op table and bit-exact re-runs of a matmul of each kind for a
// fixed time while the main thread opens and closes contexts; workers terminated mid-op; and
// process.exit with work queued. The child must neither crash nor hang.
import { spawnSync } from 'child_process';
import * as os from 'os';
import * as path from 'path';

import { backendMatrix } from './helpers/backends';
import { compiledScript } from './helpers/compiled';

interface WorkerReport {
  id: number;
  backend: string;
  calls: number;
  exactChecks: number;
  mismatches: string[];
  failures: string[];
  codes: Record<string, number>;
}

const script = compiledScript(path.join('test', 'fuzz', 'workerHammer'));
const sim = backendMatrix().find((b) => b.backend === 'sim')!;

function run(mode: string, extra: Record<string, string> = {}): { status: number | null; signal: NodeJS.Signals | null; out: Record<string, unknown> | undefined; stderr: string } {
  const r = spawnSync(process.execPath, [script], {
    encoding: 'utf8',
    cwd: os.tmpdir(),
    env: { ...process.env, SPARQ_WORKERS_MODE: mode, ...extra },
    timeout: 90000, // a deadlock shows as SIGKILL here
    killSignal: 'SIGKILL',
  });
  const line = r.stdout.split('\n').find((l) => l.startsWith('WORKERS_SUMMARY '));
  return { status: r.status, signal: r.signal, out: line ? (JSON.parse(line.slice('WORKERS_SUMMARY '.length)) as Record<string, unknown>) : undefined, stderr: r.stderr };
}

describe('worker_threads (child process)', () => {
  it('4 workers hammer every op for 8 s (cpu and sim) while the main thread opens and closes contexts: results exact, errors typed, no deadlock', () => {
    const r = run('hammer', { SPARQ_WORKERS_SECONDS: '8' });
    expect({ signal: r.signal, status: r.status, stderr: r.stderr.slice(-2000) }).toEqual({ signal: null, status: 0, stderr: '' });
    const out = r.out as { seed: number; workers: WorkerReport[]; mainCycles: number; mainErrors: string[] };
    console.log(
      `workers: seed ${out.seed}; ` +
        out.workers.map((w) => `#${w.id} ${w.backend}: ${w.calls} calls, ${w.exactChecks} exact re-runs`).join('; ') +
        `; main thread: ${out.mainCycles} contexts opened, used and closed`,
    );
    expect(out.workers).toHaveLength(4);
    for (const w of out.workers) {
      expect({ worker: w.id, seed: out.seed, mismatches: w.mismatches, failures: w.failures }).toEqual({ worker: w.id, seed: out.seed, mismatches: [], failures: [] });
      expect(w.calls).toBeGreaterThan(20);
      expect(w.exactChecks).toBeGreaterThan(0);
    }
    if (sim.present) expect(out.workers.map((w) => w.backend)).toContain('sim');
    expect(out.mainErrors).toEqual([]);
    expect(out.mainCycles).toBeGreaterThan(10);
  });

  it('workers terminate()d mid-op (matmuls queued, weights packing) exit cleanly; the main thread’s context still works', () => {
    const r = run('terminate');
    expect({ signal: r.signal, status: r.status }).toEqual({ signal: null, status: 0 });
    const out = r.out as { rounds: string[]; afterwards: number[] };
    // exit 1 is what terminate() reports for a worker it stopped (not one that had already died)
    expect(out.rounds).toEqual(out.rounds.map((x) => x.replace(/exit .*$/, 'exit 1')));
    expect(out.rounds.length).toBe(sim.present ? 6 : 3);
    expect(out.afterwards).toEqual([0x4400]);
  });

  it('process.exit(0) with matmuls and weight packing queued (cpu, sim, a worker): exit code 0, no signal', () => {
    const r = run('exit');
    expect({ signal: r.signal, status: r.status, stderr: r.stderr }).toEqual({ signal: null, status: 0, stderr: '' });
    expect(r.out).toMatchObject({ mode: 'exit' });
  });
});
