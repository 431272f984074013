import { inspect } from 'util';

import { asFp16Bits, type DType, type HostArray, type HostArrayOf, type HostInputOf } from './dtype';
import { settle, SparqArgumentError } from './errors';
import type { NativeTensor } from './native';

/**
 * @internal Defines a read-only, non-enumerable property: the native handle and the owning context
 * stay out of structured clone's, spread's and jest's reach (see refuseStructuredClone).
 */
export function defineHidden(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: false, writable: false, configurable: false });
}

/**
 * @internal Makes postMessage / structuredClone of a sparq object throw a SparqArgumentError that
 * says what to post instead (the structured-clone algorithm reads every own enumerable property;
 * without this it fails on the native handle with an unhelpful DataCloneError).
 */
export function refuseStructuredClone(target: object, what: string, instead: string): void {
  Object.defineProperty(target, '__noStructuredClone', {
    enumerable: true,
    get(): never {
      throw new SparqArgumentError(
        `postMessage: a sparq ${what} cannot be sent to another thread (its memory belongs to this thread's context); ` +
          `post ${instead} instead and create it there from an open() of that thread`,
        { argument: what },
      );
    },
  });
}

/**
 * A block of memory on a context's backend with a dtype and a shape. Created by `sq.tensor`,
 * `sq.zeros` or an op; read with `await t.read()`; free with `t.dispose()` (or `using`), or all at
 * once with the context's `close()`. A tensor that is garbage-collected without either is freed
 * by the native finalizer (in stream order).
 */
export class Tensor<D extends DType = DType> {
  /** @internal */
  declare readonly handle: NativeTensor;
  /** @internal identity of the owning context */
  declare readonly owner: object;
  readonly shape: readonly number[];
  readonly dtype: D;

  /** @internal */
  constructor(handle: NativeTensor, owner: object) {
    defineHidden(this, 'handle', handle);
    defineHidden(this, 'owner', owner);
    this.shape = Object.freeze(handle.shape.slice());
    this.dtype = handle.dtype as D;
    refuseStructuredClone(this, 'tensor', 'await tensor.read()');
  }

  /** Bytes of backend memory held (0 after dispose). */
  get bytes(): number {
    return this.handle.bytes;
  }

  /** Number of elements. */
  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  /** True after `dispose()`, or after the owning context was closed. */
  get disposed(): boolean {
    return this.handle.disposed;
  }

  /**
   * A fresh host copy, taken after every op enqueued before this call: Uint16Array for f16/bf16
   * (raw bits), Float32Array, Int8Array, Uint8Array or Int32Array.
   *
   * `read(out)` copies into `out` instead and resolves with it: the same array type as `read()`
   * gives (a Float16Array too for f16), exactly `size` elements. A loop that reads every step then
   * allocates nothing. `out` is written only when the read completes, on this thread, just before
   * the promise resolves; if it was detached (transferred) or resized meanwhile, the promise rejects
   * with a SparqArgumentError and nothing is written.
   * @throws {SparqArgumentError | SparqDTypeError | SparqShapeError} (as a rejection, nothing
   *   enqueued) for an `out` of the wrong type or length.
   * @throws {SparqDisposedError} (as a rejection) after dispose() or the context's close().
   * @returns rejects with the op's error when the op that produced this tensor failed.
   */
  read(): Promise<HostArrayOf[D]>;
  read<O extends HostInputOf[D]>(out: O): Promise<O>;
  read(out?: HostInputOf[D]): Promise<HostArrayOf[D] | HostInputOf[D]> {
    if (out === undefined) return settle(() => this.handle.read() as Promise<HostArrayOf[D]>, new Error());
    const bits = this.dtype === 'f16' ? asFp16Bits(out) : out;
    return settle(() => this.handle.read(bits as HostArray).then(() => out), new Error());
  }

  /** Releases this handle's memory; work already enqueued that uses it still completes. Idempotent. */
  dispose(): void {
    this.handle.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  /** @internal */
  [inspect.custom](): string {
    return this.toString();
  }

  /** @internal the tensor's description, not its data (read() gives that). */
  toJSON(): { dtype: D; shape: readonly number[]; disposed: boolean } {
    return { dtype: this.dtype, shape: this.shape, disposed: this.disposed };
  }

  toString(): string {
    return `Tensor<${this.dtype}>[${this.shape.join(', ')}]${this.disposed ? ' (disposed)' : ''}`;
  }
}
