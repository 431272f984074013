import { inspect } from 'util';

import { settle } from './errors';
import { checkConstructed, type CONSTRUCT } from './construct';
import type { NativeWeight } from './native';
import { defineHidden, refuseStructuredClone, wrongReceiver } from './tensor';

/**
 * Packed weights of every kind (W4A16, sparse, int8) share this base: dims, bytes,
 * `read()`, `dispose()` (also `using`). Packed in the layout of the context's backend, freed with
 * the context on `close()`. The native wrapper's finalizer is the GC backstop.
 */
export abstract class PackedWeight<R = unknown> {
  /** @internal */
  declare readonly handle: NativeWeight;
  /** @internal identity of the owning context */
  declare readonly owner: object;
  /** Output features. */
  readonly n: number;
  /** Input features. */
  readonly k: number;
  /** Bytes of backend memory held (packed data, padding included; 0 after dispose, as a tensor's). */
  get bytes(): number {
    return this.disposed ? 0 : this.packedBytes;
  }
  private readonly packedBytes: number;

  /**
   * Weights come from the ops' quantize / encode / fromCodes, never from `new`. (Parameters typed
   * `unknown` in the declarations: the internal token and native handle types stay out of a user's
   * program.)
   */
  protected constructor(token: unknown, handle: unknown, owner: object) {
    checkConstructed(token, new.target.name, 'weights come from the ops\' quantize, encode and fromCodes');
    defineHidden(this, 'handle', handle);
    defineHidden(this, 'owner', owner);
    const info = (handle as NativeWeight).info();
    this.n = info.n;
    this.k = info.k;
    this.packedBytes = info.bytes;
    refuseStructuredClone(this, 'weight', 'await weight.read()');
  }

  /** True after `dispose()`, or after the owning context was closed. */
  get disposed(): boolean {
    return this.handle.disposed;
  }

  /**
   * Host copies of what the weight encodes (per kind: W4A16 → codes and scales), exactly as packed.
   * @throws {SparqDisposedError} (as a rejection) after dispose() or the context's close().
   */
  read(): Promise<R> {
    return settle(() => {
      if (!isWeightReceiver(this)) throw wrongReceiver('PackedWeight.read', this, 'weight', 'await weight.read()');
      return this.handle.read() as Promise<R>;
    }, new Error());
  }

  /** Frees the backend memory (work already enqueued that uses it still completes). Idempotent. */
  dispose(): void {
    if (!isWeightReceiver(this)) throw wrongReceiver('PackedWeight.dispose', this, 'weight', 'weight.dispose()');
    this.handle.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  /** @internal */
  [inspect.custom](): string {
    return this.toString();
  }

  /** @internal the weight's description, not its data (read() gives that); JSON.stringify uses it. */
  toJSON(): { kind: string; n: number; k: number; bytes: number; disposed: boolean } {
    return { kind: this.constructor.name, n: this.n, k: this.k, bytes: this.bytes, disposed: this.disposed };
  }

  toString(): string {
    return `${this.constructor.name}[${this.n}, ${this.k}]${this.disposed ? ' (disposed)' : ` ${this.bytes} bytes`}`;
  }
}

// A weight's handle is its own hidden property (defineHidden in the constructor): an object that
// merely has PackedWeight's prototype has none.
function isWeightReceiver(self: unknown): boolean {
  return self instanceof PackedWeight && Object.hasOwn(self, 'handle');
}
