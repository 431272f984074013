// Dense fp16 baseline: sparq dense.matmul against onnxruntime-node fp32 MatMul (CPU) at LLM layer
// shapes. On cuda the row is named after the kernel dense.matmul ran (sq.lastLaunch): cuBLAS, or
// sparq's own GEMM (no cuBLAS, or SPARQ_DENSE_KERNEL=sparq; run both ways to compare them).
// `node dist/bench/dense.js --shapes 4096x4096 --m 1,16 --backend cpu --reps 50`
import { HOST_DRIFT_HEADER, HOST_DRIFT_NOTE, driftPct, pctOfPeak } from './harness/cpuPeak';
import type { Context, LaunchInfo, Tensor } from '../src/index';
import { CliArgs } from './harness/cliArgs';
import { decodeF16 } from './harness/halfFloat';
import { Progress } from './harness/progress';
import { Rng, randomF16 } from './harness/randomData';
import { pickSample, referenceMatmul } from './harness/referenceCheck';
import { ConfigResult, ImplResult, findImpl as find, gbPerS, gflopPerS, medianOrStatus as ms, speedup, spreadLabel as spread, timeRatio, anyRan } from './harness/results';
import { denseHeader, denseKernelLabel } from './harness/kernelLabel';
import { copiesFor } from './harness/rotation';
import { ChartSpec } from './harness/svgChart';
import { Table } from './harness/table';
import { ThreadRun, floorMsOf, pctOfFloor, scalingCell, threadRun } from './harness/threadScaling';
import { Contender, ImplSpec, Reference, measureWithFloors, ortContender, poisonedOutput, skipped, sparqContender } from './measure';
import { BenchEnv, ConfigSink, OpBench, OpReport, SummaryRow } from './opReport';
import { buildMatMulModel } from './peers/onnxModel';
import { OrtPeer } from './peers/onnx';
import { CommonOptions, benchMain, commonOptions, commonUsage } from './runner';

/** Llama-3-8B projections, n x k: q/o (4096x4096), down (4096x14336), gate/up (14336x4096). */
export const DENSE_SHAPES: ReadonlyArray<readonly [number, number]> = [[4096, 4096], [4096, 14336], [14336, 4096]];
export const DENSE_M: readonly number[] = [1, 16, 64];
const SPARQ = 'sparq dense fp16';
const ORT = 'ORT MatMul fp32';
const TOLERANCE = 2e-3;        // DESIGN.md: ‖Y−ref‖/‖ref‖ for fp16 outputs
const W_SCALE = 1 / 16;        // weights uniform in ±1/16, activations in ±1: outputs stay well inside fp16
const X_SCALE = 1;

export interface DenseOptions extends CommonOptions {
  readonly shapes: ReadonlyArray<readonly [number, number]>;
  readonly ms: readonly number[];
}

export const DENSE_USAGE = `node dist/bench/dense.js [options]
  --shapes NxK,...  weight shapes, n = out features (default ${DENSE_SHAPES.map(([n, k]) => `${n}x${k}`).join(',')})
  --m 1,16,...      activation rows (default ${DENSE_M.join(',')})
${commonUsage({ peers: true, threads: true })}
`;

function denseOptions(args: CliArgs, backend: string): DenseOptions {
  return { ...commonOptions(args, backend), shapes: args.shapes('shapes', DENSE_SHAPES), ms: args.ints('m', DENSE_M) };
}

/** Bytes one fp16 dense call must move: W, X and Y once each. */
export function denseBytes(m: number, n: number, k: number, bytesPerElem = 2): number {
  return bytesPerElem * (n * k + m * k + m * n);
}

function transposeToF32(w: Uint16Array, n: number, k: number): Float32Array {
  const f = decodeF16(w);
  const t = new Float32Array(k * n);
  for (let j = 0; j < n; j++) for (let i = 0; i < k; i++) t[i * n + j] = f[j * k + i];
  return t;
}

/** The sparq dense contender of one config on `sq` (the main context or a --threads one); its tensors go to `owned`. */
function denseContender(sq: Context, spec: ImplSpec, ref: Reference, weights: ReadonlyArray<Tensor<'f16'>>,
                        x: Uint16Array, m: number, n: number, k: number, owned: Array<Tensor<'f16'>>): Contender {
  const xt = sq.tensor(x, [m, k], 'f16');
  owned.push(xt);
  const out = poisonedOutput(sq, m, n);
  owned.push(out);
  return sparqContender(sq, spec, ref, () => sq.dense.matmul(weights[0], xt, { out }),
    (i) => { sq.dense.matmul(weights[i % weights.length], xt, { out }); });
}

async function runShape(env: BenchEnv, o: DenseOptions, n: number, k: number, progress: Progress): Promise<ConfigResult[]> {
  const { sq } = env;
  progress.note(`dense ${n}x${k}: preparing weights`);
  const rng = new Rng(n * 31 + k);
  const w = randomF16(n * k, W_SCALE, rng);
  const copies = copiesFor(2 * n * k, o.rotateBytes);
  const weights: Array<Tensor<'f16'>> = [];
  // The same weights on each --threads context, for the rows at env.scalingM.
  const scaled = o.ms.some((m) => env.scalingM.includes(m)) ? env.scaling.map((ctx) => ({ ctx, weights: [] as Array<Tensor<'f16'>> })) : [];
  let peer: OrtPeer | null = null;
  const results: ConfigResult[] = [];
  try {
    for (let c = 0; c < copies; c++) weights.push(sq.tensor(w, [n, k], 'f16'));
    for (const s of scaled) for (let c = 0; c < copies; c++) s.weights.push(s.ctx.sq.tensor(w, [n, k], 'f16'));
    const ortCopies = copiesFor(4 * n * k, o.rotateBytes);
    if (env.ort !== null) {
      progress.note(`dense ${n}x${k}: building the ORT session (${ortCopies} weight copies)`);
      peer = await OrtPeer.create(env.ort, buildMatMulModel(transposeToF32(w, n, k), k, n, ortCopies), ortCopies, env.threads);
    }
    for (const m of o.ms) {
      progress.step(`dense ${n}x${k} m=${m}`);
      const x = randomF16(m * k, X_SCALE, rng);
      const sample = pickSample(m, n);
      const ref: Reference = { values: referenceMatmul(x, w, k, sample), sample, n };
      const flops = 2 * m * n * k;
      const impls: ImplResult[] = [];
      const sparqSpec: ImplSpec = { impl: SPARQ, bytes: denseBytes(m, n, k), flops, copies, tolerance: TOLERANCE };
      const ortSpec: ImplSpec = { impl: ORT, bytes: denseBytes(m, n, k, 4), flops, copies: ortCopies, tolerance: TOLERANCE };
      // One interleaved measurement: sparq, sparq at the other --threads counts, ORT.
      const scaledHere = env.cpuFloor !== null && env.scalingM.includes(m) ? scaled : [];
      const owned: Array<Tensor<'f16'>> = [];
      let rows: ImplResult[];
      let floor = env.cpuFloor;
      let scaledFloors = scaledHere.map((t) => t.ctx.floor);
      let peak = env.cpuPeak;
      let hostDrift: number | null = null;
      try {
        const contenders = [denseContender(sq, sparqSpec, ref, weights, x, m, n, k, owned),
          ...scaledHere.map((s) => denseContender(s.ctx.sq, sparqSpec, ref, s.weights, x, m, n, k, owned))];
        if (peer !== null) {
          peer.setInput(decodeF16(x), [m, k]);
          contenders.push(ortContender(peer, ortSpec, ref));
        }
        const measured = await measureWithFloors(contenders, o.loop,
          [{ floor: env.cpuFloor, floorProbe: env.floorProbe }, ...scaledHere.map((t) => t.ctx)], env.peakProbe);
        rows = measured.rows;
        [floor, ...scaledFloors] = measured.floors;
        peak = measured.peak ?? peak;
        hostDrift = measured.hostDrift;
      } finally {
        for (const t of owned) t.dispose();
      }
      const mine = rows[0];
      // cuda: cuBLAS or sparq's GEMM, whichever ran (neutral label when the call failed before launching)
      impls.push(sq.backend === 'cuda' ? { ...mine, impl: denseKernelLabel(mine.launch as LaunchInfo | null | undefined) } : mine);
      const threadRuns: ThreadRun[] = [];
      if (floor !== null && env.scalingM.includes(m)) {
        threadRuns.push(threadRun(env.threads, mine, floor));
        scaledHere.forEach((s, i) => threadRuns.push(threadRun(s.ctx.threads, rows[1 + i], scaledFloors[i])));
      }
      if (peer !== null) {
        impls.push(rows[rows.length - 1]);
      } else if (sq.backend === 'cpu') {
        impls.push(skipped(ortSpec, 'onnxruntime-node not available or --no-peers'));
      }
      const floorBandwidth = floor?.bytesPerS ?? null;
      results.push({ op: 'dense', m, n, k, backend: sq.backend, threads: env.threads, impls,
        floorMs: floorMsOf(denseBytes(m, n, k), floorBandwidth), floorBandwidth, fmaPeak: peak?.flopsPerS ?? null,
        hostDrift, threadRuns: threadRuns.length > 0 ? threadRuns : undefined });
    }
  } finally {
    for (const t of weights) t.dispose();
    for (const s of scaled) for (const t of s.weights) t.dispose();
    await peer?.release();
  }
  return results;
}

/** The dense.matmul row of a config: SPARQ on cpu/sim, the kernel's label on cuda. */
function subject(c: ConfigResult): ImplResult | undefined {
  return c.impls.find((r) => r.impl !== ORT);
}

/** The dense tables, chart and summary of a run's configs (exported for test/benchTables.test.ts). */
export function denseReport(configs: readonly ConfigResult[]): OpReport {
  const hasOrt = anyRan(configs, ORT);
  const withFloor = configs.some((c) => c.backend === 'cpu' && c.floorMs !== null);
  const name = denseHeader(configs.map(subject).filter((r): r is ImplResult => r !== undefined).map((r) => r.impl));
  const table: Table = {
    title: `dense: ${name} ${hasOrt ? 'vs onnxruntime-node fp32 MatMul' : '(no onnxruntime-node in this run)'} — median ms, p10–p90, ` +
      'GB/s = bytes moved / time' + (hasOrt ? ', ratio = sparq time / ORT time' : '') +
      (withFloor ? '; floor = (2nk + X + Y bytes) / the DRAM read bandwidth of the same pool (the fastest read at the start of the run or beside ' +
        'this row\'s own samples); % of FMA peak = 2mnk / time / ' +
        'the fp32 FMA peak of the same pool (the start peak — median of 5 probe runs — raised to the fastest probe run beside this row\'s own samples); ' +
        `${HOST_DRIFT_NOTE}; by threads: pool size, ms, % of its floor` : ''),
    headers: ['shape n x k', 'm', `${name} ms`, 'p10–p90', 'GB/s', 'GFLOP/s', ...(withFloor ? ['floor ms', '% of floor', '% of FMA peak', HOST_DRIFT_HEADER, 'by threads'] : []),
      ...(hasOrt ? ['ORT ms', 'ORT GB/s', 'ORT GFLOP/s', 'sparq/ORT'] : [])],
    rows: configs.map((c) => {
      const s = subject(c);
      const p = find(c, ORT);
      const peerCells = hasOrt ? [ms(p), p === undefined ? null : gbPerS(p), p === undefined ? null : gflopPerS(p), timeRatio(s, p)] : [];
      const peak = s === undefined ? null : pctOfPeak(s.flops, s.stats?.median, c.fmaPeak);
      const floorCells = withFloor ? [c.floorMs, pctOfFloor(c.floorMs, s), peak, driftPct(c.hostDrift), scalingCell(c.threadRuns, SPARQ)] : [];
      return [`${c.n}x${c.k}`, c.m, ms(s), spread(s), s === undefined ? null : gbPerS(s), s === undefined ? null : gflopPerS(s),
        ...floorCells, ...peerCells];
    }),
  };
  const chart: ChartSpec = hasOrt
    ? { title: 'dense: speedup over onnxruntime-node fp32 MatMul (higher is better)', yLabel: 'ORT time / sparq time',
        series: [name], referenceLine: 1,
        groups: configs.map((c) => ({ label: `${c.n}x${c.k} m=${c.m}`, values: [speedup(subject(c), find(c, ORT))] })) }
    : { title: `dense: ${name} median time`, yLabel: 'ms', series: [name],
        groups: configs.map((c) => ({ label: `${c.n}x${c.k} m=${c.m}`, values: [subject(c)?.stats?.median ?? null] })) };
  const summary: SummaryRow[] = configs.map((c) => {
    const s = subject(c);
    const p = find(c, ORT);
    return { op: 'dense', shape: `${c.n}x${c.k}`, m: c.m, subject: s?.impl ?? SPARQ, subjectMs: ms(s),
      subjectGbps: s === undefined ? null : gbPerS(s), baseline: p === undefined || !hasOrt ? null : ORT,
      baselineMs: hasOrt ? ms(p) : null, timeRatio: hasOrt ? timeRatio(s, p) : null };
  });
  return { op: 'dense', configs, tables: [table], chart, summary };
}

/** The dense benchmark with options from `args`. */
export function denseBench(env: BenchEnv, args: CliArgs): OpBench {
  const o = denseOptions(args, env.sq.backend);
  return {
    op: 'dense',
    steps: o.shapes.length * o.ms.length,
    timedMs: o.ms,
    usesCpuFloor: true,
    usesPeers: true,
    async run(progress: Progress, finished: ConfigSink): Promise<OpReport> {
      const configs: ConfigResult[] = [];
      for (const [n, k] of o.shapes) {
        const shape = await runShape(env, o, n, k, progress);
        configs.push(...shape);
        finished(shape);
      }
      return denseReport(configs);
    },
  };
}

if (require.main === module) benchMain([denseBench], DENSE_USAGE);
