import type { DType, HostArray, HostArrayOf } from './dtype';
import { settle, SparqDisposedError } from './errors';
import type { NativeTensor } from './native';

// Backstop only: a tensor collected without dispose() still frees its memory (in stream order).
const collected = new FinalizationRegistry<NativeTensor>((handle) => handle.dispose());

/**
 * A block of memory on a context's backend with a dtype and a shape. Created by `sq.tensor`,
 * `sq.zeros` or an op; read with `await t.read()`; free with `t.dispose()` (or `using`).
 */
export class Tensor<D extends DType = DType> {
  /** @internal */
  readonly handle: NativeTensor;
  /** @internal identity of the owning context */
  readonly owner: object;
  readonly shape: readonly number[];
  readonly dtype: D;

  /** @internal */
  constructor(handle: NativeTensor, owner: object) {
    this.handle = handle;
    this.owner = owner;
    this.shape = Object.freeze(handle.shape.slice());
    this.dtype = handle.dtype as D;
    collected.register(this, handle, this);
  }

  /** Bytes of backend memory held (0 after dispose). */
  get bytes(): number {
    return this.handle.bytes;
  }

  /** Number of elements. */
  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  get disposed(): boolean {
    return this.handle.disposed;
  }

  /**
   * A fresh host copy, taken after every op enqueued before this call: Uint16Array for f16/bf16
   * (raw bits), Float32Array, Int8Array, Uint8Array or Int32Array.
   * @throws {SparqDisposedError} when the tensor was disposed.
   * @returns rejects with the op's error when the op that produced this tensor failed.
   */
  read(): Promise<HostArrayOf[D]> {
    const site = new Error();
    if (this.handle.disposed) return Promise.reject(new SparqDisposedError('read: tensor was disposed', { argument: 'tensor' }));
    return settle(() => this.handle.read() as Promise<HostArrayOf[D]>, site);
  }

  /** Releases this handle's memory; work already enqueued that uses it still completes. Idempotent. */
  dispose(): void {
    collected.unregister(this);
    this.handle.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  toString(): string {
    return `Tensor<${this.dtype}>[${this.shape.join(', ')}]${this.disposed ? ' (disposed)' : ''}`;
  }
}

/** @internal */
export type AnyHostArray = HostArray;
