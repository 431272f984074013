// The device check's runner (bench/deviceCheck.ts) on its sim dry run: rows land in the JSON-lines
// file as suites finish, and a suite that hangs or dies is killed or reported with the case it was
// in while the others still run. The faults come from the test-only SPARQ_DEVICE_CHECK_INJECT hook.
// Runs the compiled script (npm test builds dist/ first), as the GPU machine does.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { denseCases } from './cases/dense.cases';
import { int8Cases } from './cases/int8.cases';
import { sparseCases } from './cases/sparse.cases';
import { w4a16Cases } from './cases/w4a16.cases';
import { backendMatrix, describeFor } from './helpers/backends';

const script = path.join(__dirname, '..', 'dist', 'bench', 'deviceCheck.js');
const sim = backendMatrix().find((p) => p.backend === 'sim')!;

interface Row {
  suite: string;
  name: string;
  ok: boolean;
  status: string;
  detail: string;
  elapsedS?: number;
  relaunch?: number;
}

interface Run {
  status: number | null;
  wallMs: number;
  stdout: string;
  rows: Row[];
  out: string;
}

function deviceCheck(extra: string[], inject?: string, pathPrefix?: string, earlier?: string, earlierFiles: Record<string, string> = {}): Run {
  if (!fs.existsSync(script)) throw new Error(`${script} is missing: run npm run build:ts first`);
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'sparq-device-check-'));
  if (earlier) fs.writeFileSync(path.join(out, earlier), 'written before the run\n');
  for (const [file, text] of Object.entries(earlierFiles)) {
    fs.mkdirSync(path.dirname(path.join(out, file)), { recursive: true });
    fs.writeFileSync(path.join(out, file), text);
  }
  const env = { ...process.env };
  delete env.SPARQ_DEVICE_CHECK_INJECT;
  if (inject) env.SPARQ_DEVICE_CHECK_INJECT = inject;
  if (pathPrefix) env.PATH = `${pathPrefix}:${env.PATH ?? ''}`;
  const t0 = Date.now();
  // The outer limit only keeps a broken runner from stalling jest; the assertions bound it tighter.
  const r = spawnSync(process.execPath, [script, '--backend', 'sim', '--out', out, ...extra], { encoding: 'utf8', env, timeout: 100000, killSignal: 'SIGKILL' });
  const wallMs = Date.now() - t0;
  const file = path.join(out, 'device-check.jsonl');
  const rows = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Row) : [];
  return { status: r.status, wallMs, stdout: r.stdout, rows, out };
}

const of = (rows: Row[], suite: string): Row[] => rows.filter((r) => r.suite === suite);

describeFor(sim)(`device check [sim dry run]${sim.present ? '' : ` (skipped: ${sim.why})`}`, () => {
  const dense = denseCases('sim').map((c) => c.name);
  const w4a16 = w4a16Cases('sim').map((c) => c.name);
  const sparse = sparseCases('sim').map((c) => c.name);
  const int8 = int8Cases('sim').map((c) => c.name);

  it('normal run: a passing row per case of every suite in device-check.jsonl, the skipped suites say why, exit 0', () => {
    const r = deviceCheck([]);
    expect(r.status).toBe(0);
    expect(of(r.rows, 'info')).toEqual([expect.objectContaining({ ok: true, status: 'pass' })]);
    expect(of(r.rows, 'cases-dense').map((x) => [x.name, x.status])).toEqual(dense.map((n) => [n, 'pass']));
    expect(of(r.rows, 'cases-w4a16').map((x) => [x.name, x.status])).toEqual(w4a16.map((n) => [n, 'pass']));
    expect(of(r.rows, 'cases-sparse').map((x) => [x.name, x.status])).toEqual(sparse.map((n) => [n, 'pass']));
    expect(of(r.rows, 'cases-int8').map((x) => [x.name, x.status])).toEqual(int8.map((n) => [n, 'pass']));
    const frag = of(r.rows, 'fragments');
    expect(frag.length).toBeGreaterThanOrEqual(4);
    expect(frag.every((x) => x.status === 'pass')).toBe(true);
    for (const s of ['sass', 'sanitizer', 'bench']) expect(of(r.rows, s)).toEqual([expect.objectContaining({ status: 'skipped', detail: expect.stringMatching(/^not run: /) })]);
    // The summary is built from the same rows.
    const summary = JSON.parse(fs.readFileSync(path.join(r.out, 'device-check.json'), 'utf8')) as { passed: number; failed: number; notRun: number };
    expect(summary).toMatchObject({ passed: r.rows.length - 3, failed: 0, notRun: 3 });
    expect(fs.readFileSync(path.join(r.out, 'device-check.md'), 'utf8')).toContain('| cases-w4a16 | ' + String(w4a16.length) + ' | 0 |');
  });

  it('a suite that exits 1 without writing a row (an uncaught exception) is a crash, not "ran"; the check fails', () => {
    // What an installed package missing a module did: every suite died at require, and the
    // summary said "0 passed, 0 failed", exit 0.
    const r = deviceCheck(['--cases-only', '--small'], 'exit:cases-int8');
    expect(r.status).toBe(1);
    const rows = of(r.rows, 'cases-int8');
    expect(rows[0]).toEqual(expect.objectContaining({ name: int8[0], ok: false, status: 'crash', detail: expect.stringContaining('exit 1 with no failing row written') }));
    // It died in its first case: a fresh child ran the rest.
    expect(rows.slice(1).map((x) => [x.name, x.status, x.relaunch])).toEqual(int8.slice(1).map((n) => [n, 'pass', 1]));
    expect(of(r.rows, 'cases-dense').every((x) => x.status === 'pass')).toBe(true);
  });

  it('a hung suite is killed at its limit with a row naming its case, a crashed one gets a crash row, the others still run; exit 1 within the bound', () => {
    const limitS = 8;
    // cases-w4a16 hangs at its third case; fragments aborts at its second "starting" line.
    const r = deviceCheck(['--suite-timeout-s', String(limitS)], 'hang:cases-w4a16@3,crash:fragments@2');
    expect(r.status).toBe(1);
    // At most every suite that ran at its full limit, the hung suite's relaunch, plus process start-up.
    expect(r.wallMs).toBeLessThan(7 * limitS * 1000 + 10000);

    expect(of(r.rows, 'info')).toEqual([expect.objectContaining({ status: 'pass' })]);
    expect(of(r.rows, 'cases-dense').map((x) => [x.name, x.status])).toEqual(dense.map((n) => [n, 'pass']));
    // The two cases before the hang finished and were kept; the third is the timeout row; a fresh
    // child ran the rest (each once; at this short limit on a busy box it may itself time out).
    const hung = of(r.rows, 'cases-w4a16');
    expect(hung.slice(0, 3).map((x) => [x.name, x.status, x.relaunch])).toEqual([
      [w4a16[0], 'pass', undefined],
      [w4a16[1], 'pass', undefined],
      [w4a16[2], 'timeout', undefined],
    ]);
    const resumed = hung.slice(3);
    expect(resumed.map((x) => x.name)).toEqual(w4a16.slice(3, 3 + resumed.length));
    expect(resumed.length).toBeGreaterThan(0);
    expect(resumed.every((x) => x.relaunch !== undefined && x.relaunch >= 1)).toBe(true);
    const resumedTimeouts = resumed.filter((x) => x.status !== 'pass').length;
    const t = hung[2];
    expect(t.ok).toBe(false);
    expect(t.detail).toContain(`TIMEOUT`);
    expect(t.detail).toContain(`cases-w4a16/${w4a16[2]}`);
    expect(t.elapsedS).toBeGreaterThanOrEqual(limitS);
    expect(t.elapsedS).toBeLessThan(limitS + 5);

    expect(of(r.rows, 'fragments')).toEqual([expect.objectContaining({ name: 'sim dump', ok: false, status: 'crash', detail: expect.stringContaining('SIGABRT') })]);
    for (const s of ['sass', 'sanitizer', 'bench']) expect(of(r.rows, s)).toEqual([expect.objectContaining({ status: 'skipped' })]);

    // The final table says what did not finish and why.
    expect(r.stdout).toContain(`TIMEOUT after ${limitS.toFixed(1)}s in cases-w4a16/${w4a16[2]}`);
    expect(r.stdout).toContain('CRASH (signal SIGABRT) in fragments/sim dump');
    // The suites between them may, at this short limit on a busy box, themselves run out of time:
    // then a fresh child runs the rest, every case at most once, and the timeout rows are counted
    // in the total.
    let timeouts = 0;
    for (const suite of ['cases-dense-sparq', 'cases-sparse', 'cases-int8', 'cases-allreduce']) {
      const rows = of(r.rows, suite);
      timeouts += rows.filter((x) => x.status === 'timeout').length;
      expect(rows.every((x) => x.status === 'pass' || x.status === 'timeout')).toBe(true);
      expect(new Set(rows.map((x) => x.name)).size).toBe(rows.length);
    }
    expect(r.stdout).toMatch(new RegExp(`\\n\\d+ passed, ${2 + resumedTimeouts + timeouts} failed, 3 not run`));
  });

  it('a case that loses the context (a fault) or kills its child (a crash) costs that case only: a fresh child runs the rest, no case twice', () => {
    // A CUDA fault is sticky for the process: reopening in the same child gets nothing. cases-w4a16
    // faults at its third case, cases-int8 aborts in its second, cases-allreduce faults at its
    // third "starting" line (R=2's one-shot, after the inputs and auto); cases-sparse exits 0 in its
    // second case without its "finished" line (an event loop that emptied: not "ran");
    // cases-dense-sparq faults at each of its first five cases, more than a suite's relaunches allow.
    const faults = [1, 2, 3, 4, 5].map((n) => `fault:cases-dense-sparq@${n}`).join(',');
    const r = deviceCheck(['--cases-only', '--no-sanitizer'], `fault:cases-w4a16@3,crash:cases-int8@2,fault:cases-allreduce@3,drain:cases-sparse@2,${faults}`);
    expect(r.status).toBe(1);
    const check = (suite: string, names: string[], bad: number, status: string, relaunch: number): void => {
      const rows = of(r.rows, suite);
      // every case once, in order; the injected one failing, those after it from a relaunched child
      expect(rows.map((x) => [x.name, x.status, x.relaunch])).toEqual(
        names.map((n, i) => [n, i === bad ? status : 'pass', bad >= 0 && i > bad ? relaunch : undefined]),
      );
    };
    check('cases-w4a16', w4a16, 2, 'fail', 1);
    expect(of(r.rows, 'cases-w4a16')[2].detail).toContain('cudaError');
    check('cases-int8', int8, 1, 'crash', 1);
    expect(of(r.rows, 'cases-int8')[1].detail).toContain('SIGABRT');
    check('cases-sparse', sparse, 1, 'crash', 1);
    expect(of(r.rows, 'cases-sparse')[1].detail).toContain('exit 0 before its last case');
    check('cases-dense', dense, -1, 'pass', 1);
    // allreduce: the rows' names are the shapes' algorithms and the comm layouts
    const allreduce = of(r.rows, 'cases-allreduce');
    expect(allreduce.map((x) => x.status)).toEqual(allreduce.map((_, i) => (i === 1 ? 'fail' : 'pass')));
    expect(allreduce[1].name).toBe('R=2 T=3 H=64 one-shot');
    expect(allreduce.slice(2).every((x) => x.relaunch === 1)).toBe(true);
    expect(allreduce.filter((x) => x.name.startsWith('comm R=')).length).toBeGreaterThanOrEqual(3);
    expect(new Set(allreduce.map((x) => x.name)).size).toBe(allreduce.length);
    expect(allreduce.length).toBe(6 + allreduce.filter((x) => x.name.startsWith('comm R=')).length);

    // Bounded: the first child and three relaunches each lose one case; the rest is a "not run" row.
    const sparq = of(r.rows, 'cases-dense-sparq');
    expect(sparq.map((x) => [x.name, x.status, x.relaunch])).toEqual([
      [dense[0], 'fail', undefined],
      [dense[1], 'fail', 1],
      [dense[2], 'fail', 2],
      [dense[3], 'fail', 3],
      [`(cases after ${dense[3]})`, 'skipped', undefined],
    ]);
    expect(sparq[4]).toMatchObject({ ok: false, detail: expect.stringContaining('3 relaunches') });

    // The summary says which suites were relaunched and marks the rows their relaunches wrote.
    expect(r.stdout).toMatch(/cases-w4a16 .*relaunch 1 from after m=/);
    const md = fs.readFileSync(path.join(r.out, 'device-check.md'), 'utf8');
    expect(md).toContain(`| cases w4a16 | ${w4a16[3]} | yes (relaunch 1) |`);
    expect(md).toContain(`| cases w4a16 | ${w4a16[2]} | **NO** (fail) |`);
  });

  // A stand-in compute-sanitizer: writes `report` (printf format) to --log-file, then runs the rest.
  function fakeSanitizer(report: string): string {
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'sparq-fake-sanitizer-'));
    fs.writeFileSync(
      path.join(bin, 'compute-sanitizer'),
      [
        '#!/usr/bin/env bash',
        'while [ $# -gt 0 ]; do case "$1" in --log-file) log="$2"; shift 2;; --*) shift 2;; *) break;; esac; done',
        `printf "${report}" > "$log"`,
        'exec "$@"',
      ].join('\n'),
      { mode: 0o755 },
    );
    return bin;
  }

  it('a suite that faults on the device is rerun under memcheck: an info row with the report, not counted', () => {
    const bin = fakeSanitizer(
      '========= COMPUTE-SANITIZER\\n========= Illegal instruction\\n=========     at fake_kernel()+0x1860 in fake.cuh:128\\n=========         Host Frame: nothing\\n',
    );
    // A memcheck folder an interrupted earlier run left, whose rows name the case that will fault:
    // the rerun must not skip it.
    const stale = JSON.stringify({ suite: 'cases-int8', section: 'cases int8', name: int8[1], ok: true, status: 'pass', detail: '', elapsedS: 1 });
    const r = deviceCheck(['--suite-timeout-s', '30'], 'fault:cases-int8@2', bin, 'dense-earlier.jsonl', {
      'memcheck-cases-int8/device-check.jsonl': `${stale}\n`,
    });
    expect(r.status).toBe(1);
    const rows = of(r.rows, 'cases-int8');
    // The faulted case, then the rest in a fresh child, then the memcheck rerun's info row.
    expect(rows.map((x) => [x.name, x.status])).toEqual([
      [int8[0], 'pass'],
      [int8[1], 'fail'],
      ...int8.slice(2).map((n) => [n, 'pass']),
      [`memcheck of ${int8[1]}`, 'info'],
    ]);
    const memcheck = rows[rows.length - 1];
    expect(memcheck.detail).toContain('at fake_kernel()+0x1860 in fake.cuh:128');
    // The rerun starts at the faulted case: the case before it is not run again under memcheck.
    const log = fs.readFileSync(path.join(r.out, 'device-check.log'), 'utf8');
    expect(log).toContain(`[memcheck] starting cases-int8/${int8[1]}`);
    expect(log).not.toContain(`[memcheck] starting cases-int8/${int8[0]}`);
    expect(memcheck.detail).not.toContain('Host Frame');
    // Counted: the faulted case only; the info row is neither passed nor failed.
    expect(r.stdout).toMatch(/\n\d+ passed, 1 failed, 3 not run/);
    // The rerun's own rows and report are packed with the extras, not mixed into the main rows.
    expect(fs.existsSync(path.join(r.out, 'device-check-extras.tar.gz'))).toBe(true);
    expect(fs.existsSync(path.join(r.out, 'memcheck-cases-int8'))).toBe(false);
    // What the folder held before the run (another run's, the benchmarks') is left where it was.
    expect(fs.readFileSync(path.join(r.out, 'dense-earlier.jsonl'), 'utf8')).toBe('written before the run\n');
  });

  it('a memcheck rerun that finds nothing from the faulted case reruns the suite from its first case', () => {
    // The fault's cause may be an earlier case (a write out of bounds that did not fault there).
    const bin = fakeSanitizer('========= COMPUTE-SANITIZER\\n========= ERROR SUMMARY: 0 errors\\n');
    const r = deviceCheck(['--suite-timeout-s', '30'], 'fault:cases-int8@2', bin);
    expect(r.status).toBe(1);
    const log = fs.readFileSync(path.join(r.out, 'device-check.log'), 'utf8');
    const fromFault = log.indexOf(`[memcheck] starting cases-int8/${int8[1]}`);
    const fromFirst = log.indexOf(`[memcheck] starting cases-int8/${int8[0]}`);
    expect(fromFault).toBeGreaterThanOrEqual(0);
    expect(fromFirst).toBeGreaterThan(fromFault);
    const memcheck = of(r.rows, 'cases-int8').find((x) => x.status === 'info');
    expect(memcheck?.detail).toContain('from the faulted case: no error; then from the first case');
  });
});
