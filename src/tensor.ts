import { inspect } from 'util';

import { asFp16Bits, type DType, type HostArray, type HostArrayOf, type HostInputOf } from './dtype';
import { describeValue, settle, SparqArgumentError } from './errors';
import { CONSTRUCT, checkConstructed } from './construct';
import type { NativeTensor } from './native';

// sparq's classes declare [Symbol.dispose]() / [Symbol.asyncDispose](), which lib.es2022 lacks:
// declared here as @types/node declares them (identical to lib.esnext.disposable's, so they
// merge), so the shipped .d.ts typecheck in a project that does not list @types/node in `types`
// (TypeScript 6 and later default `types` to []) or use lib esnext.
// The Disposable interfaces too, which `using` / `await using` need: without them such a project
// failed with "Cannot find global type 'AsyncDisposable'".
declare global {
  interface SymbolConstructor {
    readonly dispose: unique symbol;
    readonly asyncDispose: unique symbol;
  }
  interface Disposable {
    [Symbol.dispose](): void;
  }
  interface AsyncDisposable {
    [Symbol.asyncDispose](): PromiseLike<void>;
  }
}

/**
 * @internal Defines a read-only, non-enumerable property: the native handle and the owning context
 * stay out of structured clone's, spread's and jest's reach (see refuseStructuredClone).
 */
export function defineHidden(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: false, writable: false, configurable: false });
}

/**
 * @internal Gives `target` its class's public methods bound to it, as hidden own properties, so a
 * method taken off its object (`const { matmul } = sq.dense`, a callback `then(sq.synchronize)`)
 * still works — it was a TypeError "Cannot read properties of undefined". For the objects there are
 * few of (a context, its op namespaces, groups and comms), not tensors or weights: a closure per
 * method per tensor would cost every op. `internal`: methods sparq calls itself on every op (a bound
 * copy per context would make those call sites see a different function per context).
 */
export function bindMethods(target: object, proto: object, internal: readonly string[] = []): void {
  for (const name of Object.getOwnPropertyNames(proto)) {
    if (name === 'constructor' || internal.includes(name)) continue;
    const value: unknown = Object.getOwnPropertyDescriptor(proto, name)?.value;
    // Not enumerable (inspect and Object.keys stay as they were); writable and configurable, so a
    // test can still jest.spyOn(sq.dense, 'matmul').
    if (typeof value === 'function')
      Object.defineProperty(target, name, {
        value: (value as (...a: unknown[]) => unknown).bind(target), enumerable: false, writable: true, configurable: true,
      });
  }
}

/**
 * @internal Makes postMessage / structuredClone of a sparq object throw a SparqArgumentError that
 * says what to post instead (the structured-clone algorithm reads every own enumerable property;
 * without this it fails on the native handle with an unhelpful DataCloneError).
 */
export function refuseStructuredClone(target: object, what: string, instead: string): void {
  Object.defineProperty(target, '__noStructuredClone', noCloneDescriptor(what, instead));
  backendObjects.set(target, { what, instead });
}

// The library's objects (a weight, a context, a group, a comm), with what to post instead of them:
// an argument that takes host data says what it got instead of "got object". Only a tensor's and a
// weight's `instead` is how to get host data from them (read()). Tensors are not in it: every op
// output is a tensor, and a WeakMap entry per tensor (an ephemeron V8 rehashes as the table grows
// and revisits in every GC) was 1–2.5 µs of each tensor's creation at 10^5 alive
// (docs/decisions.md "Per-object cost"); Tensor.isTensor tells them by their private field instead.
const backendObjects = new WeakMap<object, { what: string; instead: string }>();
const HOLDS_DATA = new Set(['tensor', 'weight']);
const TENSOR_NO_CLONE = { what: 'tensor', instead: 'await tensor.read()' };

/**
 * @internal The error for a tensor or weight method called on something else: taken off its object
 * (`const { read } = t; read()`, `tensors.forEach((t) => t.dispose)` mistakes) or `.call`ed on
 * another one. It was a raw TypeError ("Cannot read properties of undefined (reading 'handle')").
 * Tensors and weights do not bind their methods as a context does: a closure per method per object
 * would cost every op (see bindMethods).
 */
export function wrongReceiver(method: string, self: unknown, what: string, usage: string): SparqArgumentError {
  return new SparqArgumentError(
    `${method}: must be called on a sparq ${what} (${usage}), got this = ${describeValue(self)}`,
    { argument: 'this' },
  );
}

function isTensorReceiver(self: unknown): boolean {
  return self !== null && typeof self === 'object' && Tensor.isTensor(self);
}

/** What sparq object `value` is (its kind, and what to post instead), or undefined for anything else. */
function sparqObject(value: unknown): { what: string; instead: string } | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  return Tensor.isTensor(value) ? TENSOR_NO_CLONE : backendObjects.get(value);
}

/** What kind of sparq object `value` is ('tensor', 'weight', 'context', 'group', 'comm'), or undefined for anything else. */
export function sparqObjectKind(value: unknown): string | undefined {
  return sparqObject(value)?.what;
}

/** Throws SparqArgumentError when `data` (an argument that takes host data) is a sparq object: a tensor, a weight, a context, a group or a comm. */
export function refuseBackendObject(data: unknown, op: string, argument: string, expected: string): void {
  const known = sparqObject(data);
  if (known === undefined) return;
  throw new SparqArgumentError(
    HOLDS_DATA.has(known.what)
      ? `${op}: ${argument} must be ${expected}, got a sparq ${known.what} (its memory is the backend's: ${known.instead} gives its host data)`
      : `${op}: ${argument} must be ${expected}, got a sparq ${known.what} (it holds no host data)`,
    { argument },
  );
}

// One accessor per kind of object, shared by its instances: a tensor is made per op, and a fresh
// closure and descriptor for each cost time on every call (below).
const noCloneDescriptors = new Map<string, PropertyDescriptor>();
function noCloneDescriptor(what: string, instead: string): PropertyDescriptor {
  const key = `${what}\0${instead}`;
  let d = noCloneDescriptors.get(key);
  if (d === undefined) {
    d = Object.freeze({
      enumerable: true,
      get(): never {
        throw new SparqArgumentError(
          `postMessage: a sparq ${what} cannot be sent to another thread (its memory belongs to this thread's context); ` +
            `post ${instead} instead and create it there from an open() of that thread`,
          { argument: what },
        );
      },
    });
    noCloneDescriptors.set(key, d);
  }
  return d;
}

// Looked up once: the lookup's key is a fresh string, hashed (and allocated in V8) per call.
const TENSOR_NO_CLONE_DESCRIPTOR = noCloneDescriptor(TENSOR_NO_CLONE.what, TENSOR_NO_CLONE.instead);

/**
 * A block of memory on a context's backend with a dtype and a shape. Created by `sq.tensor`,
 * `sq.zeros` or an op; read with `await t.read()`; free with `t.dispose()` (or `using`), or all at
 * once with the context's `close()`. A tensor that is garbage-collected without either is freed
 * by the native finalizer (in stream order).
 */
export class Tensor<D extends DType = DType> {
  // Private fields read through prototype getters: out of structured clone's, spread's and jest's
  // reach like defineHidden's properties, and cheap to set. Every op makes a tensor: with three
  // Object.defineProperty calls (and a closure) per tensor its construction took ~1 µs of the
  // ~7 µs JS spent enqueuing an op, this form ~0.15 µs (node 20, Zen 5, 2026-12-03).
  readonly #handle: NativeTensor;
  readonly #owner: object;
  readonly shape: readonly number[];
  readonly dtype: D;

  /** @internal the public tensor of a native one (ops, sq.tensor, sq.zeros make them) */
  static fromNative(handle: NativeTensor, owner: object): Tensor {
    return new Tensor(CONSTRUCT, handle, owner);
  }

  private constructor(token: typeof CONSTRUCT, handle: NativeTensor, owner: object) {
    checkConstructed(token, 'Tensor', 'tensors come from sq.tensor(), sq.zeros() and the ops');
    this.#handle = handle;
    this.#owner = owner;
    this.shape = Object.freeze(handle.shape); // the native getter makes a fresh array per call: no copy needed
    this.dtype = handle.dtype as D;
    Object.defineProperty(this, '__noStructuredClone', TENSOR_NO_CLONE_DESCRIPTOR);
  }

  /** @internal whether `value` was made by this class (its private field, not the prototype chain: no Proxy trap runs) */
  static isTensor(value: object): boolean {
    return #handle in value;
  }

  /** @internal the native tensor; undefined on an object that only has Tensor's prototype */
  get handle(): NativeTensor {
    return #handle in this ? this.#handle : (undefined as unknown as NativeTensor);
  }

  /** @internal identity of the owning context */
  get owner(): object {
    return #owner in this ? this.#owner : (undefined as unknown as object);
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
   * Whether this tensor's dtype is `dtype` — a type guard, so a `Tensor` of unknown dtype (one kept
   * in a `Map<string, Tensor>`) narrows to `Tensor<'f16'>` for the ops: comparing `t.dtype` does
   * not narrow the tensor itself.
   */
  hasDType<E extends DType>(dtype: E): this is Tensor<E> {
    return (this.dtype as DType) === dtype;
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
  /** `out` that may be undefined (as `read()` when it is). */
  read<O extends HostInputOf[D]>(out: O | undefined): Promise<O | HostArrayOf[D]>;
  read(out?: HostInputOf[D]): Promise<HostArrayOf[D] | HostInputOf[D]> {
    // inside settle: a Proxy receiver whose traps throw makes a rejection too, never a throw
    if (!isTensorReceiver(this)) return settle(() => { throw wrongReceiver('Tensor.read', this, 'tensor', 'await t.read()'); }, new Error());
    if (out === undefined) return settle(() => this.handle.read() as Promise<HostArrayOf[D]>, new Error());
    const bits = this.dtype === 'f16' ? asFp16Bits(out) : out;
    return settle(() => this.handle.read(bits as HostArray).then(() => out), new Error());
  }

  /** Releases this handle's memory; work already enqueued that uses it still completes. Idempotent. */
  dispose(): void {
    if (!isTensorReceiver(this)) throw wrongReceiver('Tensor.dispose', this, 'tensor', 't.dispose()');
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
