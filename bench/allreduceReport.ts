// Tables, chart and summary rows of the allreduceRmsnorm benchmark (bytes and floor: bench/allreduce.ts).
import { ConfigResult, ImplResult, findImpl as find, gbPerS, medianOrStatus as ms, speedup, spreadLabel, threeDigits, timeRatio } from './harness/results';
import { quantile } from './harness/stats';
import { ChartSpec } from './harness/svgChart';
import { Cell, Table } from './harness/table';
import { OpReport, SummaryRow } from './opReport';

export const ALLREDUCE_IMPLS = {
  /** algorithm 'auto': the cpu's one fused path; on cuda/sim the kernel the launcher picks. */
  fused: 'sparq fused',
  /** cpu only: all-reduce to per-rank fp16 buffers, then a separate residual-add + RMSNorm pass. */
  unfused: 'sparq unfused',
  oneShot: 'sparq fused one-shot',
  twoShot: 'sparq fused two-shot',
} as const;

/** DESIGN.md "Performance targets": ≥ 1.5× the unfused stack, at ≥ 70% of the floor. */
const TARGET_SPEEDUP = 1.5;
const TARGET_FLOOR_PCT = 70;
/** GPU targets apply where the floor is ≥ 10 µs (launch latency dominates below). */
const GPU_TARGET_MIN_FLOOR_MS = 0.01;

export interface AllreduceConfigResult extends ConfigResult {
  readonly ranks: number;
  readonly tokens: number;
  readonly hidden: number;
  /** Bytes read + written per second that defined the floor, or null where not measured. */
  readonly copyBandwidth: number | null;
}

/** What the machine was doing: the load average is recorded with every run (shared boxes). */
export interface RunConditions {
  readonly loadBefore: readonly number[];
  readonly loadAfter: readonly number[];
  readonly cores: number;
  readonly copyBandwidth: number | null;
  readonly copyBandwidthSource: string;
}

function pctOfFloor(c: AllreduceConfigResult, r: ImplResult | undefined): number | null {
  return c.floorMs === null || r?.stats == null ? null : (100 * c.floorMs) / r.stats.median;
}

const gbps = (r: ImplResult | undefined): Cell => (r === undefined ? null : gbPerS(r));
const us = (r: ImplResult | undefined): Cell => (r?.stats == null ? ms(r) : r.stats.median * 1e3);

/** The kernel 'auto' ran on cuda/sim, from lastLaunch ("ONE_SHOT R=2 …" → "one-shot"). */
function kernelRan(r: ImplResult | undefined): string | null {
  const launch = r?.launch;
  if (typeof launch !== 'object' || launch === null) return null;
  const config = (launch as { config?: unknown }).config;
  if (typeof config !== 'string') return null;
  const first = config.split(' ')[0] ?? '';
  return first.toLowerCase().replace(/_/g, '-');
}

/** Implementations whose JS enqueue cost approached their stream time (the stream may have idled between calls). */
function enqueueBound(c: AllreduceConfigResult): Cell {
  const flagged = c.impls.filter((r) => r.note?.startsWith('possibly enqueue-bound') === true).map((r) => r.impl.replace(/^sparq /, ''));
  return flagged.length === 0 ? null : `enqueue-bound: ${flagged.join(', ')}`;
}

function bandwidthLabel(c: RunConditions): string {
  return c.copyBandwidth === null ? 'not measured' : `${(c.copyBandwidth / 1e9).toFixed(1)} GB/s, ${c.copyBandwidthSource}`;
}

function cpuTable(configs: readonly AllreduceConfigResult[], c: RunConditions): Table {
  return {
    title: `allreduceRmsnorm on the cpu (a group's ranks are buffers in one memory; ${configs[0]?.threads ?? '?'} threads): ` +
      'median ms; speedup = unfused time / fused time; floor = (4·R·T·H·2 + H·2 bytes) / copy bandwidth ' +
      `(${bandwidthLabel(c)}); unfused GB/s counts its own 6·R·T·H·2 + H·2 bytes`,
    headers: ['ranks', 'tokens', 'hidden', 'fused ms', 'p10–p90', 'unfused ms', 'p10–p90', 'speedup', 'fused GB/s',
      'unfused GB/s', 'floor ms', 'fused % of floor', 'unfused % of floor', 'note'],
    rows: configs.map((cfg) => {
      const f = find(cfg, ALLREDUCE_IMPLS.fused);
      const u = find(cfg, ALLREDUCE_IMPLS.unfused);
      return [cfg.ranks, cfg.tokens, cfg.hidden, ms(f), spreadLabel(f), ms(u), spreadLabel(u), speedup(f, u), gbps(f), gbps(u),
        cfg.floorMs, pctOfFloor(cfg, f), pctOfFloor(cfg, u), enqueueBound(cfg)];
    }),
  };
}

function gpuTable(configs: readonly AllreduceConfigResult[], c: RunConditions): Table {
  const backend = configs[0]?.backend ?? 'cuda';
  return {
    title: `allreduceRmsnorm on ${backend}: VIRTUAL ranks on one ${backend === 'sim' ? 'simulated GPU' : 'GPU'} ` +
      '(all ranks in one launch, flags between them), not separate GPUs; median µs; floor = (4·R·T·H·2 + H·2 bytes) / ' +
      `copy bandwidth (${bandwidthLabel(c)}); no unfused baseline here ('unfused' is cpu only)`,
    headers: ['ranks', 'tokens', 'hidden', 'auto µs', 'p10–p90 µs', 'auto ran', 'one-shot µs', 'two-shot µs', 'GB/s (auto)',
      'floor µs', '% of floor (auto)', '% of floor (one-shot)', '% of floor (two-shot)', 'note'],
    rows: configs.map((cfg) => {
      const a = find(cfg, ALLREDUCE_IMPLS.fused);
      const one = find(cfg, ALLREDUCE_IMPLS.oneShot);
      const two = find(cfg, ALLREDUCE_IMPLS.twoShot);
      return [cfg.ranks, cfg.tokens, cfg.hidden, us(a), spreadLabel(a, 1e3), kernelRan(a), us(one), us(two), gbps(a),
        cfg.floorMs === null ? null : cfg.floorMs * 1e3, pctOfFloor(cfg, a), pctOfFloor(cfg, one), pctOfFloor(cfg, two), enqueueBound(cfg)];
    }),
  };
}

function range(values: readonly (number | null)[]): string | null {
  const v = values.filter((x): x is number => x !== null && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const f = threeDigits;
  return `${f(v[0])} – ${f(quantile(v, 0.5))} – ${f(v[v.length - 1])}`;
}

/** Where the DESIGN.md targets stand, per hidden size and over all configs. */
function goalsTable(configs: readonly AllreduceConfigResult[], gpu: boolean): Table {
  const eligible = gpu ? configs.filter((c) => c.floorMs === null || c.floorMs >= GPU_TARGET_MIN_FLOOR_MS) : configs;
  const groups: Array<[string, readonly AllreduceConfigResult[]]> = [
    ...[...new Set(eligible.map((c) => c.hidden))].map((h): [string, AllreduceConfigResult[]] => [`H=${h}`, eligible.filter((c) => c.hidden === h)]),
    ['all', eligible]];
  const fused = (c: AllreduceConfigResult): ImplResult | undefined => find(c, ALLREDUCE_IMPLS.fused);
  return {
    title: `allreduceRmsnorm goals (DESIGN.md: ≥ ${TARGET_SPEEDUP}× all-reduce then a separate RMSNorm, at ≥ ${TARGET_FLOOR_PCT}% of the floor)` +
      `${gpu ? '; configs with a floor ≥ 10 µs; no unfused baseline on the GPU' : ''}: min – median – max`,
    headers: ['configs', 'count', `fused ≥ ${TARGET_SPEEDUP}× unfused`, 'speedup', `fused ≥ ${TARGET_FLOOR_PCT}% of floor`, 'fused % of floor'],
    rows: groups.map(([label, cs]) => {
      const sp = cs.map((c) => speedup(fused(c), find(c, ALLREDUCE_IMPLS.unfused)));
      const pct = cs.map((c) => pctOfFloor(c, fused(c)));
      const count = (v: readonly (number | null)[], min: number): Cell =>
        (v.every((x) => x === null) ? null : `${v.filter((x) => x !== null && x >= min).length}/${v.length}`);
      return [label, cs.length, count(sp, TARGET_SPEEDUP), range(sp), count(pct, TARGET_FLOOR_PCT), range(pct)];
    }),
  };
}

function conditionsTable(c: RunConditions): Table {
  const load = (l: readonly number[]): string => l.map((x) => x.toFixed(2)).join(' / ');
  return {
    title: 'run conditions (load average 1 / 5 / 15 min; a shared box slows every row)',
    headers: ['load before', 'load after', 'cores', 'copy bandwidth for the floor'],
    rows: [[load(c.loadBefore), load(c.loadAfter), c.cores, bandwidthLabel(c)]],
  };
}

function chart(configs: readonly AllreduceConfigResult[], gpu: boolean): ChartSpec {
  const label = (c: AllreduceConfigResult): string => `R=${c.ranks} T=${c.tokens} H=${c.hidden}`;
  if (!gpu) {
    return {
      title: `allreduceRmsnorm (cpu): fused speedup over all-reduce + separate RMSNorm (dashed: the ${TARGET_SPEEDUP}× target)`,
      yLabel: 'unfused time / fused time', referenceLine: TARGET_SPEEDUP, series: [ALLREDUCE_IMPLS.fused],
      groups: configs.map((c) => ({ label: label(c), values: [speedup(find(c, ALLREDUCE_IMPLS.fused), find(c, ALLREDUCE_IMPLS.unfused))] })),
    };
  }
  const series = [ALLREDUCE_IMPLS.fused, ALLREDUCE_IMPLS.oneShot, ALLREDUCE_IMPLS.twoShot];
  if (configs.some((c) => c.floorMs !== null)) {
    return {
      title: `allreduceRmsnorm (virtual ranks on one GPU): fraction of the bandwidth floor (dashed: the ${TARGET_FLOOR_PCT}% target)`,
      yLabel: 'floor time / time', referenceLine: TARGET_FLOOR_PCT / 100, series,
      groups: configs.map((c) => ({ label: label(c), values: series.map((s) => { const p = pctOfFloor(c, find(c, s)); return p === null ? null : p / 100; }) })),
    };
  }
  return {
    title: 'allreduceRmsnorm (virtual ranks, no floor measured): median µs (lower is better)',
    yLabel: 'µs', series,
    groups: configs.map((c) => ({ label: label(c), values: series.map((s) => { const r = find(c, s); return r?.stats == null ? null : r.stats.median * 1e3; }) })),
  };
}

/** The allreduceRmsnorm report: on the cpu fused against unfused, on cuda/sim the three fused algorithms against the floor. */
export function allreduceReport(configs: readonly AllreduceConfigResult[], conditions: RunConditions): OpReport {
  const gpu = configs.some((c) => c.backend !== 'cpu');
  const summary: SummaryRow[] = configs.map((c) => {
    const s = find(c, ALLREDUCE_IMPLS.fused);
    const b = find(c, ALLREDUCE_IMPLS.unfused);
    return { op: 'allreduceRmsnorm', shape: `R=${c.ranks} H=${c.hidden}`, m: c.tokens, subject: ALLREDUCE_IMPLS.fused, subjectMs: ms(s),
      subjectGbps: s === undefined ? null : gbPerS(s), baseline: b === undefined ? null : b.impl, baselineMs: ms(b), timeRatio: timeRatio(s, b) };
  });
  // On the simulator there is neither a floor nor an unfused baseline: no goal to report.
  const goals = !gpu || configs.some((c) => c.floorMs !== null) ? [goalsTable(configs, gpu)] : [];
  const tables = [gpu ? gpuTable(configs, conditions) : cpuTable(configs, conditions), ...goals, conditionsTable(conditions)];
  return { op: 'allreduceRmsnorm', configs, tables, chart: chart(configs, gpu), summary };
}
