// W4A16 (4-bit weights, fp16 activations) at Llama-3-8B/70B layer shapes: sparq w4a16 against
// sparq dense fp16 on the same (dequantized) weights, onnxruntime-node MatMulNBits accuracy levels
// 1 and 4 on the CPU, and on a GPU sparq dense fp16 (labelled by the kernel it ran: cuBLAS, or
// sparq's own GEMM where cuBLAS is absent or SPARQ_DENSE_KERNEL=sparq) and the bandwidth floor.
// `node dist/bench/w4a16.js --shapes 8192x8192 --m 1,16 --full`
import type { Context, LaunchInfo, Tensor } from '../src/index';
import { CliArgs, UsageError } from './harness/cliArgs';
import { decodeF16 } from './harness/halfFloat';
import { Progress } from './harness/progress';
import { Rng, dequantizeW4, randomCodes, randomF16, randomScales } from './harness/randomData';
import { pickSample, referenceMatmul } from './harness/referenceCheck';
import { ConfigResult, ImplResult } from './harness/results';
import { ScalingContext, ThreadRun, floorMsOf, threadRun } from './harness/threadScaling';
import { denseKernelLabel } from './harness/kernelLabel';
import { copiesFor } from './harness/rotation';
import { denseBytes } from './dense';
import { measureCopyBandwidth } from './deviceBandwidth';
import { Contender, ImplSpec, Reference, measureWithFloors, ortContender, poisonedOutput, skipped, sparqContender } from './measure';
import { BenchEnv, ConfigSink, OpBench, OpReport } from './opReport';
import { OrtPeer } from './peers/onnx';
import { buildMatMulNBitsModel } from './peers/onnxModel';
import { CommonOptions, benchMain, commonOptions, commonUsage } from './runner';
import { W4A16_IMPLS, w4a16Report } from './w4a16Report';

type W4A16Weight = Awaited<ReturnType<Context['w4a16']['fromCodes']>>;

/** Llama-3-8B (4096x4096, 4096x14336, 14336x4096) and Llama-3-70B (8192x8192, 8192x28672), n x k. */
export const W4A16_SHAPES: ReadonlyArray<readonly [number, number]> = [
  [4096, 4096], [4096, 14336], [14336, 4096], [8192, 8192], [8192, 28672]];
export const W4A16_M: readonly number[] = [1, 2, 4, 8, 16, 32, 64, 128];
/** On the CPU the biggest layer runs at a few m by default so `npm run bench` stays ~10 minutes. */
const CPU_TRIMMED: ReadonlyMap<string, readonly number[]> = new Map([
  ['8192x8192', [1, 4, 16, 64]],
  ['8192x28672', [1, 16, 64]],
]);
const ZERO_POINT = 8;          // DESIGN.md: codes 0..15 with zero point 8 (MatMulNBits' default too)
const SCALE_LO = 0.005;        // scales ~1e-2: |w| ≤ 0.12, outputs well inside fp16
const SCALE_HI = 0.015;
const X_SCALE = 1;
const TOLERANCE = 2e-3;        // DESIGN.md w4a16 contract, and ORT level 1 (fp32 compute)
/** Level 4 quantizes activations to int8 per block, a different function; its error is reported, not hidden. */
const ORT_L4_TOLERANCE = 2e-2;

export interface W4A16Options extends CommonOptions {
  readonly shapes: ReadonlyArray<readonly [number, number]>;
  readonly ms: (n: number, k: number) => readonly number[];
  readonly groupSize: number;
}

export const W4A16_USAGE = `node dist/bench/w4a16.js [options]
  --shapes NxK,...  weight shapes, n = out features (default ${W4A16_SHAPES.map(([n, k]) => `${n}x${k}`).join(',')})
  --m 1,2,...       activation rows (default ${W4A16_M.join(',')}; on the CPU without --full 8192x8192 only at 1,4,16,64
                    and 8192x28672 only at 1,16,64)
  --full            every default shape at every default m, also on the CPU
  --group G         quantization group size: 32, 64 or 128 (default 128; ORT MatMulNBits needs a power of two >= 16)
${commonUsage({ peers: true, threads: true })}
`;

function w4a16Options(args: CliArgs, backend: string): W4A16Options {
  const explicitM = args.has('m') ? args.ints('m', W4A16_M) : null;
  const full = args.flag('full'); // read on every backend: else --full is 'unknown' where it changes nothing
  const trim = backend !== 'cuda' && !full;
  const shapes = args.shapes('shapes', W4A16_SHAPES);
  const groupSize = args.optionalInt('group') ?? 128;
  if (![32, 64, 128].includes(groupSize))
    throw new UsageError(`--group must be 32, 64 or 128 (the group sizes sparq and ORT MatMulNBits both take), got ${groupSize}`);
  const bad = shapes.filter(([, k]) => k % groupSize !== 0);
  if (bad.length > 0) throw new UsageError(`w4a16: k must be a multiple of --group ${groupSize}; not so in ${bad.map(([n, k]) => `${n}x${k}`).join(', ')}`);
  return {
    ...commonOptions(args, backend),
    shapes,
    groupSize,
    ms: (n, k) => explicitM ?? (trim ? CPU_TRIMMED.get(`${n}x${k}`) : undefined) ?? W4A16_M,
  };
}

/** Bytes one w4a16 call must move: packed 4-bit W, scales, X and Y once each. */
export function w4a16Bytes(m: number, n: number, k: number, g: number, actBytes = 2, scaleBytes = 2): number {
  return 0.5 * n * k + scaleBytes * (n * k) / g + actBytes * (m * k + m * n);
}

interface ShapeData {
  readonly n: number;
  readonly k: number;
  readonly g: number;
  readonly codes: Uint8Array;
  readonly scales: Uint16Array;
  /** fp16((q − 8)·s): what the dense baseline multiplies and the reference uses. */
  readonly wq: Uint16Array;
}

function makeShape(n: number, k: number, g: number): ShapeData {
  const rng = new Rng(n * 131 + k);
  const codes = randomCodes(n * k, rng);
  const scales = randomScales((n * k) / g, SCALE_LO, SCALE_HI, rng);
  return { n, k, g, codes, scales, wq: dequantizeW4(codes, scales, n, k, g, ZERO_POINT) };
}

/** Device-side state of one shape, freed when the shape is done. */
interface ShapeState {
  quant: W4A16Weight[];
  dense: Array<Tensor<'f16'>>;
  ort: Array<{ impl: string; peer: OrtPeer | null; tolerance: number }>;
  /** The same weights on each --threads context (cpu, shapes with an m in env.scalingM). */
  scaled: Array<{ ctx: ScalingContext; quant: W4A16Weight[]; dense: Array<Tensor<'f16'>> }>;
}

async function uploadWeights(sq: Context, d: ShapeData, o: W4A16Options, into: { quant: W4A16Weight[]; dense: Array<Tensor<'f16'>> }): Promise<void> {
  const quantCopies = copiesFor(w4a16Bytes(0, d.n, d.k, d.g), o.rotateBytes);
  for (let c = 0; c < quantCopies; c++) into.quant.push(await sq.w4a16.fromCodes(d.codes, d.scales, [d.n, d.k], { groupSize: d.g }));
  const denseCopies = copiesFor(2 * d.n * d.k, o.rotateBytes);
  for (let c = 0; c < denseCopies; c++) into.dense.push(sq.tensor(d.wq, [d.n, d.k], 'f16'));
}

async function prepare(env: BenchEnv, o: W4A16Options, d: ShapeData, progress: Progress, state: ShapeState): Promise<void> {
  const { sq } = env;
  const label = `w4a16 ${d.n}x${d.k}`;
  progress.note(`${label}: packing ${copiesFor(w4a16Bytes(0, d.n, d.k, d.g), o.rotateBytes)} w4a16 weight copies`);
  await uploadWeights(sq, d, o, state);
  if (o.ms(d.n, d.k).some((m) => env.scalingM.includes(m))) {
    for (const ctx of env.scaling) {
      progress.note(`${label}: the weights again on the ${ctx.threads}-thread context`);
      const s = { ctx, quant: [], dense: [] };
      state.scaled.push(s);
      await uploadWeights(ctx.sq, d, o, s);
    }
  }
  if (env.ort === null) return;
  const ortCopies = copiesFor(w4a16Bytes(0, d.n, d.k, d.g, 4, 4), o.rotateBytes);
  const scales = decodeF16(d.scales);
  for (const level of [1, 4]) {
    const impl = level === 1 ? W4A16_IMPLS.ortL1 : W4A16_IMPLS.ortL4;
    progress.note(`${label}: building the ORT MatMulNBits level ${level} session (${ortCopies} weight copies)`);
    let peer: OrtPeer | null = null;
    try {
      const model = buildMatMulNBitsModel({ n: d.n, k: d.k, blockSize: d.g, accuracyLevel: level, codes: d.codes, scales }, ortCopies);
      peer = await OrtPeer.create(env.ort, model, ortCopies, env.threads);
    } catch (e) {
      process.stderr.write(`\n${impl}: could not create the session (${e instanceof Error ? e.message : String(e)})\n`);
    }
    state.ort.push({ impl, peer, tolerance: level === 1 ? TOLERANCE : ORT_L4_TOLERANCE });
  }
}

/** The sparq w4a16 and dense contenders of one config on `sq` (the main context or a --threads one); tensors go to `owned`. */
function pairContenders(sq: Context, d: ShapeData, w: { quant: W4A16Weight[]; dense: Array<Tensor<'f16'>> },
                        x: Uint16Array, m: number, ref: Reference, owned: Array<Tensor<'f16'>>): [Contender, Contender] {
  const { n, k, g } = d;
  const flops = 2 * m * n * k;
  const xt = sq.tensor(x, [m, k], 'f16');
  owned.push(xt);
  const quantSpec: ImplSpec = { impl: W4A16_IMPLS.sparq, bytes: w4a16Bytes(m, n, k, g), flops, copies: w.quant.length, tolerance: TOLERANCE };
  const outQ = poisonedOutput(sq, m, n);
  owned.push(outQ);
  const quant = sparqContender(sq, quantSpec, ref, () => sq.w4a16.matmul(w.quant[0], xt, { out: outQ }),
    (i) => { sq.w4a16.matmul(w.quant[i % w.quant.length], xt, { out: outQ }); });
  const denseSpec: ImplSpec = { impl: sq.backend === 'cuda' ? W4A16_IMPLS.gpuDense : W4A16_IMPLS.dense,
    bytes: denseBytes(m, n, k), flops, copies: w.dense.length, tolerance: TOLERANCE };
  const outD = poisonedOutput(sq, m, n);
  owned.push(outD);
  const dense = sparqContender(sq, denseSpec, ref, () => sq.dense.matmul(w.dense[0], xt, { out: outD }),
    (i) => { sq.dense.matmul(w.dense[i % w.dense.length], xt, { out: outD }); });
  return [quant, dense];
}

/** On cuda the dense row is named after the kernel that ran (neutral when the call failed before launching). */
function labelDense(sq: Context, row: ImplResult): ImplResult {
  return sq.backend === 'cuda' ? { ...row, impl: denseKernelLabel(row.launch as LaunchInfo | null | undefined) } : row;
}

/** sparq's opt-in `{ accuracy: 'int8' }` contender (cpu only): a different function, checked at level 4's tolerance. */
function int8Contender(sq: Context, d: ShapeData, w: { quant: W4A16Weight[] }, x: Uint16Array, m: number, ref: Reference,
                       owned: Array<Tensor<'f16'>>): Contender {
  const { n, k, g } = d;
  const spec: ImplSpec = { impl: W4A16_IMPLS.sparqInt8, bytes: w4a16Bytes(m, n, k, g), flops: 2 * m * n * k,
    copies: w.quant.length, tolerance: ORT_L4_TOLERANCE };
  const xt = sq.tensor(x, [m, k], 'f16');
  owned.push(xt);
  const out = poisonedOutput(sq, m, n);
  owned.push(out);
  return sparqContender(sq, spec, ref, () => sq.w4a16.matmul(w.quant[0], xt, { out, accuracy: 'int8' }),
    (i) => { sq.w4a16.matmul(w.quant[i % w.quant.length], xt, { out, accuracy: 'int8' }); });
}

async function runConfig(env: BenchEnv, o: W4A16Options, d: ShapeData, s: ShapeState, m: number,
                         rng: Rng, copyBandwidth: number | null): Promise<ConfigResult> {
  const { sq } = env;
  const { n, k, g } = d;
  const x = randomF16(m * k, X_SCALE, rng);
  const sample = pickSample(m, n);
  const ref: Reference = { values: referenceMatmul(x, d.wq, k, sample), sample, n };
  const flops = 2 * m * n * k;
  const scaledHere = env.cpuFloor !== null && env.scalingM.includes(m) ? s.scaled : [];
  const ortHere = s.ort.filter((p) => p.peer !== null);
  // One interleaved measurement: sparq w4a16 + dense (+ int8 on cpu), the same pair at the other
  // --threads counts, the ORT sessions.
  const owned: Array<Tensor<'f16'>> = [];
  let rows: ImplResult[];
  let floor = env.cpuFloor;
  let scaledFloors = scaledHere.map((t) => t.ctx.floor);
  let peak = env.cpuPeak;
  let hostDrift: number | null = null;
  try {
    const contenders: Contender[] = [...pairContenders(sq, d, s, x, m, ref, owned)];
    if (sq.backend === 'cpu') contenders.push(int8Contender(sq, d, s, x, m, ref, owned));
    for (const t of scaledHere) contenders.push(...pairContenders(t.ctx.sq, d, t, x, m, ref, owned));
    const xf = decodeF16(x);
    for (const p of ortHere) {
      const peer = p.peer as OrtPeer;
      peer.setInput(xf, [m, k]);
      contenders.push(ortContender(peer, { impl: p.impl, bytes: w4a16Bytes(m, n, k, g, 4, 4), flops, copies: peer.copies,
        tolerance: p.tolerance }, ref));
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
  let at = 0;
  const quant = rows[at++];
  const dense = labelDense(sq, rows[at++]);
  const impls: ImplResult[] = [quant, dense];
  if (sq.backend === 'cpu') impls.push(rows[at++]);
  const threadRuns: ThreadRun[] = [];
  if (floor !== null && env.scalingM.includes(m)) {
    threadRuns.push(threadRun(env.threads, quant, floor), threadRun(env.threads, dense, floor));
    scaledHere.forEach((t, i) => {
      const pair = [rows[at++], labelDense(t.ctx.sq, rows[at++])];
      threadRuns.push(...pair.map((r) => threadRun(t.ctx.threads, r, scaledFloors[i])));
    });
  }
  for (const p of s.ort) {
    if (p.peer !== null) {
      impls.push(rows[at++]);
      continue;
    }
    impls.push(skipped({ impl: p.impl, bytes: w4a16Bytes(m, n, k, g, 4, 4), flops, copies: 0, tolerance: p.tolerance },
      'session creation failed'));
  }
  if (s.ort.length === 0 && sq.backend === 'cpu') {
    impls.push(skipped({ impl: W4A16_IMPLS.ortL1, bytes: w4a16Bytes(m, n, k, g, 4, 4), flops, copies: 0, tolerance: TOLERANCE },
      'onnxruntime-node not available or --no-peers'));
  }
  const floorBandwidth = copyBandwidth ?? floor?.bytesPerS ?? null;
  const floorMs = floorMsOf(w4a16Bytes(m, n, k, g), floorBandwidth);
  return { op: 'w4a16', m, n, k, groupSize: g, backend: sq.backend, threads: env.threads, impls, floorMs,
    floorBandwidth: floor?.bytesPerS ?? null, fmaPeak: peak?.flopsPerS ?? null, hostDrift, threadRuns: threadRuns.length > 0 ? threadRuns : undefined };
}

async function runShape(env: BenchEnv, o: W4A16Options, n: number, k: number, progress: Progress,
                        copyBandwidth: number | null): Promise<ConfigResult[]> {
  progress.note(`w4a16 ${n}x${k}: generating codes and scales`);
  const d = makeShape(n, k, o.groupSize);
  const state: ShapeState = { quant: [], dense: [], ort: [], scaled: [] };
  const results: ConfigResult[] = [];
  const rng = new Rng(n + 7 * k);
  try {
    await prepare(env, o, d, progress, state);
    for (const m of o.ms(n, k)) {
      progress.step(`w4a16 ${n}x${k} m=${m}`);
      results.push(await runConfig(env, o, d, state, m, rng, copyBandwidth));
    }
  } finally {
    for (const w of state.quant) w.dispose();
    for (const t of state.dense) t.dispose();
    for (const sc of state.scaled) {
      for (const w of sc.quant) w.dispose();
      for (const t of sc.dense) t.dispose();
    }
    for (const p of state.ort) await p.peer?.release();
  }
  return results;
}

/** The w4a16 benchmark with options from `args`. */
export function w4a16Bench(env: BenchEnv, args: CliArgs): OpBench {
  const o = w4a16Options(args, env.sq.backend);
  return {
    op: 'w4a16',
    steps: o.shapes.reduce((acc, [n, k]) => acc + o.ms(n, k).length, 0),
    timedMs: [...new Set(o.shapes.flatMap(([n, k]) => o.ms(n, k)))],
    usesCpuFloor: true,
    usesPeers: true,
    async run(progress: Progress, finished: ConfigSink): Promise<OpReport> {
      const copyBandwidth = await measureCopyBandwidth(env.sq);
      const configs: ConfigResult[] = [];
      for (const [n, k] of o.shapes) {
        const shape = await runShape(env, o, n, k, progress, copyBandwidth);
        configs.push(...shape);
        finished(shape);
      }
      return w4a16Report(configs, copyBandwidth);
    },
  };
}

if (require.main === module) benchMain([w4a16Bench], W4A16_USAGE);
