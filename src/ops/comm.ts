import { inspect } from 'util';

import { CONSTRUCT, checkConstructed } from '../construct';
import type { Context } from '../context';
import type { HostArrayOf } from '../dtype';
import { describeValue, refuseExtraArguments, SparqArgumentError, withCallSite } from '../errors';
import { native } from '../native';
import { checkOptions, type OptionKeys } from '../options';
import { nccl } from '../nccl';
import { bindMethods, defineHidden, refuseStructuredClone, Tensor } from '../tensor';

/** Options of {@link comm.create}. */
export interface CommCreateOptions {
  /** The largest `x` (bytes: tokens × hidden × 2) any rank will pass. Defaults to 64 MiB. */
  maxBytes?: number | undefined;
}

const CREATE_KEYS: OptionKeys<CommCreateOptions> = { maxBytes: true };

/**
 * Ranks in other worker_threads or processes of this machine: `sparq.comm.create()` makes an id
 * (32 bytes) that the application hands to every rank by its own means (postMessage, argv, an
 * environment variable); each rank then joins with `await sq.comm({ id, rank, size })`.
 */
export const comm = {
  /** A new comm id. @throws {SparqArgumentError} on a bad maxBytes. */
  create(options: CommCreateOptions = {}): HostArrayOf['u8'] {
    checkOptions('comm.create', options, CREATE_KEYS);
    return native().commCreate(options.maxBytes === undefined ? 64 * 2 ** 20 : options.maxBytes);
  },

  /**
   * A new id for a comm whose ranks meet through NCCL — ranks that share no machine (or no shared
   * memory): cuda ranks only. NCCL is found as {@link nccl.probe} finds it, loaded first in a child
   * process (a broken library cannot take this one down), then here, off the JS thread, to make
   * the id (140 bytes: NCCL's unique id and maxBytes). This process hosts NCCL's rendezvous for the
   * id: keep it running until every rank has joined. Pass the id to every rank by your own means;
   * they join with `sq.comm({ id, rank, size })` as for any comm. Every rank must pass the same
   * shapes in the same order (NCCL cannot check them; a mismatch fails or hangs until `timeoutMs`).
   * @throws {SparqBackendError} (as a rejection) when NCCL is missing, too old or broken.
   */
  async createNccl(options: CommCreateOptions = {}): Promise<HostArrayOf['u8']> {
    checkOptions('comm.createNccl', options, CREATE_KEYS);
    const maxBytes = options.maxBytes === undefined ? 64 * 2 ** 20 : options.maxBytes;
    if (typeof maxBytes !== 'number' || !Number.isInteger(maxBytes) || maxBytes < 1 || maxBytes > 2 ** 40)
      throw new SparqArgumentError(
        `comm.createNccl: maxBytes must be an integer number of bytes in [1, 2^40] (the largest x a rank may pass), got ${describeValue(maxBytes)}`,
        { argument: 'maxBytes' },
      );
    await nccl.probe();
    return native().commCreateNccl(maxBytes, process.env.SPARQ_NCCL_PATH ?? '');
  },
};

/** Options of {@link Context.comm}. */
export interface CommOptions {
  /** The id from `sparq.comm.create()`, the same on every rank. */
  id: Uint8Array;
  /** This rank, 0 … size − 1: the order the all-reduce sums in. */
  rank: number;
  /** Ranks in the comm, 1–8. */
  size: number;
  /**
   * How long a rank waits for the others (to join, to arrive at a call, to finish reading) before
   * failing with {@link SparqTimeoutError} naming the missing ranks. Defaults to 60000.
   */
  timeoutMs?: number | undefined;
  /**
   * `'auto'` (default): device to device where every rank can (see {@link Comm.transport});
   * `'host'`: this rank asks for the host transport, and since the ranks agree together, every
   * rank of the comm then takes it (to compare the two, or to keep `maxBytes` of device memory free).
   * Ignored by an NCCL comm ({@link comm.createNccl}), whose rows always go through NCCL.
   */
  transport?: 'auto' | 'host' | undefined;
  /**
   * NCCL comms only ({@link comm.createNccl}): the name of the machine this rank runs on. Ranks
   * that give the same name meet in that machine's shared memory and only one rank per token
   * shard talks to each other machine (`transport` `'nccl-hierarchical'`). Defaults to what the
   * OS says (hostname, boot id and the identity of `/dev/shm`), which is right unless ranks of one
   * machine cannot share `/dev/shm` or you want the flat form (give every rank its own name).
   * Ranks that name one machine must share `/dev/shm`, else the join fails at `timeoutMs`.
   */
  node?: string | undefined;
}

const JOIN_KEYS: OptionKeys<CommOptions> = { id: true, rank: true, size: true, timeoutMs: true, transport: true, node: true };

/**
 * How a comm's rows move between its ranks ({@link Comm.transport}).
 */
export type CommTransport = 'host' | 'device' | 'nccl' | 'nccl-hierarchical';

/** Options of {@link Comm.allreduceRmsnorm}. */
export interface CommAllreduceRmsnormOptions {
  /** Defaults to `1e-6`. In [0, 1]. */
  eps?: number | undefined;
  /** f16 tensor, the shape of `x`, for the normalized rows. */
  out?: Tensor<'f16'> | undefined;
  /** f16 tensor, the shape of `x`, for the new residual; may be `residual` (in place). */
  residualOut?: Tensor<'f16'> | undefined;
}
const COMM_ALLREDUCE_KEYS: OptionKeys<CommAllreduceRmsnormOptions> = { eps: true, out: true, residualOut: true };

/**
 * This rank's membership of a comm. Ranks meet in POSIX shared memory: on cpu they reduce there;
 * on cuda and sim each rank then runs the CUDA comm kernel on its device (the simulator on sim),
 * with the peers' rows read device to device where every rank can (see {@link Comm.transport}),
 * else brought through the shared memory. Every backend and transport gives the contract's bits. Every rank
 * must make the same calls in the same order with the same shapes. A rank that does not arrive
 * within `timeoutMs`, exits, or closes the comm makes the others fail with
 * {@link SparqTimeoutError} naming it; the comm is then broken for good (`broken` says why).
 */
export class Comm {
  /** @internal */
  declare private readonly ctx: Context;
  /** @internal */
  declare readonly handle: unknown;

  /** @internal use {@link Context.comm} */
  static fromNative(ctx: Context, handle: unknown, rank: number, size: number): Comm {
    return new Comm(CONSTRUCT, ctx, handle, rank, size);
  }

  /** This process's rank, 0 ≤ rank < size. */
  readonly rank: number;
  /** Ranks in the comm. */
  readonly size: number;

  private constructor(token: typeof CONSTRUCT, ctx: Context, handle: unknown, rank: number, size: number) {
    checkConstructed(token, 'Comm', 'join one with await sq.comm({ id, rank, size })');
    this.rank = rank;
    this.size = size;
    defineHidden(this, 'ctx', ctx);
    defineHidden(this, 'handle', handle);
    refuseStructuredClone(this, 'comm', 'the comm id (from comm.create()) and join with sq.comm() there');
    bindMethods(this, Comm.prototype, ['toString', 'toJSON']);
  }

  /** @internal */
  [inspect.custom](): string {
    return this.toString();
  }

  toString(): string {
    const state = this.closed ? ', closed' : this.broken === null ? '' : ', broken';
    return `Comm(rank ${this.rank} of ${this.size}${state})`;
  }

  /** @internal what JSON.stringify shows (it would otherwise meet the getter that refuses postMessage). */
  toJSON(): { rank: number; size: number; closed: boolean; broken: string | null } {
    return { rank: this.rank, size: this.size, closed: this.closed, broken: this.broken };
  }

  /**
   * The all-reduce of every rank's `x` (fp32, rank order), this rank's residual add and RMSNorm:
   * the contract of {@link Group.allreduceRmsnorm}, so a comm and a group of the same inputs give
   * the same bits. Enqueued on this rank's context; the wait for the peers runs off the JS thread.
   * @returns `{ out, residual }` for this rank (rejections arrive through their `read()`).
   * @throws {SparqDisposedError} when this rank closed the comm (or its context); a call enqueued
   * before this rank's close() that had not completed rejects (through `read()`) with it too.
   * @throws {SparqTimeoutError} when the comm is already broken (a peer timed out, exited or closed).
   * @throws {SparqShapeError} / {@link SparqArgumentError} on bad tensors (checked before enqueueing;
   * shapes that differ across ranks fail every rank's call with SparqShapeError).
   */
  allreduceRmsnorm(
    x: Tensor<'f16'>,
    residual: Tensor<'f16'>,
    gamma: Tensor<'f16'>,
    options: CommAllreduceRmsnormOptions = {},
  ): { out: Tensor<'f16'>; residual: Tensor<'f16'> } {
    refuseExtraArguments('comm.allreduceRmsnorm', arguments.length, ['x', 'residual', 'gamma', 'options']);
    const c = this.ctx;
    checkOptions('comm.allreduceRmsnorm', options, COMM_ALLREDUCE_KEYS);
    const [o, r] = c.native.commAllreduceRmsnorm(
      c.handle,
      this.handle,
      unwrap(x),
      unwrap(residual),
      unwrap(gamma),
      unwrap(options.out),
      unwrap(options.residualOut),
      options.eps === undefined ? 1e-6 : options.eps,
    );
    return { out: c.wrap(o, options.out) as Tensor<'f16'>, residual: c.wrap(r, options.residualOut) as Tensor<'f16'> };
  }

  /**
   * How rows move between the ranks, agreed by all of them at join: `'device'` — each rank's x sits
   * in a device slot its peers read directly (cuda: CUDA IPC across processes, the address itself
   * within one; sim: ranks of one process); `'host'` — through the comm's shared memory (cpu ranks,
   * and any comm with a cpu rank or device ranks that cannot all read each other); `'nccl'` — a
   * comm from {@link comm.createNccl}: `ncclAllGather` into a staging on the device;
   * `'nccl-hierarchical'` — an NCCL comm over ≥ 2 machines of ≥ 2 ranks each (as many on each; see
   * {@link CommOptions.node}): the ranks of a machine exchange rows in its shared memory and NCCL
   * carries each token shard between machines, among one rank per machine. The same on every rank
   * of a comm; the bits do not depend on it.
   */
  get transport(): CommTransport {
    return this.ctx.native.commTransport(this.handle);
  }

  /** True once this rank left the comm: {@link Comm.close}, or its context's `close()`. */
  get closed(): boolean {
    return this.ctx.native.commClosed(this.handle);
  }

  /** Why the comm is unusable (a timeout, an exited or closed rank), or null while it is usable. */
  get broken(): string | null {
    return this.ctx.native.commBroken(this.handle) || null;
  }

  /**
   * Leaves the comm: ranks still waiting on this one fail at once (on an NCCL comm, those of other
   * machines at their `timeoutMs`: NCCL has no way to tell them sooner). On the device transport this
   * rank's slot (`maxBytes` of device memory) is freed on the context's stream after the calls
   * queued before. Idempotent; closing the context does the same.
   */
  close(): void {
    this.ctx.native.commClose(this.handle, this.ctx.handle);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** @internal Context.comm */
export function joinComm(ctx: Context, options: CommOptions): Promise<Comm> {
  const site = new Error();
  // The join is enqueued now, in call order (a close() right after it interrupts it); a throw
  // becomes the rejection.
  let p: Promise<Comm>;
  try {
    checkOptions('comm', options, JOIN_KEYS);
    const { id, rank, size } = options;
    const key = memberKey(ctx, id, rank);
    const joined = ctx.native.commJoin(ctx.handle, id, rank, size, options.timeoutMs === undefined ? 60000 : options.timeoutMs,
      options.transport === undefined ? 'auto' : options.transport, process.env.SPARQ_NCCL_PATH ?? '', options.node);
    if (key !== undefined) memberships.get(ctx)?.set(key, null); // the join is enqueued (its arguments were good)
    p = joined.then(
      (handle) => {
        const c = Comm.fromNative(ctx, handle, rank, size);
        if (key !== undefined) {
          const ref = new WeakRef(c);
          memberships.get(ctx)?.set(key, ref);
          collectedComms.register(c, { ctx, handle, key, ref });
        }
        return c;
      },
      (error: unknown) => {
        if (key !== undefined) memberships.get(ctx)?.delete(key); // a failed join may be tried again
        throw error;
      },
    );
  } catch (e) {
    p = Promise.reject(e);
  }
  return withCallSite(p, site);
}

/**
 * The comm ids each context has joined (the Comm, held weakly: a dropped comm must stay collectable)
 * or is joining (null): a context is one rank of a comm. A second rank joined from the same context
 * would queue behind the first on its stream, so neither could join and both would fail only after
 * twice `timeoutMs`, blaming the rank that was in fact waiting. Once that comm has ended here —
 * closed, or broken by a timeout or a peer — the id may be joined again (a fresh comm, as
 * docs/api.md promises): nothing of the old one waits on the stream any more. A comm collected
 * without close() stays a membership until `collectedComms` has closed it (its native half outlives
 * the JS object for a while: a join meanwhile met it, "rank 0 twice"). Ended comms are dropped from
 * the map at the next join, so it holds only live ones, however many ids a long-lived context goes
 * through.
 */
const memberships = new WeakMap<Context, Map<string, WeakRef<Comm> | null>>();

/** Whether a membership still counts: a join pending, or a comm usable or collected but not yet closed. */
function liveMembership(entry: WeakRef<Comm> | null): boolean {
  if (entry === null) return true;
  const c = entry.deref();
  return c === undefined || c.broken === null;
}

/**
 * Closes a comm whose object was collected without close() — after the calls already queued on its
 * context's stream, which outlive the object — then forgets its membership: a join from that
 * context queues behind the close.
 */
const collectedComms = new FinalizationRegistry<{ ctx: Context; handle: unknown; key: string; ref: WeakRef<Comm> }>((held) => {
  try {
    held.ctx.native.commCloseAfterQueued(held.handle, held.ctx.handle);
  } catch {
    // nothing to report from a finalizer: the handle's own finalizer still releases what it holds
  }
  const joined = memberships.get(held.ctx);
  if (joined?.get(held.key) === held.ref) joined.delete(held.key);
});

/** The membership key of `id` (undefined for a malformed id); throws when this context already is (or is becoming) a rank of it. */
function memberKey(ctx: Context, id: unknown, rank: unknown): string | undefined {
  // a malformed id (not a Uint8Array, detached, wrong length) and a closed context: the native
  // check names the problem
  if (!(id instanceof Uint8Array) || id.byteLength === 0 || ctx.closed) return undefined;
  const key = Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('hex');
  let joined = memberships.get(ctx);
  if (joined === undefined) memberships.set(ctx, (joined = new Map()));
  for (const [k, entry] of joined) if (!liveMembership(entry)) joined.delete(k);
  if (joined.has(key))
    throw new SparqArgumentError(
      `comm: id must not be a comm this context is a rank of, got one it joined and has not closed (close() it first; one dropped without close() is closed soon after it is collected) or is joining; ` +
        `each rank needs its own context — one per worker_thread or process — so join rank ${String(rank)} from another`,
      { argument: 'id' },
    );
  return key;
}

function unwrap(v: unknown): unknown {
  return v instanceof Tensor && v.handle !== undefined ? v.handle : v;
}
