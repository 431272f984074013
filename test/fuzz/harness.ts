// test/fuzz/harness.ts: what the op table (ops.ts) is written with — the per-backend environment
// (contexts, pools of live inputs, disposed and foreign ones), the argument specs, and the library
// of malformed values by argument kind. The driver (runFuzz.ts) only reads the table.
import type { BackendName, Context, DType } from '../../src';
import { open, SparqError, Tensor } from '../../src';
import type { PackedWeight as PackedWeightOf } from '../../src';

/** A weight of any kind (their read() results differ). */
type PackedWeight = PackedWeightOf<unknown>;
import { numberToF16Bits, rng } from '../reference';

/** Deterministic draws (mulberry32 of test/reference.ts): one per backend, from the run's seed. */
export class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = rng(seed);
  }
  float(): number {
    return this.next();
  }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }
}

/** Thrown by the fuzzer's own hostile getters and proxies: seeing it come back out is correct. */
export class FuzzTrap extends Error {
  constructor(where: string) {
    super(`fuzz trap: ${where}`);
    this.name = 'FuzzTrap';
  }
}

/** Dimensions a descriptor draws once per call so that its valid arguments agree with each other. */
export interface Dims {
  m: number;
  n: number;
  k: number;
  /** x's shape: [m, k] or [2, m/2, k] (leading dims are flattened). */
  xShape: number[];
  [extra: string]: unknown;
}

/** A malformed value for one argument; `mustThrow` when no correct API may accept it. */
export interface Bad {
  note: string;
  make: (env: FuzzEnv, d: Dims, args: unknown[]) => unknown;
  mustThrow: boolean;
}

/** One argument of a call (or a field of an options object). */
export interface Arg {
  name: string;
  /** A valid value (may be a Promise: the driver awaits it before the call). */
  valid: (env: FuzzEnv, d: Dims) => unknown;
  /** Malformed values: the generic junk of its kind plus the argument's own. */
  bad: (env: FuzzEnv, d: Dims) => Bad[];
  /** Options objects: their fields, each valid, absent or malformed on its own. */
  fields?: Arg[];
  /** Probability that an optional argument or field is left out of a valid call. */
  omit?: number;
}

/** One exported function or method: how to make a valid call, and the call itself. */
export interface OpDescriptor {
  name: string;
  /** Relative frequency (default 1). */
  weight?: number;
  /** Frequency on sim relative to cpu (default 1; 0 = not on sim): the simulator is slow. */
  simWeight?: number;
  dims?: (env: FuzzEnv) => Dims;
  /** `this` of the call: the primary context unless given (a closed context is its malformation). */
  receiver?: Arg | null;
  args: Arg[];
  call: (receiver: unknown, args: unknown[]) => unknown;
}

/** `self[name](...args)` with whatever the fuzzer built. */
export function invoke(self: unknown, name: string, args: unknown[]): unknown {
  const fn = (self as Record<string, (...a: unknown[]) => unknown>)[name];
  return Reflect.apply(fn, self, args);
}

// ------------------------------------------------------------------------------------------- data

export function randomF16(r: Rng, count: number): Uint16Array {
  const out = new Uint16Array(count);
  for (let i = 0; i < count; i++) out[i] = numberToF16Bits(r.float() * 2 - 1);
  return out;
}

type TypedCtor =
  | Int8ArrayConstructor
  | Uint8ArrayConstructor
  | Uint8ClampedArrayConstructor
  | Int16ArrayConstructor
  | Uint16ArrayConstructor
  | Int32ArrayConstructor
  | Uint32ArrayConstructor
  | Float32ArrayConstructor
  | Float64ArrayConstructor;
const TYPED: readonly TypedCtor[] = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array];

export const HOST_ARRAY: Record<DType, TypedCtor> = { f16: Uint16Array, bf16: Uint16Array, f32: Float32Array, i8: Int8Array, u8: Uint8Array, i32: Int32Array };

/** A valid host array of `dtype` and `count` elements, with values the dtype can hold. */
export function hostArray(r: Rng, dtype: DType, count: number): ArrayLike<number> {
  if (dtype === 'f16' || dtype === 'bf16') return randomF16(r, count);
  const a = new HOST_ARRAY[dtype](count);
  for (let i = 0; i < count; i++) a[i] = dtype === 'f32' ? r.float() * 2 - 1 : r.int(-8, 8) & (dtype === 'u8' ? 0xff : -1);
  return a;
}

// ------------------------------------------------------------------------------------ environment

type WeightKind = 'w4a16' | 'sparse' | 'int8';

/**
 * Per backend: the primary context, a second one (foreign tensors and weights), a closed one (with
 * a tensor and a weight of each kind made before its close), and pools of live inputs so that
 * most valid calls reuse tensors and weights instead of building new ones.
 */
export class FuzzEnv {
  readonly r: Rng;
  sq!: Context;
  other!: Context;
  closed!: Context;
  /** The context the current call runs on (set by the driver): "another context" is relative to it. */
  callContext!: Context;
  /** Tensors and weights of the closed context, by key. */
  readonly closedObjects = new Map<string, Tensor | PackedWeight>();
  private readonly tensors = new Map<string, Tensor>();
  private readonly weights = new Map<string, PackedWeight>();
  /** Everything made here that the end of the run disposes (closing the contexts frees it anyway). */
  private readonly made: (Tensor | PackedWeight)[] = [];

  constructor(
    readonly backend: BackendName,
    seed: number,
  ) {
    this.r = new Rng(seed);
  }

  async start(): Promise<void> {
    this.sq = await open({ backend: this.backend });
    this.other = await open({ backend: this.backend });
    this.closed = await open({ backend: this.backend });
    this.closedObjects.set('tensor', this.closed.tensor(randomF16(this.r, 4 * 32), [4, 32], 'f16'));
    this.closedObjects.set('w4a16', await this.closed.w4a16.quantize(randomF16(this.r, 4 * 32), [4, 32]));
    this.closedObjects.set('sparse', await this.closed.sparse.encode(randomF16(this.r, 4 * 32), [4, 32]));
    this.closedObjects.set('int8', await this.closed.int8.quantize(randomF16(this.r, 4 * 32), [4, 32]));
    await this.closed.close();
  }

  async stop(): Promise<void> {
    for (const o of this.made) o.dispose();
    await Promise.all([this.sq.close(), this.other.close()]);
  }

  /** A live context that is not the one the current call runs on. */
  foreign(): Context {
    return this.callContext === this.other ? this.sq : this.other;
  }

  /** Count of pooled objects (the driver caps the pools). */
  get pooled(): number {
    return this.tensors.size + this.weights.size;
  }

  /** Drops the pools (their objects are disposed), e.g. to bound memory between phases. */
  clearPools(): void {
    for (const t of this.tensors.values()) t.dispose();
    for (const w of this.weights.values()) w.dispose();
    this.tensors.clear();
    this.weights.clear();
  }

  /** A live pooled tensor of `ctx` for `role` (roles keep an `out` from being an input's twin). */
  tensor(role: string, dtype: DType, shape: readonly number[], ctx: Context = this.sq): Tensor {
    const key = `${ctx === this.sq ? 'sq' : 'other'}:${role}:${dtype}:${shape.join('x')}`;
    let t = this.tensors.get(key);
    if (!t || t.disposed) {
      t = ctx.tensor(hostArray(this.r, dtype, shape.reduce((a, b) => a * b, 1)) as Uint16Array, shape, dtype);
      this.tensors.set(key, t);
    }
    return t;
  }

  /** A new tensor nobody else holds (for dispose() and for results kept by the caller). */
  freshTensor(dtype: DType, shape: readonly number[], ctx: Context = this.sq): Tensor {
    return ctx.tensor(hostArray(this.r, dtype, shape.reduce((a, b) => a * b, 1)) as Uint16Array, shape, dtype);
  }

  disposedTensor(dtype: DType, shape: readonly number[]): Tensor {
    const t = this.freshTensor(dtype, shape);
    t.dispose();
    return t;
  }

  /** Builds (unawaited) a weight of `kind` [n, k] on ctx. */
  buildWeight(kind: WeightKind, n: number, k: number, ctx: Context = this.sq): Promise<PackedWeight> {
    const w = randomF16(this.r, n * k);
    if (kind === 'w4a16') return ctx.w4a16.quantize(w, [n, k], { groupSize: w4a16Group(k) });
    if (kind === 'sparse') return ctx.sparse.encode(w, [n, k]);
    return ctx.int8.quantize(w, [n, k]);
  }

  /** A live pooled weight of `kind` [n, k] of `ctx`. */
  async weight(kind: WeightKind, n: number, k: number, ctx: Context = this.sq): Promise<PackedWeight> {
    const key = `${ctx === this.sq ? 'sq' : 'other'}:${kind}:${n}x${k}`;
    let w = this.weights.get(key);
    if (!w || w.disposed) {
      w = await this.buildWeight(kind, n, k, ctx);
      this.weights.set(key, w);
    }
    return w;
  }

  async disposedWeight(kind: WeightKind, n: number, k: number): Promise<PackedWeight> {
    const w = await this.buildWeight(kind, n, k);
    w.dispose();
    return w;
  }

  /** Keeps a result alive until the end of the run (its dispose() then is part of the test). */
  keep(o: Tensor | PackedWeight): void {
    this.made.push(o);
    if (this.made.length > 64) this.made.shift()?.dispose();
  }
}

/** The group size a valid w4a16 call on this k uses: the default where it divides k, else k. */
export function w4a16Group(k: number): number {
  if (k >= 128) return k % 128 === 0 ? 128 : k % 64 === 0 ? 64 : k % 32 === 0 ? 32 : k;
  return k;
}

// ------------------------------------------------------------------------- malformed values, by kind

/** An object whose every property read throws (a getter per name it is asked for). */
function trapObject(where: string): object {
  return new Proxy(
    {},
    {
      get(_t, key) {
        throw new FuzzTrap(`${where}.${String(key)}`);
      },
      has() {
        throw new FuzzTrap(`${where} has`);
      },
      getPrototypeOf() {
        throw new FuzzTrap(`${where} getPrototypeOf`);
      },
      ownKeys() {
        throw new FuzzTrap(`${where} ownKeys`);
      },
    },
  );
}

/** Junk that is wrong for every argument that is not an options object. */
export function junk(mustThrow = true): Bad[] {
  return [
    { note: 'undefined', make: () => undefined, mustThrow },
    { note: 'null', make: () => null, mustThrow },
    { note: 'true', make: () => true, mustThrow },
    { note: 'NaN', make: () => NaN, mustThrow },
    { note: '-1', make: () => -1, mustThrow },
    { note: 'string', make: () => 'junk', mustThrow },
    { note: 'symbol', make: () => Symbol('x'), mustThrow },
    { note: 'bigint', make: () => 10n, mustThrow },
    { note: 'function', make: () => () => 1, mustThrow },
    { note: '{}', make: () => ({}), mustThrow },
    { note: 'getters throw', make: () => trapObject('arg'), mustThrow },
    { note: 'object with throwing then', make: () => ({ get then(): never { throw new FuzzTrap('then'); } }), mustThrow },
  ];
}

const OTHER_TYPED = (ctor: TypedCtor): TypedCtor[] => TYPED.filter((c) => c !== ctor);

/** A typed array of `ctor` and `length` (checked against a shape): wrong kind, length, detached, shared. */
export function badArray(ctor: TypedCtor, length: number): Bad[] {
  return [
    ...junk(),
    { note: `wrong type`, make: (env) => new (env.r.pick(OTHER_TYPED(ctor)))(length), mustThrow: true },
    { note: 'BigInt64Array', make: () => new BigInt64Array(length), mustThrow: true },
    { note: 'DataView', make: () => new DataView(new ArrayBuffer(length * ctor.BYTES_PER_ELEMENT)), mustThrow: true },
    { note: 'length - 1', make: () => new ctor(Math.max(0, length - 1)), mustThrow: true },
    { note: 'length + 1', make: () => new ctor(length + 1), mustThrow: true },
    { note: 'empty', make: () => new ctor(0), mustThrow: true },
    {
      note: 'detached',
      make: () => {
        const a = new ctor(length);
        structuredClone(a.buffer, { transfer: [a.buffer] });
        return a;
      },
      mustThrow: true,
    },
    { note: 'SharedArrayBuffer', make: () => new ctor(new SharedArrayBuffer(length * ctor.BYTES_PER_ELEMENT) as unknown as ArrayBuffer), mustThrow: false },
    { note: 'subarray at an offset', make: () => new ctor(length + 3).subarray(3), mustThrow: false },
    { note: 'plain array', make: () => Array.from({ length }, () => 0), mustThrow: true },
  ];
}

/**
 * A shape array (1..8 positive safe integers) that must equal `shape` where `lengthChecked` (an
 * array's length is checked against it). "Huge" dims are ≥ 2^48 elements: no allocation of them
 * can succeed on any x86-64 Linux (128 TiB of user address space), whatever the overcommit policy.
 */
export function badShape(shape: readonly number[], lengthChecked = true): Bad[] {
  const withDim = (env: FuzzEnv, v: unknown): unknown[] => {
    const s: unknown[] = shape.slice();
    s[env.r.int(0, s.length - 1)] = v;
    return s;
  };
  const bad: Bad[] = [...junk()];
  for (const [note, v] of [
    ['0', 0],
    ['negative', -4],
    ['NaN', NaN],
    ['fractional', 2.5],
    ['Infinity', Infinity],
    ['-Infinity', -Infinity],
    ['2^48', 2 ** 48],
    ['2^53 - 1', 2 ** 53 - 1],
    ['2^53', 2 ** 53],
    ['1e300', 1e300],
    ['-0', -0],
    ['string dim', '4'],
    ['null dim', null],
    ['nested array', [4]],
    ['BigInt dim', 4n],
  ] as [string, unknown][])
    bad.push({ note: `dim ${note}`, make: (env) => withDim(env, v), mustThrow: true });
  bad.push(
    { note: 'empty shape', make: () => [], mustThrow: true },
    { note: '9 dims', make: () => Array(9).fill(1), mustThrow: true },
    { note: 'holey array', make: () => Array(shape.length), mustThrow: true },
    { note: 'shape as Int32Array', make: () => Int32Array.from(shape), mustThrow: true },
    {
      note: 'dim getter throws',
      make: () => {
        const s = shape.slice();
        Object.defineProperty(s, 0, { get: () => { throw new FuzzTrap('shape[0]'); } });
        return s;
      },
      mustThrow: true,
    },
    { note: 'huge in every dim', make: () => [...shape.map(() => 2 ** 31), 2 ** 31], mustThrow: true },
    { note: 'dims product off by one', make: () => [...shape.slice(0, -1), shape[shape.length - 1] + 1], mustThrow: lengthChecked },
  );
  return bad;
}

/** The ways a tensor argument goes wrong whatever the op (shape and dtype mismatches are the op's). */
export function badTensor(dtype: DType, shape: readonly number[]): Bad[] {
  return [
    ...junk(),
    { note: 'disposed', make: (env) => env.disposedTensor(dtype, shape), mustThrow: true },
    { note: 'of another context', make: (env) => env.tensor('other', dtype, shape, env.foreign()), mustThrow: true },
    { note: 'of a closed context', make: (env) => env.closedObjects.get('tensor'), mustThrow: true },
    { note: 'a weight', make: (env) => env.weight('w4a16', 4, 32), mustThrow: true },
    { note: 'a Promise of a tensor', make: (env) => raw(Promise.resolve(env.tensor('promised', dtype, shape))), mustThrow: true },
    { note: 'fake Tensor (prototype only)', make: () => Object.create(Tensor.prototype) as unknown, mustThrow: true },
    { note: 'look-alike object', make: () => ({ shape, dtype, handle: {} }), mustThrow: true },
  ];
}

/** The same, for a weight of `kind`. */
export function badWeight(kind: WeightKind, n: number, k: number): Bad[] {
  const others = (['w4a16', 'sparse', 'int8'] as WeightKind[]).filter((x) => x !== kind);
  return [
    ...junk(),
    { note: 'disposed', make: (env) => env.disposedWeight(kind, n, k), mustThrow: true },
    { note: 'of another kind', make: (env) => env.weight(env.r.pick(others), n, k), mustThrow: true },
    { note: 'of another context', make: (env) => env.weight(kind, n, k, env.foreign()), mustThrow: true },
    { note: 'of a closed context', make: (env) => env.closedObjects.get(kind), mustThrow: true },
    { note: 'a tensor', make: (env) => env.tensor('w', 'f16', [n, k]), mustThrow: true },
    { note: 'a Promise (missing await)', make: (env) => raw(env.buildWeight(kind, n, k)), mustThrow: true },
  ];
}

/** An options object's own malformations (its fields are malformed one by one by the driver). */
export function badOptions(): Bad[] {
  return [
    { note: 'null', make: () => null, mustThrow: true },
    { note: 'number', make: () => 5, mustThrow: true },
    { note: 'string', make: () => 'opts', mustThrow: true },
    { note: 'getters throw', make: () => trapObject('options'), mustThrow: true },
    { note: '[]', make: () => [], mustThrow: true },
    { note: 'Object.create(null)', make: () => Object.create(null) as object, mustThrow: false },
    { note: 'a key the op does not have', make: () => ({ notAnOption: 1 }), mustThrow: true },
  ];
}

/** Optional tensor field (`bias`, `out`): null and undefined mean "none". */
export function badOptionalTensor(dtype: DType, shape: readonly number[]): Bad[] {
  return optional(badTensor(dtype, shape), true);
}

/** For `out`: aliasing an input, or the wrong shape or dtype. `inputs` name the args it may alias. */
export function badOut(d: Dims, inputs: number[]): Bad[] {
  const outShape = [...d.xShape.slice(0, -1), d.n];
  return [
    ...badOptionalTensor('f16', outShape),
    { note: 'aliases an input', make: (env, _d, args) => args[env.r.pick(inputs)], mustThrow: true },
    { note: 'wrong shape', make: (env) => env.tensor('out', 'f16', [...outShape.slice(0, -1), d.n + 1]), mustThrow: true },
    { note: 'wrong dtype', make: (env) => env.tensor('out', env.r.pick(['f32', 'bf16', 'i32'] as DType[]), outShape), mustThrow: true },
    { note: 'flattened shape', make: (env) => env.tensor('out', 'f16', [outShape.reduce((a, b) => a * b, 1)]), mustThrow: outShape.length > 1 },
  ];
}

/** A number argument: `inRange` holds valid values, `outOfRange` the invalid ones. */
export function badNumber(outOfRange: number[], wrongType = true): Bad[] {
  return [
    ...(wrongType ? junk() : []),
    ...outOfRange.map((v) => ({ note: `number ${String(v)}`, make: () => v, mustThrow: true })),
    { note: 'numeric string', make: () => String(outOfRange[0] ?? 1), mustThrow: true },
  ];
}

export function isSparqError(e: unknown): e is SparqError {
  return e instanceof SparqError;
}

/** A value the driver passes as it is (it awaits every other one): a Promise where an object is due. */
export class Raw {
  constructor(readonly value: unknown) {}
}
export function raw(value: unknown): Raw {
  return new Raw(value);
}

/** For an optional argument or field: leaving it undefined is fine (and null too where `nullOk`). */
export function optional(bads: Bad[], nullOk = false): Bad[] {
  return bads.map((b) => (b.note === 'undefined' || (nullOk && b.note === 'null') ? { ...b, mustThrow: false } : b));
}
