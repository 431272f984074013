// Tables, chart, goal rows and summary rows of the sparse benchmark.
import type { SparseFormatName } from '../src/index';
import { ConfigResult, ImplResult, findImpl as find, gbPerS, medianOrStatus as ms, speedup, spreadLabel, timeRatio } from './harness/results';
import { HOST_DRIFT_HEADER, HOST_DRIFT_NOTE, driftPct } from './harness/cpuPeak';
import { ChartSpec } from './harness/svgChart';
import { DENSE_KERNEL_LABELS, denseHeader, isDenseKernelLabel } from './harness/kernelLabel';
import { Cell, Table } from './harness/table';
import { OpReport, SummaryRow } from './opReport';

export const SPARSE_FORMATS: readonly SparseFormatName[] = ['bitmap', 'tiled-csl'];

export const SPARSE_IMPLS = {
  bitmap: 'sparq sparse bitmap',
  tiledCsl: 'sparq sparse tiled-csl',
  dense: 'sparq dense fp16',
  /** Placeholder of the GPU dense row until its kernel is known (harness/kernelLabel.ts renames it). */
  gpuDense: DENSE_KERNEL_LABELS.unknown,
} as const;

/** The impl name of a format's row. */
export function sparseImpl(format: SparseFormatName): string {
  return format === 'bitmap' ? SPARSE_IMPLS.bitmap : SPARSE_IMPLS.tiledCsl;
}

/** What `sq.sparse.encode` made of one (shape, sparsity) weight in one format. */
export interface SparseFormatInfo {
  readonly format: SparseFormatName;
  /** `SparseWeight.formatBytes`: the encoded weight (the row lists not counted). */
  readonly bytes: number;
  /** bytes / (n·k); dense fp16 is 2. */
  readonly bytesPerWeight: number;
  /** `SparseWeight.rowListBytes`: the cpu row lists or lanes kept beside it (0 where none). */
  readonly rowListBytes: number;
  readonly nnz: number;
  /** Measured: 1 − nnz / (n·k). */
  readonly sparsity: number;
  /** Wall time of the first encode, ms. */
  readonly encodeMs: number;
}

/** One (shape, sparsity, m): both formats and the dense baseline of (shape, m). */
export interface SparseConfigResult extends ConfigResult {
  /** The requested fraction of zero weights (each format's measured one is in `formats`). */
  readonly sparsity: number;
  readonly formats: readonly SparseFormatInfo[];
  /** Device copy bandwidth, bytes/s (read + written), or null off the GPU. */
  readonly copyBandwidth: number | null;
}

const pct = (s: number): string => `${+(100 * s).toFixed(2)}%`;
const configLabel = (c: SparseConfigResult): string => `${c.n}x${c.k} ${pct(c.sparsity)} m=${c.m}`;

function formatInfo(c: SparseConfigResult, f: SparseFormatName): SparseFormatInfo | undefined {
  return c.formats.find((i) => i.format === f);
}

/** The dense fp16 row of a config: 'sparq dense fp16' on cpu/sim, the kernel's label on cuda. */
function denseRow(c: ConfigResult): ImplResult | undefined {
  return c.impls.find((r) => r.impl === SPARSE_IMPLS.dense || isDenseKernelLabel(r.impl));
}

function denseName(configs: readonly ConfigResult[]): string {
  const gpu = configs.some((c) => c.backend === 'cuda');
  if (!gpu) return 'dense fp16';
  return denseHeader(configs.map(denseRow).filter((r): r is ImplResult => r !== undefined).map((r) => r.impl));
}

/** The faster of the formats measured on a config (undefined when none has a time). */
function bestFormat(c: ConfigResult, formats: readonly SparseFormatName[]): ImplResult | undefined {
  const timed = formats.map((f) => find(c, sparseImpl(f))).filter((r): r is ImplResult => r?.stats != null);
  return timed.length === 0 ? undefined : timed.reduce((a, b) => ((b.stats?.median ?? Infinity) < (a.stats?.median ?? Infinity) ? b : a));
}

/** Floor of one implementation (its own bytes / measured copy bandwidth), ms. */
function floorMsOf(c: SparseConfigResult, r: ImplResult | undefined): number | null {
  return c.copyBandwidth === null || r === undefined || r.bytes <= 0 ? null : (r.bytes / c.copyBandwidth) * 1e3;
}

function pctOfFloor(c: SparseConfigResult, r: ImplResult | undefined): number | null {
  const f = floorMsOf(c, r);
  return f === null || r?.stats == null ? null : (100 * f) / r.stats.median;
}

function cpuTable(configs: readonly SparseConfigResult[], formats: readonly SparseFormatName[]): Table {
  return {
    title: 'sparse (random unstructured fp16 weights): median ms; B/w = encoded bytes per weight (dense fp16: 2); ' +
      'held B/w = what the weight holds on this context: the encoding plus the cpu row lists or lanes (SparseWeight.bytes); ' +
      'GB/s = (encoded W + X + Y bytes) / time; /dense = sparse time / dense fp16 time (< 1: sparse faster); ' +
      `the dense fp16 baseline is timed in every row, side by side with its sparse rows; ${HOST_DRIFT_NOTE}`,
    headers: ['shape n x k', 'sparsity', 'm',
      ...formats.flatMap((f) => [`${f} B/w`, `${f} held B/w`, `${f} ms`, `${f} p10–p90`, `${f} GB/s`, `${f} /dense`]), 'dense fp16 ms', HOST_DRIFT_HEADER],
    rows: configs.map((c) => {
      const d = denseRow(c);
      return [`${c.n}x${c.k}`, pct(c.sparsity), c.m, ...formats.flatMap((f): Cell[] => {
        const r = find(c, sparseImpl(f));
        const info = formatInfo(c, f);
        const held = info === undefined ? null : (info.bytes + info.rowListBytes) / (c.n * c.k);
        return [info?.bytesPerWeight ?? null, held, ms(r), spreadLabel(r), r === undefined ? null : gbPerS(r), timeRatio(r, d)];
      }), ms(d), driftPct(c.hostDrift)];
    }),
  };
}

function gpuTable(configs: readonly SparseConfigResult[], formats: readonly SparseFormatName[]): Table {
  const base = denseName(configs);
  const us = (r: ImplResult | undefined): Cell => (r?.stats == null ? ms(r) : r.stats.median * 1e3);
  return {
    title: 'sparse on the GPU: median µs; B/w = encoded bytes per weight (dense fp16: 2); floor = (encoded W + X + Y bytes) / ' +
      `measured device copy bandwidth (— where not measured); speedup = ${base} time / sparse time; baseline: ${base}, ` +
      'the dense kernel sparq.dense.matmul ran (lastLaunch), timed in every row side by side with its sparse rows',
    headers: ['shape n x k', 'sparsity', 'm',
      ...formats.flatMap((f) => [`${f} B/w`, `${f} µs`, `${f} GB/s`, `${f} % of floor`, `${f} speedup`]), `${base} µs`],
    rows: configs.map((c) => {
      const d = denseRow(c);
      return [`${c.n}x${c.k}`, pct(c.sparsity), c.m, ...formats.flatMap((f): Cell[] => {
        const r = find(c, sparseImpl(f));
        return [formatInfo(c, f)?.bytesPerWeight ?? null, us(r), r === undefined ? null : gbPerS(r), pctOfFloor(c, r), speedup(r, d)];
      }), us(d)];
    }),
  };
}

/** A target: over the configs it selects, the worst speedup over dense must reach `atLeast`. */
interface Goal {
  readonly label: string;
  readonly select: (c: SparseConfigResult) => boolean;
  readonly atLeast: number;
}

/** DESIGN.md "Performance targets" and the sparse issue's CPU goal. */
function goals(gpu: boolean): Goal[] {
  if (!gpu) {
    return [
      { label: 'faster than dense fp16 at every s ≥ 50%, m ≤ 16', select: (c) => c.sparsity >= 0.5 - 1e-9 && c.m <= 16, atLeast: 1 },
      { label: '≥ 2× dense fp16 at s = 80%, m = 1', select: (c) => Math.abs(c.sparsity - 0.8) < 1e-9 && c.m === 1, atLeast: 2 },
    ];
  }
  // GPU targets apply to layers whose floor is ≥ 10 µs (DESIGN.md), at m ≤ 32.
  const big = (c: SparseConfigResult): boolean => c.m <= 32 && (c.floorMs === null || c.floorMs >= 0.01);
  const at = (lo: number) => (c: SparseConfigResult): boolean => big(c) && c.sparsity >= lo - 1e-9;
  return [
    { label: 'faster than the dense baseline at every s ≥ 30%, m ≤ 32', select: at(0.3), atLeast: 1 },
    { label: '≥ 1.3× at every s ≥ 50%, m ≤ 32', select: at(0.5), atLeast: 1.3 },
    { label: '≥ 2.0× at every s ≥ 70%, m ≤ 32', select: at(0.7), atLeast: 2 },
    { label: '≥ 3.5× at every s ≥ 90%, m ≤ 32', select: at(0.9), atLeast: 3.5 },
  ];
}

function goalTable(configs: readonly SparseConfigResult[], formats: readonly SparseFormatName[]): Table {
  const gpu = configs.some((c) => c.backend === 'cuda');
  const shapes = [...new Set(configs.map((c) => `${c.n}x${c.k}`))];
  const rows: Cell[][] = [];
  for (const g of goals(gpu)) {
    for (const shape of shapes) {
      const sel = configs.filter((c) => `${c.n}x${c.k}` === shape && g.select(c));
      if (sel.length === 0) continue;
      // Worst over the selected configs of speedup over dense; null as soon as one config has no time.
      const worst = (pick: (c: SparseConfigResult) => ImplResult | undefined): number | null => {
        let w = Infinity;
        for (const c of sel) {
          const v = speedup(pick(c), denseRow(c));
          if (v === null) return null;
          w = Math.min(w, v);
        }
        return w;
      };
      const best = worst((c) => bestFormat(c, formats));
      rows.push([g.label, shape, sel.length, ...formats.map((f) => worst((c) => find(c, sparseImpl(f)))), best,
        best === null ? '—' : best >= g.atLeast ? 'yes' : 'no']);
    }
  }
  return {
    // the goals are the GPU's and the CPU's; simulated times measure the simulator, so a sim run says so
    title: `sparse goals${gpu ? ' (DESIGN.md; layers with a floor ≥ 10 µs)' : configs.some((c) => c.backend === 'sim') ? ' (CPU goals on SIMULATOR times: not a measure of anything real)' : ' (CPU)'}: worst speedup over ${denseName(configs)} ` +
      '(dense time / sparse time) among the configs each goal covers; best = the faster format per config',
    headers: ['goal', 'shape n x k', 'configs', ...formats.map((f) => `${f} worst`), 'best worst', 'met'],
    rows,
  };
}

function chart(configs: readonly SparseConfigResult[], formats: readonly SparseFormatName[], gpu: boolean): ChartSpec {
  const base = denseName(configs);
  const withFloor = gpu && configs.some((c) => c.floorMs !== null);
  return {
    title: `sparse: speedup over ${base} (higher is better)`,
    yLabel: `${base} time / time`,
    referenceLine: 1,
    series: [...formats.map(sparseImpl), ...(withFloor ? ['bandwidth floor (smaller format)'] : [])],
    groups: configs.map((c) => {
      const d = denseRow(c);
      const values = formats.map((f) => speedup(find(c, sparseImpl(f)), d));
      if (withFloor) values.push(c.floorMs === null || d?.stats == null ? null : d.stats.median / c.floorMs);
      return { label: configLabel(c), values };
    }),
  };
}

/**
 * Builds the sparse report: per (shape, sparsity, m) both formats against the dense fp16 baseline
 * (on a GPU named after the kernel that ran: cuBLAS or sparq's GEMM).
 */
export function sparseReport(configs: readonly SparseConfigResult[], formats: readonly SparseFormatName[],
                             copyBandwidth: number | null): OpReport {
  const gpu = configs.some((c) => c.backend === 'cuda');
  const summary: SummaryRow[] = configs.map((c) => {
    const s = bestFormat(c, formats) ?? find(c, sparseImpl(formats[0]));
    const d = denseRow(c);
    return { op: 'sparse', shape: `${c.n}x${c.k} @${pct(c.sparsity)}`, m: c.m, subject: s?.impl ?? sparseImpl(formats[0]),
      subjectMs: ms(s), subjectGbps: s === undefined ? null : gbPerS(s), baseline: d === undefined ? null : d.impl,
      baselineMs: ms(d), timeRatio: timeRatio(s, d) };
  });
  const tables: Table[] = [gpu ? gpuTable(configs, formats) : cpuTable(configs, formats), goalTable(configs, formats)];
  const problems = new Map<string, number>();
  for (const c of configs) {
    for (const r of c.impls) if (r.status !== 'ok') {
      const key = `${r.impl}: ${r.status.toUpperCase()} — ${r.note ?? '(no detail)'}`;
      problems.set(key, (problems.get(key) ?? 0) + 1);
    }
  }
  if (problems.size > 0) {
    tables.push({ title: 'sparse: rows without a time (the JSON lines carry each one)', headers: ['configs', 'what'],
      rows: [...problems].map(([what, count]) => [count, what]) });
  }
  if (gpu && copyBandwidth === null) {
    tables.push({ title: 'note', headers: ['floor'], rows: [['device copy bandwidth not measured (bench/deviceBandwidth.ts)']] });
  }
  return { op: 'sparse', configs, tables, chart: chart(configs, formats, gpu), summary };
}
