// test/fuzz/ops.ts: the op table the API fuzzer (runFuzz.ts) reads — one descriptor per exported
// function and method: how to build a valid call, and each argument's malformed values. A new op
// needs only its descriptor here (docs/adding-an-op.md).
import { inspect } from 'util';

import { addonPath, comm, cpuFeatures, fromBF16, fromF16, open, toBF16, toF16 } from '../../src';
import type { Context, DType, PackedWeight as PackedWeightOf, Tensor } from '../../src';

type PackedWeight = PackedWeightOf<unknown>;
import {
  type Arg,
  type Bad,
  badArray,
  badNumber,
  badOptionalTensor,
  badOptions,
  badOut,
  badShape,
  badTensor,
  badWeight,
  type Dims,
  type FuzzEnv,
  hostArray,
  invoke,
  junk,
  type OpDescriptor,
  optional,
  randomF16,
  w4a16Group,
} from './harness';

// ------------------------------------------------------------------------------------------ dims

/** Small shapes; on sim ≤ 32×64 (the simulator runs every valid matmul, at ~20–200 ms each). */
function matmulDims(env: FuzzEnv): Dims {
  const sim = env.backend === 'sim';
  const n = env.r.pick(sim ? [4, 16, 32] : [1, 5, 16, 33]);
  const k = env.r.pick(sim ? [32, 64] : [32, 64, 96, 128]);
  const m = env.r.pick(sim ? [1, 3] : [1, 2, 7]);
  const xShape = env.r.chance(0.2) ? [2, m, k] : [m, k];
  return { m, n, k, xShape };
}

function anyShapeDims(env: FuzzEnv): Dims {
  const rank = env.r.int(1, 3);
  const shape = Array.from({ length: rank }, () => env.r.int(1, 6));
  const dtype = env.r.pick(['f16', 'bf16', 'f32', 'i8', 'u8', 'i32'] as DType[]);
  return { m: 1, n: 1, k: 1, xShape: shape, shape, dtype };
}

const shapeOf = (d: Dims): number[] => d.shape as number[];
const dtypeOf = (d: Dims): DType => d.dtype as DType;
const outShape = (d: Dims): number[] => [...d.xShape.slice(0, -1), d.n];

// ------------------------------------------------------------------------------- argument specs

/** An options object: undefined (prob `omit`), or an object with each field present or not. */
function options(fields: Arg[], omit = 0.3): Arg {
  return {
    name: 'options',
    valid: () => ({}),
    bad: () => badOptions(),
    fields,
    omit,
  };
}

/** The primary context as `this`; a closed one is its malformation (`closedThrows`: close() does not). */
function contextReceiver(closedThrows = true): Arg {
  return {
    name: 'context',
    valid: (env) => env.sq,
    bad: () => [
      { note: 'closed context', make: (env) => env.closed, mustThrow: closedThrows },
      { note: 'another context', make: (env) => env.other, mustThrow: false },
    ],
  };
}

const xArg: Arg = {
  name: 'x',
  valid: (env, d) => env.tensor('x', 'f16', d.xShape),
  bad: (_env, d) => [
    ...badTensor('f16', d.xShape),
    { note: 'wrong last dim', make: (env) => env.tensor('x', 'f16', [d.m, d.k + 1]), mustThrow: true },
    { note: 'f32 x', make: (env) => env.tensor('x', 'f32', d.xShape), mustThrow: true },
    { note: 'x 1-D [k]', make: (env) => env.tensor('x', 'f16', [d.k]), mustThrow: false },
  ],
};

const biasField: Arg = {
  name: 'bias',
  valid: (env, d) => env.tensor('bias', 'f16', [d.n]),
  bad: (_env, d) => [
    ...badOptionalTensor('f16', [d.n]),
    { note: 'bias [n + 1]', make: (env) => env.tensor('bias', 'f16', [d.n + 1]), mustThrow: true },
    { note: 'bias [1, n]', make: (env) => env.tensor('bias', 'f16', [1, d.n]), mustThrow: true },
    { note: 'bias bf16', make: (env) => env.tensor('bias', 'bf16', [d.n]), mustThrow: true },
  ],
  omit: 0.5,
};

/** `out` of a matmul whose positional args `inputs` (indices) it may alias. */
function outField(inputs: number[]): Arg {
  return { name: 'out', valid: (env, d) => env.tensor('out', 'f16', outShape(d)), bad: (_env, d) => badOut(d, inputs), omit: 0.6 };
}

function f16Weight(name = 'w'): Arg {
  return { name, valid: (env, d) => randomF16(env.r, d.n * d.k), bad: (_env, d) => badArray(Uint16Array, d.n * d.k) };
}

/** A weight a quantizer takes: fp16 bits that must be finite (int8 and w4a16 refuse NaN and Inf). */
function finiteF16Weight(): Arg {
  return {
    ...f16Weight(),
    bad: (_env, d) => [
      ...badArray(Uint16Array, d.n * d.k),
      { note: 'a NaN weight', make: (env) => Object.assign(randomF16(env.r, d.n * d.k), { [d.n * d.k - 1]: 0x7e00 }), mustThrow: true },
      { note: 'an Inf weight', make: (env) => Object.assign(randomF16(env.r, d.n * d.k), { 0: 0xfc00 }), mustThrow: true },
    ],
  };
}

const weightShape: Arg = {
  name: 'shape',
  valid: (_env, d) => [d.n, d.k],
  bad: (_env, d) => [...badShape([d.n, d.k]), { note: '3-D', make: () => [1, d.n, d.k], mustThrow: true }, { note: '[k, n]', make: () => [d.k, d.n], mustThrow: false }],
};

function weightArg(kind: 'w4a16' | 'sparse' | 'int8'): Arg {
  return { name: 'weight', valid: (env, d) => env.weight(kind, d.n, d.k), bad: (_env, d) => badWeight(kind, d.n, d.k) };
}

/** Out-of-range values for w4a16's groupSize at this k (never 32/64/128 or k). */
function badGroupSize(k: number): Bad[] {
  return optional(badNumber([0, 16, 48, -32, 32.5, NaN, Infinity, -Infinity, 2 ** 31, 1e300, k + 1, ...(k < 128 ? [128] : [])]));
}

const groupSizeField: Arg = { name: 'groupSize', valid: (_env, d) => w4a16Group(d.k), bad: (_env, d) => badGroupSize(d.k), omit: 0.5 };

function matmulOp(name: string, kind: 'w4a16' | 'sparse' | 'int8', extra: Arg[] = [], simWeight = 0.5): OpDescriptor {
  return {
    name: `${kind}.${name}`,
    weight: 2,
    simWeight,
    dims: matmulDims,
    args: [weightArg(kind), xArg, options([biasField, outField([1]), ...extra])],
    call: (sq, a) => invoke((sq as Context)[kind], 'matmul', a),
  };
}

/** A host array argument whose length is free (the conversions). */
function freeLengthArray(ctor: Uint16ArrayConstructor | Float32ArrayConstructor, arraysToo: boolean): Arg {
  return {
    name: 'values',
    valid: (env) => {
      const a = new ctor(env.r.int(0, 40));
      for (let i = 0; i < a.length; i++) a[i] = ctor === Float32Array ? env.r.float() * 4 - 2 : env.r.int(0, 0xffff);
      return arraysToo && env.r.chance(0.3) ? Array.from(a) : a;
    },
    bad: () => [
      ...junk(),
      { note: 'wrong type', make: () => new Int16Array(4), mustThrow: !arraysToo },
      { note: 'DataView', make: () => new DataView(new ArrayBuffer(8)), mustThrow: true },
      { note: 'BigUint64Array', make: () => new BigUint64Array(2), mustThrow: true },
      {
        note: 'detached',
        make: () => {
          const a = new ctor(8);
          structuredClone(a.buffer, { transfer: [a.buffer] });
          return a;
        },
        mustThrow: false,
      },
      { note: 'SharedArrayBuffer', make: () => new ctor(new SharedArrayBuffer(16) as unknown as ArrayBuffer), mustThrow: false },
      { note: 'subarray at an offset', make: () => new ctor(9).subarray(3), mustThrow: false },
      { note: 'array-like of length 2^32', make: () => ({ length: 2 ** 32 }), mustThrow: true },
      { note: 'array-like of length -1', make: () => ({ length: -1 }), mustThrow: true },
      { note: 'array-like of length 1.5', make: () => ({ length: 1.5 }), mustThrow: true },
      { note: 'array of strings', make: () => ['a', 'b'], mustThrow: !arraysToo },
      { note: 'array of BigInts', make: () => [1n, 2n], mustThrow: true },
      { note: 'array of Symbols', make: () => [Symbol('x')], mustThrow: true },
    ],
  };
}

function conversion(name: string, fn: (v: never) => unknown, ctor: Uint16ArrayConstructor | Float32ArrayConstructor, arraysToo: boolean): OpDescriptor {
  return { name, receiver: null, weight: 0.5, args: [freeLengthArray(ctor, arraysToo)], call: (_r, a) => Reflect.apply(fn, undefined, a) };
}

const tensorReceiver = (role: string): Arg => ({
  name: 'tensor',
  valid: (env) => (role === 'fresh' ? env.freshTensor('f16', [2, 3]) : env.tensor(role, 'f16', [2, 8])),
  bad: () => [
    { note: 'disposed', make: (env) => env.disposedTensor('f16', [2, 3]), mustThrow: role !== 'fresh' },
    { note: 'of a closed context', make: (env) => env.closedObjects.get('tensor'), mustThrow: role !== 'fresh' },
  ],
});

const weightReceiver = (fresh: boolean): Arg => ({
  name: 'weight',
  valid: (env) => {
    const kind = env.r.pick(['w4a16', 'sparse', 'int8'] as const);
    return fresh ? env.buildWeight(kind, 4, 32) : env.weight(kind, 4, 32);
  },
  bad: () => [
    { note: 'disposed', make: (env) => env.disposedWeight(env.r.pick(['w4a16', 'sparse', 'int8'] as const), 4, 32), mustThrow: !fresh },
    { note: 'of a closed context', make: (env) => env.closedObjects.get(env.r.pick(['w4a16', 'sparse', 'int8'])), mustThrow: !fresh },
  ],
});

/** Everything a tensor or weight says about itself; none of it may throw, disposed or not. */
function describe(o: Tensor | PackedWeight): unknown {
  const t = o as Tensor & PackedWeight;
  return [String(o), inspect(o), JSON.stringify(o), t.disposed, t.bytes, t.shape, t.size, t.n, t.k];
}

// ------------------------------------------------------------------------------------- the table

export const OPS: OpDescriptor[] = [
  // ---- module functions
  {
    name: 'open',
    receiver: null,
    weight: 0.3,
    args: [
      options([
        {
          name: 'backend',
          valid: (env) => env.backend,
          bad: () => [
            ...optional(junk(), true),
            { note: "'gpu'", make: () => 'gpu', mustThrow: true },
            { note: "'CPU'", make: () => 'CPU', mustThrow: true },
            { note: "'cuda' (absent here, or opens)", make: () => 'cuda', mustThrow: false },
          ],
        },
        { name: 'threads', valid: (env) => env.r.int(1, 2), bad: () => optional(badNumber([0, -1, 1.5, 1025, NaN, Infinity]), true), omit: 0.5 },
        {
          name: 'cpuIsa',
          valid: (env) => env.r.pick(cpuFeatures().supported),
          bad: () => [...optional(junk(), true).filter((b) => b.note !== 'string'), { note: "'sse'", make: () => 'sse', mustThrow: true }],
          omit: 0.7,
        },
        { name: 'device', valid: () => 0, bad: () => optional(badNumber([-1, 1.5, 1024, NaN]), true), omit: 0.7 },
      ]),
    ],
    call: (_r, a) => Reflect.apply(open, undefined, a),
  },
  conversion('toF16', toF16, Float32Array, true),
  conversion('toBF16', toBF16, Float32Array, true),
  conversion('fromF16', fromF16, Uint16Array, false),
  conversion('fromBF16', fromBF16, Uint16Array, false),
  { name: 'cpuFeatures', receiver: null, weight: 0.1, args: [], call: (_r, a) => Reflect.apply(cpuFeatures, undefined, a) },
  { name: 'addonPath', receiver: null, weight: 0.1, args: [], call: (_r, a) => Reflect.apply(addonPath, undefined, a) },

  // ---- the context
  {
    name: 'tensor',
    dims: anyShapeDims,
    args: [
      {
        name: 'data',
        valid: (env, d) => hostArray(env.r, dtypeOf(d), shapeOf(d).reduce((a, b) => a * b, 1)),
        bad: (_env, d) => badArray(({ f16: Uint16Array, bf16: Uint16Array, f32: Float32Array, i8: Int8Array, u8: Uint8Array, i32: Int32Array } as const)[dtypeOf(d)], shapeOf(d).reduce((a, b) => a * b, 1)),
      },
      { name: 'shape', valid: (_env, d) => shapeOf(d), bad: (_env, d) => badShape(shapeOf(d)) },
      {
        name: 'dtype',
        valid: (_env, d) => dtypeOf(d),
        bad: () => [...junk(), ...['f64', 'F16', '', 'float16'].map((v) => ({ note: `'${v}'`, make: () => v, mustThrow: true }))],
      },
    ],
    call: (sq, a) => invoke(sq, 'tensor', a),
  },
  {
    name: 'zeros',
    dims: anyShapeDims,
    args: [
      { name: 'shape', valid: (_env, d) => shapeOf(d), bad: (_env, d) => badShape(shapeOf(d), false) },
      { name: 'dtype', valid: (_env, d) => dtypeOf(d), bad: () => [...junk(), { note: "'f64'", make: () => 'f64', mustThrow: true }] },
    ],
    call: (sq, a) => invoke(sq, 'zeros', a),
  },
  {
    name: 'copy',
    dims: anyShapeDims,
    args: [
      { name: 'src', valid: (env, d) => env.tensor('src', dtypeOf(d), shapeOf(d)), bad: (_env, d) => badTensor(dtypeOf(d), shapeOf(d)) },
      options([
        {
          name: 'out',
          valid: (env, d) => env.tensor('copy-out', dtypeOf(d), shapeOf(d)),
          bad: (_env, d) => [
            ...badOptionalTensor(dtypeOf(d), shapeOf(d)),
            { note: 'aliases src', make: (_env2, _d, args) => args[0], mustThrow: true },
            { note: 'wrong shape', make: (env) => env.tensor('copy-out', dtypeOf(d), [...shapeOf(d), 2]), mustThrow: true },
            { note: 'wrong dtype', make: (env) => env.tensor('copy-out', dtypeOf(d) === 'f32' ? 'i32' : 'f32', shapeOf(d)), mustThrow: true },
          ],
          omit: 0.5,
        },
      ]),
    ],
    call: (sq, a) => invoke(sq, 'copy', a),
  },
  { name: 'synchronize', weight: 0.3, args: [], call: (sq, a) => invoke(sq, 'synchronize', a) },
  { name: 'mark', weight: 0.3, args: [], call: (sq, a) => invoke(sq, 'mark', a) },
  {
    name: 'close',
    weight: 0.2,
    // A context of its own with work in flight, so close() drains a queue.
    receiver: {
      name: 'context',
      valid: async (env) => {
        const c = await open({ backend: env.backend });
        const w = c.tensor(randomF16(env.r, 4 * 8), [4, 8], 'f16');
        c.dense.matmul(w, c.tensor(randomF16(env.r, 8), [1, 8], 'f16'));
        return c;
      },
      bad: () => [{ note: 'already closed', make: (env) => env.closed, mustThrow: false }],
    },
    args: [],
    call: (c, a) => invoke(c, 'close', a),
  },

  // ---- tensors and weights
  { name: 'Tensor.read', receiver: tensorReceiver('read'), args: [], call: (t, a) => invoke(t, 'read', a) },
  { name: 'Tensor.dispose', receiver: tensorReceiver('fresh'), args: [], call: (t, a) => invoke(t, 'dispose', a) },
  { name: 'Tensor (describe)', weight: 0.3, receiver: tensorReceiver('fresh'), args: [], call: (t) => describe(t as Tensor) },
  { name: 'PackedWeight.read', weight: 0.7, receiver: weightReceiver(false), args: [], call: (w, a) => invoke(w, 'read', a) },
  { name: 'PackedWeight.dispose', weight: 0.5, receiver: weightReceiver(true), args: [], call: (w, a) => invoke(w, 'dispose', a) },
  { name: 'PackedWeight (describe)', weight: 0.3, receiver: weightReceiver(true), args: [], call: (w) => describe(w as PackedWeight) },

  // ---- dense
  {
    name: 'dense.matmul',
    weight: 2,
    simWeight: 0.5,
    dims: matmulDims,
    args: [
      {
        name: 'w',
        valid: (env, d) => env.tensor('w', 'f16', [d.n, d.k]),
        bad: (_env, d) => [
          ...badTensor('f16', [d.n, d.k]),
          { note: 'w f32', make: (env) => env.tensor('w', 'f32', [d.n, d.k]), mustThrow: true },
          { note: 'w 3-D', make: (env) => env.tensor('w', 'f16', [1, d.n, d.k]), mustThrow: true },
          { note: 'w [n, k + 1]', make: (env) => env.tensor('w', 'f16', [d.n, d.k + 1]), mustThrow: true },
        ],
      },
      xArg,
      options([biasField, outField([0, 1])]),
    ],
    call: (sq, a) => invoke((sq as Context).dense, 'matmul', a),
  },

  // ---- w4a16
  {
    name: 'w4a16.quantize',
    dims: matmulDims,
    args: [
      finiteF16Weight(),
      weightShape,
      options([groupSizeField]),
    ],
    call: (sq, a) => invoke((sq as Context).w4a16, 'quantize', a),
  },
  {
    name: 'w4a16.fromCodes',
    dims: matmulDims,
    args: [
      {
        name: 'codes',
        valid: (env, d) => Uint8Array.from({ length: d.n * d.k }, () => env.r.int(0, 15)),
        bad: (_env, d) => [
          ...badArray(Uint8Array, d.n * d.k),
          { note: 'a code of 16', make: (env) => Uint8Array.from({ length: d.n * d.k }, (_, i) => (i === d.n * d.k - 1 ? 16 : env.r.int(0, 15))), mustThrow: true },
        ],
      },
      {
        name: 'scales',
        valid: (env, d) => Uint16Array.from({ length: d.n * (d.k / w4a16Group(d.k)) }, () => 0x3c00 + env.r.int(0, 255)),
        bad: (_env, d) => badArray(Uint16Array, d.n * (d.k / w4a16Group(d.k))),
      },
      weightShape,
      options([groupSizeField]),
    ],
    call: (sq, a) => invoke((sq as Context).w4a16, 'fromCodes', a),
  },
  matmulOp('matmul', 'w4a16'),

  // ---- sparse
  {
    name: 'sparse.encode',
    dims: matmulDims,
    args: [
      f16Weight(),
      weightShape,
      options([
        {
          name: 'format',
          valid: (env) => env.r.pick(['auto', 'bitmap', 'tiled-csl']),
          bad: () => optional([...junk(), ...['csr', '', 'BITMAP'].map((v) => ({ note: `'${v}'`, make: () => v, mustThrow: true }))]),
        },
      ]),
    ],
    call: (sq, a) => invoke((sq as Context).sparse, 'encode', a),
  },
  {
    name: 'sparse.prune',
    dims: matmulDims,
    args: [
      f16Weight(),
      weightShape,
      { name: 'sparsity', valid: (env) => env.r.pick([0, 0.5, 0.9, 1, env.r.float()]), bad: () => badNumber([-0.1, 1.5, NaN, Infinity, -Infinity]) },
      options([
        {
          name: 'scope',
          valid: (env) => env.r.pick(['row', 'global']),
          bad: () => optional([...junk(), ...['col', 'ROW'].map((v) => ({ note: `'${v}'`, make: () => v, mustThrow: true }))]),
        },
      ]),
    ],
    call: (sq, a) => invoke((sq as Context).sparse, 'prune', a),
  },
  matmulOp('matmul', 'sparse'),

  // ---- int8
  {
    name: 'int8.quantize',
    dims: matmulDims,
    args: [
      finiteF16Weight(),
      weightShape,
    ],
    call: (sq, a) => invoke((sq as Context).int8, 'quantize', a),
  },
  {
    name: 'int8.fromCodes',
    dims: matmulDims,
    args: [
      { name: 'codes', valid: (env, d) => Int8Array.from({ length: d.n * d.k }, () => env.r.int(-127, 127)), bad: (_env, d) => badArray(Int8Array, d.n * d.k) },
      {
        name: 'scb',
        valid: (env, d) => Float32Array.from({ length: d.n }, () => env.r.float() * 2),
        bad: (_env, d) => [
          ...badArray(Float32Array, d.n),
          { note: 'negative scb', make: () => new Float32Array(d.n).fill(-1), mustThrow: true },
          { note: 'NaN scb', make: () => new Float32Array(d.n).fill(NaN), mustThrow: true },
        ],
      },
      weightShape,
    ],
    call: (sq, a) => invoke((sq as Context).int8, 'fromCodes', a),
  },
  matmulOp(
    'matmul',
    'int8',
    [
      {
        name: 'threshold',
        valid: (env) => env.r.pick([0, 0.5, 6, 1e38, 1e39, Number.MAX_VALUE]),
        bad: () => optional(badNumber([-1, -1e-30, NaN, Infinity, -Infinity])),
        omit: 0.5,
      },
    ],
    0.15,
  ),
];

// ---- allreduceRmsnorm (dims: n = ranks, m = tokens, k = hidden)
function groupDims(env: FuzzEnv): Dims {
  const ranks = env.r.pick([1, 2, 3]);
  const m = env.r.pick(env.backend === 'sim' ? [1, 2] : [1, 3, 5]);
  const k = env.r.pick([8, 16, 24]);
  return { m, n: ranks, k, xShape: [m, k] };
}

/** One f16 tensor per rank; malformed: not an array, the wrong count, one bad element, one of another shape. */
function tensorList(name: string, omit?: number): Arg {
  const list = (env: FuzzEnv, d: Dims, tag: string, shape = d.xShape): unknown[] =>
    Array.from({ length: d.n }, (_, r) => env.tensor(`${tag}${r}`, 'f16', shape));
  return {
    name,
    valid: (env, d) => list(env, d, name),
    bad: (env, d) => [
      ...(omit === undefined ? junk() : optional(junk())),
      { note: 'one rank short', make: (e) => list(e, d, name).slice(1), mustThrow: true },
      { note: 'one rank too many', make: (e) => [...list(e, d, name), e.tensor(`${name}x`, 'f16', d.xShape)], mustThrow: true },
      ...badTensor('f16', d.xShape).map((b) => ({
        note: `an element ${b.note}`,
        make: (e: FuzzEnv, dd: Dims, args: unknown[]) => Object.assign(list(e, d, name), { [d.n - 1]: b.make(e, dd, args) }),
        mustThrow: true,
      })),
      { note: 'an element of another shape', make: (e) => Object.assign(list(e, d, name), { [d.n - 1]: e.tensor(`${name}s`, 'f16', [d.m, d.k + 8]) }), mustThrow: true },
      { note: 'hidden not a multiple of 8', make: (e) => list(e, d, `${name}h`, [d.m, d.k + 4]), mustThrow: true },
    ],
    omit,
  };
}

const groupOps: OpDescriptor[] = [
  {
    name: 'group.allreduceRmsnorm',
    dims: groupDims,
    simWeight: 0.3,
    args: [
      {
        name: 'ranks',
        valid: (_env, d) => ({ ranks: d.n }),
        bad: () => [...junk(), ...[0, 9, 1.5, NaN, -1, 2 ** 31].map((v) => ({ note: `ranks ${v}`, make: () => ({ ranks: v }), mustThrow: true }))],
      },
      tensorList('xs'),
      tensorList('residuals'),
      {
        name: 'gamma',
        valid: (env, d) => env.tensor('gamma', 'f16', [d.k]),
        bad: (_env, d) => [...badTensor('f16', [d.k]), { note: 'gamma [k + 8]', make: (env) => env.tensor('gamma', 'f16', [d.k + 8]), mustThrow: true }],
      },
      options([
        { name: 'eps', valid: (env) => env.r.pick([0, 1e-6, 1e-5, 1]), bad: () => optional(badNumber([-1e-9, 2, NaN, Infinity])), omit: 0.5 },
        {
          name: 'algorithm',
          valid: (env) => env.r.pick(['auto', 'one-shot', 'two-shot']),
          bad: () => optional([...junk(), ...['three-shot', 'AUTO'].map((v) => ({ note: `'${v}'`, make: () => v, mustThrow: true }))]),
          omit: 0.5,
        },
        { ...tensorList('out', 0.7), valid: (env, d) => Array.from({ length: d.n }, (_, r) => env.tensor(`out${r}`, 'f16', d.xShape)) },
      ]),
    ],
    // the group is made per call: its constructor's argument is the first one fuzzed
    call: (sq, a) => {
      const g = (sq as Context).group(a[0] as never);
      try {
        return Reflect.apply(g.allreduceRmsnorm, g, a.slice(1));
      } finally {
        g.dispose();
      }
    },
  },
  {
    name: 'comm.create',
    receiver: null,
    weight: 0.3,
    args: [options([{ name: 'maxBytes', valid: (env) => env.r.pick([1, 4096, 2 ** 20]), bad: () => optional(badNumber([0, -1, 0.5, 2 ** 41, NaN])), omit: 0.5 }])],
    call: (_r, a) => Reflect.apply(comm.create, comm, a),
  },
  {
    // a one-rank comm joins at once (no peers to wait for); its id, rank and size are fuzzed
    name: 'comm',
    weight: 0.3,
    simWeight: 0,
    args: [
      {
        name: 'options',
        valid: () => ({ id: comm.create(), rank: 0, size: 1, timeoutMs: 200 }),
        bad: () => [
          ...junk(),
          { note: 'id of 5 bytes', make: () => ({ id: new Uint8Array(5), rank: 0, size: 1 }), mustThrow: true },
          { note: 'id not from create', make: () => ({ id: new Uint8Array(32), rank: 0, size: 1 }), mustThrow: true },
          { note: 'rank 1 of 1', make: () => ({ id: comm.create(), rank: 1, size: 1 }), mustThrow: true },
          { note: 'size 9', make: () => ({ id: comm.create(), rank: 0, size: 9 }), mustThrow: true },
          { note: 'timeoutMs 0', make: () => ({ id: comm.create(), rank: 0, size: 1, timeoutMs: 0 }), mustThrow: true },
        ],
      },
    ],
    call: async (sq, a) => {
      const c = await Reflect.apply((sq as Context).comm, sq, a);
      c.close();
      return c;
    },
  },
];

OPS.push(...groupOps);

/** The descriptors that take a context as `this` get the default receiver. */
for (const op of OPS) if (op.receiver === undefined) op.receiver = contextReceiver(op.name !== 'close');
