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
  return {
    title: `w4a16 (group ${configs[0]?.groupSize ?? 128}): median ms;` + ' ratios are sparq w4a16 time / other time (< 1: sparq w4a16 faster); ' +
      'ORT L4 and sparq\'s opt-in { accuracy: \'int8\' } (the int8 columns; int8 /ORT L4 is its time / L4\'s) compute ' +
      'with int8 activations, a different function (rel err: ‖y − float64‖ / ‖float64‖ on the sampled outputs); floor = bytes (codes + scales + X + Y; dense: 2nk + X + Y) / the DRAM read ' +
      'bandwidth of the same pool (the fastest read at the start of the run or beside this row\'s own samples); % of FMA peak = 2mnk / time / the fp32 FMA peak of the same pool (the start peak — median of 5 probe runs — raised to the fastest probe run beside this row\'s own samples; the prefill bar); ' +
      `${HOST_DRIFT_NOTE}; by threads: the sparq w4a16 row on pools of those sizes (ms, % of that pool's floor)`,
    headers: ['shape n x k', 'm', 'w4a16 ms', 'p10–p90', 'GB/s', 'floor ms', '% of floor', '% of FMA peak', HOST_DRIFT_HEADER, 'by threads', 'dense fp16 ms',
      'dense % of floor', 'ORT L1 ms', 'ORT L4 ms', '/dense', '/ORT L1', '/ORT L4', 'int8 ms', 'int8 rel err',
      'ORT L4 rel err', 'int8 /ORT L4'],
    rows: configs.map((c) => {
      const s = find(c, W4A16_IMPLS.sparq);
      const d = find(c, W4A16_IMPLS.dense);
      const l1 = find(c, W4A16_IMPLS.ortL1);
      const l4 = find(c, W4A16_IMPLS.ortL4);
      const i8 = find(c, W4A16_IMPLS.sparqInt8);
      const denseFloor = d === undefined ? null : floorMsOf(d.bytes, c.floorBandwidth);
      return [`${c.n}x${c.k}`, c.m, ms(s), spreadLabel(s), s === undefined ? null : gbPerS(s), c.floorMs, pctOfFloor(c, s),
        s === undefined ? null : pctOfPeak(s.flops, s.stats?.median, c.fmaPeak), driftPct(c.hostDrift), scalingCell(c.threadRuns, W4A16_IMPLS.sparq), ms(d), pctOf(denseFloor, d), ms(l1), ms(l4),
        timeRatio(s, d), timeRatio(s, l1), timeRatio(s, l4), ms(i8), i8?.relErr ?? null, l4?.relErr ?? null,
        timeRatio(i8, l4)];
    }),
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
