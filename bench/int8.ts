// int8 (LLM.int8(): int8 weights, fp16 activations with outlier columns) at Llama-3 layer shapes,
// on activations that carry a few planted outlier columns (0.1% of columns ×20–60, as in real LLM
// activations): sparq int8 at threshold 0 and 6 against sparq dense fp16 on the unquantized
// weights, onnxruntime-node DynamicQuantizeMatMul on the same int8 codes (its own quantize/dequantize
// around an integer GEMM) on the CPU, and on a GPU the fp16 dense kernel (cuBLAS where present).
// Every row is checked against the float64 result on the UNQUANTIZED weights before it is timed;
// the accuracy table reports those errors (the point of LLM.int8()'s outlier columns).
// `node dist/bench/int8.js --shapes 4096x4096 --m 1,16`
import type { Context, LaunchInfo, Tensor } from '../src/index';
import { CliArgs } from './harness/cliArgs';
import { decodeF16, encodeF16 } from './harness/halfFloat';
import { Progress } from './harness/progress';
import { Rng, randomF16 } from './harness/randomData';
import { pickSample, referenceMatmul } from './harness/referenceCheck';
import { ConfigResult, ImplResult } from './harness/results';
import { denseKernelLabel } from './harness/kernelLabel';
import { copiesFor } from './harness/rotation';
import { denseBytes } from './dense';
import { measureCopyBandwidth } from './deviceBandwidth';
import { Contender, ImplSpec, Reference, measureWithFloors, ortContender, poisonedOutput, skipped, sparqContender } from './measure';
import { BenchEnv, ConfigSink, OpBench, OpReport } from './opReport';
import { OrtPeer } from './peers/onnx';
import { buildDynamicQuantizeMatMulModel } from './peers/onnxModel';
import { CommonOptions, benchMain, commonOptions, commonUsage } from './runner';
import { INT8_IMPLS, int8Report } from './int8Report';

type Int8Weight = Awaited<ReturnType<Context['int8']['quantize']>>;

/** Llama-3-8B and -70B layers, n x k (the w4a16 benchmark's shapes). */
export const INT8_SHAPES: ReadonlyArray<readonly [number, number]> = [
  [4096, 4096], [4096, 14336], [14336, 4096], [8192, 8192], [8192, 28672]];
export const INT8_M: readonly number[] = [1, 16, 64, 128];
/** On the CPU `npm run bench` runs two 8B layers by default (--full: all of them). */
const CPU_DEFAULT_SHAPES: ReadonlyArray<readonly [number, number]> = [[4096, 4096], [14336, 4096]];
const THRESHOLD = 6;
/** Outlier columns: 0.1% of k (at least 1), their values ×20–60 in every row. */
const OUTLIER_FRACTION = 0.001;
/** The check before timing: fp16 dense per the dense contract; int8 at threshold 6 is within ~1e-2 of the unquantized result. */
const DENSE_TOLERANCE = 2e-3;
const INT8_TOLERANCE = 5e-2;
/** Without outlier handling the error is what it is (the accuracy table shows it: threshold 0
 *  2.6e-2–5.3e-2, ORT's per-tensor int8 6e-2–1.3e-1 on these inputs); garbage is refused — an
 *  all-zero output reads 1.0, so a bound of 1 (before 2026-12-06) could not fail. */
export const NO_OUTLIER_TOLERANCE = 0.5;

export interface Int8Options extends CommonOptions {
  readonly shapes: ReadonlyArray<readonly [number, number]>;
  readonly ms: readonly number[];
}

export const INT8_USAGE = `node dist/bench/int8.js [options]
  --shapes NxK,...  weight shapes, n = out features (default ${INT8_SHAPES.map(([n, k]) => `${n}x${k}`).join(',')};
                    on the CPU ${CPU_DEFAULT_SHAPES.map(([n, k]) => `${n}x${k}`).join(',')} unless --full)
  --m 1,16,...      activation rows (default ${INT8_M.join(',')})
  --full            every default shape, also on the CPU
${commonUsage({ peers: true, threads: false })}
`;

function int8Options(args: CliArgs, backend: string): Int8Options {
  const full = args.flag('full'); // read on every backend: else --full is 'unknown' where it changes nothing
  const trim = backend !== 'cuda' && !full;
  return {
    ...commonOptions(args, backend),
    shapes: args.shapes('shapes', trim ? CPU_DEFAULT_SHAPES : INT8_SHAPES),
    ms: args.ints('m', INT8_M),
  };
}

/** Bytes one fused int8 call must move: int8 W, fp32 SCB, fp16 X and Y once each. */
export function int8Bytes(m: number, n: number, k: number, actBytes = 2): number {
  return n * k + 4 * n + actBytes * (m * k + m * n);
}

interface ShapeData {
  readonly n: number;
  readonly k: number;
  /** The unquantized fp16 weight (dense baseline and reference). */
  readonly w: Uint16Array;
}

/** X uniform on the fp16 grid with a few whole columns scaled ×20–60 (exact in fp16). */
export function activationsWithOutliers(m: number, k: number, rng: Rng): { x: Uint16Array; outlierColumns: number[] } {
  const x = randomF16(m * k, 1, rng);
  const count = Math.max(1, Math.round(k * OUTLIER_FRACTION));
  const cols = new Set<number>();
  while (cols.size < count) cols.add(rng.u32() % k);
  const values = decodeF16(x);
  for (const c of cols) {
    const factor = 20 + 40 * rng.next();
    for (let i = 0; i < m; i++) x[i * k + c] = encodeF16(Math.max(0.25, Math.abs(values[i * k + c])) * factor * (values[i * k + c] < 0 ? -1 : 1));
  }
  return { x, outlierColumns: [...cols].sort((a, b) => a - b) };
}

interface ShapeState {
  int8: Int8Weight[];
  dense: Array<Tensor<'f16'>>;
  ort: OrtPeer | null;
  ortTried: boolean;
}

async function prepare(env: BenchEnv, o: Int8Options, d: ShapeData, progress: Progress, s: ShapeState): Promise<void> {
  const { sq } = env;
  const label = `int8 ${d.n}x${d.k}`;
  const int8Copies = copiesFor(int8Bytes(0, d.n, d.k), o.rotateBytes);
  progress.note(`${label}: quantizing ${int8Copies} int8 weight copies`);
  for (let c = 0; c < int8Copies; c++) s.int8.push(await sq.int8.quantize(d.w, [d.n, d.k]));
  const denseCopies = copiesFor(2 * d.n * d.k, o.rotateBytes);
  for (let c = 0; c < denseCopies; c++) s.dense.push(sq.tensor(d.w, [d.n, d.k], 'f16'));
  if (env.ort === null || sq.backend === 'cuda') return;
  s.ortTried = true;
  const { codes, scb } = await s.int8[0].read();
  const scales = Float32Array.from(scb, (v) => v / 127);
  const ortCopies = copiesFor(int8Bytes(0, d.n, d.k, 4), o.rotateBytes);
  progress.note(`${label}: building the ORT DynamicQuantizeMatMul session (${ortCopies} weight copies)`);
  try {
    s.ort = await OrtPeer.create(env.ort, buildDynamicQuantizeMatMulModel({ n: d.n, k: d.k, codes, scales }, ortCopies), ortCopies, env.threads);
  } catch (e) {
    process.stderr.write(`\n${INT8_IMPLS.ort}: could not create the session (${e instanceof Error ? e.message : String(e)})\n`);
  }
}

async function runConfig(env: BenchEnv, o: Int8Options, d: ShapeData, s: ShapeState, m: number, rng: Rng,
                         copyBandwidth: number | null): Promise<ConfigResult> {
  const { sq } = env;
  const { n, k } = d;
  const { x } = activationsWithOutliers(m, k, rng);
  const sample = pickSample(m, n);
  const ref: Reference = { values: referenceMatmul(x, d.w, k, sample), sample, n };
  const flops = 2 * m * n * k;
  const gpu = sq.backend === 'cuda';
  const ortSpec: ImplSpec = { impl: INT8_IMPLS.ort, bytes: int8Bytes(m, n, k, 4), flops, copies: s.ort?.copies ?? 0,
    tolerance: NO_OUTLIER_TOLERANCE };
  // One interleaved measurement: sparq at both thresholds, sparq dense, ORT.
  const owned: Array<Tensor<'f16'>> = [];
  let rows: ImplResult[];
  let hostDrift: number | null = null;
  try {
    const xt = sq.tensor(x, [m, k], 'f16');
    owned.push(xt);
    const contenders: Contender[] = [];
    for (const threshold of [THRESHOLD, 0]) {
      const spec: ImplSpec = { impl: threshold === 0 ? INT8_IMPLS.sparqT0 : INT8_IMPLS.sparqT6, bytes: int8Bytes(m, n, k), flops,
        copies: s.int8.length, tolerance: threshold === 0 ? NO_OUTLIER_TOLERANCE : INT8_TOLERANCE };
      const out = poisonedOutput(sq, m, n);
      owned.push(out);
      // Timed without the outlier-column read-back (since 2026-12-05; before, every timed call read
      // it back — on cuda a wait for the GPU per call): a decode loop passes outlierColumns: false.
      // The check runs that same call (until 2026-12-06 it ran the read-back form, which was never timed).
      contenders.push(sparqContender(sq, spec, ref, () => sq.int8.matmul(s.int8[0], xt, { out, threshold, outlierColumns: false }).y,
        (i) => { sq.int8.matmul(s.int8[i % s.int8.length], xt, { out, threshold, outlierColumns: false }); }));
    }
    const denseSpec: ImplSpec = { impl: gpu ? INT8_IMPLS.gpuDense : INT8_IMPLS.dense, bytes: denseBytes(m, n, k), flops,
      copies: s.dense.length, tolerance: DENSE_TOLERANCE };
    const outD = poisonedOutput(sq, m, n);
    owned.push(outD);
    contenders.push(sparqContender(sq, denseSpec, ref, () => sq.dense.matmul(s.dense[0], xt, { out: outD }),
      (i) => { sq.dense.matmul(s.dense[i % s.dense.length], xt, { out: outD }); }));
    if (s.ort !== null) {
      s.ort.setInput(decodeF16(x), [m, k]);
      contenders.push(ortContender(s.ort, ortSpec, ref));
    }
    // No floor here; the FMA probe takes its turns only to say how steady the host was (hostDrift).
    const measured = await measureWithFloors(contenders, o.loop, [], env.peakProbe);
    rows = measured.rows;
    hostDrift = measured.hostDrift;
  } finally {
    for (const t of owned) t.dispose();
  }
  const dense = rows[2];
  const impls: ImplResult[] = [rows[0], rows[1], gpu ? { ...dense, impl: denseKernelLabel(dense.launch as LaunchInfo | null | undefined) } : dense];
  if (s.ort !== null) impls.push(rows[3]);
  else if (!gpu) impls.push(skipped(ortSpec, s.ortTried ? 'session creation failed' : 'onnxruntime-node not available or --no-peers'));
  const floorMs = copyBandwidth === null ? null : (int8Bytes(m, n, k) / copyBandwidth) * 1e3;
  return { op: 'int8', m, n, k, backend: sq.backend, threads: env.threads, impls, floorMs, hostDrift };
}

async function runShape(env: BenchEnv, o: Int8Options, n: number, k: number, progress: Progress,
                        copyBandwidth: number | null): Promise<ConfigResult[]> {
  progress.note(`int8 ${n}x${k}: generating the weight`);
  const rng = new Rng(n * 257 + k);
  const d: ShapeData = { n, k, w: randomF16(n * k, 0.125, rng) };
  const state: ShapeState = { int8: [], dense: [], ort: null, ortTried: false };
  const results: ConfigResult[] = [];
  try {
    await prepare(env, o, d, progress, state);
    for (const m of o.ms) {
      progress.step(`int8 ${n}x${k} m=${m}`);
      results.push(await runConfig(env, o, d, state, m, rng, copyBandwidth));
    }
  } finally {
    for (const w of state.int8) w.dispose();
    for (const t of state.dense) t.dispose();
    await state.ort?.release();
  }
  return results;
}

/** The int8 benchmark with options from `args`. */
export function int8Bench(env: BenchEnv, args: CliArgs): OpBench {
  const o = int8Options(args, env.sq.backend);
  return {
    op: 'int8',
    usesPeers: true,
    steps: o.shapes.length * o.ms.length,
    async run(progress: Progress, finished: ConfigSink): Promise<OpReport> {
      const copyBandwidth = await measureCopyBandwidth(env.sq);
      const configs: ConfigResult[] = [];
      for (const [n, k] of o.shapes) {
        const shape = await runShape(env, o, n, k, progress, copyBandwidth);
        configs.push(...shape);
        finished(shape);
      }
      return int8Report(configs, copyBandwidth);
    },
  };
}

if (require.main === module) benchMain([int8Bench], INT8_USAGE);
