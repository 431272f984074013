// onnxruntime-node as a benchmark peer. It is an optional dev dependency: when it cannot be loaded
// the benchmarks print one line and carry on without the peer.

import { waitForIdle } from '../harness/quiesce';

/** The slice of onnxruntime-node's API the benchmarks use (typed here so it stays optional). */
export interface OrtTensor {
  readonly data: unknown;
  readonly dims: readonly number[];
}
export interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}
interface OrtModule {
  InferenceSession: { create(model: Uint8Array, options: Record<string, unknown>): Promise<OrtSession> };
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => OrtTensor;
  env: { versions?: { common?: string } };
}

function isObject(x: unknown): x is Record<string, unknown> {
  return (typeof x === 'object' || typeof x === 'function') && x !== null;
}

function isOrtModule(x: unknown): x is OrtModule {
  if (!isObject(x) || !isObject(x.InferenceSession) || typeof x.Tensor !== 'function') return false;
  return typeof x.InferenceSession.create === 'function' && isObject(x.env);
}

/** A loaded onnxruntime-node: its version and a session factory with the benchmark's options. */
export interface OrtRuntime {
  readonly version: string;
  /** intraOpNumThreads = `threads` (the same count sparq uses), sequential, all graph optimizations. */
  createSession(model: Uint8Array, threads: number): Promise<OrtSession>;
  tensor(data: Float32Array, dims: readonly number[]): OrtTensor;
}

let cached: OrtRuntime | null | undefined;

/** Loads onnxruntime-node once; on failure prints one line to stderr and returns null. */
export function loadOrt(): OrtRuntime | null {
  if (cached !== undefined) return cached;
  cached = null;
  let mod: unknown;
  try {
    mod = require('onnxruntime-node');  // eslint-disable-line @typescript-eslint/no-require-imports
  } catch (e) {
    const reason = e instanceof Error ? e.message.split('\n')[0] : String(e);
    process.stderr.write(`onnxruntime-node not available (${reason}); skipping the ORT peer\n`);
    return cached;
  }
  if (!isOrtModule(mod)) {
    process.stderr.write('onnxruntime-node loaded but its API is not the expected one; skipping the ORT peer\n');
    return cached;
  }
  const ort = mod;
  cached = {
    version: ort.env.versions?.common ?? 'unknown',
    createSession: (model, threads) => ort.InferenceSession.create(model, {
      executionProviders: ['cpu'],
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    }),
    tensor: (data, dims) => new ort.Tensor('float32', data, dims),
  };
  return cached;
}

/** Nanosecond wall clock in ms; ORT runs synchronously inside `run`, so wall time is its time. */
function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/**
 * One ORT session whose graph holds `copies` independent nodes, each with its own copy of the
 * weights (so caches cannot hold them across nodes) and all fed the same input. A run executes the
 * nodes back to back on one thread pool, like the layers of a model; a sample is run time / copies.
 * (Separate sessions would each own a thread pool, and on 2 cores their spinning threads fight.)
 */
export class OrtPeer {
  private feeds: Record<string, OrtTensor> | null = null;

  private constructor(private readonly ort: OrtRuntime, private session: OrtSession | null, readonly copies: number) {}

  /** @param model built with `copies` nodes (see onnxModel.ts). */
  static async create(ort: OrtRuntime, model: Uint8Array, copies: number, threads: number): Promise<OrtPeer> {
    return new OrtPeer(ort, await ort.createSession(model, threads), copies);
  }

  /** Sets the activation fed to every later run (fp32 `[m, k]`). */
  setInput(x: Float32Array, dims: readonly number[]): void {
    this.feeds = { [this.live().inputNames[0]]: this.ort.tensor(x, dims) };
  }

  /** Runs once and returns the first node's output (for the reference check). */
  async output(): Promise<Float32Array> {
    const s = this.live();
    const out = (await s.run(this.requireFeeds()))[s.outputNames[0]];
    await waitForIdle();
    if (!(out.data instanceof Float32Array)) throw new Error('ORT peer: output is not float32');
    return out.data;
  }

  /** Runs `count` times; returns each run's wall time divided by the node count, in ms. */
  async timeRuns(count: number): Promise<number[]> {
    const s = this.live();
    const feeds = this.requireFeeds();
    const samples: number[] = [];
    for (let i = 0; i < count; i++) {
      const t0 = nowMs();
      await s.run(feeds);
      samples.push((nowMs() - t0) / this.copies);
    }
    await waitForIdle();  // ORT's workers spin after a run; the next contender must not run beside them
    return samples;
  }

  async release(): Promise<void> {
    const s = this.session;
    this.session = null;
    this.feeds = null;
    await s?.release();
  }

  private live(): OrtSession {
    if (this.session === null) throw new Error('ORT peer: session was released');
    return this.session;
  }

  private requireFeeds(): Record<string, OrtTensor> {
    if (this.feeds === null) throw new Error('ORT peer: setInput() was not called');
    return this.feeds;
  }
}
