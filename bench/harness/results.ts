// Result records and the files under bench/results/: <op>-<timestamp>.jsonl / .md / .svg.
import * as fs from 'fs';
import * as path from 'path';

import { UsageError } from './cliArgs';
import { MachineInfo, describeMachine } from './machineInfo';
import { Stats } from './stats';
import { ChartSpec, renderChart } from './svgChart';
import { Table, markdownTable } from './table';
import type { ThreadRun } from './threadScaling';

/** One implementation measured on one config. */
export interface ImplResult {
  /** e.g. 'sparq w4a16', 'sparq dense fp16', 'ORT MatMulNBits L1'. */
  readonly impl: string;
  /** ok: checked and timed; wrong: failed the reference check (not timed); skipped/error: see note. */
  readonly status: 'ok' | 'wrong' | 'skipped' | 'error';
  readonly stats: Stats | null;
  /** Bytes this implementation must move per call (its own storage formats). */
  readonly bytes: number;
  readonly flops: number;
  readonly relErr: number | null;
  /** Weight buffers rotated between calls. */
  readonly copies: number;
  /** How the time was taken: 'stream' (sparq marks) or 'wall' (hrtime around ORT's run). */
  readonly clock: 'stream' | 'wall' | null;
  /** What the backend launched for it (sparq's `lastLaunch` on cuda/sim: kernel, tile config, grid). */
  readonly launch?: unknown;
  readonly note?: string;
  /** sparq's own op (not a peer such as onnxruntime): a `wrong` or `error` row fails the run's exit
   *  status (bench/runner.ts), whatever the row is named (on cuda the dense row is named after the
   *  kernel that ran). */
  readonly ours?: boolean;
}

/** One config (op, shape, m) with every implementation measured on it. */
export interface ConfigResult {
  readonly op: string;
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly groupSize?: number;
  readonly backend: string;
  readonly threads: number | null;
  readonly impls: readonly ImplResult[];
  /** The lower bound from bytes / measured device copy bandwidth, ms; null where not measured.
   *  On the cpu: the sparq row's bytes / the DRAM read bandwidth of the same pool (harness/cpuFloor.ts). */
  readonly floorMs: number | null;
  /** cpu: the floor's measured read bandwidth, bytes/s, on this config's pool. */
  readonly floorBandwidth?: number | null;
  /** cpu: the measured fp32 FMA peak of this config's pool, flops/s (harness/cpuPeak.ts). */
  readonly fmaPeak?: number | null;
  /** cpu: p90 / p10 − 1 of the FMA probe's runs beside this config's rows (harness/cpuPeak.ts
   *  probeDrift): how much the host's speed moved while they were measured; null where not sampled. */
  readonly hostDrift?: number | null;
  /** cpu: the sparq rows at every pool size of `--threads` (this config's own included). */
  readonly threadRuns?: readonly ThreadRun[];
}

export function gbPerS(r: ImplResult): number | null {
  return r.stats === null ? null : r.bytes / (r.stats.median * 1e6);
}

export function gflopPerS(r: ImplResult): number | null {
  return r.stats === null ? null : r.flops / (r.stats.median * 1e6);
}

/** time(other) / time(subject): > 1 means the subject is faster. */
export function speedup(subject: ImplResult | undefined, other: ImplResult | undefined): number | null {
  if (subject?.stats == null || other?.stats == null) return null;
  return other.stats.median / subject.stats.median;
}

/** sparq time / other time: < 1 means the subject is faster. */
export function timeRatio(subject: ImplResult | undefined, other: ImplResult | undefined): number | null {
  const s = speedup(subject, other);
  return s === null ? null : 1 / s;
}

export function findImpl(c: ConfigResult, impl: string): ImplResult | undefined {
  return c.impls.find((r) => r.impl === impl);
}

/** Whether any config ran `impl` (a peer skipped by --no-peers leaves SKIPPED rows: no column, series or baseline for it). */
export function anyRan(configs: readonly ConfigResult[], impl: string): boolean {
  return configs.some((c) => (findImpl(c, impl)?.status ?? 'skipped') !== 'skipped');
}

/** Median ms, or the status (WRONG/ERROR/SKIPPED) where there is no time; null when absent. */
export function medianOrStatus(r: ImplResult | undefined): number | string | null {
  if (r === undefined) return null;
  return r.stats?.median ?? r.status.toUpperCase();
}

/**
 * Three significant digits, never in exponent form: toPrecision(3) gives 1.82e+3 for 1823 and
 * 1.00e+3 for 999.7 (so the rounded value decides), and 1.00e-7 below 1e-6 (then plain digits).
 */
export function threeDigits(v: number): string {
  const r = Number(v.toPrecision(3));
  if (Math.abs(r) >= 1000) return r.toFixed(0);
  if (r !== 0 && Math.abs(r) < 1e-6) return r.toFixed(9).replace(/0+$/, '');
  return v.toPrecision(3);
}

/** p10–p90 in ms (times `scale`), three significant digits. */
export function spreadLabel(r: ImplResult | undefined, scale = 1): string | null {
  return r?.stats == null ? null : `${threeDigits(r.stats.p10 * scale)}–${threeDigits(r.stats.p90 * scale)}`;
}

export function shapeLabel(c: ConfigResult): string {
  return `${c.n}x${c.k} m=${c.m}`;
}

/** The results folder: bench/results next to the sources (dist/bench/harness → ../../../bench/results). */
export function resultsDir(): string {
  // In a checkout: <repo>/bench/results. Run from an installed package (node_modules/sparq/dist/…),
  // that would write inside node_modules, which the next install replaces: ./bench/results there.
  const installed = __dirname.split(path.sep).includes('node_modules');
  const fromDist = installed ? path.resolve('bench', 'results') : path.resolve(__dirname, '..', '..', '..', 'bench', 'results');
  return process.env.SPARQ_BENCH_RESULTS || fromDist; // an empty SPARQ_BENCH_RESULTS is unset
}

/**
 * The stamp of this run's files, checked before anything is measured: the results folder is made
 * and must be writable (else a UsageError naming it), and the stamp is reserved — each op's
 * `.jsonl` created empty, exclusively — so a run that starts in the same second as another (or
 * after it) gets a suffix instead of truncating that run's files.
 */
export function freshStamp(ops: readonly string[], date = new Date()): string {
  const dir = resultsDir();
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (e) {
    throw new UsageError(`the results folder ${dir} cannot be written (${(e as Error).message}); set SPARQ_BENCH_RESULTS to another`);
  }
  const base = timestamp(date);
  for (let i = 1; ; i++) {
    const stamp = i === 1 ? base : `${base}-${i}`;
    const made: string[] = [];
    try {
      for (const op of ops) {
        const file = path.join(dir, `${op}-${stamp}.jsonl`);
        fs.closeSync(fs.openSync(file, 'wx'));
        made.push(file);
      }
      return stamp;
    } catch (e) {
      for (const f of made) fs.rmSync(f, { force: true });
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
}

/** A filesystem-safe timestamp, e.g. 2025-11-29T13-05-12Z. */
export function timestamp(date = new Date()): string {
  return date.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
}

export interface WrittenFiles {
  readonly jsonl: string;
  readonly md: string;
  readonly svg: string | null;
}

function resultsBase(op: string, stamp: string): string {
  const dir = resultsDir();
  fs.mkdirSync(dir, { recursive: true });
  return path.join(dir, `${op}-${stamp}`);
}

function machineLine(machine: MachineInfo, command: string): string {
  return JSON.stringify({ type: 'machine', command, ...machine });
}

function configLine(c: ConfigResult): string {
  return JSON.stringify({ type: 'config', ...c, impls: c.impls.map((r) => ({ ...r, gbps: gbPerS(r), gflops: gflopPerS(r) })) });
}

/**
 * Appends configs to `<op>-<stamp>.jsonl` as they finish (the machine line first), so a run killed
 * by a time limit (the device check's) still leaves every config it measured; writeResults later
 * rewrites the file whole.
 */
export function configAppender(op: string, stamp: string, machine: MachineInfo, command: string): (configs: readonly ConfigResult[]) => void {
  let started = false;
  return (configs) => {
    const file = `${resultsBase(op, stamp)}.jsonl`;
    if (!started) fs.writeFileSync(file, `${machineLine(machine, command)}\n`);
    started = true;
    fs.appendFileSync(file, configs.map((c) => `${configLine(c)}\n`).join(''));
  };
}

/** Writes `<op>-<stamp>.jsonl` (a machine line, then one line per config), `.md` and `.svg`. */
export function writeResults(op: string, stamp: string, machine: MachineInfo, command: string,
                             configs: readonly ConfigResult[], tables: readonly Table[], chart: ChartSpec | null): WrittenFiles {
  const base = resultsBase(op, stamp);
  const lines = [machineLine(machine, command), ...configs.map(configLine)];
  fs.writeFileSync(`${base}.jsonl`, `${lines.join('\n')}\n`);
  const md = [`## ${op}`, '', '```', describeMachine(machine), `$ ${command}`, '```', '',
    ...tables.map(markdownTable), chart === null ? '' : `![${op}](${path.basename(base)}.svg)`, ''];
  fs.writeFileSync(`${base}.md`, md.join('\n'));
  let svg: string | null = null;
  if (chart !== null && chart.groups.length > 0) {
    svg = `${base}.svg`;
    fs.writeFileSync(svg, renderChart(chart));
  }
  return { jsonl: `${base}.jsonl`, md: `${base}.md`, svg };
}
