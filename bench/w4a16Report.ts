// Tables, chart and summary rows of the w4a16 benchmark.
import { ConfigResult, ImplResult, findImpl as find, gbPerS, medianOrStatus as ms, speedup, spreadLabel, timeRatio, anyRan } from './harness/results';
import { ChartSpec } from './harness/svgChart';
import { DENSE_KERNEL_LABELS, denseHeader, isDenseKernelLabel } from './harness/kernelLabel';
import { Cell, Table } from './harness/table';
import { floorMsOf, pctOfFloor as pctOf, scalingCell } from './harness/threadScaling';
import { HOST_DRIFT_HEADER, HOST_DRIFT_NOTE, driftPct, pctOfPeak } from './harness/cpuPeak';
import { OpReport, SummaryRow } from './opReport';

export const W4A16_IMPLS = {
  sparq: 'sparq w4a16',
  /** `{ accuracy: 'int8' }`: int8 activations, the function ORT level 4 computes (opt-in, cpu). */
  sparqInt8: 'sparq w4a16 int8',
  dense: 'sparq dense fp16',
  /** Placeholder of the GPU dense row until its kernel is known (harness/kernelLabel.ts renames it). */
  gpuDense: DENSE_KERNEL_LABELS.unknown,
  ortL1: 'ORT MatMulNBits L1',
  ortL4: 'ORT MatMulNBits L4',
} as const;

function pctOfFloor(c: ConfigResult, r: ImplResult | undefined): number | null {
  return pctOf(c.floorMs, r);
}

function cpuTable(configs: readonly ConfigResult[]): Table {
  // Without onnxruntime-node in the run (--no-peers, or not installed) its columns would be empty:
  // they are left out, and the title says so.
  const withOrt = anyRan(configs, W4A16_IMPLS.ortL1) || anyRan(configs, W4A16_IMPLS.ortL4);
  type Column = { header: string; ort?: boolean; cell(c: ConfigResult): Cell };
  const s = (c: ConfigResult): ImplResult | undefined => find(c, W4A16_IMPLS.sparq);
  const d = (c: ConfigResult): ImplResult | undefined => find(c, W4A16_IMPLS.dense);
  const l1 = (c: ConfigResult): ImplResult | undefined => find(c, W4A16_IMPLS.ortL1);
  const l4 = (c: ConfigResult): ImplResult | undefined => find(c, W4A16_IMPLS.ortL4);
  const i8 = (c: ConfigResult): ImplResult | undefined => find(c, W4A16_IMPLS.sparqInt8);
  const columns: Column[] = [
    { header: 'shape n x k', cell: (c) => `${c.n}x${c.k}` },
    { header: 'm', cell: (c) => c.m },
    { header: 'w4a16 ms', cell: (c) => ms(s(c)) },
    { header: 'p10–p90', cell: (c) => spreadLabel(s(c)) },
    { header: 'GB/s', cell: (c) => { const r = s(c); return r === undefined ? null : gbPerS(r); } },
    { header: 'floor ms', cell: (c) => c.floorMs },
    { header: '% of floor', cell: (c) => pctOfFloor(c, s(c)) },
    { header: '% of FMA peak', cell: (c) => { const r = s(c); return r === undefined ? null : pctOfPeak(r.flops, r.stats?.median, c.fmaPeak); } },
    { header: HOST_DRIFT_HEADER, cell: (c) => driftPct(c.hostDrift) },
    { header: 'by threads', cell: (c) => scalingCell(c.threadRuns, W4A16_IMPLS.sparq) },
    { header: 'dense fp16 ms', cell: (c) => ms(d(c)) },
    { header: 'dense % of floor', cell: (c) => { const r = d(c); return pctOf(r === undefined ? null : floorMsOf(r.bytes, c.floorBandwidth), r); } },
    { header: 'ORT L1 ms', ort: true, cell: (c) => ms(l1(c)) },
    { header: 'ORT L4 ms', ort: true, cell: (c) => ms(l4(c)) },
    { header: '/dense', cell: (c) => timeRatio(s(c), d(c)) },
    { header: '/ORT L1', ort: true, cell: (c) => timeRatio(s(c), l1(c)) },
    { header: '/ORT L4', ort: true, cell: (c) => timeRatio(s(c), l4(c)) },
    { header: 'int8 ms', cell: (c) => ms(i8(c)) },
    { header: 'int8 rel err', cell: (c) => i8(c)?.relErr ?? null },
    { header: 'ORT L4 rel err', ort: true, cell: (c) => l4(c)?.relErr ?? null },
    { header: 'int8 /ORT L4', ort: true, cell: (c) => timeRatio(i8(c), l4(c)) },
  ];
  const shown = columns.filter((col) => withOrt || col.ort !== true);
  const ortText = withOrt
    ? 'ORT L1 / L4: onnxruntime-node MatMulNBits at accuracy level 1 (fp32 activations: the exact path\'s peer) / level 4; ORT L4 and sparq\'s opt-in { accuracy: \'int8\' } (the int8 columns; int8 /ORT L4 is its time / L4\'s) compute '
    : 'no onnxruntime-node in this run, so no ORT columns; sparq\'s opt-in { accuracy: \'int8\' } (the int8 columns) computes ';
  return {
    title: `w4a16 (group ${configs[0]?.groupSize ?? 128}): median ms;` + ' ratios are sparq w4a16 time / other time (< 1: sparq w4a16 faster); ' +
      ortText + 'with int8 activations, a different function (rel err: ‖y − float64‖ / ‖float64‖ on the sampled outputs); floor = bytes (codes + scales + X + Y; dense: 2nk + X + Y) / the DRAM read ' +
      'bandwidth of the same pool (the fastest read at the start of the run or beside this row\'s own samples); % of FMA peak = 2mnk / time / the fp32 FMA peak of the same pool (the start peak — median of 5 probe runs — raised to the fastest probe run beside this row\'s own samples; the prefill bar); ' +
      `${HOST_DRIFT_NOTE}; by threads: the sparq w4a16 row on pools of those sizes (ms, % of that pool's floor)`,
    headers: shown.map((col) => col.header),
    rows: configs.map((c) => shown.map((col) => col.cell(c))),
  };
}

/** The GPU fp16 dense row of a config, whichever kernel it ran (its impl names that kernel). */
function gpuDense(c: ConfigResult): ImplResult | undefined {
  return c.impls.find((r) => isDenseKernelLabel(r.impl));
}

/** The baseline's short name for headers: "cuBLAS fp16" only where cublasGemmEx ran. */
function gpuDenseName(configs: readonly ConfigResult[]): string {
  return denseHeader(configs.map(gpuDense).filter((r): r is ImplResult => r !== undefined).map((r) => r.impl));
}

function gpuTable(configs: readonly ConfigResult[]): Table {
  const base = gpuDenseName(configs);
  return {
    title: 'w4a16 on the GPU: median µs; floor = bytes / measured device copy bandwidth (— where not measured); ' +
      `baseline: ${base}, the dense kernel sparq.dense.matmul ran (lastLaunch)`,
    headers: ['shape n x k', 'm', 'w4a16 µs', 'p10–p90 µs', 'GB/s', 'floor µs', '% of floor', `${base} µs`, `speedup vs ${base}`],
    rows: configs.map((c) => {
      const s = find(c, W4A16_IMPLS.sparq);
      const b = gpuDense(c);
      const us = (r: ImplResult | undefined): Cell => (r?.stats == null ? ms(r) : r.stats.median * 1e3);
      return [`${c.n}x${c.k}`, c.m, us(s), spreadLabel(s, 1e3), s === undefined ? null : gbPerS(s),
        c.floorMs === null ? null : c.floorMs * 1e3, pctOfFloor(c, s), us(b), speedup(s, b)];
    }),
  };
}

function chart(configs: readonly ConfigResult[], gpu: boolean): ChartSpec {
  const label = (c: ConfigResult): string => `${c.n}x${c.k} m=${c.m}`;
  if (gpu) {
    const withFloor = configs.some((c) => c.floorMs !== null);
    const base = gpuDenseName(configs);
    return {
      title: `w4a16: speedup over ${base} (higher is better)`, yLabel: `${base} time / time`, referenceLine: 1,
      series: withFloor ? [W4A16_IMPLS.sparq, 'bandwidth floor'] : [W4A16_IMPLS.sparq],
      groups: configs.map((c) => {
        const b = gpuDense(c);
        const floor = c.floorMs === null || b?.stats == null ? null : b.stats.median / c.floorMs;
        return { label: label(c), values: withFloor ? [speedup(find(c, W4A16_IMPLS.sparq), b), floor] : [speedup(find(c, W4A16_IMPLS.sparq), b)] };
      }),
    };
  }
  const measuredOrt = anyRan(configs, W4A16_IMPLS.ortL1) || anyRan(configs, W4A16_IMPLS.ortL4);
  if (!measuredOrt) {
    // --no-peers (or no ORT): time against our own dense fp16, not a speedup over nothing
    const own = [W4A16_IMPLS.sparq, W4A16_IMPLS.sparqInt8];
    return {
      title: 'w4a16: speedup over sparq dense fp16 (higher is better; no onnxruntime-node in this run)',
      yLabel: 'dense fp16 time / time', referenceLine: 1, series: own,
      groups: configs.map((c) => ({ label: label(c), values: own.map((s) => speedup(find(c, s), find(c, W4A16_IMPLS.dense))) })),
    };
  }
  const series = [W4A16_IMPLS.sparq, W4A16_IMPLS.dense, W4A16_IMPLS.sparqInt8, W4A16_IMPLS.ortL4];
  return {
    title: 'w4a16: speedup over onnxruntime-node MatMulNBits accuracy level 1 (higher is better)',
    yLabel: 'ORT L1 time / time', referenceLine: 1, series,
    groups: configs.map((c) => ({ label: label(c), values: series.map((s) => speedup(find(c, s), find(c, W4A16_IMPLS.ortL1))) })),
  };
}

/**
 * Builds the w4a16 report; on a GPU the baseline is the fp16 dense GEMM, named after the kernel
 * that ran (cuBLAS, or sparq's own), on the CPU ORT MatMulNBits level 1.
 */
export function w4a16Report(configs: readonly ConfigResult[], copyBandwidth: number | null): OpReport {
  const gpu = configs.some((c) => c.backend === 'cuda');
  const summary: SummaryRow[] = configs.map((c) => {
    const s = find(c, W4A16_IMPLS.sparq);
    // the baseline is ORT L1 where it ran, else (--no-peers) our dense fp16, as the chart
    const b = gpu ? gpuDense(c) : find(c, anyRan(configs, W4A16_IMPLS.ortL1) ? W4A16_IMPLS.ortL1 : W4A16_IMPLS.dense);
    return { op: 'w4a16', shape: `${c.n}x${c.k}`, m: c.m, subject: W4A16_IMPLS.sparq, subjectMs: ms(s),
      subjectGbps: s === undefined ? null : gbPerS(s), baseline: b === undefined ? null : b.impl,
      baselineMs: ms(b), timeRatio: timeRatio(s, b) };
  });
  const tables = [gpu ? gpuTable(configs) : cpuTable(configs)];
  if (gpu && copyBandwidth === null) {
    tables.push({ title: 'note', headers: ['floor'], rows: [['device copy bandwidth not measured yet (TODO in bench/deviceBandwidth.ts)']] });
  }
  return { op: 'w4a16', configs, tables, chart: chart(configs, gpu), summary };
}
