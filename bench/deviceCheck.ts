/**
 * The device check (docs/verification.md): on a GPU machine, with nothing but node, dist/ and the
 * built libraries, in one command under 8 minutes, each suite in its own child process with its
 * own time limit:
 *   info         device, driver and library info;
 *   sass         cuobjdump's SASS of libsparq_cuda.so: instructions per kernel, and uniform registers
 *                read but never written (harness/sassCheck.ts), before any kernel runs;
 *   cases-dense, cases-dense-sparq (SPARQ_DENSE_KERNEL=sparq), cases-w4a16, cases-sparse, cases-int8
 *                every shared test case (test/cases) on the backend against cpu and the float64 reference;
 *   cases-allreduce
 *                group.allreduceRmsnorm (virtual ranks 2/4/8 on the one device) with every algorithm
 *                against the contract's bits (1 ulp) and the float64 reference, then timed on cuda;
 *   fragments    the fragment-layout dump on the GPU against the simulator's (needs the sim backend);
 *   sanitizer    compute-sanitizer memcheck and racecheck on the small cases, when the tool is present;
 *   bench        each op's benchmark (dist/bench/<op>.js) in its own child, with what is left.
 * Everything but the check's own four files is packed into device-check-extras.tar.gz at the end
 * (the device tool brings back at most 8 files).
 * Every row is appended to --out/device-check.jsonl as it finishes, and every child's stderr (with a
 * "starting <suite>/<case>" line before each case) to --out/device-check.log, so a hung kernel or a
 * SIGKILL at the device tool's limit loses nothing finished. A suite that outlives its limit is
 * killed and gets a timeout row naming the case it was in; a child that dies gets a crash row; the
 * other suites still run. A case suite whose case lost the context (a CUDA fault is sticky for the
 * process), or whose child died or hung in a case, is relaunched in a fresh child that skips the
 * cases with rows (`--relaunch n`; at most MAX_RELAUNCHES times, each with a share of the budget
 * left); its rows carry `relaunch: n`. At the end, device-check.json and device-check.md are
 * written from the rows and a short table says what passed, what failed and what did not run and why.
 * `--backend sim` runs the same script against the simulator on a CPU machine (a dry run of the
 * script itself; the fragment dump then compares sim with sim).
 *
 *   node dist/bench/deviceCheck.js [--out DIR] [--backend cuda|sim] [--cases-only] [--small]
 *       [--bench|--no-bench] [--no-sanitizer] [--suite-timeout-s S] [--budget-s S]
 *   node dist/bench/deviceCheck.js --suite NAME --suite-ms MS [--relaunch N] ...   (one suite: what the parent runs)
 *
 * Node built-ins only here and in what the parent imports (bench/harness/{childRun,deviceRows}.ts);
 * the suites (harness/deviceSuites.ts, which loads the addon) are required in the child only.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import { UsageError } from './harness/cliArgs';
import { findTool, killGroup, runChild, sanitizerReport, type ChildResult } from './harness/childRun';
import { appendRow, isFinishedLine, LOG_FILE, parseStarting, readRows, RESUMABLE_SUITES, ROWS_FILE, SUITE_EXIT, type Row } from './harness/deviceRows';

type BackendName = 'cuda' | 'sim' | 'cpu';

interface Args {
  out: string;
  backend: BackendName;
  casesOnly: boolean;
  small: boolean;
  bench: boolean;
  benchGiven: boolean;
  sanitizer: boolean;
  /** child mode: the one suite to run */
  suite: string | null;
  /** child mode: its time limit */
  suiteMs: number;
  /** child mode: 0 for a suite's first child, n for its n-th relaunch (skips the cases with rows) */
  relaunch: number;
  /** a cap on every suite's limit (the budget's share is used when smaller) */
  suiteTimeoutS: number | null;
  budgetS: number;
  help: boolean;
}

/** The whole command's budget: the device tool's limit is 8 minutes; leave room to write the summary. */
const DEFAULT_BUDGET_S = 7.5 * 60;
/** What the extra files are packed into (bundleExtras). */
const BUNDLE_FILE = 'device-check-extras.tar.gz';
/** The --out folder's entries before this run (orchestrate): bundleExtras leaves them alone. */
let preexisting = new Set<string>();

/** Held back from the suites' shares for reading the rows and writing the summary. */
const RESERVE_MS = 5000;

function parseArgs(argv: string[]): Args {
  const a: Args = {
    out: process.env.OUT ?? path.join(__dirname, '..', '..', 'bench', 'results'),
    backend: 'cuda',
    casesOnly: false,
    small: false,
    bench: true,
    benchGiven: false,
    sanitizer: true,
    suite: null,
    suiteMs: 0,
    relaunch: 0,
    suiteTimeoutS: null,
    budgetS: DEFAULT_BUDGET_S,
    help: false,
  };
  const num = (flag: string, v: string | undefined): number => {
    const n = Number(v);
    if (!(n > 0)) throw new UsageError(`device-check: ${flag} wants a positive number, got ${String(v)}`);
    return n;
  };
  const value = (flag: string, v: string | undefined): string => {
    if (v === undefined || v.startsWith('--')) throw new UsageError(`device-check: ${flag} needs a value`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i];
    if (v === '--help' || v === '-h') a.help = true;
    else if (v === '--out') a.out = value(v, argv[++i]);
    else if (v === '--bench') a.benchGiven = a.bench = true;
    else if (v === '--backend') a.backend = value(v, argv[++i]) as BackendName;
    else if (v === '--cases-only') a.casesOnly = true;
    else if (v === '--small') a.small = true;
    else if (v === '--no-bench') a.bench = false;
    else if (v === '--no-sanitizer') a.sanitizer = false;
    else if (v === '--suite') a.suite = value(v, argv[++i]);
    else if (v === '--suite-ms') a.suiteMs = num(v, argv[++i]);
    else if (v === '--relaunch') a.relaunch = num(v, argv[++i]);
    else if (v === '--suite-timeout-s') a.suiteTimeoutS = num(v, argv[++i]);
    else if (v === '--budget-s') a.budgetS = num(v, argv[++i]);
    else throw new UsageError(`device-check: unknown argument ${v}; see --help`);
  }
  // The simulator runs the benchmarks' 4096² layers for far longer than the 8-minute budget: a sim
  // dry run checks the script, not speed, unless --bench asks for it.
  if (a.backend === 'sim' && !a.benchGiven) a.bench = false;
  return a;
}

/**
 * The suites in order. Each gets `weight` parts of what is left of the budget among those still to
 * run (so time a quick suite leaves goes to the later ones); one whose share is under `minMs` is not
 * started. The weights are guesses for an H200: the cases take seconds, the sanitizer is slow, the
 * benchmarks use whatever remains.
 */
const PLAN: { suite: string; section: string; weight: number; minMs: number }[] = [
  { suite: 'info', section: 'info', weight: 1, minMs: 5000 },
  { suite: 'sass', section: 'sass', weight: 1, minMs: 5000 },
  { suite: 'cases-dense', section: 'cases dense', weight: 2, minMs: 10000 },
  { suite: 'cases-dense-sparq', section: 'cases dense (sparq GEMM)', weight: 2, minMs: 10000 },
  { suite: 'cases-w4a16', section: 'cases w4a16', weight: 3, minMs: 10000 },
  { suite: 'cases-sparse', section: 'cases sparse', weight: 3, minMs: 10000 },
  { suite: 'cases-int8', section: 'cases int8', weight: 2, minMs: 10000 },
  { suite: 'cases-allreduce', section: 'cases allreduceRmsnorm', weight: 2, minMs: 10000 },
  { suite: 'fragments', section: 'fragments', weight: 1, minMs: 5000 },
  { suite: 'sanitizer', section: 'sanitizer', weight: 4, minMs: 30000 },
  { suite: 'bench', section: 'bench', weight: 6, minMs: 60000 },
];

/** What happened to one suite, for the final table. */
interface SuiteOutcome {
  suite: string;
  /** the first child's that was not 'ran', else 'ran' */
  outcome: 'ran' | 'timeout' | 'crash' | 'skipped';
  /** summed over the suite's children */
  limitS?: number;
  elapsedS?: number;
  note: string;
  /** fresh children that resumed it after a lost context, a crash or a timeout */
  relaunches?: number;
}

const started = Date.now();
const elapsed = (): string => `${((Date.now() - started) / 1000).toFixed(1)}s`;
const secs = (ms: number): string => `${(ms / 1000).toFixed(ms < 10000 ? 1 : 0)}s`;

/** Why a suite is not run with these options, or null. */
function optionSkip(suite: string, a: Args, sanitizerTool: string | null): string | null {
  if (a.casesOnly && !suite.startsWith('cases') && suite !== 'info') return '--cases-only';
  if (suite === 'sass' && a.backend !== 'cuda') return `the SASS of the CUDA library is read on cuda runs; backend is ${a.backend}`;
  if (suite === 'sanitizer') {
    if (!a.sanitizer) return '--no-sanitizer';
    if (a.backend !== 'cuda') return `compute-sanitizer checks GPU kernels; backend is ${a.backend}`;
    if (!sanitizerTool) return 'compute-sanitizer not found (PATH, /usr/local/cuda/bin, /opt/nvidia/compute-sanitizer)';
  }
  if (suite === 'bench' && !a.bench) return a.backend === 'sim' && !a.benchGiven ? 'sim dry run: the benchmarks need --bench' : '--no-bench';
  return null;
}

/** The child's arguments: the options the suites read, its limit, and which relaunch it is. */
function childArgs(a: Args, suite: string, limitMs: number, out = a.out, relaunch = 0): string[] {
  const args = [__filename, '--suite', suite, '--suite-ms', String(Math.round(limitMs)), '--backend', a.backend, '--out', out];
  if (a.small) args.push('--small');
  if (relaunch > 0) args.push('--relaunch', String(relaunch));
  return args;
}

/** A running child, for the signal handler: what to kill and which case to name. */
interface ActiveChild {
  suite: string;
  section: string;
  pid: number | null;
  lastCase: string | null;
  t0: number;
  relaunch: number;
  /** what the suite's earlier children did */
  notes: string[];
}

/** What one child of a suite did. */
interface ChildOutcome {
  outcome: 'ran' | 'timeout' | 'crash';
  code: number | null;
  elapsedMs: number;
  /** '' for a clean run; else what went wrong (TIMEOUT …, CRASH …, context lost in …) */
  note: string;
  /**
   * The case a relaunch resumes after: a case suite's child that lost the context in it, died or
   * hung in it, before its "finished" line; null when there is nothing to resume.
   */
  resumeAfter: string | null;
}

/**
 * The most relaunches of one suite: a kernel that faults on every shape shows it in the first few
 * rows, and the time is better spent on the other suites.
 */
const MAX_RELAUNCHES = 3;
/** The least share worth a relaunch: a fresh process, the device opened again, at least one case. */
const RELAUNCH_MIN_MS = 5000;

async function orchestrate(a: Args): Promise<number> {
  fs.mkdirSync(a.out, { recursive: true });
  // What was there before this run (another run's or the benchmarks' results): never bundled.
  preexisting = new Set(fs.readdirSync(a.out));
  // This run's files: earlier rows in the same folder would be read back as this run's.
  fs.writeFileSync(path.join(a.out, ROWS_FILE), '');
  fs.writeFileSync(path.join(a.out, LOG_FILE), '');
  const logFile = path.join(a.out, LOG_FILE);
  const note = (text: string): void => {
    process.stderr.write(`${text}\n`);
    fs.appendFileSync(logFile, `${text}\n`);
  };
  const budgetMs = a.budgetS * 1000;
  const sanitizerTool = findTool('compute-sanitizer');
  const outcomes: SuiteOutcome[] = [];
  let noBackend: string | null = null;

  // A SIGTERM/SIGINT (the device tool's limit, ^C) ends the running suite and still writes the summary.
  let active: ActiveChild | null = null;
  let interrupted = false;
  let diagnosisPid: number | null = null; // a memcheck rerun's process group, killed with the rest
  const onSignal = (sig: NodeJS.Signals): void => {
    if (interrupted) return;
    interrupted = true;
    if (diagnosisPid !== null) killGroup(diagnosisPid);
    if (active) {
      if (active.pid !== null) killGroup(active.pid);
      const where = active.lastCase ?? '(before its first case)';
      appendRow(a.out, {
        suite: active.suite,
        section: active.section,
        name: where,
        ok: false,
        status: 'timeout',
        detail: `INTERRUPTED: the command got ${sig} while in ${active.suite}/${where}; killed`,
        elapsedS: (Date.now() - active.t0) / 1000,
        ...(active.relaunch ? { relaunch: active.relaunch } : {}),
      });
      const last = `${active.relaunch ? `relaunch ${active.relaunch}: ` : ''}interrupted (${sig}) in ${where}`;
      outcomes.push({ suite: active.suite, outcome: 'timeout', note: [...active.notes, last].join('; ') });
    }
    process.exit(summarize(a, outcomes, PLAN.length, null));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  const skipped = PLAN.map((p) => optionSkip(p.suite, a, sanitizerTool));
  /** What is left of the budget, and suite i's share of it among the suites still to run. */
  const shareOf = (i: number): { left: number; share: number } => {
    const left = budgetMs - (Date.now() - started) - RESERVE_MS;
    const weights = PLAN.slice(i).reduce((s, q, j) => s + (skipped[i + j] ? 0 : q.weight), 0);
    return { left, share: (left * PLAN[i].weight) / weights };
  };
  for (const [i, p] of PLAN.entries()) {
    const skipRow = (why: string, ok: boolean): void => {
      appendRow(a.out, { suite: p.suite, section: p.section, name: '(suite)', ok, status: 'skipped', detail: `not run: ${why}` });
      outcomes.push({ suite: p.suite, outcome: 'skipped', note: `not run: ${why}` });
    };
    const reason = skipped[i];
    if (reason) {
      skipRow(reason, true);
      continue;
    }
    if (noBackend) {
      skipRow(noBackend, false);
      continue;
    }
    let { left, share } = shareOf(i);
    if (share < p.minMs) {
      skipRow(`${secs(Math.max(0, left))} left of the ${secs(budgetMs)} budget; its share ${secs(Math.max(0, share))} is under the ${secs(p.minMs)} it needs`, false);
      continue;
    }
    // The suite's children: the first, then (a case suite whose child lost the context, died or hung
    // in a case) fresh ones that skip the cases with rows, each with a new share of what is left.
    const total: SuiteOutcome = { suite: p.suite, outcome: 'ran', limitS: 0, elapsedS: 0, note: '' };
    const notes: string[] = [];
    let plain = true; // one child, no trouble: the table's usual "ran in …"
    let from: string | null = null;
    for (let relaunch = 0; ; relaunch++) {
      const limitMs = a.suiteTimeoutS !== null ? Math.min(share, a.suiteTimeoutS * 1000) : share;
      note(`[${elapsed()}] suite ${p.suite}: ${relaunch ? `relaunch ${relaunch} after ${String(from)}, ` : ''}limit ${secs(limitMs)}`);
      active = { suite: p.suite, section: p.section, pid: null, lastCase: null, t0: Date.now(), relaunch, notes: [...notes] };
      const child = await runSuiteChild(a, p, relaunch, limitMs, active, note);
      active = null;
      total.limitS = (total.limitS ?? 0) + limitMs / 1000;
      total.elapsedS = (total.elapsedS ?? 0) + child.elapsedMs / 1000;
      if (total.outcome === 'ran') total.outcome = child.outcome;
      if (child.note || relaunch) plain = false;
      const text = child.note || `ran in ${secs(child.elapsedMs)} (limit ${secs(limitMs)})`;
      notes.push(relaunch ? `relaunch ${relaunch} from after ${String(from)}: ${text}` : text);
      if (p.suite === 'info' && child.code === SUITE_EXIT.noBackend) noBackend = `backend '${a.backend}' did not open (the info row says why)`;
      if (child.resumeAfter === null) break;
      const where = child.resumeAfter;
      const notRun = (why: string): void => {
        appendRow(a.out, { suite: p.suite, section: p.section, name: `(cases after ${where})`, ok: false, status: 'skipped', detail: `not run: the cases of ${p.suite} after ${where}, if any: ${why}` });
        notes.push(`the cases after ${where} not run: ${why}`);
      };
      if (relaunch === MAX_RELAUNCHES) {
        notRun(`${MAX_RELAUNCHES} relaunches already, the most a suite gets`);
        break;
      }
      ({ left, share } = shareOf(i));
      if (share < RELAUNCH_MIN_MS) {
        notRun(`${secs(Math.max(0, left))} left of the ${secs(budgetMs)} budget; a relaunch's share ${secs(Math.max(0, share))} is under the ${secs(RELAUNCH_MIN_MS)} it needs`);
        break;
      }
      from = where;
    }
    total.relaunches = notes.filter((n) => n.startsWith('relaunch ')).length;
    total.note = plain && notes.length === 1 ? '' : notes.join('; '); // else what each child did, in order
    outcomes.push(total);
    // On cuda; on sim only for the test of this path (an injected fault, a stand-in tool on PATH).
    const diagnosable = a.backend === 'cuda' || /(^|,)fault:/.test(process.env.SPARQ_DEVICE_CHECK_INJECT ?? '');
    if (p.suite.startsWith('cases') && diagnosable && a.sanitizer && sanitizerTool) {
      const left = budgetMs - (Date.now() - started) - RESERVE_MS;
      await diagnoseDeviceFault(a, p, sanitizerTool, Math.min(DIAGNOSIS_MAX_MS, left / 5), note, (pid) => (diagnosisPid = pid));
      diagnosisPid = null;
    }
  }
  return summarize(a, outcomes, PLAN.length, noBackend);
}

/**
 * Runs one child of a suite (`relaunch` 0: the first; n: the n-th relaunch, which skips the cases
 * with rows) and writes the row for a child that was killed at its limit or died: named after the
 * case it was in, or `(after <case>)` when that case already has its row.
 */
async function runSuiteChild(
  a: Args,
  p: { suite: string; section: string },
  relaunch: number,
  limitMs: number,
  active: ActiveChild,
  note: (text: string) => void,
): Promise<ChildOutcome> {
  const rowsOf = (): Row[] => readRows(a.out).rows.filter((row) => row.suite === p.suite);
  const rowsBefore = rowsOf().length;
  let finished = false;
  const r: ChildResult = await runChild(process.execPath, childArgs(a, p.suite, limitMs, a.out, relaunch), {
    timeoutMs: limitMs,
    onSpawn: (pid) => (active.pid = pid),
    onLine: (l) => {
      const s = parseStarting(l);
      if (s) active.lastCase = s.caseName;
      if (isFinishedLine(l, p.suite)) finished = true;
      note(l);
    },
  });
  const newRows = rowsOf().slice(rowsBefore);
  const inCase = r.lastCase ?? '(before its first case)';
  // a death after the case's own row (at exit, say) must not give that case a second row
  const name = r.lastCase !== null && newRows.some((row) => row.name === r.lastCase) ? `(after ${r.lastCase})` : inCase;
  const where = `${p.suite}/${inCase}`;
  const base = { suite: p.suite, section: p.section, name, ok: false, elapsedS: r.elapsedMs / 1000, ...(relaunch ? { relaunch } : {}) };
  // A case suite resumes after the case it lost the context in, or died or hung in, unless it had
  // been through all its cases; a child that died before its first case would die again.
  const resumeAfter = RESUMABLE_SUITES.has(p.suite) && !finished && r.lastCase !== null ? r.lastCase : null;
  const known = r.code !== null && (Object.values(SUITE_EXIT) as number[]).includes(r.code);
  if (r.timedOut) {
    appendRow(a.out, {
      ...base,
      status: 'timeout',
      detail: `TIMEOUT: no end within the suite's ${secs(limitMs)} limit; killed (SIGKILL) while in ${where}. This suite's rows before this one are the cases that finished.`,
    });
    return { outcome: 'timeout', code: r.code, elapsedMs: r.elapsedMs, note: `TIMEOUT after ${secs(limitMs)} in ${where}`, resumeAfter };
  }
  // Exit 0 without the "finished" line: the event loop emptied with a case still waiting (a
  // promise nothing would settle), so the cases after it never ran.
  const silent = r.code === SUITE_EXIT.ok && !finished;
  if (r.signal !== null || !known || silent || (r.code !== 0 && diedUnreported(r.code, newRows))) {
    const how = r.signal
      ? `signal ${r.signal}`
      : `exit ${String(r.code)}${r.code === 1 || r.code === 3 ? ' with no failing row written' : r.code === 2 ? ' before writing any row' : silent ? ' before its last case (no "finished" line)' : ''}`;
    appendRow(a.out, { ...base, status: 'crash', detail: `CRASH: the suite's process died (${how}) while in ${where}; last stderr: ${r.tail.join(' | ').slice(-300)}` });
    return { outcome: 'crash', code: r.code, elapsedMs: r.elapsedMs, note: `CRASH (${how}) in ${where}`, resumeAfter };
  }
  if (r.code === SUITE_EXIT.lost) {
    return { outcome: 'ran', code: r.code, elapsedMs: r.elapsedMs, note: `context lost in ${where} after ${secs(r.elapsedMs)} (limit ${secs(limitMs)})`, resumeAfter };
  }
  return { outcome: 'ran', code: r.code, elapsedMs: r.elapsedMs, note: '', resumeAfter: null };
}

/** The most a fault's memcheck rerun may take, and the least worth starting. */
const DIAGNOSIS_MAX_MS = 90000;
const DIAGNOSIS_MIN_MS = 20000;
/** compute-sanitizer's summary when it found nothing. */
const NO_SANITIZER_ERRORS = /ERROR SUMMARY: 0 errors/;
/** A row that says the GPU faulted (the context is lost from then on), not a wrong number. */
const DEVICE_FAULT = /cudaError\w+|context is lost/;

/**
 * When a cases suite's rows show a device fault, reruns that suite from the faulted case under
 * `compute-sanitizer --tool memcheck` (its rows in their own folder, bundled at the end) and writes an `info` row with the
 * report's first lines: the faulting kernel, its PC and source line. On the first H200 run that
 * took a second device call (scripts/device-diag.sh); now the first call brings it back.
 */
async function diagnoseDeviceFault(
  a: Args,
  p: { suite: string; section: string },
  tool: string,
  limitMs: number,
  note: (text: string) => void,
  onSpawn: (pid: number) => void,
): Promise<void> {
  const fault = readRows(a.out).rows.find((r) => r.suite === p.suite && !r.ok && DEVICE_FAULT.test(r.detail));
  if (!fault) return;
  const base = { suite: p.suite, section: p.section, name: `memcheck of ${fault.name}`, ok: false, status: 'info' as const };
  if (limitMs < DIAGNOSIS_MIN_MS) {
    appendRow(a.out, { ...base, detail: `device fault (${fault.detail.slice(0, 160)}); no memcheck rerun: ${secs(Math.max(0, limitMs))} left for it` });
    return;
  }
  // A folder of that name an interrupted earlier run left is this run's now: emptied (its rows
  // could name the faulted case, which the relaunch below would then skip) and packed at the end.
  const name = `memcheck-${p.suite}`;
  const dir = path.join(a.out, name);
  fs.rmSync(dir, { recursive: true, force: true });
  preexisting.delete(name);
  fs.mkdirSync(dir, { recursive: true });
  const logFile = path.join(dir, 'sanitizer.txt');
  // One memcheck run of the suite: from the faulted case (a relaunch over the suite's rows minus
  // that case's, so memcheck's time goes to the fault, not to replaying the cases before it under
  // the sanitizer's slowdown), or from its first case. The folder's rows and report start empty.
  const rerun = async (fromFault: boolean, ms: number): Promise<{ r: Awaited<ReturnType<typeof runChild>>; report: string; clean: boolean }> => {
    for (const f of [ROWS_FILE, 'sanitizer.txt']) fs.rmSync(path.join(dir, f), { force: true });
    if (fromFault) for (const row of readRows(a.out).rows) if (row.suite === p.suite && row.name !== fault.name) appendRow(dir, row);
    note(`[${elapsed()}] ${p.suite} faulted on the device: rerunning it ${fromFault ? `from ${fault.name}` : 'from its first case'} under compute-sanitizer memcheck (limit ${secs(ms)})`);
    const r = await runChild(tool, ['--tool', 'memcheck', '--print-limit', '10', '--log-file', logFile, process.execPath,
      ...childArgs(a, p.suite, ms - 3000, dir, fromFault ? 1 : 0)], {
      timeoutMs: ms,
      onSpawn,
      onLine: (l) => note(`  [memcheck] ${l}`),
    });
    let clean = false;
    try {
      clean = NO_SANITIZER_ERRORS.test(fs.readFileSync(logFile, 'utf8'));
    } catch {
      // no report file: not known to be clean
    }
    return { r, report: sanitizerReport(logFile) ?? '(no report file)', clean };
  };
  const t0 = Date.now();
  let { r, report, clean } = await rerun(true, limitMs);
  let how = 'from the faulted case';
  // The faulted case alone ran clean: the cause may be an earlier case (an out-of-bounds write that
  // did not fault there, or state it left), so the suite again from its first case, if time allows.
  const left = limitMs - (Date.now() - t0);
  if (!r.timedOut && clean && left >= DIAGNOSIS_MIN_MS) {
    ({ r, report } = await rerun(false, left));
    how = 'from the faulted case: no error; then from the first case';
  }
  appendRow(a.out, {
    ...base,
    elapsedS: (Date.now() - t0) / 1000,
    detail: `${r.timedOut ? `memcheck rerun (${how}) timed out` : `memcheck rerun (${how}) exit ${r.code ?? r.signal}`}: ${report.slice(0, 2000)}`,
  });
}

/** device-check.json and .md from the JSONL rows, and the table at the end of the output. */
function summarize(a: Args, outcomes: SuiteOutcome[], planned: number, noBackend: string | null): number {
  const { rows, unreadable } = readRows(a.out);
  const info = rows.find((r) => r.info)?.info ?? { date: new Date(started).toISOString(), backend: a.backend };
  const counted = (r: Row): boolean => r.status !== 'skipped' && r.status !== 'info';
  const ran = rows.filter(counted);
  const failed = ran.filter((r) => !r.ok);
  const notRun = rows.filter((r) => r.status === 'skipped');
  const passed = ran.length - failed.length;
  const missing = PLAN.slice(outcomes.length, planned).map((p) => p.suite); // only after an interrupt
  const summary = { ...info, elapsedS: (Date.now() - started) / 1000, passed, failed: failed.length, notRun: notRun.length, unreadableRows: unreadable, suites: outcomes, notReached: missing, rows };
  fs.writeFileSync(path.join(a.out, 'device-check.json'), JSON.stringify(summary, null, 2));

  const bySuite = PLAN.map((p) => {
    const rs = rows.filter((r) => r.suite === p.suite);
    const o = outcomes.find((x) => x.suite === p.suite);
    return {
      suite: p.suite,
      passed: rs.filter((r) => r.ok && counted(r)).length,
      failed: rs.filter((r) => !r.ok && counted(r)).length,
      note: o ? o.note || `ran in ${secs((o.elapsedS ?? 0) * 1000)} (limit ${secs((o.limitS ?? 0) * 1000)})` : 'not reached (the command was interrupted)',
    };
  });
  const cell = (s: string): string => s.replace(/\|/g, '/');
  const verdict = (r: Row): string => (r.status === 'skipped' ? 'not run' : r.status === 'info' ? 'info' : r.ok ? 'yes' : `**NO** (${r.status})`);
  const md = [
    `# sparq device check — ${String(info.date)}`,
    '',
    `backend ${String(info.backend)}; device ${JSON.stringify(info.device ?? null)}; nvidia-smi: ${String(info.nvidiaSmi ?? null)}`,
    '',
    `${passed} passed, ${failed.length} failed, ${notRun.length} not run; ${summary.elapsedS.toFixed(1)} s; rows as they finished: ${ROWS_FILE}`,
    '',
    '| suite | passed | failed | outcome |',
    '|---|---|---|---|',
    ...bySuite.map((s) => `| ${s.suite} | ${s.passed} | ${s.failed} | ${cell(s.note)} |`),
    '',
    '| section | case | ok | detail |',
    '|---|---|---|---|',
    ...rows.map((r) => `| ${r.section} | ${cell(r.name)} | ${verdict(r)}${r.relaunch ? ` (relaunch ${r.relaunch})` : ''} | ${cell(r.detail)} |`),
    '',
    ...(rows.some((r) => r.relaunch)
      ? [
          '"relaunch n": written by the suite\'s n-th relaunched child, a fresh process that skipped the cases with rows ' +
            '(after a case that lost the context, or a child that died or timed out in one).',
          '',
        ]
      : []),
  ].join('\n');
  fs.writeFileSync(path.join(a.out, 'device-check.md'), md);
  const bundled = bundleExtras(a.out);

  console.log('\nsuite          passed  failed  outcome');
  for (const s of bySuite) console.log(`${s.suite.padEnd(14)} ${String(s.passed).padStart(6)}  ${String(s.failed).padStart(6)}  ${s.note}`);
  for (const r of failed.slice(0, 10)) console.log(`FAILED ${r.section} ${r.name}${r.relaunch ? ` (relaunch ${r.relaunch})` : ''}: ${r.detail}`);
  if (unreadable) console.log(`${unreadable} unreadable row(s) in ${ROWS_FILE} (a write cut short)`);
  console.log(`${passed} passed, ${failed.length} failed, ${notRun.length} not run (${elapsed()}); results in ${a.out}`);
  if (bundled) console.log(bundled);
  if (noBackend) return 2;
  return failed.length || notRun.some((r) => !r.ok) ? 1 : 0;
}

/**
 * The device tool brings back at most 8 files: everything else this run wrote (the bench tables, the
 * sanitizer logs, a suite's extra files; not what the folder held before) goes into one
 * ${BUNDLE_FILE}. Returns a line saying what was packed, or null when there was nothing to pack or
 * no tar (then the files stay).
 */
function bundleExtras(out: string): string | null {
  const keep = new Set([ROWS_FILE, LOG_FILE, 'device-check.json', 'device-check.md', BUNDLE_FILE]);
  const extras = fs.readdirSync(out).filter((f) => !keep.has(f) && !preexisting.has(f));
  if (extras.length === 0) return null;
  const r = spawnSync('tar', ['-czf', BUNDLE_FILE, ...extras], { cwd: out, encoding: 'utf8', timeout: 60000 });
  if (r.status !== 0) return `could not pack ${extras.length} extra file(s) into ${BUNDLE_FILE} (${(r.stderr || r.error?.message || '').trim()}); left as they are`;
  for (const f of extras) fs.rmSync(path.join(out, f), { recursive: true, force: true });
  return `${extras.length} extra file(s) and folder(s) packed into ${BUNDLE_FILE} (tar -xzf to read)`;
}

const USAGE = `node dist/bench/deviceCheck.js [options]   (docs/verification.md "Running the device check")
  --out DIR             where the rows, log and summary go (default $OUT, else bench/results)
  --backend cuda|sim    the backend checked (default cuda; sim: a dry run of the script on a CPU machine)
  --cases-only          the case suites only (no info, sass, fragments, sanitizer, bench)
  --small               the small cases only
  --bench | --no-bench  run (or skip) each op's benchmark with the time left (default: on cuda, off on sim)
  --no-sanitizer        skip compute-sanitizer
  --suite-timeout-s S   one limit for every suite (default: shares of the budget)
  --budget-s S          the whole check's time (default ${DEFAULT_BUDGET_S})
  --help
one suite (what the check runs in each child):
  --suite NAME --suite-ms MS [--relaunch N]
                        N ≥ 1: the suite's N-th relaunch; skips its cases that have a row in --out
`;

/**
 * A suite's failing exit that its rows do not account for: exit 1 means "cases failed" and 3 "a
 * case lost the context", so each needs a failing row; exit 2 ("no backend") needs a row at all.
 * Otherwise it died unreported — an uncaught exception, a module missing from the package — and is
 * a crash, not "ran".
 */
function diedUnreported(code: number | null, newRows: readonly Row[]): boolean {
  if (code === SUITE_EXIT.failed || code === SUITE_EXIT.lost) return !newRows.some((row) => !row.ok);
  if (code === SUITE_EXIT.noBackend) return newRows.length === 0;
  return false;
}

async function main(): Promise<number> {
  const a = parseArgs(process.argv.slice(2));
  if (a.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (a.suite === null) return orchestrate(a);
  // Child mode: one suite. Loaded here only, so the parent never loads the addon.
  const suites = require('./harness/deviceSuites') as typeof import('./harness/deviceSuites');
  fs.mkdirSync(a.out, { recursive: true });
  return suites.runSuite(a.suite, {
    out: a.out,
    backend: a.backend,
    small: a.small,
    suiteMs: a.suiteMs || a.budgetS * 1000,
    script: __filename,
    sanitizerTool: findTool('compute-sanitizer'),
    relaunch: a.relaunch,
  });
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    // a command-line mistake is one line; anything else keeps its stack
    console.error(e instanceof UsageError ? `${e.name}: ${e.message}` : e);
    // 64 (sysexits' EX_USAGE): 2 already means "the backend did not open" here
    process.exit(e instanceof UsageError ? 64 : 1);
  },
);
