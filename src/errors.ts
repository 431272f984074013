import { types } from 'util';

/**
 * sparq's typed errors (docs/api.md "Errors"). Every error has a stable `code` and, where it applies,
 * the `argument` it is about; messages read `<op>: <argument> must be <expected>, got <received>`.
 */

/** Marks an error made by any copy of sparq in this process (Symbol.for: the same symbol in each). */
const SPARQ_ERROR = Symbol.for('sparq.error');

/** Every `code` a sparq error carries: a `switch (e.code)` with a misspelt case does not compile. */
export type SparqErrorCode =
  | 'ERR_SPARQ'
  | 'ERR_SPARQ_ARGUMENT'
  | 'ERR_SPARQ_SHAPE'
  | 'ERR_SPARQ_DTYPE'
  | 'ERR_SPARQ_DISPOSED'
  | 'ERR_SPARQ_BACKEND'
  | 'ERR_SPARQ_OUT_OF_MEMORY'
  | 'ERR_SPARQ_DEVICE'
  | 'ERR_SPARQ_TIMEOUT';

/** Base class of every error sparq throws or rejects with. */
export class SparqError extends Error {
  /** Stable machine-readable code, e.g. `ERR_SPARQ_SHAPE`. */
  readonly code: SparqErrorCode = 'ERR_SPARQ';
  /** The argument the error is about (`'x'`, `'shape'`, `'groupSize'` …), when there is one. */
  argument?: string | undefined;
  // `| undefined`: an error rebuilt from its toJSON() passes `{ argument: j.argument }` as it is,
  // which exactOptionalPropertyTypes refused.
  constructor(message: string, options: { argument?: string | undefined } = {}) {
    super(message);
    this.name = new.target.name;
    Object.defineProperty(this, SPARQ_ERROR, { value: true });
    if (options.argument !== undefined) this.argument = options.argument;
  }

  /**
   * `e instanceof SparqShapeError` also holds for an error of that code made by another copy of
   * sparq in this thread. Every copy's src/ shares one loaded sparq.node (Node caches it by path),
   * which throws with the classes of the copy that loaded last — a second module registry
   * (jest.isolateModules, resetModules) or a second bundle of sparq's JS would otherwise make the
   * first copy's errors fail its own `instanceof`.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (Function.prototype[Symbol.hasInstance].call(this, value)) return true;
    if (typeof value !== 'object' || value === null || !Object.prototype.hasOwnProperty.call(value, SPARQ_ERROR)) return false;
    if (this === SparqError) return true;
    const code = codeOfClass.get(this);
    return code !== undefined && (value as { code?: unknown }).code === code;
  }

  /**
   * `{ name, code, message, argument? }`: what JSON.stringify writes (an Error's message is not an
   * own enumerable property, so it was left out), and what to post from a worker — postMessage's
   * structured clone keeps an Error's message but drops `code`, `argument` and the class.
   */
  toJSON(): { name: string; code: SparqErrorCode; message: string; argument?: string } {
    return { name: this.name, code: this.code, message: this.message, ...(this.argument === undefined ? {} : { argument: this.argument }) };
  }
}

/** Not a typed array, bad option, tensor from another context, anything else malformed. */
export class SparqArgumentError extends SparqError {
  override readonly code = 'ERR_SPARQ_ARGUMENT';
}
/** Shapes that do not fit, e.g. `dense.matmul: x must be [m, 4096], got [8, 4095]`. */
export class SparqShapeError extends SparqError {
  override readonly code = 'ERR_SPARQ_SHAPE';
}
/** A dtype not allowed here, or an array type not matching the dtype. */
export class SparqDTypeError extends SparqError {
  override readonly code = 'ERR_SPARQ_DTYPE';
}
/** Use of a tensor, weight, group or comm after `dispose()`, or of anything of a context after its `close()`. */
export class SparqDisposedError extends SparqError {
  override readonly code = 'ERR_SPARQ_DISPOSED';
}
/** The backend is not available; the message says what is missing and what to do. */
export class SparqBackendError extends SparqError {
  override readonly code = 'ERR_SPARQ_BACKEND';
}
/** An allocation failed; the context stays usable. */
export class SparqOutOfMemoryError extends SparqError {
  override readonly code = 'ERR_SPARQ_OUT_OF_MEMORY';
}
/** A kernel or device failure (a simulator check too); the context is then lost and must be reopened. */
export class SparqDeviceError extends SparqError {
  override readonly code = 'ERR_SPARQ_DEVICE';
}

/**
 * A rank of a comm did not arrive in time (or its process exited, or it closed the comm): the
 * message names it. The context stays usable; the comm is broken and must be created again.
 */
export class SparqTimeoutError extends SparqError {
  override readonly code = 'ERR_SPARQ_TIMEOUT';
}

/** code → class, handed to the addon so native code throws and rejects with these classes. */
export const errorClassesByCode = {
  ERR_SPARQ_ARGUMENT: SparqArgumentError,
  ERR_SPARQ_SHAPE: SparqShapeError,
  ERR_SPARQ_DTYPE: SparqDTypeError,
  ERR_SPARQ_DISPOSED: SparqDisposedError,
  ERR_SPARQ_BACKEND: SparqBackendError,
  ERR_SPARQ_OUT_OF_MEMORY: SparqOutOfMemoryError,
  ERR_SPARQ_DEVICE: SparqDeviceError,
  ERR_SPARQ_TIMEOUT: SparqTimeoutError,
} as const;

/** class → code, for SparqError's instanceof (a user's subclass has none: only its own instances match). */
const codeOfClass = new Map<unknown, string>(Object.entries(errorClassesByCode).map(([code, cls]) => [cls, code]));

/**
 * Runs a native call that returns a Promise so that a synchronous throw (bad argument, lost
 * context) becomes a rejection too: a Promise-returning API never throws.
 */
export function settle<T>(call: () => Promise<T>, site: Error): Promise<T> {
  let p: Promise<T>;
  try {
    p = call();
  } catch (error) {
    p = Promise.reject(error);
  }
  return withCallSite(p, site);
}

/**
 * Re-anchors an async rejection's stack at the public call that queued the work (captured before
 * the native call), so stacks point at the user's code rather than at the completion callback.
 */
export function withCallSite<T>(promise: Promise<T>, site: Error): Promise<T> {
  return promise.catch((error: unknown) => {
    if (error instanceof Error && site.stack) {
      const frames = site.stack.split('\n').slice(1).join('\n');
      error.stack = `${error.name}: ${error.message}\n${frames}`;
    }
    throw error;
  });
}

/**
 * Runs `start` now — so a caller's array is copied before the caller's next statement, as the API
 * promises ("reuse your array at once") — and turns a synchronous throw (a bad argument) into a
 * rejection, since a Promise-returning call never throws.
 */
export function startNow<T>(start: () => T | Promise<T>): Promise<T> {
  try {
    return Promise.resolve(start());
  } catch (error) {
    return Promise.reject(error);
  }
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** A short description of a value for "got …" (the same words the native checks use). */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (v === null) return 'null';
  if (typeof v === 'boolean' || typeof v === 'number' || typeof v === 'bigint') return `${typeof v} ${String(v)}`;
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === 'function') return 'function';
  if (typeof v === 'symbol') return 'symbol';
  if (ArrayBuffer.isView(v)) return `${v.constructor.name}(${(v as unknown as { length?: number }).length ?? v.byteLength})`;
  if (Array.isArray(v)) return `array of length ${v.length}`;
  // util.types: a Map or Set from another realm (a vm context) too
  if (types.isMap(v)) return `a Map of ${plural((v as Map<unknown, unknown>).size, 'entry', 'entries')}`;
  if (types.isSet(v)) return `a Set of ${plural((v as Set<unknown>).size, 'value', 'values')}`;
  if (v instanceof Promise) return 'a Promise (missing await?)';
  try {
    if (typeof (v as { then?: unknown }).then === 'function') return 'a thenable (missing await?)';
  } catch {
    // a throwing getter: still just an object
  }
  return 'object';
}

/**
 * Throws for a call with more arguments than the op takes (`params`, its parameter names): a
 * synchronous op's throw, or inside startNow a Promise-returning op's rejection. A surplus argument is a misplaced option — int8.quantize(w,
 * shape, { threshold }) would run without it, dense.matmul(w, x, undefined, { bias }) without the
 * bias —, so ops that take data or shapes refuse it. Methods that take nothing (close,
 * synchronize, dispose) or only an options object (open, group, comm, comm.create) keep
 * JavaScript's rule, so callbacks still work: `promise.then(sq.synchronize)`,
 * `configs.map(open)` (which passes an index and the array too).
 */
export function refuseExtraArguments(op: string, given: number, params: readonly string[]): void {
  if (given <= params.length) return;
  throw new SparqArgumentError(
    `${op}: arguments must be at most ${params.length} (${params.join(', ')}), got ${given}` +
      (params.includes('options') ? ' (an option goes inside the options object)' : ''),
    { argument: 'arguments' },
  );
}
