// The device check's suites, each run in its own child process (`deviceCheck.js --suite <name>`):
// a CUDA error is sticky for the whole process and a hung kernel never returns, so one suite's fault
// must not cost the others. Each prints "starting <suite>/<case>" to stderr before every case and
// appends every row to the JSON-lines file as it finishes (deviceRows.ts). A case suite whose case
// loses the context ends its child (SUITE_EXIT.lost) rather than reopen in it (the fault is sticky
// for the process: NVIDIA's "the process must be terminated and relaunched"); the parent relaunches
// it (`--relaunch n`), and the new child skips every case that already has a row.
import { spawnSync } from 'child_process';
import { performance } from 'perf_hooks';
import * as fs from 'fs';
import * as path from 'path';

import { addonPath, comm, nccl, open, SparqOutOfMemoryError, type BackendName, type Context, type Tensor } from '../../src';
import { native } from '../../src/native';
import { denseCases, runDenseCase, type DenseCase } from '../../test/cases/dense.cases';
import { int8Cases, int8Mismatches, runInt8Case } from '../../test/cases/int8.cases';
import { runSparseCase, sparseCases, type SparseCase } from '../../test/cases/sparse.cases';
import { runW4A16Case, w4a16Cases, type W4A16Case } from '../../test/cases/w4a16.cases';
import {
  addBounds,
  checkElementwise,
  describeElementwise,
  f16BitsToNumber,
  freshSeed,
  nanPoison,
  randomF16,
  rng,
  type ElementwiseCheck,
  type MatmulCaseResult,
} from '../../test/reference';
import { timeSparq } from '../sparqTiming';
import { findTool, runChild, sanitizerReport } from './childRun';
import { CpuSide, type CpuMatmulSide, type CpuSideJob } from './cpuSide';
import { appendRow, caseNamesWithRows, finishedLine, startingLine, SUITE_EXIT, type Row } from './deviceRows';
import { checkSass } from './sassCheck';

export { SUITE_EXIT };

export interface SuiteArgs {
  out: string;
  backend: BackendName;
  small: boolean;
  /** this child's time limit (the parent kills it then); suites that spawn pace themselves by it */
  suiteMs: number;
  /** dist/bench/deviceCheck.js, for the sanitizer's runs of the cases */
  script: string;
  /** compute-sanitizer's path (the sanitizer suite) */
  sanitizerTool: string | null;
  /** 0 for a suite's first child; n ≥ 1 for its n-th relaunch, which skips the cases with rows in `out` */
  relaunch: number;
}

/** The suites a child can run, with the sections their rows use. `cases` (every op in one process) is for the sanitizer. */
export const SUITE_SECTIONS: Record<string, string> = {
  info: 'info',
  sass: 'sass',
  'cases-dense': 'cases dense',
  'cases-dense-sparq': 'cases dense (sparq GEMM)',
  'cases-w4a16': 'cases w4a16',
  'cases-sparse': 'cases sparse',
  'cases-int8': 'cases int8',
  'cases-allreduce': 'cases allreduceRmsnorm',
  cases: 'cases',
  fragments: 'fragments',
  sanitizer: 'sanitizer',
  bench: 'bench',
};

// ---------------------------------------------------------------------------------------------
// Test-only fault injection: SPARQ_DEVICE_CHECK_INJECT=hang:<suite>[@n][,crash:<suite>[@n]]
// makes that suite's child hang (blocked forever, like a kernel that never finishes) or abort
// (like a fatal native error) right after printing its n-th "starting" line (default the first);
// fault:<suite>[@n] writes a failing row worded like a device fault and ends the child as a lost
// context does (the parent's relaunch and its memcheck rerun of a faulted suite are tested with
// it); exit:<suite>[@n] ends it with exit code 1 and no row, as an uncaught exception does (a
// module missing from the package); drain:<suite>[@n] ends it with exit code 0 and no row, as Node
// does when the event loop empties while a case awaits a promise nothing will settle. n counts the
// suite's cases across its children (a relaunch counts the ones it skips), so an injection fires
// at the same case once, like a real fault; several may name one suite. It exists so
// test/deviceCheck.test.ts can prove the runner survives them; never set it on a real run.
// ---------------------------------------------------------------------------------------------
interface Injection {
  kind: 'hang' | 'crash' | 'fault' | 'exit' | 'drain';
  suite: string;
  at: number;
}

function injections(): Injection[] {
  const spec = process.env.SPARQ_DEVICE_CHECK_INJECT;
  if (!spec) return [];
  return spec.split(',').map((item) => {
    const m = /^(hang|crash|fault|exit|drain):([^@\s]+)(?:@(\d+))?$/.exec(item.trim());
    if (!m) throw new Error(`SPARQ_DEVICE_CHECK_INJECT: cannot read '${item}' (want hang|crash|fault|exit|drain:<suite>[@n])`);
    return { kind: m[1] as Injection['kind'], suite: m[2], at: m[3] ? Number(m[3]) : 1 };
  });
}

/** What an injected `fault` row says: the words a real device fault's row has (cudaError…). */
const INJECTED_FAULT_DETAIL = 'cudaErrorIllegalInstruction (injected by SPARQ_DEVICE_CHECK_INJECT; the context is lost)';

function injectedFault(kind: Injection['kind'], run: SuiteRun): never {
  if (kind === 'fault') {
    // Like a kernel that faulted: this case's row says so and the suite ends (its context is lost).
    run.row({ name: run.current ?? '(before its first case)', ok: false, detail: INJECTED_FAULT_DETAIL });
    process.exit(SUITE_EXIT.lost);
  }
  if (kind === 'crash') process.abort();
  if (kind === 'exit') process.exit(SUITE_EXIT.failed);
  if (kind === 'drain') process.exit(SUITE_EXIT.ok);
  // Blocks the only JS thread without burning a core (CI has two): nothing but SIGKILL/SIGTERM ends it.
  for (;;) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
}

/** One suite's run in this child: its "starting" lines, its rows, its verdict. */
class SuiteRun {
  private readonly t0 = Date.now();
  /** the suite's cases so far, the ones a relaunch skips included (what an injection's @n counts) */
  private started = 0;
  private readonly inject: Injection[];
  /** a relaunch: the cases an earlier child of this suite wrote a row for (or was killed in) */
  private readonly done: ReadonlySet<string>;
  current: string | null = null;
  failed = 0;
  readonly rows: Row[] = [];

  constructor(
    readonly suite: string,
    private readonly out: string,
    readonly relaunch = 0,
  ) {
    this.inject = injections().filter((i) => i.suite === suite);
    this.done = relaunch > 0 ? caseNamesWithRows(out, suite) : new Set();
  }

  get section(): string {
    return SUITE_SECTIONS[this.suite] ?? this.suite;
  }

  /** Announces the next case on stderr (the parent keeps the last one for a timeout's row). */
  starting(caseName: string): void {
    this.started += 1;
    this.current = caseName;
    process.stderr.write(`${startingLine(this.suite, caseName)}\n`);
    const inject = this.inject.find((i) => i.at === this.started);
    if (inject) injectedFault(inject.kind, this);
  }

  /** Whether an earlier child of this suite did the case (then it is counted and passed over). */
  skip(caseName: string): boolean {
    if (!this.isDone(caseName)) return false;
    this.passOver(1);
    return true;
  }

  isDone(caseName: string): boolean {
    return this.done.has(caseName);
  }

  /** Counts `count` cases that are not run here (done by an earlier child, or part of one it died in). */
  passOver(count: number): void {
    this.started += count;
  }

  row(r: Omit<Row, 'suite' | 'section' | 'status' | 'elapsedS'> & { section?: string; status?: Row['status'] }): void {
    const full: Row = {
      suite: this.suite,
      section: r.section ?? this.section,
      ...r,
      status: r.status ?? (r.ok ? 'pass' : 'fail'),
      elapsedS: (Date.now() - this.t0) / 1000,
      ...(this.relaunch > 0 ? { relaunch: this.relaunch } : {}),
    };
    if (!full.ok) this.failed += 1;
    this.rows.push(full);
    appendRow(this.out, full);
  }

  elapsedMs(): number {
    return Date.now() - this.t0;
  }
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

// --- info ------------------------------------------------------------------------------------

async function infoSuite(run: SuiteRun, a: SuiteArgs): Promise<number> {
  run.starting(`open ${a.backend}`);
  let dev: Context;
  try {
    dev = await open({ backend: a.backend });
  } catch (e) {
    run.row({ name: `open ${a.backend}`, ok: false, detail: `cannot open backend '${a.backend}': ${message(e)}` });
    return SUITE_EXIT.noBackend;
  }
  run.starting('nvidia-smi');
  const smi = spawnSync('nvidia-smi', ['--query-gpu=name,driver_version,memory.total,clocks.max.sm', '--format=csv,noheader'], { encoding: 'utf8', timeout: 20000 });
  const info = {
    date: new Date().toISOString(),
    backend: dev.backend,
    device: dev.device,
    nvidiaSmi: smi.status === 0 ? smi.stdout.trim() : null,
    addon: addonPath(),
    node: process.version,
    hasSim: native().hasSim,
  };
  console.log(JSON.stringify(info));
  run.row({ name: 'device', ok: true, detail: `backend ${info.backend}; device ${JSON.stringify(info.device)}; nvidia-smi: ${String(info.nvidiaSmi)}`, info });
  if (dev.device) await outOfMemoryRow(run, dev, dev.device.memoryBytes);
  await dev.close();
  if (a.backend === 'cuda') await closeWhileBusyRow(run, a.backend);
  if (a.backend === 'cuda') {
    // What sparq.nccl.probe finds on this machine (the H200 image has python's nvidia-nccl-cu13):
    // a fact for the NCCL transport, not a check of sparq, so its absence is not a failure.
    run.starting('nccl probe');
    try {
      const found = await nccl.probe();
      run.row({ name: 'nccl probe', ok: true, detail: `found ${found.path}, version ${found.version}` });
    } catch (e) {
      run.row({ name: 'nccl probe', ok: true, status: 'info', detail: `not found: ${message(e)}` });
    }
  }
  return SUITE_EXIT.ok;
}

/**
 * Issue 12 item 4 on the device: an allocation 1 GiB past the device's memory fails with
 * SparqOutOfMemoryError and the context still computes (1·1 + 2·2 = 5). cpu and sim have it in
 * test/outOfMemory.test.ts; on them this would ask the host for that much.
 */
async function outOfMemoryRow(run: SuiteRun, dev: Context, memoryBytes: number): Promise<void> {
  run.starting('out of memory');
  let thrown: unknown = null;
  try {
    dev.zeros([memoryBytes + 2 ** 30], 'u8').dispose();
  } catch (e) {
    thrown = e;
  }
  const w = dev.tensor(new Uint16Array([0x3c00, 0x4000]), [1, 2], 'f16');
  const y = dev.dense.matmul(w, w);
  const bits = (await y.read())[0];
  w.dispose();
  y.dispose();
  const ok = thrown instanceof SparqOutOfMemoryError && bits === 0x4500;
  run.row({
    name: 'out of memory',
    ok,
    detail: `zeros of ${memoryBytes + 2 ** 30} bytes: ${thrown === null ? 'no error' : message(thrown)}; then a matmul gave 0x${bits.toString(16)} (want 0x4500)`,
  });
}

/** fp16 bits of 2^-7: exponent field 8 (bias 15), mantissa 0. */
const F16_TWO_TO_MINUS_7 = 0x2000;

/**
 * close() of one context while another keeps the device busy (2026-12-05): a cuda context's
 * teardown (cudaFree of its workspaces syncs the whole device) ran in close()'s completion on the
 * JS thread, which then stalled for the other context's queued kernels; it now runs on the
 * closing context's stream worker. The row: ~1.5 s of GEMMs queued on context B, then A closed; a
 * 1 ms ticker's largest gap during A's close must stay far below B's queue (the JS thread never
 * waits for kernel work), whatever close() itself takes.
 */
async function closeWhileBusyRow(run: SuiteRun, backend: BackendName): Promise<void> {
  run.starting('close while another context is busy');
  const a = await open({ backend });
  const b = await open({ backend });
  try {
    const n = 4096;
    // Both operands are 2^-7 everywhere, so every output is 4096·2^-14 = 0.25 (finite). One fill:
    // two Uint16Array.from over 16 M elements cost seconds of host time on the device's clock.
    const operand = new Uint16Array(n * n).fill(F16_TWO_TO_MINUS_7);
    const w = b.tensor(operand, [n, n], 'f16');
    const x = b.tensor(operand, [n, n], 'f16');
    const y = b.zeros([n, n], 'f16');
    const small = operand.subarray(0, 64);
    a.dense.matmul(a.tensor(small, [8, 8], 'f16'), a.tensor(small, [8, 8], 'f16')).dispose(); // a workspace to free
    await Promise.all([a.synchronize(), b.synchronize()]);
    const t0 = await b.mark();
    b.dense.matmul(w, x, { out: y });
    const one = Math.max(0.05, (await b.mark()) - t0);
    const calls = Math.min(5000, Math.ceil(1500 / one));
    const q0 = await b.mark();
    for (let i = 0; i < calls; i++) b.dense.matmul(w, x, { out: y });
    let last = performance.now();
    let maxGap = 0;
    let ticking = true;
    const tick = (): void => {
      const t = performance.now();
      maxGap = Math.max(maxGap, t - last);
      last = t;
      if (ticking) setTimeout(tick, 1);
    };
    setTimeout(tick, 1);
    const c0 = performance.now();
    await a.close();
    const closeMs = performance.now() - c0;
    ticking = false;
    const queueMs = (await b.mark()) - q0;
    const ok = maxGap < Math.max(100, queueMs / 4);
    run.row({
      name: 'close while another context is busy',
      ok,
      detail: `A.close() took ${closeMs.toFixed(1)} ms while B ran ${calls} 4096³ GEMMs (${queueMs.toFixed(0)} ms); the JS thread's largest gap meanwhile ${maxGap.toFixed(1)} ms (want < ${Math.max(100, queueMs / 4).toFixed(0)})`,
      info: { closeMs, queueMs, maxGapMs: maxGap },
    });
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
}

// --- SASS of the shipped library --------------------------------------------------------------

/**
 * cuobjdump's SASS of the libsparq_cuda.so beside the addon (the one the cases run), before any
 * kernel runs: instructions per kernel instance, and a failing row per function that reads a
 * uniform register nothing writes (sassCheck.ts: how the first H200 run's fault looked). The
 * listing goes to the results (bundled), for reading at no device time.
 */
async function sassSuite(run: SuiteRun, a: SuiteArgs): Promise<number> {
  const tool = findTool('cuobjdump');
  const lib = path.join(path.dirname(addonPath()), 'libsparq_cuda.so');
  if (!tool || !fs.existsSync(lib)) {
    run.row({ name: 'cuobjdump', ok: true, status: 'skipped', detail: `not run: ${tool ? `no ${lib}` : 'cuobjdump not found (PATH, /usr/local/cuda/bin)'}` });
    return SUITE_EXIT.ok;
  }
  run.starting('cuobjdump -sass');
  const r = spawnSync(tool, ['-sass', lib], { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024, timeout: Math.max(5000, a.suiteMs - 5000) });
  if (r.status !== 0) {
    run.row({ name: 'cuobjdump -sass', ok: false, detail: `exit ${r.status ?? r.signal}: ${(r.stderr || r.error?.message || '').slice(0, 300)}` });
    return SUITE_EXIT.failed;
  }
  fs.writeFileSync(path.join(a.out, 'libsparq_cuda.sass'), r.stdout);
  const fns = checkSass(r.stdout);
  for (const f of fns.filter((x) => x.undefinedUniformReads.length > 0)) {
    const reads = f.undefinedUniformReads.map((u) => `${u.register} at /*${u.pc}*/ ${u.text}`).join('; ');
    run.row({ name: f.name, ok: false, detail: `reads uniform registers no instruction of the function writes: ${reads}` });
  }
  const counts = fns.map((f) => `${f.name} ${f.instructions}`).join('; ');
  run.row({ name: 'instructions per function', ok: true, detail: `${fns.length} functions in ${path.basename(lib)}: ${counts}` });
  return run.failed ? SUITE_EXIT.failed : SUITE_EXIT.ok;
}

// --- shared cases ----------------------------------------------------------------------------

const ratio = (c: ElementwiseCheck): string => (Number.isFinite(c.maxRatio) ? c.maxRatio.toFixed(3) : String(c.maxRatio));

/**
 * One shared case's verdict: every element within its bound of the float64 reference and, within
 * the sum of both sides' bounds, of the cpu result (test/reference.ts `checkElementwise`); the
 * relative norms (the contract's 2e-3) as the second figure.
 */
function caseRow(run: SuiteRun, op: string, c: DenseCase | W4A16Case | SparseCase, dev: Context, got: MatmulCaseResult, onCpu: CpuMatmulSide, seed: number): void {
  const cols = got.reference.cols;
  const vsRef = checkElementwise(got.y, got.reference.values, got.bound, cols);
  const vsCpu = checkElementwise(got.y, onCpu.values, addBounds(got.bound, onCpu.bound), cols);
  const ok = vsRef.ok && vsCpu.ok && got.relError <= c.tolerance && vsCpu.relNorm <= c.tolerance;
  const launch = dev.lastLaunch ? `, ${dev.lastLaunch.kernel} ${dev.lastLaunch.config}` : '';
  let detail = `max err/bound ${ratio(vsRef)} (ref), ${ratio(vsCpu)} (vs cpu); rel ${got.relError.toExponential(2)}, vs cpu ${vsCpu.relNorm.toExponential(2)}; seed ${seed}${launch}`;
  if (!vsRef.ok) detail += `; ${describeElementwise('vs reference', vsRef, seed)}`;
  if (!vsCpu.ok) detail += `; ${describeElementwise('vs cpu', vsCpu, seed)}`;
  run.row({
    section: `cases ${op}`,
    name: c.name,
    ok,
    detail,
    figures: { maxRatio: vsRef.maxRatio, maxRatioVsCpu: vsCpu.maxRatio, relError: got.relError, relVsCpu: vsCpu.relNorm, seed },
  });
}

type CaseRunner = (sq: Context, c: never, seed: number) => Promise<MatmulCaseResult>;

/**
 * A case's device side (here) and cpu side (CpuSide's worker) at once, same seed; the device
 * side's error wins, as when it ran first, since that is what the row is about.
 */
async function bothSides<D, C>(device: Promise<D>, cpu: Promise<C>): Promise<[D, C]> {
  const [d, c] = await Promise.allSettled([device, cpu]);
  if (d.status === 'rejected') throw d.reason;
  if (c.status === 'rejected') throw new Error(`on cpu: ${message(c.reason)}`);
  return [d.value, c.value];
}

type CaseOp = 'dense' | 'w4a16' | 'sparse';

async function casesSuite(run: SuiteRun, a: SuiteArgs, ops: CaseOp[]): Promise<number> {
  // sim lists are the small shapes; otherwise the backend's own (cuda adds cases only it needs)
  const caseBackend = a.small || a.backend === 'sim' ? 'sim' : a.backend;
  const all: Record<CaseOp, { cases: (DenseCase | W4A16Case | SparseCase)[]; run: CaseRunner }> = {
    dense: { cases: denseCases(caseBackend), run: runDenseCase as CaseRunner },
    w4a16: { cases: w4a16Cases(caseBackend), run: runW4A16Case as CaseRunner },
    sparse: { cases: sparseCases(caseBackend), run: runSparseCase as CaseRunner },
  };
  // A relaunch with every case done (its predecessor died or hung in its last one) opens nothing.
  let left = ops.reduce((n, op) => n + all[op].cases.filter((c) => !run.isDone(c.name)).length, 0);
  if (left === 0) return SUITE_EXIT.ok;
  const cpuSide = new CpuSide();
  const dev = await open({ backend: a.backend });
  for (const op of ops) {
    const s = all[op];
    const before = run.rows.length;
    for (const c of s.cases) {
      if (run.skip(c.name)) continue;
      left -= 1;
      run.starting(c.name);
      const seed = freshSeed();
      try {
        const cpuRun = cpuSide.matmul({ op, c, seed } as CpuSideJob); // first: it starts while this thread draws
        const [got, onCpu] = await bothSides(s.run(dev, c as never, seed), cpuRun);
        caseRow(run, op, c, dev, got, onCpu, seed);
      } catch (e) {
        run.row({ section: `cases ${op}`, name: c.name, ok: false, detail: `seed ${seed}: ${message(e)}` });
        // Sticky for this process: a context reopened here fails too. The parent relaunches the suite.
        if (dev.lost) return left > 0 ? SUITE_EXIT.lost : SUITE_EXIT.failed;
      }
    }
    const mine = run.rows.slice(before);
    const worst = (f: (r: NonNullable<Row['figures']>) => number): string => Math.max(0, ...mine.map((r) => (r.figures ? f(r.figures) : 0))).toPrecision(3);
    const earlier = s.cases.length - mine.length;
    process.stderr.write(
      `[${(run.elapsedMs() / 1000).toFixed(1)}s] ${op}: ${mine.filter((r) => r.ok).length}/${mine.length} ok${earlier ? ` (${earlier} done by an earlier child)` : ''}; ` +
        `worst max err/bound ${worst((f) => f.maxRatio)} (ref), ${worst((f) => f.maxRatioVsCpu)} (vs cpu)\n`,
    );
  }
  await cpuSide.close();
  return run.failed ? SUITE_EXIT.failed : SUITE_EXIT.ok;
}

async function int8Suite(run: SuiteRun, a: SuiteArgs): Promise<number> {
  const caseBackend = a.small || a.backend === 'sim' ? 'sim' : 'cpu';
  const cases = int8Cases(caseBackend);
  let left = cases.filter((c) => !run.isDone(c.name)).length;
  if (left === 0) return SUITE_EXIT.ok;
  const cpuSide = new CpuSide();
  const dev = await open({ backend: a.backend });
  const before = run.rows.length;
  for (const c of cases) {
    if (run.skip(c.name)) continue;
    left -= 1;
    run.starting(c.name);
    const seed = freshSeed();
    try {
      const cpuRun = cpuSide.int8(c, seed);
      const [got, onCpu] = await bothSides(runInt8Case(dev, c, seed), cpuRun);
      const bad = int8Mismatches(got, onCpu);
      const launch = dev.lastLaunch ? `, ${dev.lastLaunch.kernel} ${dev.lastLaunch.config}` : '';
      run.row({ section: 'cases int8', name: c.name, ok: bad.length === 0,
        detail: `${bad.length === 0 ? 'bit-exact' : `DIFFERS: ${bad.join('; ')}`}; ${got.outliers.length} outlier columns; seed ${seed}${launch}` });
    } catch (e) {
      run.row({ section: 'cases int8', name: c.name, ok: false, detail: `seed ${seed}: ${message(e)}` });
      if (dev.lost) return left > 0 ? SUITE_EXIT.lost : SUITE_EXIT.failed; // as in casesSuite
    }
  }
  const mine = run.rows.slice(before);
  const earlier = cases.length - mine.length;
  process.stderr.write(`[${(run.elapsedMs() / 1000).toFixed(1)}s] int8: ${mine.filter((r) => r.ok).length}/${mine.length} bit-exact${earlier ? ` (${earlier} done by an earlier child)` : ''}\n`);
  await cpuSide.close();
  return run.failed ? SUITE_EXIT.failed : SUITE_EXIT.ok;
}

// --- allreduceRmsnorm ------------------------------------------------------------------------

/**
 * [ranks, tokens, hidden] on the GPU (virtual ranks: one context's group, all ranks' CTAs in one
 * launch): decode (1 token), a ragged row count with a hidden off the 512 grid (19 × 4104), and a
 * 64-token slab at 8192. The float64 reference and the JS contract stay a few seconds per case.
 */
const ALLREDUCE_CASES: ReadonlyArray<readonly [number, number, number]> = [2, 4, 8].flatMap((r) => [
  [r, 1, 4096] as const,
  [r, 19, 4104] as const,
  [r, 64, 8192] as const,
]);
/** The simulator (sim dry run, --small): every CUDA thread is a host thread, so tiny rows. */
const ALLREDUCE_SMALL_CASES: ReadonlyArray<readonly [number, number, number]> = [
  [2, 3, 64],
  [8, 2, 72],
];
const ALLREDUCE_ALGORITHMS = ['auto', 'one-shot', 'two-shot'] as const;
const ALLREDUCE_EPS = 1e-6;
/** DESIGN.md: cpu and cuda within 1 fp16 ulp of each other (the contract), ‖out−ref‖/‖ref‖ ≤ 2e-3. */
const ALLREDUCE_MAX_ULP = 1;
const ALLREDUCE_TOLERANCE = 2e-3;
const ALLREDUCE_TIMED_REPS = 50;

/** Distance in fp16 ulps between two bit patterns (adjacent finite values are 1 apart); a NaN is infinitely far. */
function f16UlpDistance(a: number, b: number): number {
  const isNaN16 = (h: number): boolean => (h & 0x7c00) === 0x7c00 && (h & 0x03ff) !== 0;
  if (isNaN16(a) || isNaN16(b)) return Infinity;
  const key = (h: number): number => (h & 0x8000 ? -(h & 0x7fff) : h);
  return Math.abs(key(a) - key(b));
}

/** Every fp16 bit pattern's value (f16BitsToNumber, exact): a lookup per output element instead of its arithmetic. */
let f16Values: Float64Array | null = null;
function f16ValueTable(): Float64Array {
  f16Values ??= Float64Array.from({ length: 65536 }, (_, h) => f16BitsToNumber(h));
  return f16Values;
}

/**
 * One pass over a rank's output: the elements that differ from the contract's bits, the largest
 * distance in ulps, and ‖got − ref‖_F / ‖ref‖_F against the float64 reference (relErrorF16's
 * figure, the same float64 arithmetic: NaN if any element is not finite). Two passes with
 * f16BitsToNumber took ~1.2 s per 8 M elements on the CPU box; R=8 T=64 H=8192 reads 25 M per shape.
 */
function compareOutput(got: Uint16Array, want: Uint16Array, ref: Float64Array): { differ: number; maxUlp: number; rel: number } {
  const value = f16ValueTable();
  let differ = 0;
  let maxUlp = 0;
  let num = 0;
  let den = 0;
  let finite = true;
  for (let i = 0; i < want.length; i++) {
    const g = value[got[i]];
    if (!Number.isFinite(g)) finite = false;
    num += (g - ref[i]) ** 2;
    den += ref[i] ** 2;
    if (got[i] === want[i]) continue;
    differ += 1;
    maxUlp = Math.max(maxUlp, f16UlpDistance(got[i], want[i]));
  }
  return { differ, maxUlp, rel: finite ? Math.sqrt(num) / Math.sqrt(den || 1) : NaN };
}

/**
 * group.allreduceRmsnorm on the backend, every algorithm, each rank's out and residual against the
 * contract's bits (test/allreduceReference.ts, written from DESIGN.md) within 1 ulp and against the
 * float64 reference within 2e-3, outputs NaN-poisoned first. On cuda each passing algorithm is then
 * timed back to back (stream marks, same buffers; the benchmark has the rotated, floor-relative
 * figures): no unfused baseline exists on the GPU, so the row gives the fused time alone.
 */
async function allreduceSuite(run: SuiteRun, a: SuiteArgs): Promise<number> {
  // Required here, not at the top: a missing reference file costs this suite only.
  const reference = require('../../test/allreduceReference') as typeof import('../../test/allreduceReference');
  const cases = a.small || a.backend === 'sim' ? ALLREDUCE_SMALL_CASES : ALLREDUCE_CASES;
  const dev = await open({ backend: a.backend });
  const before = run.rows.length;
  for (const [ranks, tokens, hidden] of cases) {
    const name = `R=${ranks} T=${tokens} H=${hidden}`;
    const inputsName = `${name} (inputs and references)`;
    const caseNames = ALLREDUCE_ALGORITHMS.map((algorithm) => `${name} ${algorithm}`);
    // A relaunch passes over a shape an earlier child finished, or died computing the inputs of.
    if (run.isDone(inputsName) || caseNames.every((c) => run.isDone(c))) {
      run.passOver(1 + caseNames.length);
      continue;
    }
    run.starting(inputsName);
    const seed = freshSeed();
    const next = rng(seed);
    const n = tokens * hidden;
    const inputs = {
      xs: Array.from({ length: ranks }, () => randomF16(n, next).bits),
      residuals: Array.from({ length: ranks }, () => randomF16(n, next).bits),
      gamma: randomF16(hidden, next, 0.5, 1.5).bits,
      tokens,
      hidden,
      eps: ALLREDUCE_EPS,
    };
    const want = reference.allreduceRmsnormContract(inputs);
    const ref = reference.allreduceRmsnormRef(inputs);
    const tensors: Tensor<'f16'>[] = [];
    const keep = <T extends Tensor<'f16'>>(t: T): T => (tensors.push(t), t);
    const group = dev.group({ ranks });
    try {
      const xs = inputs.xs.map((x) => keep(dev.tensor(x, [tokens, hidden], 'f16')));
      const residuals = inputs.residuals.map((x) => keep(dev.tensor(x, [tokens, hidden], 'f16')));
      const gamma = keep(dev.tensor(inputs.gamma, [hidden], 'f16'));
      for (const [j, algorithm] of ALLREDUCE_ALGORITHMS.entries()) {
        const caseName = caseNames[j];
        if (run.skip(caseName)) continue;
        run.starting(caseName);
        try {
          const out = inputs.xs.map(() => keep(dev.tensor(nanPoison(n), [tokens, hidden], 'f16')));
          const residualOut = inputs.xs.map(() => keep(dev.tensor(nanPoison(n), [tokens, hidden], 'f16')));
          const call = (): void => {
            group.allreduceRmsnorm(xs, residuals, gamma, { eps: ALLREDUCE_EPS, algorithm, out, residualOut });
          };
          call();
          let differ = 0;
          let maxUlp = 0;
          let rel = 0;
          for (let r = 0; r < ranks; r++) {
            for (const [got, bits, f64] of [
              [out[r], want.out[r], ref.out[r]],
              [residualOut[r], want.residual[r], ref.residual[r]],
            ] as const) {
              const y = (await got.read()) as Uint16Array;
              const m = compareOutput(y, bits, f64);
              differ += m.differ;
              maxUlp = Math.max(maxUlp, m.maxUlp);
              rel = Number.isNaN(m.rel) ? Infinity : Math.max(rel, m.rel);
            }
          }
          const launch = dev.lastLaunch; // set when the op ran: read after its outputs
          const ok = maxUlp <= ALLREDUCE_MAX_ULP && rel <= ALLREDUCE_TOLERANCE;
          const ran = launch ? `; ${launch.kernel} ${launch.config}` : '';
          let detail = `${differ === 0 ? 'bit-exact with the contract' : `${differ} of ${2 * ranks * n} elements differ from the contract, max ${maxUlp} ulp`}; ` +
            `rel vs float64 ${rel.toExponential(2)}; seed ${seed}${ran}`;
          if (ok && a.backend === 'cuda') {
            const t = await timeSparq(dev, call, { budgetMs: 200, fixedReps: ALLREDUCE_TIMED_REPS });
            detail += `; fused ${(t.stats.median * 1e3).toFixed(1)} µs median (p10–p90 ${(t.stats.p10 * 1e3).toFixed(1)}–${(t.stats.p90 * 1e3).toFixed(1)}) ` +
              `over ${t.stats.reps} back-to-back calls on the same buffers (no unfused baseline on the GPU)`;
          }
          run.row({ section: 'cases allreduceRmsnorm', name: caseName, ok, detail });
        } catch (e) {
          run.row({ section: 'cases allreduceRmsnorm', name: caseName, ok: false, detail: `seed ${seed}: ${message(e)}` });
          if (dev.lost) break;
        }
      }
    } finally {
      if (!dev.lost) {
        for (const t of tensors) t.dispose();
        group.dispose();
      }
    }
    // Sticky for this process; the comm layouts at least are left: the parent relaunches the suite.
    if (dev.lost) return SUITE_EXIT.lost;
  }
  const mine = run.rows.slice(before);
  const earlier = cases.length * ALLREDUCE_ALGORITHMS.length - mine.length;
  process.stderr.write(
    `[${(run.elapsedMs() / 1000).toFixed(1)}s] allreduceRmsnorm: ${mine.filter((r) => r.ok).length}/${mine.length} within ${ALLREDUCE_MAX_ULP} ulp of the contract` +
      `${earlier ? ` (${earlier} done by an earlier child or not run)` : ''}\n`,
  );
  await commCase(run, a);
  return run.failed ? SUITE_EXIT.failed : SUITE_EXIT.ok;
}

/**
 * sq.comm on this backend, three ranks of one comm in two layouts, every call's out and residual
 * bit-exact with the contract on every rank (test/comm/commRun.ts, as in jest), and the transport
 * the ranks agreed on (Comm.transport):
 * - two ranks of this backend in worker_threads and one in a child process: on cuda the device
 *   transport (the workers read each other's slot in place, the process through CUDA IPC); on sim
 *   the host one (a sim slot is readable only in its own process);
 * - the same three asking for the host transport (CommOptions.transport), to compare;
 * - one of this backend in a worker, one in a child process, one cpu rank in a worker: the host
 *   transport (a cpu rank has no slot).
 * The first two then time 50 calls of the last shape (call + synchronize, on rank 0: µs in the
 * row's detail; on sim 3 calls, only to run the code).
 */
async function commCase(run: SuiteRun, a: SuiteArgs): Promise<void> {
  const { runRanks, contractDiffs } = require('../../test/comm/commRun') as typeof import('../../test/comm/commRun');
  const device = a.backend === 'cuda' ? 'cuda' : 'sim';
  const calls = a.small || device === 'sim' ? [{ tokens: 1, hidden: 64 }, { tokens: 7, hidden: 264 }]
    : [{ tokens: 1, hidden: 4096 }, { tokens: 19, hidden: 4104 }, { tokens: 64, hidden: 8192 }];
  const timeCalls = device === 'cuda' ? 50 : 3;
  type Where = 'worker' | 'process';
  type Layout = {
    backends: ReadonlyArray<'cpu' | 'sim' | 'cuda'>;
    where: readonly Where[];
    transport: string;
    ask: 'auto' | 'host';
    timeCalls: number;
    nodes?: readonly string[];  // CommOptions.node by rank
    // A probe of what the GPU machine allows: a typed error on every rank within the timeout (no
    // hang) passes as well as the contract's bits do; the row says which it was.
    probe?: boolean;
  };
  const layouts: Layout[] = [
    { backends: [device, device, device], where: ['worker', 'worker', 'process'], transport: device === 'cuda' ? 'device' : 'host', ask: 'auto', timeCalls },
    { backends: [device, device, device], where: ['worker', 'worker', 'process'], transport: 'host', ask: 'host', timeCalls },
    { backends: [device, device, 'cpu'], where: ['worker', 'process', 'worker'], transport: 'host', ask: 'auto', timeCalls: 0 },
    // NCCL (issue 11): one rank — a second needs a second GPU (NCCL refuses two ranks on one). On
    // sim, sparq's NCCL test double beside sparq.node stands in, so the dry run covers the plumbing.
    { backends: [device], where: ['worker'], transport: 'nccl', ask: 'auto', timeCalls },
    // The hierarchical form (two "machines" named a and b, ranks a, b, a, b): on sim through the
    // double (workers: it keeps its groups in one process); on cuda 4 processes on the one GPU with
    // NCCL_MULTI_RANK_GPU_ENABLE=1 — an NCCL that allows several ranks a GPU runs the form's real
    // NCCL calls (device-memory all-gathers, the non-blocking ncclCommSplit); one that refuses must
    // make every rank fail with a typed error, not hang (the first real-NCCL failure path). That
    // variable arrived in NCCL 2.30.3 (a 2026-12-05 review of NCCL's sources: no 2.27–2.29 tag has
    // it; 2.28's init fails "Duplicate GPU detected" with ncclInvalidUsage), so with the 2.28 the
    // H200 image had, this row can only pass as a refusal: the real split and shard all-gathers
    // need NCCL ≥ 2.30.3 there, or two GPUs. The row names the NCCL version it ran.
    device === 'cuda'
      ? { backends: [device, device, device, device], where: ['process', 'process', 'process', 'process'], transport: 'nccl-hierarchical', ask: 'auto', timeCalls: 0, nodes: ['a', 'b', 'a', 'b'], probe: true }
      : { backends: [device, device, device, device], where: ['worker', 'worker', 'worker', 'worker'], transport: 'nccl-hierarchical', ask: 'auto', timeCalls: 0, nodes: ['a', 'b', 'a', 'b'] },
  ];
  const maxBytes = Math.max(...calls.map((c) => c.tokens * c.hidden * 2));
  for (const l of layouts) {
    const size = l.backends.length;
    const name = `comm R=${size}: ${l.backends.map((b, i) => `${b} ${l.where[i]}${l.nodes ? ` on ${l.nodes[i]}` : ''}`).join(' + ')} ` +
      `(${l.transport} transport${l.ask === 'host' ? ', asked for' : ''}${l.probe ? '; a probe: on one GPU NCCL may refuse' : ''}), ` +
      calls.map((c) => `T=${c.tokens} H=${c.hidden}`).join(', ');
    if (run.skip(name)) continue;
    run.starting(name);
    const savedMultiRank = process.env.NCCL_MULTI_RANK_GPU_ENABLE;
    try {
      let via = '';
      if (l.probe) process.env.NCCL_MULTI_RANK_GPU_ENABLE = '1';  // the ranks' processes inherit it
      if (l.transport.startsWith('nccl')) {
        if (device === 'sim' && !process.env.SPARQ_NCCL_PATH) process.env.SPARQ_NCCL_PATH = path.join(path.dirname(addonPath()), 'libnccl_double.so');
        const found = await nccl.probe();
        via = `; NCCL ${found.version} from ${found.path}`;
      }
      const raw = l.transport.startsWith('nccl') ? await comm.createNccl({ maxBytes }) : comm.create({ maxBytes });
      const id = Buffer.from(raw).toString('hex');
      const seed = freshSeed();
      const script = path.join(__dirname, '..', '..', 'test', 'comm', 'commRank.js');
      const jobs = l.backends.map((backend, rank) => ({ id, rank, size, seed, calls, timeoutMs: l.probe ? 20000 : 30000, backend,
        transport: l.ask, timeCalls: l.timeCalls, node: l.nodes?.[rank] }));
      const reports = await runRanks(script, jobs, [...l.where], l.probe ? 45000 : 90000);
      const refused = reports.filter((r) => r.joined === false);
      if (l.probe && refused.length > 0) {
        // every rank must have failed its join with a typed error (a rank that joined would have
        // waited out its timeout in a call: also typed, reported by its call)
        const typed = reports.every((r) => !r.error || r.error.name.startsWith('Sparq'));
        run.row({ section: 'cases allreduceRmsnorm', name, ok: typed && reports.some((r) => r.error),
          detail: `NCCL refused (probe; no hang; the hierarchy's NCCL calls not run — several ranks a GPU needs NCCL >= 2.30.3): ${refused.length} of ${size} ranks could not join, ` +
            `${reports.filter((r) => r.error).map((r) => `rank ${r.rank}: ${r.error?.name}: ${r.error?.message}`).slice(0, 2).join('; ')}` + via });
        continue;
      }
      const diffs = contractDiffs(reports, seed, size, calls);
      const transports = reports.filter((r) => r.joined).sort((x, y) => x.rank - y.rank).map((r) => r.transport ?? '?');
      const transportOk = transports.length === size && transports.every((t) => t === l.transport);
      const kernels = [...new Set(reports.filter((r) => l.backends[r.rank] !== 'cpu' && r.kernel).map((r) => r.kernel))].join(', ');
      run.row({ section: 'cases allreduceRmsnorm', name, ok: diffs.length === 0 && transportOk,
        detail: `${diffs.length === 0 ? 'every rank bit-exact with the contract' : diffs.slice(0, 6).join('; ')}; ` +
          `transport by rank ${transports.join('/')}${transportOk ? '' : ` (expected ${l.transport})`}; seed ${seed}; ${device} ranks ran ${kernels || 'no kernel'}` +
          timingText(reports.find((r) => r.rank === 0 && r.timing)?.timing, calls[calls.length - 1]) + via });
    } catch (e) {
      run.row({ section: 'cases allreduceRmsnorm', name, ok: false, detail: message(e) });
    } finally {
      if (savedMultiRank === undefined) delete process.env.NCCL_MULTI_RANK_GPU_ENABLE;
      else process.env.NCCL_MULTI_RANK_GPU_ENABLE = savedMultiRank;
    }
  }
}

/** The comm's timed calls on rank 0, for a row's detail (the µs include the synchronize). */
function timingText(t: { n: number; medianUs: number; p10Us: number; p90Us: number } | undefined, call: { tokens: number; hidden: number }): string {
  if (!t) return '';
  return `; rank 0, ${t.n} calls of T=${call.tokens} H=${call.hidden} + synchronize: median ${t.medianUs.toFixed(1)} µs (p10–p90 ${t.p10Us.toFixed(1)}–${t.p90Us.toFixed(1)})`;
}

// --- fragment dump ---------------------------------------------------------------------------

/** Lists and typed arrays compare element by element; anything else by its JSON text. */
function compareField(key: string, got: unknown, want: unknown): { ok: boolean; detail: string } {
  if (got === undefined || want === undefined) {
    return { ok: false, detail: `only the ${got === undefined ? 'simulator' : 'GPU'}'s dump has this field` };
  }
  const listy = (v: unknown): v is ArrayLike<unknown> => Array.isArray(v) || ArrayBuffer.isView(v);
  if (listy(got) && listy(want)) {
    const g = Array.from(got);
    const w = Array.from(want);
    if (g.length !== w.length) return { ok: false, detail: `length: gpu ${g.length} vs sim ${w.length}` };
    const bad = g.findIndex((v, i) => !Object.is(v, w[i]));
    return {
      ok: bad < 0,
      detail: bad < 0 ? `${g.length} values equal` : `first difference at lane ${Math.floor(bad / (g.length / 32))}: gpu ${String(g[bad])} vs sim ${String(w[bad])}`,
    };
  }
  const gs = JSON.stringify(got);
  const ws = JSON.stringify(want);
  return { ok: gs === ws, detail: gs === ws ? `equal (${gs.slice(0, 80)})` : `${key}: gpu ${gs.slice(0, 120)} vs sim ${ws.slice(0, 120)}` };
}

async function fragmentSuite(run: SuiteRun, a: SuiteArgs): Promise<number> {
  const b = native();
  if (!b.hasSim) {
    run.row({ name: 'GPU vs simulator', ok: false, detail: 'this addon has no sim backend; build with SPARQ_SIM=ON' });
    return SUITE_EXIT.failed;
  }
  run.starting('simulator dump');
  const sim = await open({ backend: 'sim' });
  const want = (await b.fragmentDump(sim.handle)) as unknown as Record<string, unknown>;
  run.starting(`${a.backend} dump`);
  const dev = await open({ backend: a.backend });
  const got = (await b.fragmentDump(dev.handle)) as unknown as Record<string, unknown>;
  // Every field of either dump, so fields added to the dump are compared without a change here.
  for (const key of new Set([...Object.keys(want), ...Object.keys(got)])) {
    run.starting(key);
    const v = compareField(key, got[key], want[key]);
    run.row({ name: key, ok: v.ok, detail: v.detail });
  }
  return run.failed ? SUITE_EXIT.failed : SUITE_EXIT.ok;
}

// --- compute-sanitizer -----------------------------------------------------------------------

/** Each tool's run: the small cases (`--suite cases --small`) under it, rows under out/sanitizer-<tool>/. */
async function sanitizerSuite(run: SuiteRun, a: SuiteArgs): Promise<number> {
  const kinds = ['memcheck', 'racecheck'];
  const tool = a.sanitizerTool;
  if (!tool) {
    run.row({ name: 'compute-sanitizer', ok: true, status: 'skipped', detail: 'not present on this machine: not run (no result)' });
    return SUITE_EXIT.ok;
  }
  const deadline = Date.now() + a.suiteMs - 3000; // leave the parent's kill for a child that ignores this
  for (const [i, kind] of kinds.entries()) {
    const share = Math.min(150000, (deadline - Date.now()) / (kinds.length - i));
    if (share < 10000) {
      run.row({ name: kind, ok: false, status: 'skipped', detail: `not run: ${(share / 1000).toFixed(0)}s left of this suite's ${(a.suiteMs / 1000).toFixed(0)}s` });
      continue;
    }
    run.starting(kind);
    const dir = path.join(a.out, `sanitizer-${kind}`);
    fs.mkdirSync(dir, { recursive: true });
    // The tool's own report goes to a file (the first errors name the kernel, the PC and the source
    // line); its gist goes into the row, so it survives even if the file does not come back.
    const logFile = path.join(dir, 'sanitizer.txt');
    const r = await runChild(tool, ['--tool', kind, '--error-exitcode', '9', '--print-limit', '20', '--log-file', logFile, process.execPath, a.script, '--suite', 'cases', '--small', '--backend', a.backend, '--out', dir], {
      timeoutMs: share,
      onLine: (l) => process.stderr.write(`  [${kind}] ${l}\n`),
    });
    const report = sanitizerReport(logFile);
    const tail = `${r.tail.join(' | ').slice(-300)}${report ? ` || ${report.slice(0, 1500)}` : ''}`;
    if (r.timedOut) {
      run.row({ name: kind, ok: false, status: 'timeout', detail: `timed out after ${(share / 1000).toFixed(0)}s in cases/${r.lastCase ?? '(before its first case)'}: ${tail}` });
    } else {
      run.row({ name: kind, ok: r.code === 0, detail: `exit ${r.code ?? r.signal}: ${tail}` });
    }
  }
  return run.failed ? SUITE_EXIT.failed : SUITE_EXIT.ok;
}

// --- benchmarks ------------------------------------------------------------------------------

/**
 * Each op's benchmark in its own child, so a fault in one (a lost context is sticky) costs only that
 * op; dense twice, through cuBLAS and through sparq's own GEMM. Ordered by what no GPU run has
 * measured yet (cuBLAS dense was measured on 2026-12-04). Each gets an equal share of what is left
 * (a share an op leaves goes to the later ones); --budget is the seconds of sampling per
 * implementation and config, small enough to fit.
 */
const BENCH_OPS: { name: string; script: string; args: string[]; env?: Record<string, string> }[] = [
  // Trimmed grids: on 2026-12-04 the full ones took 81 s (w4a16), 87 s (int8) and > 110 s (sparse,
  // whose host-side encoding of the rotated copies dominates), more than the check's bench share.
  // scripts/device-bench.sh runs the full grids in a call of their own.
  { name: 'w4a16', script: 'w4a16.js', args: ['--m', '1,4,16,64,128'] },
  { name: 'sparse', script: 'sparse.js', args: ['--shapes', '4096x4096', '--sparsity', '0.5,0.8,0.95', '--m', '1,16,64'] },
  { name: 'int8', script: 'int8.js', args: ['--m', '1,16,64'] },
  { name: 'dense (sparq GEMM)', script: 'dense.js', args: [], env: { SPARQ_DENSE_KERNEL: 'sparq' } },
  { name: 'allreduceRmsnorm', script: 'allreduce.js', args: ['--ranks', '2,8', '--hidden', '4096'] },
  { name: 'dense', script: 'dense.js', args: [] },
];

async function benchSuite(run: SuiteRun, a: SuiteArgs): Promise<number> {
  const deadline = Date.now() + a.suiteMs - 3000;
  for (const [i, op] of BENCH_OPS.entries()) {
    const share = (deadline - Date.now()) / (BENCH_OPS.length - i);
    if (share < 15000) {
      run.row({ name: op.name, ok: false, status: 'skipped', detail: `not run: ${(share / 1000).toFixed(0)}s left for it` });
      continue;
    }
    run.starting(op.name);
    const r = await runChild(process.execPath, [path.join(path.dirname(a.script), op.script), '--backend', a.backend, '--budget', '0.3', ...op.args], {
      timeoutMs: share,
      env: { ...process.env, ...op.env, SPARQ_BENCH_RESULTS: a.out },
      onLine: (l) => process.stderr.write(`  ${l}\n`),
    });
    const last = r.tail.join(' | ').slice(-300);
    if (r.timedOut) {
      run.row({ name: op.name, ok: false, status: 'timeout', detail: `timed out after ${(share / 1000).toFixed(0)}s (the configs it finished are in its .jsonl); last lines: ${last}` });
    } else {
      run.row({ name: op.name, ok: r.code === 0, detail: `exit ${r.code ?? r.signal}; tables in the log and under the results${r.code === 0 ? '' : `; last lines: ${last}`}` });
    }
  }
  return run.failed ? SUITE_EXIT.failed : SUITE_EXIT.ok;
}

// ---------------------------------------------------------------------------------------------

/** Runs one suite in this process; returns its exit code (SUITE_EXIT). */
export async function runSuite(suite: string, a: SuiteArgs): Promise<number> {
  const run = new SuiteRun(suite, a.out, a.relaunch);
  let code: number;
  try {
    code = await suiteBody(run, suite, a);
  } catch (e) {
    // A thrown error is this suite's failure, not a crash: say where, and let the parent go on.
    run.row({ name: run.current ?? '(before its first case)', ok: false, detail: `threw: ${message(e)}` });
    return SUITE_EXIT.failed;
  }
  // Through every case: a death after this (a driver's teardown at exit) leaves nothing to resume.
  if (code !== SUITE_EXIT.lost) process.stderr.write(`${finishedLine(suite)}\n`);
  return code;
}

async function suiteBody(run: SuiteRun, suite: string, a: SuiteArgs): Promise<number> {
  switch (suite) {
    case 'info':
      return await infoSuite(run, a);
    case 'sass':
      return await sassSuite(run, a);
    case 'cases-dense':
      return await casesSuite(run, a, ['dense']);
    case 'cases-dense-sparq':
      // Read when the context opens (native getenv: Node's process.env writes reach it): the
      // same cases through sparq's own tensor-core GEMM, which cuBLAS hides in cases-dense.
      process.env.SPARQ_DENSE_KERNEL = 'sparq';
      return await casesSuite(run, a, ['dense']);
    case 'cases-w4a16':
      return await casesSuite(run, a, ['w4a16']);
    case 'cases-sparse':
      return await casesSuite(run, a, ['sparse']);
    case 'cases-int8':
      return await int8Suite(run, a);
    case 'cases-allreduce':
      return await allreduceSuite(run, a);
    case 'cases': {
      const matmuls = await casesSuite(run, a, ['dense', 'w4a16', 'sparse']);
      if (matmuls === SUITE_EXIT.lost) return matmuls;
      const int8 = await int8Suite(run, a);
      return matmuls !== SUITE_EXIT.ok ? matmuls : int8;
    }
    case 'fragments':
      return await fragmentSuite(run, a);
    case 'sanitizer':
      return await sanitizerSuite(run, a);
    case 'bench':
      return await benchSuite(run, a);
    default:
      throw new Error(`device-check: unknown suite '${suite}' (one of ${Object.keys(SUITE_SECTIONS).join(', ')})`);
  }
}
