// Tables, chart and summary rows of the int8 benchmark.
import { ConfigResult, ImplResult, findImpl as find, gbPerS, medianOrStatus as ms, speedup, spreadLabel, timeRatio, anyRan } from './harness/results';
import { ChartSpec } from './harness/svgChart';
import { DENSE_KERNEL_LABELS, denseHeader, isDenseKernelLabel } from './harness/kernelLabel';
import { Cell, Table } from './harness/table';
import { OpReport, SummaryRow } from './opReport';
import { HOST_DRIFT_HEADER, HOST_DRIFT_NOTE, driftPct } from './harness/cpuPeak';

export const INT8_IMPLS = {
  sparqT6: 'sparq int8 t=6',
  sparqT0: 'sparq int8 t=0',
  dense: 'sparq dense fp16',
  /** Placeholder of the GPU dense row until its kernel is known (harness/kernelLabel.ts renames it). */
  gpuDense: DENSE_KERNEL_LABELS.unknown,
  ort: 'ORT DynamicQuantizeMatMul',
} as const;

/** The fp16 dense row: 'sparq dense fp16' on cpu/sim, the kernel's label on cuda. */
function denseRow(c: ConfigResult): ImplResult | undefined {
  return c.impls.find((r) => r.impl === INT8_IMPLS.dense || isDenseKernelLabel(r.impl));
}

const relErr = (r: ImplResult | undefined): Cell => (r?.relErr == null ? null : r.relErr.toExponential(2));

function cpuTable(configs: readonly ConfigResult[]): Table {
  const ort = anyRan(configs, INT8_IMPLS.ort); // not with --no-peers
  return {
    title: 'int8 (activations with 0.1% outlier columns ×20–60): median ms; t=6 / t=0: the outlier threshold (6: columns with |x| ≥ 6 in fp32, ' +
      'LLM.int8()\'s default; 0: no outlier columns); ratios are sparq int8 t=6 time / other time ' +
      `(< 1: sparq faster)${ort ? '; ORT DynamicQuantizeMatMul runs the same int8 codes with per-tensor uint8 activations' : ''}; ${HOST_DRIFT_NOTE}`,
    headers: ['shape n x k', 'm', 'int8 t=6 ms', 'p10–p90', 'GB/s', 'int8 t=0 ms', 'dense fp16 ms', ...(ort ? ['ORT ms'] : []), '/dense',
      ...(ort ? ['/ORT'] : []), HOST_DRIFT_HEADER],
    rows: configs.map((c) => {
      const s = find(c, INT8_IMPLS.sparqT6);
      const d = denseRow(c);
      const o = find(c, INT8_IMPLS.ort);
      return [`${c.n}x${c.k}`, c.m, ms(s), spreadLabel(s), s === undefined ? null : gbPerS(s), ms(find(c, INT8_IMPLS.sparqT0)),
        ms(d), ...(ort ? [ms(o)] : []), timeRatio(s, d), ...(ort ? [timeRatio(s, o)] : []), driftPct(c.hostDrift)];
    }),
  };
}

function gpuTable(configs: readonly ConfigResult[]): Table {
  const base = denseHeader(configs.map(denseRow).filter((r): r is ImplResult => r !== undefined).map((r) => r.impl));
  const us = (r: ImplResult | undefined): Cell => (r?.stats == null ? ms(r) : r.stats.median * 1e3);
  return {
    title: `int8 on the GPU: median µs; floor = bytes / measured device copy bandwidth; baseline: ${base} (lastLaunch)`,
    headers: ['shape n x k', 'm', 'int8 t=6 µs', 'p10–p90 µs', 'GB/s', 'floor µs', 'int8 t=0 µs', `${base} µs`, `speedup vs ${base}`],
    rows: configs.map((c) => {
      const s = find(c, INT8_IMPLS.sparqT6);
      return [`${c.n}x${c.k}`, c.m, us(s), spreadLabel(s, 1e3), s === undefined ? null : gbPerS(s),
        c.floorMs === null ? null : c.floorMs * 1e3, us(find(c, INT8_IMPLS.sparqT0)), us(denseRow(c)), speedup(s, denseRow(c))];
    }),
  };
}

/** ‖Y − ref‖/‖ref‖ against the float64 result on the unquantized weights, per implementation. */
function accuracyTable(configs: readonly ConfigResult[]): Table {
  const ort = anyRan(configs, INT8_IMPLS.ort);
  return {
    title: 'int8 accuracy: relative error against the float64 product with the UNQUANTIZED fp16 weights, on activations ' +
      'with 0.1% outlier columns ×20–60 (sampled rows/columns)',
    headers: ['shape n x k', 'm', 'int8 t=6', 'int8 t=0', 'dense fp16', ...(ort ? ['ORT DynamicQuantizeMatMul'] : [])],
    rows: configs.map((c) => [`${c.n}x${c.k}`, c.m, relErr(find(c, INT8_IMPLS.sparqT6)), relErr(find(c, INT8_IMPLS.sparqT0)),
      relErr(denseRow(c)), ...(ort ? [relErr(find(c, INT8_IMPLS.ort))] : [])]),
  };
}

function chart(configs: readonly ConfigResult[]): ChartSpec {
  const series = [INT8_IMPLS.sparqT6, INT8_IMPLS.sparqT0, ...(anyRan(configs, INT8_IMPLS.ort) ? [INT8_IMPLS.ort] : [])];
  return {
    title: 'int8: speedup over fp16 dense (higher is better)',
    yLabel: 'dense fp16 time / time', referenceLine: 1, series,
    groups: configs.map((c) => ({ label: `${c.n}x${c.k} m=${c.m}`, values: series.map((s) => speedup(find(c, s), denseRow(c))) })),
  };
}

/** The int8 report: the baseline is fp16 dense (ours on the CPU, the GPU's dense kernel on cuda). */
export function int8Report(configs: readonly ConfigResult[], copyBandwidth: number | null): OpReport {
  const gpu = configs.some((c) => c.backend === 'cuda');
  const summary: SummaryRow[] = configs.map((c) => {
    const s = find(c, INT8_IMPLS.sparqT6);
    const b = denseRow(c);
    return { op: 'int8', shape: `${c.n}x${c.k}`, m: c.m, subject: INT8_IMPLS.sparqT6, subjectMs: ms(s),
      subjectGbps: s === undefined ? null : gbPerS(s), baseline: b === undefined ? null : b.impl, baselineMs: ms(b),
      timeRatio: timeRatio(s, b) };
  });
  const tables = [gpu ? gpuTable(configs) : cpuTable(configs), accuracyTable(configs)];
  if (gpu && copyBandwidth === null) tables.push({ title: 'note', headers: ['floor'], rows: [['device copy bandwidth not measured']] });
  return { op: 'int8', configs, tables, chart: chart(configs), summary };
}
