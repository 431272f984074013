import { inspect } from 'util';

import { asFp16Bits, type DType, type HostInputOf } from './dtype';
import { describeValue, refuseExtraArguments, settle, SparqArgumentError, SparqBackendError, SparqDisposedError, withCallSite } from './errors';
import { native, type NativeBinding, type NativeContext } from './native';
import { Group, type GroupOptions } from './ops/allreduce';
import { joinComm, type Comm, type CommOptions } from './ops/comm';
import { DenseOps, type MatmulOptions } from './ops/dense';
import { Int8Ops } from './ops/int8';
import { SparseOps } from './ops/sparse';
import { W4A16Ops } from './ops/w4a16';
import { CONSTRUCT, checkConstructed } from './construct';
import { isThreadCount, MAX_THREADS, threadsFromEnv } from './cpuFeatures';
import { checkCpuIsa } from './cpuIsa';
import { sparqVariables } from './sparqEnv';
import { checkOptions, type OptionKeys } from './options';
import { bindMethods, defineHidden, refuseBackendObject, refuseStructuredClone, Tensor } from './tensor';
import { PackedWeight } from './weight';

export type BackendName = 'cuda' | 'cpu' | 'sim';
export type BackendRequest = 'auto' | BackendName;
/** SIMD path of the CPU kernels. */
export type CpuIsa = 'avx512' | 'avx2' | 'scalar';

export interface OpenOptions {
  /**
   * `'auto'` picks cuda when a driver, a device and the CUDA library are there, else cpu (never sim).
   * `SPARQ_BACKEND` replaces `'auto'` only. Defaults to `'auto'`.
   */
  backend?: BackendRequest | undefined;
  /** CUDA device ordinal. Defaults to `0`. */
  device?: number | undefined;
  /** Force the CPU kernels' SIMD path: `'avx512' | 'avx2' | 'scalar'`. Defaults to `SPARQ_CPU_ISA`, else the best this CPU has. */
  cpuIsa?: CpuIsa | undefined;
  /**
   * CPU worker threads. Defaults to `SPARQ_THREADS`, else the number of cores. With one context
   * per worker_thread, give each a share (`Math.floor(os.availableParallelism() / workers)`):
   * contexts that each default to all cores fight over them.
   */
  threads?: number | undefined;
}

const OPEN_KEYS: OptionKeys<OpenOptions> = { backend: true, device: true, cpuIsa: true, threads: true };
const COPY_KEYS: OptionKeys<{ out?: Tensor }> = { out: true };

/** The GPU of a cuda context ({@link Context.device}). */
export interface DeviceInfo {
  /** Device name, e.g. "NVIDIA H200". */
  name: string;
  /** Compute capability as major·10 + minor (90 for sm_90). */
  sm: number;
  /** Streaming multiprocessors. */
  smCount: number;
  /** Global memory, bytes. */
  memoryBytes: number;
  /** CUDA driver version (cudaDriverGetVersion: 13000 for 13.0). */
  driverVersion: number;
  /** CUDA runtime version libsparq_cuda.so was built with (cudaRuntimeGetVersion). */
  runtimeVersion: number;
  /** Path of the cuBLAS library dense.matmul uses, or null. */
  cublas: string | null;
  /** When cuBLAS is not used: why (what is missing, SPARQ_CUBLAS_PATH) and that sparq's own tensor-core GEMM runs instead. */
  cublasNote: string | null;
}

/** The last kernel launch of a sim or cuda context ({@link Context.lastLaunch}): what ran, and how. */
export interface LaunchInfo {
  /** Kernel name, e.g. "w4a16_gemm_kernel". */
  kernel: string;
  /** The instance the launcher chose (tile shapes, stages, split). */
  config: string;
  /** Grid dimensions (x, y, z). */
  grid: [number, number, number];
  /** Threads per block. */
  blockThreads: number;
  /** Dynamic shared memory per block, bytes. */
  smemBytes: number;
  /** Bytes read per operand, as the launcher counts them (sim: counted by the simulator). */
  bytesRead: Record<string, number>;
}

/**
 * An open backend with its stream. Every op enqueues on the stream and returns at once; reads,
 * `synchronize()` and weight creation are Promises. One context per thread (worker_threads work).
 * One context is one serial queue: batch requests into m > 1 rows for throughput. Close it with
 * `await sq.close()` (or `await using sq = await open()`), which frees everything it holds.
 */
export class Context {
  /** @internal */
  declare readonly handle: NativeContext;
  /** @internal */
  declare readonly native: NativeBinding;
  /** The backend in use. */
  readonly backend: BackendName;
  /** The CUDA device, or null on cpu/sim. */
  readonly device: DeviceInfo | null;
  /** Why `'auto'` chose cpu (one line), else null. */
  readonly fallbackReason: string | null;
  /** SIMD path of the CPU kernels: `'avx512' | 'avx2' | 'scalar'` (`SPARQ_CPU_ISA` forces one). */
  readonly cpuIsa: CpuIsa;
  /** CPU worker threads (`SPARQ_THREADS`). */
  readonly threads: number;

  // The ops, one namespace each (docs/adding-an-op.md: one line per op here).
  /** The fp16 baseline. */
  readonly dense = new DenseOps(this);
  /** Marlin-style 4-bit weights × fp16 activations. */
  readonly w4a16 = new W4A16Ops(this);
  /** Unstructured-sparse fp16 weights × fp16 activations. */
  readonly sparse = new SparseOps(this);
  /** LLM.int8(): int8 weights × fp16 activations with fp16 outlier columns. */
  readonly int8 = new Int8Ops(this);

  /** @internal use {@link open} */
  static fromNative(handle: NativeContext, binding: NativeBinding): Context {
    return new Context(CONSTRUCT, handle, binding);
  }

  private constructor(token: typeof CONSTRUCT, handle: NativeContext, binding: NativeBinding) {
    checkConstructed(token, 'Context', 'open one with sparq.open()');
    defineHidden(this, 'handle', handle);
    defineHidden(this, 'native', binding);
    refuseStructuredClone(this, 'context', 'the data (tensors as read() arrays, weights as what read() gives)');
    bindMethods(this, Context.prototype, ['options', 'wrap', 'nativeArgs', 'toString', 'toJSON']);
    const info = handle.info();
    this.backend = info.backend;
    this.device = info.device;
    this.fallbackReason = info.fallbackReason;
    this.cpuIsa = info.cpuIsa as CpuIsa;
    this.threads = info.threads;
  }

  /** "cpu#3": the backend and a per-process serial; errors about a closed context name it. */
  get label(): string {
    return this.handle.label;
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.handle.closed;
  }

  /**
   * Closes the context: waits for the work already enqueued, frees every tensor and weight still
   * alive, stops its threads and releases its device memory, cuBLAS handle and workspaces.
   * Afterwards ops, tensors and weights of this context throw {@link SparqDisposedError} naming it.
   * Idempotent; never rejects. Also `await using sq = await open()`.
   */
  close(): Promise<void> {
    return this.handle.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** @internal */
  [inspect.custom](): string {
    return this.toString();
  }

  toString(): string {
    return `Context(${this.label}${this.closed ? ', closed' : ''})`;
  }

  /** @internal what JSON.stringify shows (the context is no data; without this it meets a circular reference). */
  toJSON(): { backend: BackendName; label: string; closed: boolean } {
    return { backend: this.backend, label: this.label, closed: this.closed };
  }

  /**
   * @internal The options of a Promise-returning op, checked once (run inside its startNow, so a
   * throw becomes the rejection): an object with only the op's `keys`, or undefined for the
   * defaults. Reading an option runs its getter, whose throw becomes the rejection too.
   */
  options<T>(options: unknown, op: string, keys: OptionKeys<T>): { readonly [K in keyof T]?: unknown } {
    if (options === undefined) return {};
    checkOptions(op, options, keys);
    return options;
  }

  /**
   * Backend allocations alive now (tensors, weight parts, workspaces; cpu and sim count them, cuda
   * says -1; 0 once closed). For leak checks: it returns to its level once what was made is disposed
   * and the stream has run the frees (`await sq.synchronize()`).
   */
  get liveAllocations(): number {
    return this.handle.liveAllocations;
  }

  /** Enqueued work not yet finished. */
  get pending(): number {
    return this.handle.pending;
  }

  /** True after a device error (a simulator check too): the context must be reopened. */
  get lost(): boolean {
    return this.handle.lost;
  }

  /** What the last cuda/sim kernel launch chose (kernel, tile config, grid) and, on sim, the bytes it read per buffer. */
  get lastLaunch(): LaunchInfo | null {
    return this.handle.lastLaunch;
  }

  /**
   * A tensor holding a copy of `data` (the array may be reused at once).
   * @param data f16/bf16: Uint16Array of bits (or a Float16Array for f16, Node ≥ 24); f32: Float32Array; i8: Int8Array; u8: Uint8Array; i32: Int32Array.
   * @param shape 1–8 positive integers whose product is `data.length`.
   * @throws {SparqDTypeError} when the array type does not match the dtype.
   * @throws {SparqShapeError} on a bad shape or a length mismatch.
   * @throws {SparqOutOfMemoryError} when the allocation fails.
   */
  tensor<D extends DType>(data: HostInputOf[D], shape: readonly number[], dtype: D): Tensor<D> {
    refuseExtraArguments('tensor', arguments.length, ['data', 'shape', 'dtype']);
    refuseBackendObject(data, 'tensor', 'data', 'a typed array of host data');
    return this.wrap(this.handle.tensor(dtype === 'f16' ? asFp16Bits(data) : data, shape, dtype)) as Tensor<D>;
  }

  /**
   * A copy of `src` made on the backend, in stream order (device-to-device on cuda).
   * @param options.out a tensor of the same dtype and shape to copy into.
   * @throws {SparqShapeError} / {SparqDTypeError} when `out` does not match `src`.
   */
  copy<T extends Tensor>(src: T, options: { out?: T | undefined } = {}): T {
    refuseExtraArguments('copy', arguments.length, ['src', 'options']);
    checkOptions('copy', options, COPY_KEYS);
    return this.wrap(this.native.copy(this.handle, unwrap(src), unwrap(options.out)), options.out) as T;
  }

  /** A zero-filled tensor (filled on the stream). @throws {SparqOutOfMemoryError} when it cannot be allocated. */
  zeros<D extends DType>(shape: readonly number[], dtype: D): Tensor<D> {
    refuseExtraArguments('zeros', arguments.length, ['shape', 'dtype']);
    return this.wrap(this.handle.zeros(shape, dtype)) as Tensor<D>;
  }

  /**
   * Ranks on this context for {@link Group.allreduceRmsnorm}: CPU threads on cpu, virtual ranks on
   * one device on sim and cuda. `dispose()` the group to free its workspace early.
   * @throws {SparqArgumentError} when ranks is not an integer in [1, 8].
   */
  group(options: GroupOptions): Group {
    // Like every op of a closed context (the native ones say the same): not a Group whose first call fails.
    if (this.closed) throw new SparqDisposedError(`group: context ${this.label} was closed`, { argument: 'context' });
    return Group.create(this, options);
  }

  /**
   * Joins the comm `id` (from `sparq.comm.create()`, or `sparq.comm.createNccl()` for ranks on
   * several machines) as `rank` of `size`: ranks in other worker_threads or processes, each with
   * its own context on any backend (a comm may mix them; {@link Comm.transport} says how rows move).
   * Resolves once every rank has joined. Rejects with {@link SparqTimeoutError} naming the ranks
   * that did not join within `timeoutMs`, {@link SparqArgumentError} on a bad id, rank, size or a
   * rank joined twice, and {@link SparqBackendError} when an NCCL id's library cannot be loaded.
   */
  comm(options: CommOptions): Promise<Comm> {
    return joinComm(this, options);
  }

  /** Resolves when all work enqueued so far is done; rejects with the first failure since the last call. */
  synchronize(): Promise<void> {
    return settle(() => this.handle.synchronize(), new Error());
  }

  /**
   * Resolves with the stream time in ms at which the stream reached this point (CUDA events on
   * cuda, the worker's monotonic clock on cpu/sim): `(await t1) - (await t0)` is the kernel time of
   * the work enqueued between two marks, without JS or N-API overhead.
   */
  mark(): Promise<number> {
    return settle(() => this.handle.mark(), new Error());
  }

  /**
   * @internal The public tensor for an op's native result: `out` itself when the caller passed one
   * (a second wrapper would be a second GC backstop that disposes the caller's tensor), else a new one.
   */
  wrap(handle: ReturnType<NativeContext['tensor']>, out?: unknown): Tensor {
    if (out instanceof Tensor && out.handle === handle) return out;
    return Tensor.fromNative(handle, this);
  }

  /** @internal maps public objects to native handles; anything else goes through for native validation. */
  nativeArgs<T extends MatmulOptions>(
    op: string,
    a: unknown,
    b: unknown,
    options: T,
    keys: OptionKeys<T>,
  ): { a: unknown; b: unknown; bias: unknown; out: unknown } {
    checkOptions(op, options, keys);
    return { a: unwrap(a), b: unwrap(b), bias: unwrap(options.bias), out: unwrap(options.out) };
  }
}

/**
 * The native handle of a public tensor or weight; anything else (an object that only shares the
 * prototype has no handle) goes through as it is, for the native check to name.
 */
function unwrap(v: unknown): unknown {
  if ((v instanceof Tensor || v instanceof PackedWeight) && v.handle !== undefined) return v.handle;
  return v;
}

const BACKENDS: readonly BackendRequest[] = ['auto', 'cuda', 'cpu', 'sim'];

/** An environment variable holding a count in 1..max (undefined when unset or empty). */
function envCount(env: NodeJS.ProcessEnv, name: string, max: number): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const v = Number(raw);
  if (!(/^[0-9]+$/.test(raw.trim()) && Number.isSafeInteger(v) && v >= 1 && v <= max))
    throw new SparqArgumentError(`open: ${name} must be an integer in 1..${max}, got ${JSON.stringify(raw)}`, { argument: name });
  return v;
}

/**
 * Opens a backend. `'auto'` (default) → cuda when usable, else cpu with `fallbackReason` set.
 * @throws {SparqBackendError} when the requested backend is not available (says what is missing and what to do).
 * @throws {SparqArgumentError} on an unknown backend name or device.
 */
export async function open(options: OpenOptions = {}): Promise<Context> {
  const site = new Error();
  checkOptions('open', options, OPEN_KEYS);
  let backend: unknown = options.backend ?? 'auto';
  // SPARQ_BACKEND replaces 'auto', given or defaulted; errors then name the variable.
  const fromEnv = backend === 'auto' && !!process.env.SPARQ_BACKEND;
  if (fromEnv) backend = process.env.SPARQ_BACKEND;
  if (typeof backend !== 'string' || !BACKENDS.includes(backend as BackendRequest)) {
    const from = fromEnv ? 'SPARQ_BACKEND' : 'backend';
    const got = typeof backend === 'string' ? JSON.stringify(backend) : describeValue(backend); // JSON.stringify throws on a BigInt
    throw new SparqArgumentError(`open: ${from} must be one of 'auto', 'cuda', 'cpu', 'sim', got ${got}`, {
      argument: from,
    });
  }
  const binding = native();
  const env = process.env;
  const threads = options.threads ?? threadsFromEnv(env.SPARQ_THREADS);
  if (threads !== undefined && !isThreadCount(threads)) {
    const from = options.threads === undefined ? 'SPARQ_THREADS' : 'threads';
    throw new SparqArgumentError(`open: ${from} must be an integer in 1..${MAX_THREADS}, got ${options.threads === undefined ? JSON.stringify(env.SPARQ_THREADS) : describeValue(options.threads)}`, {
      argument: from,
    });
  }
  // The simulated device (its SM count, its memory for the out-of-memory path); read here, not in
  // native code, so they follow process.env as the caller sees it (jest gives each file its own
  // copy). A value that is not a count is refused where sim opens, as SPARQ_THREADS is: '0', 'abc'
  // or '2.5' used to become the default, or a truncation, without a word.
  const simSms = backend === 'sim' ? envCount(env, 'SPARQ_SIM_SMS', 1024) : undefined;
  const simMemoryBytes = backend === 'sim' ? envCount(env, 'SPARQ_SIM_MEMORY_BYTES', Number.MAX_SAFE_INTEGER) : undefined;
  // Errors about the SIMD path name what set it: the option, or else the environment variable.
  const cpuIsaSource = options.cpuIsa !== undefined ? 'cpuIsa' : 'SPARQ_CPU_ISA';
  const cpuIsa = checkCpuIsa(options.cpuIsa ?? env.SPARQ_CPU_ISA ?? '', cpuIsaSource === 'cpuIsa' ? 'open: cpuIsa' : 'open: SPARQ_CPU_ISA', cpuIsaSource);
  // Every SPARQ_* variable as process.env has it here: the native code reads these instead of the
  // process environment, whose getenv races Node's setenv off the main JS thread (a SIGSEGV with a
  // worker submitting ops while the main thread wrote process.env, 2026-12-06). So the kernels'
  // switches (SPARQ_SPARSE_SKIP, …) and the sim's diagnostics are read when the context opens.
  const nativeOptions = { cpuIsa, cpuIsaSource, threads, simSms, simMemoryBytes, env: sparqVariables(env) };
  // A backend that SPARQ_BACKEND asked for and that is missing: the message says where the request
  // came from (annotated before withCallSite writes the stack from the message).
  const opening = binding.openContext(backend, options.device ?? 0, nativeOptions).catch((e: unknown) => {
    if (fromEnv && backend !== 'auto' && e instanceof SparqBackendError) e.message = `${e.message} (backend '${backend}' from SPARQ_BACKEND)`;
    throw e;
  });
  const handle = await withCallSite(opening, site);
  return Context.fromNative(handle, binding);
}
