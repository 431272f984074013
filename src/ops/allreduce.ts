import { inspect } from 'util';

import { CONSTRUCT, checkConstructed } from '../construct';
import type { Context } from '../context';
import { describeValue, refuseExtraArguments, SparqArgumentError, SparqDisposedError } from '../errors';
import { checkOptions, type OptionKeys } from '../options';
import { bindMethods, defineHidden, refuseStructuredClone, Tensor } from '../tensor';

/** Which all-reduce kernel runs (sim and cuda; the cpu backend has one path). */
export type AllreduceAlgorithm = 'auto' | 'one-shot' | 'two-shot' | 'unfused';
/** The last flag epoch before a group takes a fresh workspace (epochs are u32, 0 never used). */
export const EPOCH_LAST = 0xffffffff;

const ALGORITHMS: Record<AllreduceAlgorithm, number> = { auto: 0, 'one-shot': 1, 'two-shot': 2, unfused: 3 };

/** Options of {@link Context.group}. */
export interface GroupOptions {
  /** Ranks in the group, 1–8: one tensor per rank in every call. */
  ranks: number;
}

/** Options of {@link Group.allreduceRmsnorm}. */
export interface AllreduceRmsnormOptions {
  /** Added to the mean of squares before the square root. Defaults to `1e-6`. In [0, 1]. */
  eps?: number | undefined;
  /** One f16 tensor per rank, the shape of `xs[r]`, to write the normalized rows into. */
  out?: readonly Tensor<'f16'>[] | undefined;
  /**
   * One f16 tensor per rank for the updated residual stream. `residualOut[r]` may be
   * `residuals[r]` (updated in place) when no other argument uses that tensor.
   */
  residualOut?: readonly Tensor<'f16'>[] | undefined;
  /**
   * `'one-shot'`: every rank reads every peer's rows (fewest barriers, best for few tokens);
   * `'two-shot'`: reduce-scatter by token rows, then a gather of the sums (least traffic for many
   * tokens). `'auto'` (default) chooses by size. Results are identical either way.
   * `'unfused'` (cpu only) is the benchmarks' baseline, not the fused contract: a plain all-reduce
   * delivering fp16 sums, then a separate residual-add + RMSNorm pass. It rounds the sum once
   * more: half an ulp of fp16(sum), many ulps of the residual where the sum and the residual
   * cancel, and Inf where the sum passes fp16's range (that row's `out` is then NaN) where the
   * fused contract stays finite (docs/api.md "allreduceRmsnorm").
   */
  algorithm?: AllreduceAlgorithm | undefined;
}

const GROUP_KEYS: OptionKeys<GroupOptions> = { ranks: true };
const ALLREDUCE_KEYS: OptionKeys<AllreduceRmsnormOptions> = { eps: true, out: true, residualOut: true, algorithm: true };

/**
 * What {@link Group.allreduceRmsnorm} returns: per rank, the normalized rows and the new residual.
 * `X` is the type of the call's `xs`: given a tuple (`[h]`, `[a, b]`) each list is a tuple of the
 * same length, so `const { out: [y] } = norm.allreduceRmsnorm([h], [res], gamma)` gives a `Tensor`
 * even under `noUncheckedIndexedAccess`; given an array, arrays.
 */
export interface AllreduceRmsnormResult<X extends readonly unknown[] = Tensor<'f16'>[]> {
  out: PerRank<X>;
  residual: PerRank<X>;
}

/** One f16 tensor per element of X, a tuple where X is one. */
export type PerRank<X extends readonly unknown[]> = { -readonly [I in keyof X]: Tensor<'f16'> };

/**
 * Ranks of one context (docs/api.md "allreduceRmsnorm"): CPU threads on the cpu backend, virtual
 * ranks on one device on sim and cuda (all ranks' CTAs in one cooperative launch, synchronizing
 * through flags as separate GPUs would). Holds the flag workspace its kernels keep between calls;
 * `dispose()` frees it (also freed with the context).
 */
export class Group {
  /** Ranks in the group (read-only at run time too: defined in the constructor). */
  declare readonly ranks: number;
  // The group's state is non-enumerable (defined in the constructor, not as class fields): so
  // structuredClone reaches the refusing getter first — not the workspace tensor, whose refusal
  // would name a tensor — and Object.keys / inspect show none of it.
  declare private workspace: Tensor<'u8'> | null;
  declare private workspaceBytes: number;
  declare private epoch: number;
  /** The last call's size and the workspace bytes it needs (a decode loop repeats one size). */
  declare private needFor: { tokens: number; hidden: number; bytes: number } | null;
  declare private wasDisposed: boolean;
  /** @internal */
  declare private readonly ctx: Context;

  /** @internal use {@link Context.group} */
  static create(ctx: Context, options: GroupOptions): Group {
    return new Group(CONSTRUCT, ctx, options);
  }

  private constructor(token: typeof CONSTRUCT, ctx: Context, options: GroupOptions) {
    checkConstructed(token, 'Group', 'make one with sq.group({ ranks })');
    defineHidden(this, 'ctx', ctx);
    for (const [key, value] of Object.entries({ workspace: null, workspaceBytes: 0, epoch: 0, needFor: null, wasDisposed: false }))
      Object.defineProperty(this, key, { value, writable: true, enumerable: false, configurable: false });
    checkOptions('group', options, GROUP_KEYS);
    const ranks: unknown = options.ranks;
    if (typeof ranks !== 'number' || !Number.isInteger(ranks) || ranks < 1 || ranks > 8)
      throw new SparqArgumentError(`group: ranks must be an integer in [1, 8], got ${describeValue(ranks)}`, {
        argument: 'ranks',
      });
    // Read-only at run time too, not just in the types: the native call sizes its per-rank arrays by it.
    Object.defineProperty(this, 'ranks', { value: ranks, writable: false, enumerable: true, configurable: false });
    refuseStructuredClone(this, 'group', 'the rank count');
    bindMethods(this, Group.prototype, ['workspaceFor', 'refuseLoneTensor', 'toString', 'toJSON']);
  }

  /**
   * For every rank r and token row t: `s = Σ_p xs[p][t]` (fp32, rank order), `residual[r] =
   * fp16(s + residuals[r][t])`, `out[r] = fp16(residual·rstd·gamma)` with `rstd = 1/sqrt(mean(residual²)
   * + eps)` — all-reduce, residual add and RMSNorm in one pass, enqueued on the context's stream.
   * cpu, sim and cuda give the same bits on ordinary rows (the sum of squares is fp64, exact unless
   * a row's squares span more than its 53 bits: docs/decisions.md), within 1 fp16 ulp always.
   * @param xs one f16 tensor `[..., hidden]` per rank (all the same shape; hidden a multiple of 8).
   * @param residuals one f16 tensor per rank, the shape of `xs[0]`.
   * @param gamma f16 `[hidden]`, shared by the ranks.
   * @returns per rank `out` and `residual` (new tensors, or `options.out` / `options.residualOut`).
   * @throws {SparqShapeError} on shapes that differ across ranks, a bad hidden size or gamma length.
   * @throws {SparqArgumentError} on a wrong number of tensors, a bad eps or algorithm, aliasing outputs.
   * @throws {SparqDisposedError} after `dispose()`, or on a disposed tensor.
   */
  allreduceRmsnorm<const X extends readonly Tensor<'f16'>[]>(
    xs: X,
    residuals: readonly Tensor<'f16'>[],
    gamma: Tensor<'f16'>,
    options: AllreduceRmsnormOptions = {},
  ): AllreduceRmsnormResult<X> {
    const op = 'group.allreduceRmsnorm';
    refuseExtraArguments(op, arguments.length, ['xs', 'residuals', 'gamma', 'options']);
    const c = this.ctx;
    if (this.wasDisposed)
      throw new SparqDisposedError(`${op}: group must be a live group, got one that was disposed`, { argument: 'group' });
    // Before any argument check, as for a disposed group: its context's close() disposed it too.
    if (c.closed) throw new SparqDisposedError(`${op}: context ${c.label} was closed`, { argument: 'context' });
    checkOptions(op, options, ALLREDUCE_KEYS);
    const algorithmName: unknown = options.algorithm === undefined ? 'auto' : options.algorithm;
    const algorithm = typeof algorithmName === 'string' ? ALGORITHMS[algorithmName as AllreduceAlgorithm] : undefined;
    if (algorithm === undefined || !Object.hasOwn(ALGORITHMS, algorithmName as string))
      throw new SparqArgumentError(
        `${op}: algorithm must be 'auto' | 'one-shot' | 'two-shot' | 'unfused', got ${describeValue(algorithmName)}`,
        { argument: 'algorithm' },
      );
    const eps: unknown = options.eps === undefined ? 1e-6 : options.eps; // null is refused natively
    // A lone tensor where a list goes (one rank's x without its brackets): say so, not "got object".
    if ((xs as unknown) instanceof Tensor) this.refuseLoneTensor(op, 'xs');
    if ((residuals as unknown) instanceof Tensor) this.refuseLoneTensor(op, 'residuals');
    if ((options.out as unknown) instanceof Tensor) this.refuseLoneTensor(op, 'out');
    if ((options.residualOut as unknown) instanceof Tensor) this.refuseLoneTensor(op, 'residualOut');
    const workspace = this.workspaceFor(xs);
    // workspaceFor restarted the epochs where flags could hold old ones; without flags (cpu) they wrap.
    const epoch = this.epoch >= EPOCH_LAST ? 1 : this.epoch + 1;
    const [outs, residualOuts] = c.native.allreduceRmsnorm(
      c.handle,
      this.ranks,
      unwrapList(xs),
      unwrapList(residuals),
      unwrapOne(gamma),
      options.out === undefined ? undefined : unwrapList(options.out),
      options.residualOut === undefined ? undefined : unwrapList(options.residualOut),
      workspace === null ? undefined : workspace.handle,
      eps,
      algorithm,
      epoch,
    );
    this.epoch = epoch;
    // One per rank, and the native call refused any xs whose length is not the rank count.
    return {
      out: outs.map((h, r) => c.wrap(h, options.out?.[r]) as Tensor<'f16'>) as PerRank<X>,
      residual: residualOuts.map((h, r) => c.wrap(h, options.residualOut?.[r]) as Tensor<'f16'>) as PerRank<X>,
    };
  }

  private refuseLoneTensor(op: string, argument: string): never {
    throw new SparqArgumentError(
      `${op}: ${argument} must be an array of ${this.ranks} f16 tensor(s), one per rank, got a tensor (put it in an array: [t])`,
      { argument },
    );
  }

  /** True after `dispose()` or the context's `close()`; calls then throw {@link SparqDisposedError}. */
  get disposed(): boolean {
    return this.wasDisposed || this.ctx.closed;
  }

  /** Frees the group's workspace (in stream order). Idempotent. */
  dispose(): void {
    if (this.wasDisposed) return;
    this.wasDisposed = true;
    if (this.workspace !== null && !this.ctx.closed) this.workspace.dispose();
    this.workspace = null;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  /** @internal */
  [inspect.custom](): string {
    return this.toString();
  }

  toString(): string {
    return `Group(${this.ranks} rank${this.ranks === 1 ? '' : 's'}${this.disposed ? ', disposed' : ''})`;
  }

  /** @internal what JSON.stringify shows (it would otherwise meet the getter that refuses postMessage). */
  toJSON(): { ranks: number; disposed: boolean } {
    return { ranks: this.ranks, disposed: this.disposed };
  }

  /**
   * The flag workspace for a call on xs (sim and cuda; null on cpu). A bigger call, or the call after
   * epoch EPOCH_LAST, gets a new one (zero-filled on the stream, the old one freed in stream order)
   * and the epochs start again at 1.
   */
  private workspaceFor(xs: unknown): Tensor<'u8'> | null {
    const first = Array.isArray(xs) ? (xs[0] as unknown) : undefined;
    if (!(first instanceof Tensor) || first.handle === undefined || first.disposed) return this.workspace; // the native check names the problem
    const shape = first.shape;
    const hidden = shape[shape.length - 1];
    const tokens = shape.slice(0, -1).reduce((a, b) => a * b, 1);
    let need: number;
    if (this.needFor !== null && this.needFor.tokens === tokens && this.needFor.hidden === hidden) need = this.needFor.bytes;
    else {
      need = this.ctx.native.allreduceWorkspaceBytes(this.ctx.handle, this.ranks, tokens, hidden);
      this.needFor = { tokens, hidden, bytes: need };
    }
    // The kernels wait for a flag to EQUAL the call's epoch, and flags are never cleared: past 2³² − 1
    // calls the epochs would start again at 1 over flags still holding old ones (a slot last passed
    // by call 1, e.g. a two-shot MID flag, would read as arrived). So the call after the last epoch
    // gets a fresh, zeroed workspace of the same size (at 10⁴ calls a second, every ~5 days).
    if (need <= this.workspaceBytes && (need === 0 || this.epoch < EPOCH_LAST)) return this.workspace;
    const bytes = need <= this.workspaceBytes ? this.workspaceBytes : Math.max(need, Math.ceil(this.workspaceBytes * 1.5));
    const next = this.ctx.zeros([bytes], 'u8');
    this.workspace?.dispose();
    this.workspace = next;
    this.workspaceBytes = bytes;
    this.epoch = 0;
    return next;
  }
}

function unwrapOne(v: unknown): unknown {
  return v instanceof Tensor && v.handle !== undefined ? v.handle : v;
}

/**
 * Arrays are unwrapped element by element into a new plain array of own elements, so the native
 * check reads them without running user code: `map` kept a subclass's species and its holes, and a
 * getter the native read then reached could dispose a tensor it had already taken (a SIGSEGV,
 * 2026-12-06). Anything else goes to the native check as it is.
 */
function unwrapList(v: unknown): unknown {
  if (!Array.isArray(v)) return v;
  const list: readonly unknown[] = v;
  return Array.from({ length: list.length }, (_, i) => unwrapOne(list[i]));
}
