// allreduceRmsnorm (TokenWeave's fused all-reduce + residual add + RMSNorm) on one context's group of
// ranks, at Llama-3-8B/70B hidden sizes from decode (1 token) to prefill (8192 tokens): sparq's fused
// op against, on the CPU, the 'unfused' baseline of the same run (a plain all-reduce delivering fp16
// sums to per-rank buffers, then a separate residual-add + RMSNorm pass: what a stack without the
// fusion runs), and on cuda/sim the fused kernels 'auto', 'one-shot' and 'two-shot' (no unfused
// baseline exists there). The ranks of a group share one memory: the pool's threads on the cpu,
// VIRTUAL ranks on one GPU on cuda (all ranks' CTAs in one launch, synchronizing through flags as
// separate GPUs would) — not a multi-GPU measurement.
//
// Bytes that must move per call (R ranks, T tokens, H hidden, 2 bytes per fp16 element), with every
// rank's buffers in the same memory so each x_r needs reading once, however many ranks use it:
//   read   xs          R·T·H·2
//   read   residuals   R·T·H·2
//   write  out         R·T·H·2
//   write  res_out     R·T·H·2
//   read   gamma       H·2
//   fused minimum = 4·R·T·H·2 + H·2                        (allreduceBytes; the fused rows' GB/s)
// The unfused baseline also writes its R fp16 sum planes (one per rank) and reads them back:
//   unfused = 6·R·T·H·2 + H·2                              (unfusedBytes; the unfused row's GB/s)
// floor = fused minimum / copy bandwidth measured in the same run (bytes read + written per second):
// on cuda bench/deviceBandwidth.ts (1 GiB device-to-device sq.copy); on the cpu the copy probe
// (bench/harness/cpuCopyFloor.ts): the context's pool threads each copying a slice of a buffer far
// past L3, the fastest sample (until 2026-12-06 one sq.copy, i.e. one core's memcpy, which the
// op's threads passed by up to 30%).
// Separate GPUs would also move (R−1)·T·H·2 bytes per rank over their links; nothing here measures that.
// Inputs rotate through copies covering --rotate-mb so no cache holds them between calls (at most 32
// copies: the smallest shapes stay cache-resident, as a decode step's would). Each output is checked
// once against a float64 reference on sampled rows before it is timed.
// `node dist/bench/allreduce.js --ranks 2,8 --tokens 1,128 --hidden 4096`
import * as os from 'os';
import type { Context, Tensor } from '../src/index';
import type { AllreduceAlgorithm, Group } from '../src/ops/allreduce';
import { CliArgs, UsageError } from './harness/cliArgs';
import { measureCpuCopyFloor } from './harness/cpuCopyFloor';
import { encodeF16, f16Table } from './harness/halfFloat';
import { Progress } from './harness/progress';
import { Rng, randomF16 } from './harness/randomData';
import { Sample, pickSample } from './harness/referenceCheck';
import { ImplResult } from './harness/results';
import { copiesFor } from './harness/rotation';
import { TimeLoopOptions, timeInterleaved } from './harness/timeLoop';
import { measureCopyBandwidth } from './deviceBandwidth';
import { BenchEnv, ConfigSink, OpBench, OpReport } from './opReport';
import { CommonOptions, benchMain, commonOptions, commonUsage } from './runner';
import { SparqSampler, sparqSampler } from './sparqTiming';
import { ALLREDUCE_IMPLS, AllreduceConfigResult, allreduceReport, type RunConditions } from './allreduceReport';

export const ALLREDUCE_RANKS: readonly number[] = [2, 4, 8];
export const ALLREDUCE_TOKENS: readonly number[] = [1, 16, 128, 1024, 8192];
/** Llama-3-8B and -70B hidden sizes. */
export const ALLREDUCE_HIDDEN: readonly number[] = [4096, 8192];
/** On the CPU `npm run bench` stops at 1024 tokens (~1 min on 2 cores); --full adds 8192. */
const CPU_DEFAULT_TOKENS: readonly number[] = [1, 16, 128, 1024];
/** The simulator runs every CUDA thread as a host thread: one tiny shape checks the path, not speed. */
const SIM_DEFAULT = { ranks: [2], tokens: [4], hidden: [256] } as const;
const EPS = 1e-6;
/** DESIGN.md's bound for out (and the residual) against the float64 reference. */
const TOLERANCE = 2e-3;
/** Rank r's x is the window of one random pool starting at r·RANK_SHIFT (not a multiple of 8: rows differ). */
const RANK_SHIFT = 1031;
const X_SCALE = 1;
const RESIDUAL_SCALE = 1;
const GAMMA_SCALE = 1;
const F16_NAN = 0x7e00;
const F16_EXP_MASK = 0x7c00;

export interface AllreduceOptions extends CommonOptions {
  readonly ranks: readonly number[];
  readonly tokens: readonly number[];
  readonly hidden: readonly number[];
  readonly eps: number;
}

export const ALLREDUCE_USAGE = `node dist/bench/allreduce.js [options]
  --ranks 2,4,...   ranks in the group, 1-8 (default ${ALLREDUCE_RANKS.join(',')}; sim ${SIM_DEFAULT.ranks.join(',')})
  --tokens 1,16,... token rows per rank (default ${ALLREDUCE_TOKENS.join(',')}; on the CPU ${CPU_DEFAULT_TOKENS.join(',')}
                    unless --full; sim ${SIM_DEFAULT.tokens.join(',')}); --m is read as --tokens when --tokens is absent
  --hidden H,...    hidden sizes, multiples of 8 (default ${ALLREDUCE_HIDDEN.join(',')}; sim ${SIM_DEFAULT.hidden.join(',')})
  --full            every default token count, also on the CPU
  --eps E           RMSNorm epsilon (default ${EPS})
${commonUsage({ peers: false, threads: false })}
`;

function allreduceOptions(args: CliArgs, backend: string): AllreduceOptions {
  const sim = backend === 'sim';
  const full = args.flag('full'); // read on every backend: else --full is 'unknown' where it changes nothing
  const trim = backend === 'cpu' && !full;
  const tokenDefault = sim ? SIM_DEFAULT.tokens : trim ? CPU_DEFAULT_TOKENS : ALLREDUCE_TOKENS;
  const tokens = args.has('tokens') ? args.ints('tokens', tokenDefault) : args.ints('m', tokenDefault);
  const ranks = args.ints('ranks', sim ? SIM_DEFAULT.ranks : ALLREDUCE_RANKS);
  const hidden = args.ints('hidden', sim ? SIM_DEFAULT.hidden : ALLREDUCE_HIDDEN);
  const badRanks = ranks.filter((r) => r > 8);
  if (badRanks.length > 0) throw new UsageError(`allreduce: --ranks must be 1-8, got ${badRanks.join(',')}`);
  const badHidden = hidden.filter((h) => h % 8 !== 0);
  if (badHidden.length > 0) throw new UsageError(`allreduce: --hidden must be multiples of 8, got ${badHidden.join(',')}`);
  const eps = args.has('eps') ? args.number('eps', EPS) : EPS;
  return { ...commonOptions(args, backend), ranks, tokens, hidden, eps };
}

/** Bytes the fused op must move at least (header): 4·R·T·H·2 + H·2. */
export function allreduceBytes(ranks: number, tokens: number, hidden: number): number {
  return 4 * ranks * tokens * hidden * 2 + hidden * 2;
}

/** Bytes the unfused baseline moves: the fused minimum plus its R fp16 sum planes written and read back. */
export function unfusedBytes(ranks: number, tokens: number, hidden: number): number {
  return allreduceBytes(ranks, tokens, hidden) + 2 * ranks * tokens * hidden * 2;
}

/**
 * Input sets to rotate through: enough to cover `rotateBytes` (2..32, bench/harness/rotation.ts),
 * but one when a single set already does (the 8192-token shapes are GiBs).
 */
function inputCopies(setBytes: number, rotateBytes: number): number {
  return Math.min(copiesFor(setBytes, rotateBytes), Math.max(1, Math.ceil(rotateBytes / setBytes)));
}

/**
 * Copy bandwidth (bytes read + written per second) for the floor: the device's on cuda, on the cpu
 * the copy probe on the context's pool (bench/harness/cpuCopyFloor.ts); null on sim.
 */
async function measureFloorBandwidth(sq: Context): Promise<{ bandwidth: number | null; source: string }> {
  if (sq.backend === 'cuda') {
    const bandwidth = await measureCopyBandwidth(sq);
    return { bandwidth, source: 'device-to-device sq.copy of 1 GiB' };
  }
  const floor = await measureCpuCopyFloor(sq);
  return floor === null ? { bandwidth: null, source: 'not measured on the simulator' }
    : { bandwidth: floor.bytesPerS, source: floor.source };
}

/** Host data of one config: rank r's x and residual are windows of two random pools. */
interface ConfigData {
  readonly ranks: number;
  readonly tokens: number;
  readonly hidden: number;
  readonly xs: Uint16Array[];
  readonly residuals: Uint16Array[];
  readonly gamma: Uint16Array;
}

function makeData(ranks: number, tokens: number, hidden: number, rng: Rng): ConfigData {
  const plane = tokens * hidden;
  const windows = (pool: Uint16Array): Uint16Array[] =>
    Array.from({ length: ranks }, (_, r) => pool.subarray(r * RANK_SHIFT, r * RANK_SHIFT + plane));
  const poolLength = plane + (ranks - 1) * RANK_SHIFT;
  return { ranks, tokens, hidden,
    xs: windows(randomF16(poolLength, X_SCALE, rng)),
    residuals: windows(randomF16(poolLength, RESIDUAL_SCALE, rng)),
    gamma: randomF16(hidden, GAMMA_SCALE, rng) };
}

/** float64 out and residual per rank on the sampled rows and columns (the residual rounded to fp16 before the norm). */
interface ConfigReference {
  readonly sample: Sample;
  /** [rank] → rows × cols, row-major. */
  readonly out: Float64Array[];
  readonly residual: Float64Array[];
}

function referenceOf(d: ConfigData, eps: number): ConfigReference {
  const table = f16Table();
  const sample = pickSample(d.tokens, d.hidden);
  const h = d.hidden;
  const cols = sample.cols.length;
  const out: Float64Array[] = [];
  const residual: Float64Array[] = [];
  const sum = new Float64Array(h);
  const res = new Float64Array(h);
  for (let r = 0; r < d.ranks; r++) {
    const o = new Float64Array(sample.rows.length * cols);
    const rs = new Float64Array(sample.rows.length * cols);
    sample.rows.forEach((t, ri) => {
      sum.fill(0);
      for (const x of d.xs) for (let j = 0; j < h; j++) sum[j] += table[x[t * h + j]];
      let sumsq = 0;
      for (let j = 0; j < h; j++) {
        res[j] = sum[j] + table[d.residuals[r][t * h + j]];
        const rounded = table[encodeF16(res[j])];
        sumsq += rounded * rounded;
      }
      const rstd = 1 / Math.sqrt(sumsq / h + eps);
      sample.cols.forEach((j, cj) => {
        rs[ri * cols + cj] = res[j];
        o[ri * cols + cj] = table[encodeF16(res[j])] * rstd * table[d.gamma[j]];
      });
    });
    out.push(o);
    residual.push(rs);
  }
  return { sample, out, residual };
}

/** ‖y − ref‖/‖ref‖ over the sample, and the non-finite (e.g. never written: poisoned) elements of all of y. */
function compareBits(y: Uint16Array, hidden: number, ref: Float64Array, sample: Sample): { relErr: number; nonFinite: number } {
  const table = f16Table();
  let nonFinite = 0;
  for (let i = 0; i < y.length; i++) if ((y[i] & F16_EXP_MASK) === F16_EXP_MASK) nonFinite++;
  let diff2 = 0;
  let ref2 = 0;
  const cols = sample.cols.length;
  sample.rows.forEach((t, ri) => sample.cols.forEach((j, cj) => {
    const want = ref[ri * cols + cj];
    const d = table[y[t * hidden + j]] - want;
    diff2 += d * d;
    ref2 += want * want;
  }));
  return { relErr: ref2 > 0 ? Math.sqrt(diff2 / ref2) : Math.sqrt(diff2), nonFinite };
}

/** Device-side state of one config: rotated input sets, gamma, the outputs, the group. */
interface ConfigState {
  readonly group: Group;
  readonly sets: Array<{ xs: Array<Tensor<'f16'>>; residuals: Array<Tensor<'f16'>> }>;
  readonly gamma: Tensor<'f16'>;
}

function poisoned(sq: Context, d: ConfigData): Array<Tensor<'f16'>> {
  return Array.from({ length: d.ranks }, () => sq.tensor(new Uint16Array(d.tokens * d.hidden).fill(F16_NAN), [d.tokens, d.hidden], 'f16'));
}

interface ImplPlan {
  readonly impl: string;
  readonly algorithm: AllreduceAlgorithm;
  readonly bytes: number;
}

function failed(p: ImplPlan, status: 'wrong' | 'error', relErr: number | null, note: string, copies: number): ImplResult {
  return { impl: p.impl, status, stats: null, bytes: p.bytes, flops: 0, relErr, copies, clock: null, note, ours: true };
}

/** An implementation whose check passed, ready to be timed beside the others. */
interface CheckedImpl {
  p: ImplPlan;
  relErr: number;
  launch: Context['lastLaunch'];
  sampler: SparqSampler;
}

/**
 * One implementation on one config: a call into NaN-poisoned outputs checked against the float64
 * reference (every rank's out and residual). Returns its failed row, or what times it.
 */
async function checkImpl(sq: Context, s: ConfigState, d: ConfigData, ref: ConfigReference, p: ImplPlan, eps: number,
                         out: Tensor<'f16'>[], residualOut: Tensor<'f16'>[]): Promise<ImplResult | CheckedImpl> {
  const call = (i: number): void => {
    const set = s.sets[i % s.sets.length];
    s.group.allreduceRmsnorm(set.xs, set.residuals, s.gamma, { eps, algorithm: p.algorithm, out, residualOut });
  };
  let relErr: number | null = null;
  try {
    call(0);
    await sq.synchronize();
    const launch = sq.lastLaunch;
    let nonFinite = 0;
    relErr = 0;
    for (let r = 0; r < d.ranks; r++) {
      for (const [y, want] of [[out[r], ref.out[r]], [residualOut[r], ref.residual[r]]] as const) {
        const c = compareBits(await y.read(), d.hidden, want, ref.sample);
        relErr = Math.max(relErr, c.relErr);
        nonFinite += c.nonFinite;
      }
    }
    if (nonFinite > 0 || relErr > TOLERANCE) {
      return failed(p, 'wrong', relErr, `${p.impl}: WRONG — rel. error ${relErr.toExponential(2)} (tolerance ${TOLERANCE}), ` +
        `${nonFinite} non-finite elements over every rank's out and residual`, s.sets.length);
    }
    // one op per input set between marks, as the matmul benches group one per weight copy
    return { p, relErr, launch, sampler: sparqSampler(sq, call, s.sets.length) };
  } catch (e) {
    return failed(p, 'error', relErr, e instanceof Error ? `${e.name}: ${e.message}` : String(e), s.sets.length);
  }
}

/**
 * Every implementation on one config: each checked, then those that passed timed side by side
 * (timeInterleaved: batches taking turns, so fused and unfused share the host's slow and fast
 * spells; they ran one after the other until 2026-12-05). Rows in `plans` order.
 */
async function measureImpls(sq: Context, s: ConfigState, d: ConfigData, ref: ConfigReference, plans: ImplPlan[],
                            eps: number, loop: TimeLoopOptions): Promise<ImplResult[]> {
  const outputs: Tensor<'f16'>[] = [];
  try {
    const checked: Array<ImplResult | CheckedImpl> = [];
    for (const p of plans) {
      const out = poisoned(sq, d);
      const residualOut = poisoned(sq, d);
      outputs.push(...out, ...residualOut);
      checked.push(await checkImpl(sq, s, d, ref, p, eps, out, residualOut));
    }
    const ready = checked.filter((c): c is CheckedImpl => 'sampler' in c);
    const timed = await timeInterleaved(ready.map((c) => c.sampler.batch), loop);
    return checked.map((c) => {
      if (!('sampler' in c)) return c;
      const t = timed[ready.indexOf(c)];
      if (t instanceof Error) return failed(c.p, 'error', c.relErr, `${t.name}: ${t.message}`, s.sets.length);
      const enqueueMicros = c.sampler.enqueueMicros();
      const enqueueBound = enqueueMicros >= 0.5 * t.median * 1e3;
      return { impl: c.p.impl, status: 'ok', stats: t, bytes: c.p.bytes, flops: 0, relErr: c.relErr, copies: s.sets.length, ours: true,
        clock: 'stream', launch: c.launch,
        note: enqueueBound ? `possibly enqueue-bound: enqueue ${enqueueMicros.toFixed(1)} µs/op` : undefined };
    });
  } finally {
    for (const t of outputs) t.dispose();
  }
}

function implPlans(backend: string, ranks: number, tokens: number, hidden: number): ImplPlan[] {
  const fused = allreduceBytes(ranks, tokens, hidden);
  if (backend === 'cpu') {
    return [{ impl: ALLREDUCE_IMPLS.fused, algorithm: 'auto', bytes: fused },
      { impl: ALLREDUCE_IMPLS.unfused, algorithm: 'unfused', bytes: unfusedBytes(ranks, tokens, hidden) }];
  }
  return [{ impl: ALLREDUCE_IMPLS.fused, algorithm: 'auto', bytes: fused },
    { impl: ALLREDUCE_IMPLS.oneShot, algorithm: 'one-shot', bytes: fused },
    { impl: ALLREDUCE_IMPLS.twoShot, algorithm: 'two-shot', bytes: fused }];
}

async function runConfig(env: BenchEnv, o: AllreduceOptions, ranks: number, tokens: number, hidden: number,
                         progress: Progress, copyBandwidth: number | null): Promise<AllreduceConfigResult> {
  const { sq } = env;
  const label = `allreduceRmsnorm R=${ranks} T=${tokens} H=${hidden}`;
  progress.note(`${label}: generating inputs`);
  const d = makeData(ranks, tokens, hidden, new Rng(ranks * 7919 + tokens * 131 + hidden));
  const ref = referenceOf(d, o.eps);
  const copies = inputCopies(2 * ranks * tokens * hidden * 2, o.rotateBytes);
  progress.note(`${label}: uploading ${copies} input set(s)`);
  const state: ConfigState = { group: sq.group({ ranks }), sets: [], gamma: sq.tensor(d.gamma, [hidden], 'f16') };
  const impls: ImplResult[] = [];
  try {
    for (let c = 0; c < copies; c++) {
      state.sets.push({ xs: d.xs.map((x) => sq.tensor(x, [tokens, hidden], 'f16')),
        residuals: d.residuals.map((x) => sq.tensor(x, [tokens, hidden], 'f16')) });
    }
    progress.step(label);
    impls.push(...(await measureImpls(sq, state, d, ref, implPlans(sq.backend, ranks, tokens, hidden), o.eps, o.loop)));
  } finally {
    for (const s of state.sets) for (const t of [...s.xs, ...s.residuals]) t.dispose();
    state.gamma.dispose();
    state.group.dispose();
  }
  const floorMs = copyBandwidth === null ? null : (allreduceBytes(ranks, tokens, hidden) / copyBandwidth) * 1e3;
  return { op: 'allreduceRmsnorm', m: tokens, n: hidden, k: hidden, ranks, tokens, hidden, backend: sq.backend,
    threads: env.threads, impls, floorMs, copyBandwidth };
}

/** The allreduceRmsnorm benchmark with options from `args`. */
export function allreduceBench(env: BenchEnv, args: CliArgs): OpBench {
  const o = allreduceOptions(args, env.sq.backend);
  return {
    op: 'allreduceRmsnorm',
    steps: o.ranks.length * o.tokens.length * o.hidden.length,
    async run(progress: Progress, finished: ConfigSink): Promise<OpReport> {
      const loadBefore = os.loadavg();
      progress.note('allreduceRmsnorm: measuring the copy bandwidth for the floor');
      const { bandwidth, source } = await measureFloorBandwidth(env.sq);
      const configs: AllreduceConfigResult[] = [];
      for (const hidden of o.hidden) {
        for (const ranks of o.ranks) {
          for (const tokens of o.tokens) {
            const config = await runConfig(env, o, ranks, tokens, hidden, progress, bandwidth);
            configs.push(config);
            finished([config]);
          }
        }
      }
      const conditions: RunConditions = { loadBefore, loadAfter: os.loadavg(), cores: os.cpus().length,
        copyBandwidth: bandwidth, copyBandwidthSource: source };
      return allreduceReport(configs, conditions);
    },
  };
}

if (require.main === module) benchMain([allreduceBench], ALLREDUCE_USAGE);
