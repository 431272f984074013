// Unstructured-sparse fp16 weights (Flash-LLM style) at Llama-3-8B/70B and OPT-66B layer shapes:
// sparq sparse.matmul in both formats (bitmap, Tiled-CSL) against sparq dense fp16 on the same dense
// weight; on a GPU the dense row is named after the kernel it ran (cuBLAS, or sparq's own GEMM) and
// every format gets its bandwidth floor. Weights: entries uniform on the fp16 grid, a fraction s of
// them set to 0x0000 at random (kept entries never 0x0000).
// `node dist/bench/sparse.js --shapes 4096x4096 --sparsity 0.5,0.8 --m 1,16 --formats bitmap`
import type { LaunchInfo, SparseFormatName, Tensor } from '../src/index';
import { CliArgs, UsageError } from './harness/cliArgs';
import { Progress } from './harness/progress';
import { Rng, randomF16 } from './harness/randomData';
import { encodeF16 } from './harness/halfFloat';
import { pickSample, referenceMatmul } from './harness/referenceCheck';
import { ImplResult } from './harness/results';
import { denseKernelLabel } from './harness/kernelLabel';
import { copiesFor } from './harness/rotation';
import { denseBytes } from './dense';
import { measureCopyBandwidth } from './deviceBandwidth';
import { Contender, Reference, measureWithFloors, poisonedOutput, sparqContender } from './measure';
import { BenchEnv, ConfigSink, OpBench, OpReport } from './opReport';
import { CommonOptions, benchMain, commonOptions, commonUsage } from './runner';
import { SPARSE_FORMATS, SPARSE_IMPLS, SparseConfigResult, SparseFormatInfo, sparseImpl, sparseReport } from './sparseReport';

type SparseWeight = Awaited<ReturnType<BenchEnv['sq']['sparse']['encode']>>;

/**
 * n x k: Llama-3-8B q/o 4096x4096 and gate/up 14336x4096, Llama-3-70B down 8192x28672, OPT-66B fc1
 * 36864x9216.
 */
export const SPARSE_SHAPES: ReadonlyArray<readonly [number, number]> = [[4096, 4096], [14336, 4096], [8192, 28672], [36864, 9216]];
export const SPARSE_SPARSITIES: readonly number[] = [0.5, 0.6, 0.7, 0.8, 0.9, 0.95];
export const SPARSE_M: readonly number[] = [1, 8, 16, 32, 64];
/** On the CPU (and sim) the default grid is trimmed so the sparse part of `npm run bench` stays ~5 minutes on 2 cores. */
const CPU_SHAPES: ReadonlyArray<readonly [number, number]> = [[4096, 4096], [14336, 4096]];
const CPU_SPARSITIES: readonly number[] = [0.5, 0.7, 0.8, 0.9, 0.95];
const CPU_M: readonly number[] = [1, 16];
const TOLERANCE = 2e-3;        // DESIGN.md: ‖Y−ref‖/‖ref‖ for fp16 outputs, as dense and w4a16
const W_SCALE = 1 / 16;        // kept weights uniform in ±1/16, activations in ±1: outputs well inside fp16
const X_SCALE = 1;
const KEPT_STEPS = 2048;       // kept weights (r / 2048)·scale, r ∈ ±{1..2048}: 4096 values, 12 random bits

export interface SparseOptions extends CommonOptions {
  readonly shapes: ReadonlyArray<readonly [number, number]>;
  readonly sparsities: readonly number[];
  readonly ms: readonly number[];
  readonly formats: readonly SparseFormatName[];
}

const label = (xs: readonly number[], f: (v: number) => string = String): string => xs.map(f).join(',');
const pct = (s: number): string => `${+(100 * s).toFixed(2)}%`;
const shapeList = (shapes: ReadonlyArray<readonly [number, number]>): string => shapes.map(([n, k]) => `${n}x${k}`).join(',');

export const SPARSE_USAGE = `node dist/bench/sparse.js [options]
  --shapes NxK,...  weight shapes, n = out features (default ${shapeList(SPARSE_SHAPES)};
                    on the CPU ${shapeList(CPU_SHAPES)})
  --sparsity S,...  fractions of zero weights, 0.5,0.8 or 50,80 or 1%,50% (default ${label(SPARSE_SPARSITIES)};
                    on the CPU ${label(CPU_SPARSITIES)})
  --m 1,16,...      activation rows (default ${label(SPARSE_M)}; on the CPU ${label(CPU_M)})
  --formats F,...   bitmap,tiled-csl (default both)
  --full            the whole default grid, also on the CPU
${commonUsage({ peers: false, threads: false })}
`;

/**
 * `--sparsity 0.5,0.8`, `--sparsity 50,80` or `--sparsity 1%,50%`: fractions in [0, 1]. A bare value
 * above 1 is percent; a list whose bare values fall both at or below 1 and above it is refused
 * (`1,50` could be 100% and 50% or 1% and 50%): a percent at or below 1 takes a `%`.
 */
export function parseSparsities(args: CliArgs, fallback: readonly number[]): number[] {
  if (!args.has('sparsity')) return [...fallback];
  const text = args.string('sparsity', '');
  const usage = (why: string): UsageError =>
    new UsageError(`--sparsity must be comma-separated fractions in [0, 1] or percents up to 100 (${why}), got ${JSON.stringify(text)}`);
  const values = text.split(',').map((raw) => {
    const t = raw.trim();
    const percent = t.endsWith('%');
    const body = percent ? t.slice(0, -1).trim() : t;
    const v = Number(body);
    if (body === '' || !/^[0-9.]+$/.test(body) || !Number.isFinite(v) || v > 100) throw usage('a bad value');
    return { v, percent };
  });
  const bare = values.filter((x) => !x.percent && x.v !== 0); // 0 reads the same either way
  if (bare.some((x) => x.v > 1) && bare.some((x) => x.v <= 1))
    throw usage('bare values both at or below 1 and above it: write percents with %, e.g. 1%,50%');
  return values.map(({ v, percent }) => (percent || v > 1 ? v / 100 : v));
}

function parseFormats(args: CliArgs): SparseFormatName[] {
  if (!args.has('formats')) return [...SPARSE_FORMATS];
  const text = args.string('formats', '');
  const out = text.split(',').map((t) => t.trim());
  const bad = out.filter((f) => !(SPARSE_FORMATS as readonly string[]).includes(f));
  if (bad.length > 0 || out.length === 0) throw new UsageError(`--formats must be comma-separated ${SPARSE_FORMATS.join('|')}, got ${JSON.stringify(text)}`);
  return [...new Set(out)] as SparseFormatName[];
}

function sparseOptions(args: CliArgs, backend: string): SparseOptions {
  const full = args.flag('full'); // read on every backend: else --full is 'unknown' where it changes nothing
  const trim = backend !== 'cuda' && !full;
  return {
    ...commonOptions(args, backend),
    shapes: args.shapes('shapes', trim ? CPU_SHAPES : SPARSE_SHAPES),
    sparsities: parseSparsities(args, trim ? CPU_SPARSITIES : SPARSE_SPARSITIES),
    ms: args.ints('m', trim ? CPU_M : SPARSE_M),
    formats: parseFormats(args),
  };
}

/**
 * Bytes one sparse call must move: the encoded weight (`SparseWeight.formatBytes`), X and Y once
 * each. (From 7 rows of X the cpu rows kernel reads the row lists instead; its floor is not the
 * point there: it is compute-bound.)
 */
export function sparseBytes(weightBytes: number, m: number, n: number, k: number): number {
  return weightBytes + 2 * (m * k + m * n);
}

/**
 * fp16 bits [count]: each entry 0x0000 with probability `sparsity` (to 2^-20), else uniform on the
 * 4096 nonzero values (r / 2048)·scale, r ∈ ±{1, …, 2048} (`scale` a power of two: every value exact).
 */
export function randomSparseF16(count: number, sparsity: number, scale: number, rng: Rng): Uint16Array {
  if (!Number.isInteger(Math.log2(scale))) throw new RangeError(`randomSparseF16: scale must be a power of two, got ${scale}`);
  const lut = new Uint16Array(2 * KEPT_STEPS);
  for (let r = 1; r <= KEPT_STEPS; r++) {
    lut[2 * (r - 1)] = encodeF16((r / 2048) * scale);
    lut[2 * (r - 1) + 1] = encodeF16((-r / 2048) * scale);
  }
  // One u32 per entry: its low 12 bits pick the kept value, its high 20 bits decide zero or not.
  const zeroBelow = Math.min(Math.max(sparsity, 0), 1) * 2 ** 20;
  const out = new Uint16Array(count);
  for (let i = 0; i < count; i++) {
    const u = rng.u32();
    if (u >>> 12 >= zeroBelow) out[i] = lut[u & 0xfff];
  }
  return out;
}

/** The (shape, m) inputs shared by every sparsity and format of one shape. */
interface Activation {
  readonly m: number;
  readonly bits: Uint16Array;
  readonly tensor: Tensor<'f16'>;
}

/** One format's copies of a (shape, sparsity) weight, or why encoding failed. */
interface EncodedFormat {
  readonly impl: string;
  readonly info: SparseFormatInfo | null;
  readonly weights: SparseWeight[];
  readonly error?: string;
}

/** Encodes the rotated copies of one (shape, sparsity) weight in one format. */
async function encodeFormat(env: BenchEnv, o: SparseOptions, w: Uint16Array, n: number, k: number, s: number,
                            format: SparseFormatName, progress: Progress): Promise<EncodedFormat> {
  const { sq } = env;
  const impl = sparseImpl(format);
  const tag = `sparse ${n}x${k} s=${pct(s)} ${format}`;
  const weights: SparseWeight[] = [];
  progress.note(`${tag}: encoding`);
  const t0 = process.hrtime.bigint();
  try {
    weights.push(await sq.sparse.encode(w, [n, k], { format }));
  } catch (e) {
    return { impl, info: null, weights, error: `encode failed: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}` };
  }
  const first = weights[0];
  const encodeMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const copies = copiesFor(first.bytes, o.rotateBytes);
  progress.note(`${tag}: encoding ${copies} weight copies (${(encodeMs / 1000).toFixed(2)} s each)`);
  try {
    while (weights.length < copies) weights.push(await sq.sparse.encode(w, [n, k], { format }));
  } catch (e) {
    for (const sw of weights) sw.dispose();
    throw e;
  }
  const info: SparseFormatInfo = { format: first.format, bytes: first.formatBytes, bytesPerWeight: first.formatBytes / (n * k),
    rowListBytes: first.rowListBytes, nnz: first.nnz, sparsity: first.sparsity, encodeMs };
  return { impl, info, weights };
}

/**
 * Every row of one (shape, sparsity, m) config — each format that encoded, and the dense fp16
 * baseline on the same weight — checked, then timed side by side (measureWithFloors, with the FMA
 * probe's turns beside them on the CPU for the host drift). The dense time
 * does not depend on sparsity, but timing it beside the sparse rows keeps their ratio honest on a
 * host whose speed drifts.
 */
async function measureConfig(env: BenchEnv, o: SparseOptions, n: number, k: number, s: number, encoded: readonly EncodedFormat[],
                             dense: ReadonlyArray<Tensor<'f16'>>, x: Activation, ref: Reference):
  Promise<{ impls: ImplResult[]; hostDrift: number | null }> {
  const { sq } = env;
  const gpu = sq.backend === 'cuda';
  const flops = 2 * x.m * n * k;
  const owned: Array<Tensor<'f16'>> = [];
  const contenders: Contender[] = [];
  try {
    for (const f of encoded) {
      if (f.info === null) continue;
      const weights = f.weights;
      const out = poisonedOutput(sq, x.m, n);
      owned.push(out);
      contenders.push(sparqContender(sq, { impl: f.impl, bytes: sparseBytes(f.info.bytes, x.m, n, k), flops, copies: weights.length,
        tolerance: TOLERANCE }, ref, () => sq.sparse.matmul(weights[0], x.tensor, { out }),
      (i) => { sq.sparse.matmul(weights[i % weights.length], x.tensor, { out }); }));
    }
    const out = poisonedOutput(sq, x.m, n);
    owned.push(out);
    contenders.push(sparqContender(sq, { impl: gpu ? SPARSE_IMPLS.gpuDense : SPARSE_IMPLS.dense, bytes: denseBytes(x.m, n, k), flops,
      copies: dense.length, tolerance: TOLERANCE }, ref, () => sq.dense.matmul(dense[0], x.tensor, { out }),
    (i) => { sq.dense.matmul(dense[i % dense.length], x.tensor, { out }); }));
    // No floor here; the FMA probe takes its turns only to say how steady the host was (hostDrift).
    const { rows, hostDrift } = await measureWithFloors(contenders, o.loop, [], env.peakProbe);
    let at = 0;
    const impls = encoded.map((f): ImplResult => f.info === null
      ? { impl: f.impl, status: 'error', stats: null, bytes: 0, flops, relErr: null, copies: 0, clock: null, note: f.error, ours: true }
      : rows[at++]);
    const d = rows[at];
    // On cuda the row is named after the kernel that ran (neutral label if none was reported).
    const named = gpu ? { ...d, impl: denseKernelLabel(d.launch as LaunchInfo | null | undefined) } : d;
    const note = `measured on the ${pct(s)} weight, side by side with its sparse rows (dense time does not depend on sparsity)`;
    impls.push({ ...named, note: named.note === undefined ? note : `${named.note}; ${note}` });
    return { impls, hostDrift };
  } finally {
    for (const t of owned) t.dispose();
  }
}

async function runShape(env: BenchEnv, o: SparseOptions, n: number, k: number, progress: Progress,
                        copyBandwidth: number | null): Promise<SparseConfigResult[]> {
  const { sq } = env;
  const rng = new Rng(n * 977 + k);
  const xs: Activation[] = o.ms.map((m) => {
    const bits = randomF16(m * k, X_SCALE, rng);
    return { m, bits, tensor: sq.tensor(bits, [m, k], 'f16') };
  });
  const results: SparseConfigResult[] = [];
  try {
    for (const s of o.sparsities) {
      progress.note(`sparse ${n}x${k} s=${pct(s)}: generating the weight`);
      const w = randomSparseF16(n * k, s, W_SCALE, new Rng(n * 131 + k + Math.round(s * 1e4) * 7919));
      progress.note(`sparse ${n}x${k} s=${pct(s)}: float64 reference on sampled outputs`);
      const refs = new Map<number, Reference>();
      for (const x of xs) {
        const sample = pickSample(x.m, n);
        refs.set(x.m, { values: referenceMatmul(x.bits, w, k, sample), sample, n });
      }
      const encoded: EncodedFormat[] = [];
      const dense: Array<Tensor<'f16'>> = [];
      try {
        for (const f of o.formats) encoded.push(await encodeFormat(env, o, w, n, k, s, f, progress));
        const denseCopies = copiesFor(2 * n * k, o.rotateBytes);
        progress.note(`sparse ${n}x${k}: ${denseCopies} dense fp16 weight copies for the baseline`);
        for (let c = 0; c < denseCopies; c++) dense.push(sq.tensor(w, [n, k], 'f16'));
        const formats = encoded.map((p) => p.info).filter((i): i is SparseFormatInfo => i !== null);
        for (const x of xs) {
          progress.step(`sparse ${n}x${k} s=${pct(s)} m=${x.m}`);
          const { impls, hostDrift } = await measureConfig(env, o, n, k, s, encoded, dense, x, refs.get(x.m) as Reference);
          const sparseImpls = impls.slice(0, encoded.length).filter((r) => r.status === 'ok');
          const floorMs = copyBandwidth === null || sparseImpls.length === 0 ? null
            : (Math.min(...sparseImpls.map((r) => r.bytes)) / copyBandwidth) * 1e3;
          results.push({ op: 'sparse', m: x.m, n, k, sparsity: s, formats, copyBandwidth, backend: sq.backend,
            threads: env.threads, impls, floorMs, hostDrift });
        }
      } finally {
        for (const f of encoded) for (const sw of f.weights) sw.dispose();
        for (const t of dense) t.dispose();
      }
    }
  } finally {
    for (const x of xs) x.tensor.dispose();
  }
  return results;
}

/** The sparse benchmark with options from `args`. */
export function sparseBench(env: BenchEnv, args: CliArgs): OpBench {
  const o = sparseOptions(args, env.sq.backend);
  return {
    op: 'sparse',
    steps: o.shapes.length * o.ms.length * o.sparsities.length,
    async run(progress: Progress, finished: ConfigSink): Promise<OpReport> {
      const copyBandwidth = await measureCopyBandwidth(env.sq);
      const configs: SparseConfigResult[] = [];
      for (const [n, k] of o.shapes) {
        const shape = await runShape(env, o, n, k, progress, copyBandwidth);
        configs.push(...shape);
        finished(shape);
      }
      return sparseReport(configs, o.formats, copyBandwidth);
    },
  };
}

if (require.main === module) benchMain([sparseBench], SPARSE_USAGE);
