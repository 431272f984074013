// Shared entry point of `node dist/bench/<op>.js` and `dist/bench/all.js`: opens sparq, describes the
// machine, runs the planned op benchmarks with one progress line, prints tables and writes files.
import { Context, SparqBackendError, open } from '../src/index';
import { CliArgs, UsageError } from './harness/cliArgs';
import { CpuFloor, FloorProbe, describeFloor, measureCpuFloor } from './harness/cpuFloor';
import { CpuPeak, PeakProbe, describePeak, measureCpuPeak } from './harness/cpuPeak';
import { describeMachine, machineInfo } from './harness/machineInfo';
import { Progress } from './harness/progress';
import { defaultRotateBytes } from './harness/rotation';
import { ConfigResult, ImplResult, WrittenFiles, configAppender, freshStamp, writeResults } from './harness/results';
import { Table, textTable } from './harness/table';
import { ScalingContext } from './harness/threadScaling';
import { TimeLoopOptions } from './harness/timeLoop';
import { BenchEnv, OpBench, OpReport, SummaryRow } from './opReport';
import { loadOrt } from './peers/onnx';

/** Options every op benchmark takes. */
export interface CommonOptions {
  readonly loop: TimeLoopOptions;
  /** Bytes the rotated weight copies should cover. */
  readonly rotateBytes: number;
}

const CPU_BUDGET_MS = 500; // keeps the default `npm run bench` near 10 minutes on 2 cores
const GPU_BUDGET_MS = 400;

/** Samples per implementation and config at most, unless --budget is given (then the budget alone ends them). */
export const DEFAULT_MAX_SAMPLES = 500;

/** `--reps N` (fixed sample count), `--budget S` (seconds per implementation), `--rotate-mb MB`. */
export function commonOptions(args: CliArgs, backend: string): CommonOptions {
  const budgetMs = args.number('budget', (backend === 'cuda' ? GPU_BUDGET_MS : CPU_BUDGET_MS) / 1000) * 1000;
  const rotateBytes = args.has('rotate-mb') ? args.number('rotate-mb', 1) * 2 ** 20 : defaultRotateBytes(backend);
  // The default run stops a fast op at DEFAULT_MAX_SAMPLES (keeps `npm run bench` short); a budget
  // asked for is spent (until 2026-12-06 it was cut at 500 samples too, without a word).
  const maxReps = args.has('budget') ? Number.MAX_SAFE_INTEGER : DEFAULT_MAX_SAMPLES;
  return { loop: { budgetMs, fixedReps: args.optionalInt('reps'), maxReps }, rotateBytes };
}

/** Which of the runner's own options a bench's help lists: a bench with no onnxruntime peer has no
 *  --no-peers to give, and the --threads rows exist for dense and w4a16 only (the runner refuses
 *  them elsewhere). */
export interface UsageParts {
  peers: boolean;
  threads: boolean;
}

/** What the runner itself reads. */
export function runnerUsage(parts: UsageParts): string {
  return [
    '  --backend auto|cpu|cuda|sim  sparq backend (default auto)',
    ...(parts.peers ? ['  --no-peers        skip onnxruntime-node'] : []),
    ...(parts.threads
      ? [
          '  --threads T,...   cpu: pool sizes the sparq rows at --threads-m also run at, each on its own context',
          "                    with its own floor (default 1 and the context's own, SPARQ_THREADS or the cores)",
          '  --threads-m M,... cpu: the m of those rows (default 1; an m the run does not time gives none)',
        ]
      : []),
    '  --help',
  ].join('\n');
}

/** The timed benchmarks' options ({@link commonOptions}) and the runner's. */
export function commonUsage(parts: UsageParts): string {
  return `  --reps N          take exactly N timed samples per implementation (default: as many as fit the budget)
  --budget S        seconds of timed sampling per implementation and config (default 0.5 on CPU, 0.4 on GPU;
                    without --budget a fast op also stops at 500 samples)
  --rotate-mb MB    weight bytes to rotate through between calls (default 256 MiB on a GPU, max(256 MiB, 2 x L3) on the CPU)
${runnerUsage(parts)}`;
}

function summaryTable(rows: readonly SummaryRow[]): Table {
  return {
    title: 'Summary (time ratio = sparq time / baseline time; < 1 means sparq is faster)',
    headers: ['op', 'shape n x k', 'm', 'sparq', 'ms', 'GB/s', 'baseline', 'baseline ms', 'time ratio'],
    rows: rows.map((r) => [r.op, r.shape, r.m, r.subject, r.subjectMs, r.subjectGbps, r.baseline ?? '—', r.baselineMs, r.timeRatio]),
  };
}

type BackendName = 'auto' | 'cpu' | 'cuda' | 'sim';

const failed = (status: ImplResult['status']): boolean => status === 'wrong' || status === 'error';

/** A row of sparq's own op that failed: wrong, or an error (`ours`; the name for rows made before it). */
export function failedOurs(i: ImplResult): boolean {
  return (i.ours === true || i.impl.startsWith('sparq')) && failed(i.status);
}

/**
 * What fails a run: sparq's own rows that were wrong or errors (a peer's failure is only reported),
 * and any such row of the --threads pools (all sparq's), one line each. The thread row at the
 * run's own thread count is the main row again (the "by threads" column shows it beside the
 * others): it is not counted twice.
 */
export function failedRows(configs: readonly ConfigResult[]): string[] {
  return configs.flatMap((c) => [
    ...c.impls.filter(failedOurs).map((i) => i.note ?? `${i.impl}: ${i.status}`),
    ...(c.threadRuns ?? []).filter((t) => failed(t.status) && t.threads !== c.threads)
      .map((t) => `${t.impl} on ${t.threads} thread${t.threads === 1 ? '' : 's'}: ${t.note ?? t.status}`),
  ]);
}

function isBackendName(s: string): s is BackendName {
  return s === 'auto' || s === 'cpu' || s === 'cuda' || s === 'sim';
}

/** Makes an op benchmark once the context is open (shapes may depend on the backend). */
export type BenchFactory = (env: BenchEnv, args: CliArgs) => OpBench;

/** Runs `factories` in order; returns a process exit code. */
export async function runBenchmarks(factories: readonly BenchFactory[], argv: readonly string[], usage: string): Promise<number> {
  const args = new CliArgs(argv);
  if (args.flag('help')) {
    process.stdout.write(usage);
    return 0;
  }
  const backend = args.string('backend', 'auto');
  if (!isBackendName(backend)) throw new UsageError(`--backend must be auto|cpu|cuda|sim, got ${backend}`);
  const sq = await open({ backend });
  const extra: Context[] = []; // the --threads pools
  try {
    return await runOn(sq, extra, factories, args);
  } finally {
    // Every context closed, on a usage error after open() too (a jest test calling this leaked one).
    for (const c of extra) await c.close().catch(() => undefined);
    await sq.close().catch(() => undefined);
  }
}

async function runOn(sq: Context, extra: Context[], factories: readonly BenchFactory[], args: CliArgs): Promise<number> {
  const threads = sq.threads;
  const noPeers = args.flag('no-peers');
  const command = ['node', ...process.argv.slice(1).map((a, i) => (i === 0 ? a.replace(/^.*?(dist\/)/, '$1') : a))].join(' ');
  const cpu = sq.backend === 'cpu';
  const threadCounts = [...new Set(args.ints('threads', cpu ? [1, threads] : []))].sort((a, b) => a - b);
  const scalingM = args.ints('threads-m', [1]);
  const scaling: ScalingContext[] = [];
  // The factories read their options now (the probes' results they read only when they run), so a
  // mistake on the command line is reported before seconds of probes — and before a results
  // folder that cannot be written is found after the first config.
  const env: { -readonly [K in keyof BenchEnv]: BenchEnv[K] } = {
    sq, ort: null, threads, cpuFloor: null, floorProbe: null, scaling, cpuPeak: null, peakProbe: null, scalingM,
  };
  const benches = factories.map((f) => f(env, args));
  const unknown = args.unknown();
  if (unknown.length > 0) throw new UsageError(`unknown option(s) ${unknown.join(' ')}; see --help`);
  // onnxruntime only where a bench times it (a sparse or allreduce run's results named its version).
  const ort = cpu && !noPeers && benches.some((b) => b.usesPeers === true) ? loadOrt() : null;
  env.ort = ort;
  const machine = machineInfo({ backend: sq.backend, cpuIsa: sq.cpuIsa, threads, device: sq.device }, ort?.version ?? null);
  // The floor's probe and the --threads contexts serve dense and w4a16 only: elsewhere they would
  // hold 1 GiB per pool and take seconds of probes for nothing (and --threads would be ignored).
  const floorsUsed = benches.some((b) => b.usesCpuFloor === true);
  if (!floorsUsed && (args.has('threads') || args.has('threads-m')))
    throw new UsageError(`--threads and --threads-m apply to the dense and w4a16 benchmarks only (this run: ${benches.map((b) => b.op).join(', ')})`);
  if (!cpu && (args.has('threads') || args.has('threads-m')))
    throw new UsageError(`--threads and --threads-m apply to the cpu backend only (this run: ${sq.backend})`);
  const timed = new Set(benches.flatMap((b) => b.timedMs ?? []));
  const untimed = args.has('threads-m') ? scalingM.filter((m) => !timed.has(m)) : [];
  if (untimed.length > 0)
    process.stderr.write(`note: --threads-m ${untimed.join(',')}: neither dense nor w4a16 in this run times that m (see --m), so it gets no thread rows\n`);
  const stamp = freshStamp(benches.map((b) => b.op));
  const cpuFloor: CpuFloor | null = floorsUsed ? await measureCpuFloor(sq) : null;
  const cpuPeak: CpuPeak | null = await measureCpuPeak(sq);
  for (const t of cpu && floorsUsed ? threadCounts.filter((c) => c !== threads) : []) {
    const other = await open({ backend: 'cpu', threads: t });
    extra.push(other);
    const floor = await measureCpuFloor(other);
    scaling.push({ threads: t, sq: other, floor, floorProbe: FloorProbe.open(other, floor) });
  }
  const floors = [cpuFloor, ...scaling.map((s) => s.floor)].filter((f): f is CpuFloor => f !== null)
    .sort((a, b) => a.threads - b.threads);
  if (floors.length > 0) machine.cpuFloors = floors;
  if (cpuPeak !== null) machine.cpuPeak = cpuPeak;
  const floorProbe = floorsUsed ? FloorProbe.open(sq, cpuFloor) : null;
  const peakProbe = PeakProbe.open(sq, cpuPeak);
  Object.assign(env, { cpuFloor, floorProbe, cpuPeak, peakProbe });
  // The probes' buffers are filled in stream order: done before any bench's first op, so none waits
  // behind a 1 GiB fill (sparse's first encode took 1.2–2.3 s for it until 2026-12-06).
  await sq.synchronize();
  for (const s of scaling) await s.sq.synchronize();
  process.stdout.write(`${describeMachine(machine)}\n`);
  if (cpuFloor !== null) {
    process.stdout.write(`CPU floor: DRAM read ${floors.map(describeFloor).join(', ')}; ${cpuFloor.source}\n`);
  }
  if (cpuPeak !== null) process.stdout.write(`CPU peak: ${describePeak(cpuPeak)}; ${cpuPeak.source}\n`);
  process.stdout.write('\n');
  const progress = new Progress(benches.reduce((acc, b) => acc + b.steps, 0));
  const reports: OpReport[] = [];
  const written: WrittenFiles[] = [];
  for (const bench of benches) {
    const report = await bench.run(progress, configAppender(bench.op, stamp, machine, command));
    progress.finish();
    reports.push(report);
    for (const t of report.tables) process.stdout.write(`${textTable(t)}\n`);
    written.push(writeResults(report.op, stamp, machine, command, report.configs, report.tables, report.chart));
  }
  floorProbe?.dispose();
  for (const s of scaling) s.floorProbe?.dispose();
  await sq.synchronize();
  if (reports.length > 1) process.stdout.write(`${textTable(summaryTable(reports.flatMap((r) => r.summary)))}\n`);
  const wrong = failedRows(reports.flatMap((r) => r.configs));
  process.stdout.write('Files written:\n');
  for (const w of written) for (const p of [w.jsonl, w.md, w.svg]) if (p !== null) process.stdout.write(`  ${p}\n`);
  if (wrong.length > 0) {
    process.stdout.write(`\n${wrong.length} sparq result(s) failed (a wrong result or an error):\n`);
    for (const w of wrong) process.stdout.write(`  ${w}\n`);
    return 1;
  }
  return 0;
}

/** `main` for a bench file: runs and sets the exit code; never leaves a rejected Promise behind. */
export function benchMain(factories: readonly BenchFactory[], usage: string): void {
  runBenchmarks(factories, process.argv.slice(2), usage).then(
    (code) => { process.exitCode = code; },
    (e: unknown) => {
      // A usage mistake or a missing backend is one line; anything else keeps its stack.
      const brief = e instanceof UsageError || e instanceof SparqBackendError;
      const text = brief ? `${e.name}: ${e.message}` : e instanceof Error ? (e.stack ?? e.message) : String(e);
      process.stderr.write(`\n${text}\n`);
      process.exitCode = 2;
    });
}
