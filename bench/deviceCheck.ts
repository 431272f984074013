/**
 * The device check (docs/verification.md): on a GPU machine, with nothing but node, dist/ and the
 * built libraries, in one command under 8 minutes:
 *   1. device, driver and library info;
 *   2. every shared test case (test/cases) on cuda against cpu and the float64 reference;
 *   3. the fragment-layout dump on the GPU against the simulator's (needs the sim backend in the addon);
 *   4. compute-sanitizer memcheck and racecheck on small cases, when the tool is present;
 *   5. the benchmarks (dist/bench/all.js), when there is time left;
 * then JSON + Markdown under --out (default $OUT or bench/results) and a short table at the end.
 * `--backend sim` runs the same script against the simulator on a CPU machine (a dry run of the
 * script itself; the fragment dump then compares sim with the independent table in the tests).
 *
 *   node dist/bench/deviceCheck.js [--out DIR] [--backend cuda|sim] [--cases-only] [--small] [--bench|--no-bench] [--no-sanitizer]
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import { addonPath, open, type BackendName, type Context } from '../src';
import { native } from '../src/native';
import { denseCases, runDenseCase, type DenseCase } from '../test/cases/dense.cases';
import { runW4A16Case, w4a16Cases, type W4A16Case } from '../test/cases/w4a16.cases';
import {
  addBounds,
  checkElementwise,
  describeElementwise,
  f16ArrayToNumbers,
  freshSeed,
  type ElementwiseCheck,
  type MatmulCaseResult,
} from '../test/reference';

interface Args {
  out: string;
  backend: BackendName;
  casesOnly: boolean;
  small: boolean;
  bench: boolean;
  sanitizer: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    out: process.env.OUT ?? path.join(__dirname, '..', '..', 'bench', 'results'),
    backend: 'cuda',
    casesOnly: false,
    small: false,
    bench: true,
    sanitizer: true,
  };
  let benchGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i];
    if (v === '--out') a.out = argv[++i];
    else if (v === '--bench') benchGiven = a.bench = true;
    else if (v === '--backend') a.backend = argv[++i] as BackendName;
    else if (v === '--cases-only') a.casesOnly = true;
    else if (v === '--small') a.small = true;
    else if (v === '--no-bench') a.bench = false;
    else if (v === '--no-sanitizer') a.sanitizer = false;
    else throw new Error(`device-check: unknown argument ${v}`);
  }
  // The simulator runs the benchmarks' 4096² layers for far longer than the 8-minute budget: a sim
  // dry run checks the script, not speed, unless --bench asks for it.
  if (a.backend === 'sim' && !benchGiven) a.bench = false;
  return a;
}

interface Row {
  section: string;
  name: string;
  ok: boolean;
  detail: string;
  /** shared cases: max per-element |err|/bound and the relative norm, against the reference and cpu */
  figures?: { maxRatio: number; maxRatioVsCpu: number; relError: number; relVsCpu: number; seed: number };
}

const ratio = (c: ElementwiseCheck): string => (Number.isFinite(c.maxRatio) ? c.maxRatio.toFixed(3) : String(c.maxRatio));

/**
 * One shared case's verdict: every element within its bound of the float64 reference and, within
 * the sum of both sides' bounds, of the cpu result (test/reference.ts `checkElementwise`); the
 * relative norms (the contract's 2e-3) as the second figure.
 */
function caseRow(op: string, c: DenseCase | W4A16Case, dev: Context, got: MatmulCaseResult, onCpu: MatmulCaseResult, seed: number): Row {
  const cols = got.reference.cols;
  const vsRef = checkElementwise(got.y, got.reference.values, got.bound, cols);
  const vsCpu = checkElementwise(got.y, f16ArrayToNumbers(onCpu.y), addBounds(got.bound, onCpu.bound), cols);
  const ok = vsRef.ok && vsCpu.ok && got.relError <= c.tolerance && vsCpu.relNorm <= c.tolerance;
  const launch = dev.lastLaunch ? `, ${dev.lastLaunch.kernel} ${dev.lastLaunch.config}` : '';
  let detail = `max err/bound ${ratio(vsRef)} (ref), ${ratio(vsCpu)} (vs cpu); rel ${got.relError.toExponential(2)}, vs cpu ${vsCpu.relNorm.toExponential(2)}; seed ${seed}${launch}`;
  if (!vsRef.ok) detail += `; ${describeElementwise('vs reference', vsRef, seed)}`;
  if (!vsCpu.ok) detail += `; ${describeElementwise('vs cpu', vsCpu, seed)}`;
  return {
    section: `cases ${op}`,
    name: c.name,
    ok,
    detail,
    figures: { maxRatio: vsRef.maxRatio, maxRatioVsCpu: vsCpu.maxRatio, relError: got.relError, relVsCpu: vsCpu.relNorm, seed },
  };
}

const started = Date.now();
const BUDGET_MS = 7.5 * 60 * 1000;
const elapsed = (): string => `${((Date.now() - started) / 1000).toFixed(1)}s`;

async function runCases(dev: Context, cpu: Context, args: Args, rows: Row[]): Promise<void> {
  const caseBackend = args.small || args.backend === 'sim' ? 'sim' : 'cpu'; // sim lists are the small shapes
  const suites: { op: string; cases: (DenseCase | W4A16Case)[]; run: (sq: Context, c: never, seed: number) => Promise<MatmulCaseResult> }[] = [
    { op: 'dense', cases: denseCases(caseBackend), run: runDenseCase as never },
    { op: 'w4a16', cases: w4a16Cases(caseBackend), run: runW4A16Case as never },
  ];
  for (const s of suites) {
    for (const c of s.cases) {
      const seed = freshSeed();
      try {
        const got = await s.run(dev, c as never, seed);
        const onCpu = await s.run(cpu, c as never, seed);
        rows.push(caseRow(s.op, c, dev, got, onCpu, seed));
      } catch (e) {
        rows.push({ section: `cases ${s.op}`, name: c.name, ok: false, detail: e instanceof Error ? e.message : String(e) });
        if (dev.lost) dev = await open({ backend: args.backend });
      }
    }
    const mine = rows.filter((r) => r.section === `cases ${s.op}`);
    const worst = (f: (r: NonNullable<Row['figures']>) => number): string => Math.max(0, ...mine.map((r) => (r.figures ? f(r.figures) : 0))).toPrecision(3);
    process.stderr.write(
      `[${elapsed()}] ${s.op}: ${mine.filter((r) => r.ok).length}/${s.cases.length} ok; worst max err/bound ${worst((f) => f.maxRatio)} (ref), ${worst((f) => f.maxRatioVsCpu)} (vs cpu)\n`,
    );
  }
}

async function fragmentCheck(dev: Context, rows: Row[]): Promise<void> {
  const b = native();
  if (!b.hasSim) {
    rows.push({ section: 'fragments', name: 'GPU vs simulator', ok: false, detail: 'this addon has no sim backend; build with SPARQ_SIM=ON' });
    return;
  }
  const sim = await open({ backend: 'sim' });
  const want = await b.fragmentDump(sim.handle);
  const got = await b.fragmentDump(dev.handle);
  for (const key of ['ldmatrixX4', 'ldmatrixX2Trans', 'mmaF16', 'mmaS8'] as const) {
    const g = Array.from(got[key]);
    const w = Array.from(want[key]);
    const bad = g.findIndex((v, i) => v !== w[i]);
    rows.push({ section: 'fragments', name: key, ok: bad < 0, detail: bad < 0 ? `${g.length} values equal` : `first difference at lane ${Math.floor(bad / (g.length / 32))}: gpu ${g[bad]} vs sim ${w[bad]}` });
  }
}

function which(tool: string): string | null {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/local/cuda/bin', '/usr/local/cuda/compute-sanitizer', '/opt/nvidia/compute-sanitizer']) {
    const p = path.join(dir, tool);
    if (dir && fs.existsSync(p)) return p;
  }
  return null;
}

function sanitizer(rows: Row[]): void {
  const tool = which('compute-sanitizer');
  if (!tool) {
    rows.push({ section: 'sanitizer', name: 'compute-sanitizer', ok: true, detail: 'not present on this machine: not run (no result)' });
    return;
  }
  for (const kind of ['memcheck', 'racecheck']) {
    if (Date.now() - started > BUDGET_MS * 0.6) break;
    const r = spawnSync(tool, ['--tool', kind, '--error-exitcode', '9', process.execPath, __filename, '--cases-only', '--small', '--no-bench', '--no-sanitizer', '--out', path.join(require('os').tmpdir(), 'sparq-sanitizer')], {
      encoding: 'utf8',
      timeout: 150000,
    });
    const tail = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-3).join(' | ');
    rows.push({ section: 'sanitizer', name: kind, ok: r.status === 0, detail: `exit ${r.status ?? r.signal}: ${tail.slice(0, 300)}` });
  }
}

function benchmarks(args: Args, rows: Row[]): void {
  const left = BUDGET_MS - (Date.now() - started);
  if (left < 60000) {
    rows.push({ section: 'bench', name: 'all', ok: false, detail: 'skipped: under a minute left of the 8-minute budget' });
    return;
  }
  const script = path.join(__dirname, 'all.js');
  // --budget: seconds of sampling per implementation and config, small enough to fit what is left.
  const r = spawnSync(process.execPath, [script, '--backend', args.backend, '--budget', '0.3'], {
    encoding: 'utf8',
    timeout: left,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, SPARQ_BENCH_RESULTS: args.out },
  });
  process.stdout.write(r.stdout ?? '');
  rows.push({ section: 'bench', name: 'all', ok: r.status === 0, detail: `exit ${r.status ?? r.signal}; tables above and under ${args.out}` });
}

function deviceInfo(dev: Context): Record<string, unknown> {
  const smi = spawnSync('nvidia-smi', ['--query-gpu=name,driver_version,memory.total,clocks.max.sm', '--format=csv,noheader'], { encoding: 'utf8' });
  return {
    date: new Date().toISOString(),
    backend: dev.backend,
    device: dev.device,
    nvidiaSmi: smi.status === 0 ? smi.stdout.trim() : null,
    addon: addonPath(),
    node: process.version,
    hasSim: native().hasSim,
  };
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  fs.mkdirSync(args.out, { recursive: true });
  const rows: Row[] = [];
  let dev: Context;
  try {
    dev = await open({ backend: args.backend });
  } catch (e) {
    console.error(`device-check: cannot open backend '${args.backend}': ${e instanceof Error ? e.message : String(e)}`);
    return 2;
  }
  const cpu = await open({ backend: 'cpu' });
  const info = deviceInfo(dev);
  if (!args.casesOnly) console.log(JSON.stringify(info));
  await runCases(dev, cpu, args, rows);
  if (!args.casesOnly) {
    await fragmentCheck(dev, rows);
    if (args.sanitizer && args.backend === 'cuda') sanitizer(rows);
    if (args.bench) benchmarks(args, rows);
  }
  const failed = rows.filter((r) => !r.ok);
  const summary = { ...info, elapsedS: (Date.now() - started) / 1000, passed: rows.length - failed.length, failed: failed.length, rows };
  fs.writeFileSync(path.join(args.out, 'device-check.json'), JSON.stringify(summary, null, 2));
  const md = [
    `# sparq device check — ${info.date as string}`,
    '',
    `backend ${dev.backend}; device ${JSON.stringify(dev.device)}; nvidia-smi: ${String(info.nvidiaSmi)}`,
    '',
    '| section | case | ok | detail |',
    '|---|---|---|---|',
    ...rows.map((r) => `| ${r.section} | ${r.name} | ${r.ok ? 'yes' : '**NO**'} | ${r.detail.replace(/\|/g, '/')} |`),
    '',
  ].join('\n');
  fs.writeFileSync(path.join(args.out, 'device-check.md'), md);
  const sections = [...new Set(rows.map((r) => r.section))];
  console.log('\nsection            passed  failed');
  for (const s of sections) {
    const rs = rows.filter((r) => r.section === s);
    console.log(`${s.padEnd(18)} ${String(rs.filter((r) => r.ok).length).padStart(6)}  ${String(rs.filter((r) => !r.ok).length).padStart(6)}`);
  }
  for (const r of failed.slice(0, 10)) console.log(`FAILED ${r.section} ${r.name}: ${r.detail}`);
  console.log(`${rows.length - failed.length} passed, ${failed.length} failed (${elapsed()}); results in ${args.out}`);
  return failed.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
