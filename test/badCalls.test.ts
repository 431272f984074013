import { open, Tensor, toBF16, toF16, type Context } from '../src';
import { native } from '../src/native';
import { backendMatrix } from './helpers/backends';

/**
 * One mistake, one error, on every backend: each bad call below runs on cpu and on sim and must
 * give the same class, code and argument on both (and the expected ones), with the context usable
 * afterwards. The binding checks everything before a backend sees it, so the backend cannot matter.
 */
interface BadCall {
  name: string;
  call: (sq: Context, other: Context) => unknown;
  expected: [cls: string, code: string, argument: string | undefined];
  message?: RegExp;
}

const k = 64;
const f16 = (n: number, v = 0.5) => toF16(new Array(n).fill(v));

const CALLS: BadCall[] = [
  { name: 'dense.matmul: w not a tensor', call: (sq) => sq.dense.matmul(7 as never, sq.zeros([1, k], 'f16')), expected: ['SparqArgumentError', 'ERR_SPARQ_ARGUMENT', 'w'] },
  {
    name: 'dense.matmul: w is a Promise (missing await)',
    call: (sq) => sq.dense.matmul(Promise.resolve(1) as never, sq.zeros([1, k], 'f16')),
    expected: ['SparqArgumentError', 'ERR_SPARQ_ARGUMENT', 'w'],
    message: /got a Promise \(missing await\?\)/,
  },
  { name: 'dense.matmul: w f32', call: (sq) => sq.dense.matmul(sq.zeros([4, k], 'f32') as never, sq.zeros([1, k], 'f16')), expected: ['SparqDTypeError', 'ERR_SPARQ_DTYPE', 'w'] },
  { name: 'dense.matmul: w 3-D', call: (sq) => sq.dense.matmul(sq.zeros([2, 4, k], 'f16'), sq.zeros([1, k], 'f16')), expected: ['SparqShapeError', 'ERR_SPARQ_SHAPE', 'w'] },
  { name: 'dense.matmul: x last dim', call: (sq) => sq.dense.matmul(sq.zeros([4, k], 'f16'), sq.zeros([1, k + 1], 'f16')), expected: ['SparqShapeError', 'ERR_SPARQ_SHAPE', 'x'], message: /x must be \[m, 64\] to match w \[n, k\] = \[4, 64\], got \[1, 65\]/ },
  { name: 'dense.matmul: bias shape', call: (sq) => sq.dense.matmul(sq.zeros([4, k], 'f16'), sq.zeros([1, k], 'f16'), { bias: sq.zeros([5], 'f16') }), expected: ['SparqShapeError', 'ERR_SPARQ_SHAPE', 'bias'] },
  { name: 'dense.matmul: out shape', call: (sq) => sq.dense.matmul(sq.zeros([4, k], 'f16'), sq.zeros([1, k], 'f16'), { out: sq.zeros([1, 5], 'f16') }), expected: ['SparqShapeError', 'ERR_SPARQ_SHAPE', 'out'] },
  {
    name: 'dense.matmul: out aliases w',
    call: (sq) => {
      const w = sq.zeros([4, 4], 'f16');
      return sq.dense.matmul(w, sq.zeros([4, 4], 'f16'), { out: w });
    },
    expected: ['SparqArgumentError', 'ERR_SPARQ_ARGUMENT', 'out'],
  },
  {
    name: 'dense.matmul: bias [n, 1] (bias must be rank 1)',
    call: (sq) => sq.dense.matmul(sq.zeros([4, k], 'f16'), sq.zeros([1, k], 'f16'), { bias: sq.zeros([4, 1], 'f16') }),
    expected: ['SparqShapeError', 'ERR_SPARQ_SHAPE', 'bias'],
  },
  {
    name: 'dense.matmul: out aliases x (k = n, so x has out\'s shape)',
    call: (sq) => {
      const x = sq.zeros([2, 8], 'f16');
      return sq.dense.matmul(sq.zeros([8, 8], 'f16'), x, { out: x });
    },
    expected: ['SparqArgumentError', 'ERR_SPARQ_ARGUMENT', 'out'],
  },
  {
    name: 'dense.matmul: out aliases bias (x 1-D, so out is [n] like bias)',
    call: (sq) => {
      const bias = sq.zeros([8], 'f16');
      return sq.dense.matmul(sq.zeros([8, 8], 'f16'), sq.zeros([8], 'f16'), { bias, out: bias });
    },
    expected: ['SparqArgumentError', 'ERR_SPARQ_ARGUMENT', 'out'],
  },
  { name: 'dense.matmul: x of another context', call: (sq, other) => sq.dense.matmul(sq.zeros([4, k], 'f16'), other.zeros([1, k], 'f16')), expected: ['SparqArgumentError', 'ERR_SPARQ_ARGUMENT', 'x'] },
  {
    name: 'dense.matmul: disposed x',
    call: (sq) => {
      const x = sq.zeros([1, k], 'f16');
      x.dispose();
      return sq.dense.matmul(sq.zeros([4, k], 'f16'), x);
    },
    expected: ['SparqDisposedError', 'ERR_SPARQ_DISPOSED', 'x'],
  },
  { name: 'dense.matmul: options null', call: (sq) => sq.dense.matmul(sq.zeros([4, k], 'f16'), sq.zeros([1, k], 'f16'), null as never), expected: ['SparqArgumentError', 'ERR_SPARQ_ARGUMENT', 'options'] },
  { name: 'w4a16.matmul: weight is a tensor', call: (sq) => sq.w4a16.matmul(sq.zeros([4, k], 'f16') as never, sq.zeros([1, k], 'f16')), expected: ['SparqArgumentError', 'ERR_SPARQ_ARGUMENT', 'weight'] },
  {
    name: 'w4a16.matmul: weight is a Promise (missing await)',
    call: (sq) => sq.w4a16.matmul(sq.w4a16.quantize(f16(4 * k), [4, k]) as never, sq.zeros([1, k], 'f16')),
    expected: ['SparqArgumentError', 'ERR_SPARQ_ARGUMENT', 'weight'],
    message: /weight must be a W4A16Weight .*, got a Promise \(missing await\?\)/,
  },
  { name: 'w4a16.quantize: groupSize 48', call: (sq) => sq.w4a16.quantize(f16(4 * 96), [4, 96], { groupSize: 48 }), expected: ['SparqArgumentError', 'ERR_SPARQ_ARGUMENT', 'groupSize'] },
  {
    name: 'w4a16.quantize: default groupSize on k = 1000 suggests groupSize: k',
    call: (sq) => sq.w4a16.quantize(f16(2 * 1000), [2, 1000]),
    expected: ['SparqShapeError', 'ERR_SPARQ_SHAPE', 'shape'],
    message: /^w4a16\.quantize: shape must be \[n, k\] with k a multiple of groupSize 128 \(the default; pass \{ groupSize: 1000 \}/,
  },
  {
    name: 'w4a16.quantize: an explicit groupSize not dividing k',
    call: (sq) => sq.w4a16.quantize(f16(2 * 96), [2, 96], { groupSize: 64 }),
    expected: ['SparqShapeError', 'ERR_SPARQ_SHAPE', 'shape'],
    message: /^w4a16\.quantize: shape must be \[n, k\] with k a multiple of groupSize 64, got \[2, 96\]$/,
  },
  { name: 'w4a16.quantize: w Float32Array', call: (sq) => sq.w4a16.quantize(new Float32Array(4 * k) as never, [4, k]), expected: ['SparqDTypeError', 'ERR_SPARQ_DTYPE', 'w'] },
  { name: 'w4a16.quantize: w wrong length', call: (sq) => sq.w4a16.quantize(f16(4 * k - 1), [4, k]), expected: ['SparqShapeError', 'ERR_SPARQ_SHAPE', 'w'] },
  {
    name: 'w4a16.quantize: n over the 2^30 index limit (no allocation needed to say so)',
    call: (sq) => sq.w4a16.quantize(f16(64), [2 ** 30 + 1, 64]),
    expected: ['SparqShapeError', 'ERR_SPARQ_SHAPE', 'shape'],
    message: /n, k <= 1073741824/,
  },
  { name: 'w4a16.quantize: options null', call: (sq) => sq.w4a16.quantize(f16(4 * k), [4, k], null as never), expected: ['SparqArgumentError', 'ERR_SPARQ_ARGUMENT', 'options'] },
  {
    name: 'w4a16.fromCodes: a code of 16 (found off the JS thread), named with its index',
    call: (sq) => {
      const codes = new Uint8Array(4 * k).fill(3);
      codes[2 * k + 5] = 16;
      return sq.w4a16.fromCodes(codes, new Uint16Array(4 * 2).fill(0x3c00), [4, k], { groupSize: 32 });
    },
    expected: ['SparqArgumentError', 'ERR_SPARQ_ARGUMENT', 'codes'],
    message: /^w4a16\.fromCodes: codes must be values in 0\.\.15, got 16 at \[2, 5\]$/,
  },
  { name: 'w4a16.fromCodes: scales wrong length', call: (sq) => sq.w4a16.fromCodes(new Uint8Array(4 * k), new Uint16Array(7), [4, k], { groupSize: 32 }), expected: ['SparqShapeError', 'ERR_SPARQ_SHAPE', 'scales'] },
  { name: 'w4a16.fromCodes: scales Int16Array', call: (sq) => sq.w4a16.fromCodes(new Uint8Array(4 * k), new Int16Array(8) as never, [4, k], { groupSize: 32 }), expected: ['SparqDTypeError', 'ERR_SPARQ_DTYPE', 'scales'] },
  { name: 'sparse.encode: w Float32Array', call: (sq) => sq.sparse.encode(new Float32Array(4 * k) as never, [4, k]), expected: ['SparqDTypeError', 'ERR_SPARQ_DTYPE', 'w'] },
  { name: 'sparse.encode: w wrong length', call: (sq) => sq.sparse.encode(f16(4 * k - 1), [4, k]), expected: ['SparqShapeError', 'ERR_SPARQ_SHAPE', 'w'], message: /^sparse\.encode: w must be 256 elements \(\[n, k\] = \[4, 64\]\), got 255 elements$/ },
  { name: 'sparse.encode: shape 3-D', call: (sq) => sq.sparse.encode(f16(8), [2, 2, 2] as never), expected: ['SparqShapeError', 'ERR_SPARQ_SHAPE', 'shape'] },
  { name: 'sparse.encode: format csr', call: (sq) => sq.sparse.encode(f16(4 * k), [4, k], { format: 'csr' as never }), expected: ['SparqArgumentError', 'ERR_SPARQ_ARGUMENT', 'format'], message: /format must be 'auto', 'bitmap' or 'tiled-csl', got/ },
  { name: 'sparse.prune: sparsity 1.5', call: (sq) => sq.sparse.prune(f16(4 * k), [4, k], 1.5), expected: ['SparqArgumentError', 'ERR_SPARQ_ARGUMENT', 'sparsity'], message: /^sparse\.prune: sparsity must be a number in \[0, 1\], got number 1\.5$/ },
  { name: 'sparse.prune: sparsity NaN', call: (sq) => sq.sparse.prune(f16(4 * k), [4, k], NaN), expected: ['SparqArgumentError', 'ERR_SPARQ_ARGUMENT', 'sparsity'] },
  { name: 'sparse.prune: scope columns', call: (sq) => sq.sparse.prune(f16(4 * k), [4, k], 0.5, { scope: 'columns' as never }), expected: ['SparqArgumentError', 'ERR_SPARQ_ARGUMENT', 'scope'] },
  {
    name: 'sparse.matmul: weight is a W4A16Weight',
    call: async (sq) => sq.sparse.matmul((await sq.w4a16.quantize(f16(4 * k), [4, k])) as never, sq.zeros([1, k], 'f16')),
    expected: ['SparqArgumentError', 'ERR_SPARQ_ARGUMENT', 'weight'],
    message: /weight must be a SparseWeight \(from sparse\.encode\), got a w4a16 weight/,
  },
  {
    name: 'sparse.matmul: weight is a Promise (missing await)',
    call: (sq) => sq.sparse.matmul(sq.sparse.encode(f16(4 * k), [4, k]) as never, sq.zeros([1, k], 'f16')),
    expected: ['SparqArgumentError', 'ERR_SPARQ_ARGUMENT', 'weight'],
    message: /got a Promise \(missing await\?\)/,
  },
  { name: 'sparse.matmul: x last dim', call: async (sq) => sq.sparse.matmul(await sq.sparse.encode(f16(4 * k), [4, k]), sq.zeros([1, k + 1], 'f16')), expected: ['SparqShapeError', 'ERR_SPARQ_SHAPE', 'x'], message: /x must be \[m, 64\] to match w \[n, k\] = \[4, 64\], got \[1, 65\]/ },
  { name: 'sparse.matmul: x f32', call: async (sq) => sq.sparse.matmul(await sq.sparse.encode(f16(4 * k), [4, k]), sq.zeros([1, k], 'f32') as never), expected: ['SparqDTypeError', 'ERR_SPARQ_DTYPE', 'x'] },
  { name: 'int8.quantize: w Float32Array', call: (sq) => sq.int8.quantize(new Float32Array(4 * k) as never, [4, k]), expected: ['SparqDTypeError', 'ERR_SPARQ_DTYPE', 'w'] },
  { name: 'int8.quantize: w wrong length', call: (sq) => sq.int8.quantize(f16(4 * k + 1), [4, k]), expected: ['SparqShapeError', 'ERR_SPARQ_SHAPE', 'w'], message: /^int8\.quantize: w must be 256 elements \(\[n, k\] = \[4, 64\]\), got 257 elements$/ },
  {
    name: 'int8.quantize: k over 2^17 (the int32 accumulator would not be exact)',
    call: (sq) => sq.int8.quantize(f16(8), [1, 2 ** 17 + 1]),
    expected: ['SparqShapeError', 'ERR_SPARQ_SHAPE', 'shape'],
    message: /k <= 131072 \(the int32 accumulator is exact up to there\), got \[1, 131073\]/,
  },
  {
    name: 'int8.quantize: a NaN weight (named by row and column)',
    call: (sq) => {
      const w = f16(4 * k);
      w[2 * k + 5] = 0x7e00;
      return sq.int8.quantize(w, [4, k]);
    },
    expected: ['SparqArgumentError', 'ERR_SPARQ_ARGUMENT', 'w'],
    message: /^int8\.quantize: w must be finite fp16 values, got a non-finite value at index 133 \(row 2, column 5\)$/,
  },
  { name: 'int8.fromCodes: codes Uint8Array', call: (sq) => sq.int8.fromCodes(new Uint8Array(4 * k) as never, new Float32Array(4), [4, k]), expected: ['SparqDTypeError', 'ERR_SPARQ_DTYPE', 'codes'] },
  { name: 'int8.fromCodes: scb wrong length', call: (sq) => sq.int8.fromCodes(new Int8Array(4 * k), new Float32Array(3), [4, k]), expected: ['SparqShapeError', 'ERR_SPARQ_SHAPE', 'scb'] },
  {
    name: 'int8.fromCodes: scb negative',
    call: (sq) => sq.int8.fromCodes(new Int8Array(4 * k), Float32Array.of(1, 2, -3, 4), [4, k]),
    expected: ['SparqArgumentError', 'ERR_SPARQ_ARGUMENT', 'scb'],
    message: /scb must hold finite values >= 0 .*at index 2/,
  },
  {
    name: 'int8.matmul: threshold -6',
    call: async (sq) => sq.int8.matmul(await sq.int8.quantize(f16(4 * k), [4, k]), sq.zeros([1, k], 'f16'), { threshold: -6 }),
    expected: ['SparqArgumentError', 'ERR_SPARQ_ARGUMENT', 'threshold'],
    message: /^int8\.matmul: threshold must be a finite number >= 0 \(0 = no outlier columns\), got number -6$/,
  },
  { name: 'int8.matmul: threshold Infinity', call: async (sq) => sq.int8.matmul(await sq.int8.quantize(f16(4 * k), [4, k]), sq.zeros([1, k], 'f16'), { threshold: Infinity }), expected: ['SparqArgumentError', 'ERR_SPARQ_ARGUMENT', 'threshold'] },
  { name: 'int8.matmul: threshold NaN', call: async (sq) => sq.int8.matmul(await sq.int8.quantize(f16(4 * k), [4, k]), sq.zeros([1, k], 'f16'), { threshold: NaN }), expected: ['SparqArgumentError', 'ERR_SPARQ_ARGUMENT', 'threshold'] },
  {
    name: 'int8.matmul: weight is a SparseWeight',
    call: async (sq) => sq.int8.matmul((await sq.sparse.encode(f16(4 * k), [4, k])) as never, sq.zeros([1, k], 'f16')),
    expected: ['SparqArgumentError', 'ERR_SPARQ_ARGUMENT', 'weight'],
    message: /weight must be an Int8Weight \(from int8\.quantize or int8\.fromCodes\), got a sparse weight/,
  },
  { name: 'int8.matmul: x last dim', call: async (sq) => sq.int8.matmul(await sq.int8.quantize(f16(4 * k), [4, k]), sq.zeros([1, k - 1], 'f16')), expected: ['SparqShapeError', 'ERR_SPARQ_SHAPE', 'x'], message: /x must be \[m, 64\] to match w \[n, k\] = \[4, 64\], got \[1, 63\]/ },
  { name: 'tensor: Float32Array for f16', call: (sq) => sq.tensor(new Float32Array(4) as never, [4], 'f16'), expected: ['SparqDTypeError', 'ERR_SPARQ_DTYPE', 'data'] },
  { name: 'tensor: a zero dim', call: (sq) => sq.tensor(new Uint16Array(4), [4, 0], 'f16'), expected: ['SparqShapeError', 'ERR_SPARQ_SHAPE', 'shape'] },
  {
    name: 'tensor: a detached (transferred) array says so, not "got 0 elements"',
    call: (sq) => {
      const data = new Uint16Array(4);
      structuredClone(data.buffer, { transfer: [data.buffer] });
      return sq.tensor(data, [4], 'f16');
    },
    expected: ['SparqArgumentError', 'ERR_SPARQ_ARGUMENT', 'data'],
    message: /^tensor: data must be an array whose buffer is not detached \(transferred\), got a detached Uint16Array\(0\)$/,
  },
  {
    name: 'w4a16.fromCodes: detached scales say so, not a length',
    call: (sq) => {
      const scales = new Uint16Array(2).fill(0x3c00);
      structuredClone(scales.buffer, { transfer: [scales.buffer] });
      return sq.w4a16.fromCodes(new Uint8Array(2 * k).fill(8), scales, [2, k]);
    },
    expected: ['SparqArgumentError', 'ERR_SPARQ_ARGUMENT', 'scales'],
    message: /^w4a16\.fromCodes: scales must be an array whose buffer is not detached \(transferred\), got a detached Uint16Array\(0\)$/,
  },
  {
    name: 'w4a16.quantize: a NaN weight (was silently code 8, w = 0)',
    call: (sq) => sq.w4a16.quantize(Object.assign(f16(2 * k), { [k + 5]: 0x7e00 }), [2, k]),
    expected: ['SparqArgumentError', 'ERR_SPARQ_ARGUMENT', 'w'],
    message: /^w4a16\.quantize: w must be finite fp16 values, got a non-finite value at index 69 \(row 1, column 5\)$/,
  },
  {
    name: 'w4a16.quantize: an Inf weight (was an Inf scale: the whole group NaN)',
    call: (sq) => sq.w4a16.quantize(Object.assign(f16(2 * k), { 3: 0xfc00, [k + 1]: 0x7c00 }), [2, k]),
    expected: ['SparqArgumentError', 'ERR_SPARQ_ARGUMENT', 'w'],
    message: /non-finite value at index 3 \(row 0, column 3\)$/,
  },
  {
    name: 'dense.matmul: a weight where a tensor goes is named as one',
    call: async (sq) => sq.dense.matmul((await sq.w4a16.quantize(f16(4 * k), [4, k])) as never, sq.zeros([1, k], 'f16')),
    expected: ['SparqArgumentError', 'ERR_SPARQ_ARGUMENT', 'w'],
    message: /^dense\.matmul: w must be a sparq Tensor, got a w4a16 weight$/,
  },
  {
    name: 'dense.matmul: an object of the native weight class that no op made (was a SIGSEGV)',
    call: async (sq) => {
      const q = await sq.w4a16.quantize(f16(4 * k), [4, k]);
      const NativeWeight = (q as unknown as { handle: { constructor: new () => object } }).handle.constructor;
      return sq.dense.matmul(new NativeWeight() as never, sq.zeros([1, k], 'f16'));
    },
    expected: ['SparqArgumentError', 'ERR_SPARQ_ARGUMENT', 'w'],
    message: /got a sparq weight$/,
  },
  { name: 'tensor: length mismatch', call: (sq) => sq.tensor(new Uint16Array(5), [4], 'f16'), expected: ['SparqShapeError', 'ERR_SPARQ_SHAPE', 'data'] },
  { name: 'zeros: unknown dtype', call: (sq) => sq.zeros([4], 'f64' as never), expected: ['SparqDTypeError', 'ERR_SPARQ_DTYPE', 'dtype'] },
  // Found by the API fuzzer (test/fuzz): each was a plain TypeError/Error, a silent acceptance or a hang.
  { name: 'fuzz: copy with options null (was a TypeError)', call: (sq) => sq.copy(sq.zeros([4], 'f16'), null as never), expected: ['SparqArgumentError', 'ERR_SPARQ_ARGUMENT', 'options'] },
  { name: 'fuzz: copy with options a number (was ignored)', call: (sq) => sq.copy(sq.zeros([4], 'f16'), 5 as never), expected: ['SparqArgumentError', 'ERR_SPARQ_ARGUMENT', 'options'] },
  {
    name: 'fuzz: dense.matmul out an object with only Tensor.prototype (was ignored: a new tensor came back)',
    call: (sq) => sq.dense.matmul(sq.zeros([4, k], 'f16'), sq.zeros([1, k], 'f16'), { out: Object.create(Tensor.prototype) as never }),
    expected: ['SparqArgumentError', 'ERR_SPARQ_ARGUMENT', 'out'],
    message: /out must be a sparq Tensor, got object/,
  },
  {
    name: 'fuzz: open with a BigInt backend (was a TypeError from JSON.stringify)',
    call: () => open({ backend: 10n as never }),
    expected: ['SparqArgumentError', 'ERR_SPARQ_ARGUMENT', 'backend'],
    message: /got bigint 10$/,
  },
  {
    name: 'fuzz: toF16 of an array-like claiming 2^32 elements (ran for minutes, allocating 16 GiB)',
    call: () => toF16({ length: 2 ** 32 }),
    expected: ['SparqArgumentError', 'ERR_SPARQ_ARGUMENT', 'values'],
    message: /got an array-like of length 4294967296$/,
  },
  { name: 'fuzz: toF16 of an array of BigInts (was a TypeError)', call: () => toF16([1n, 2n] as never), expected: ['SparqArgumentError', 'ERR_SPARQ_ARGUMENT', 'values'] },
  { name: 'fuzz: toBF16 of a BigInt64Array (was a TypeError)', call: () => toBF16(new BigInt64Array(2) as never), expected: ['SparqArgumentError', 'ERR_SPARQ_ARGUMENT', 'values'] },
  {
    name: 'fuzz: zeros too large to allocate names shape in its message',
    call: (sq) => sq.zeros([6, 2 ** 53 - 1], 'bf16'),
    expected: ['SparqOutOfMemoryError', 'ERR_SPARQ_OUT_OF_MEMORY', 'shape'],
    message: /\(\d+ bytes\) for shape on backend/,
  },
  ...userCodeDuringChecks(),
];

/**
 * User code that runs while the binding checks an op's arguments (2026-12-05, each a SIGSEGV or a
 * silent read past an array): a getter on a shape element transfers or shrinks the data array the
 * binding has already checked; a Proxy in a handle's prototype chain (instanceof ran its trap)
 * disposes an argument already checked. And objects that only inherit from a native class, or a
 * Proxy of a handle, were a plain Error "Invalid argument" from node-addon-api.
 */
function userCodeDuringChecks(): BadCall[] {
  const [n, kk] = [4, 64];
  // data array + a shape whose last element's getter transfers or shrinks it (the shrink needs a
  // resizable buffer: Node ≥ 20 has them)
  const trapped = (how: 'transfer' | 'shrink') => {
    const arrays: (ArrayBufferView & { buffer: ArrayBuffer })[] = [];
    const array = <T extends ArrayBufferView>(a: T): T => (arrays.push(a as never), a);
    const shape: number[] = [n];
    Object.defineProperty(shape, 1, {
      enumerable: true,
      get() {
        for (const a of arrays) {
          if (how === 'shrink') (a.buffer as ArrayBuffer & { resize(b: number): void }).resize(0);
          else structuredClone(a.buffer, { transfer: [a.buffer] });
        }
        return kk;
      },
    });
    return { shape, array };
  };
  const buffer = (how: 'transfer' | 'shrink', bytes: number) =>
    how === 'shrink' ? new (ArrayBuffer as unknown as new (b: number, o: object) => ArrayBuffer)(bytes, { maxByteLength: bytes }) : new ArrayBuffer(bytes);
  const u16 = (how: 'transfer' | 'shrink', len: number, v: number) => new Uint16Array(buffer(how, 2 * len)).fill(v);
  const calls: BadCall[] = [];
  for (const how of ['transfer', 'shrink'] as const) {
    const message = how === 'transfer' ? /got one detached while the call read its other arguments$/ : /got one resized from \d+ to 0 elements while the call read its other arguments$/;
    const entry = (name: string, argument: string, call: (sq: Context, t: ReturnType<typeof trapped>) => unknown): BadCall => ({
      name: `${name}: a shape getter ${how === 'transfer' ? 'transfers' : 'shrinks'} ${argument} after it was checked (was a SIGSEGV)`,
      call: (sq) => call(sq, trapped(how)),
      expected: ['SparqArgumentError', 'ERR_SPARQ_ARGUMENT', argument],
      message,
    });
    calls.push(
      entry('tensor', 'data', (sq, t) => sq.tensor(t.array(u16(how, n * kk, 0x3c00)), t.shape, 'f16')),
      entry('w4a16.quantize', 'w', (sq, t) => sq.w4a16.quantize(t.array(u16(how, n * kk, 0x3c00)), t.shape)),
      entry('w4a16.fromCodes', 'codes', (sq, t) =>
        sq.w4a16.fromCodes(t.array(new Uint8Array(buffer(how, n * kk)).fill(8)), t.array(u16(how, n, 0x3c00)), t.shape, { groupSize: kk }),
      ),
      entry('int8.quantize', 'w', (sq, t) => sq.int8.quantize(t.array(u16(how, n * kk, 0x3c00)), t.shape)),
      entry('int8.fromCodes', 'codes', (sq, t) =>
        sq.int8.fromCodes(t.array(new Int8Array(buffer(how, n * kk)).fill(1)), t.array(new Float32Array(buffer(how, 4 * n)).fill(1)), t.shape),
      ),
      entry('sparse.encode', 'w', (sq, t) => sq.sparse.encode(t.array(u16(how, n * kk, 0x3c00)), t.shape)),
      entry('sparse.prune', 'w', (sq, t) => sq.sparse.prune(t.array(u16(how, n * kk, 0x3c00)), t.shape, 0.5)),
    );
  }
  const handleOf = (v: object): object => (v as unknown as { handle: object }).handle;
  calls.push(
    {
      name: 'toF16 of a transferred Float32Array (was an empty result)',
      call: () => {
        const a = new Float32Array(8);
        structuredClone(a.buffer, { transfer: [a.buffer] });
        return toF16(a);
      },
      expected: ['SparqArgumentError', 'ERR_SPARQ_ARGUMENT', 'values'],
      message: /got a detached Float32Array\(0\)$/,
    },
    {
      name: 'dense.matmul: x an object inheriting from a tensor handle (was a plain Error "Invalid argument")',
      call: (sq) => {
        const w = sq.zeros([4, k], 'f16');
        return sq.dense.matmul(w, Object.create(Object.getPrototypeOf(handleOf(w))) as never);
      },
      expected: ['SparqArgumentError', 'ERR_SPARQ_ARGUMENT', 'x'],
      message: /x must be a sparq Tensor, got a Tensor sparq did not make$/,
    },
    {
      name: 'dense.matmul: x a Proxy of a tensor handle (was a plain Error "Invalid argument")',
      call: (sq) => sq.dense.matmul(sq.zeros([4, k], 'f16'), new Proxy(handleOf(sq.zeros([1, k], 'f16')), {}) as never),
      expected: ['SparqArgumentError', 'ERR_SPARQ_ARGUMENT', 'x'],
    },
    {
      name: 'w4a16.matmul: the weight an object inheriting from a weight handle (was a plain Error)',
      call: async (sq) => {
        const q = await sq.w4a16.quantize(f16(4 * k), [4, k]);
        return sq.w4a16.matmul(Object.create(Object.getPrototypeOf(handleOf(q))) as never, sq.zeros([1, k], 'f16'));
      },
      expected: ['SparqArgumentError', 'ERR_SPARQ_ARGUMENT', 'weight'],
    },
  );
  return calls;
}

async function outcome(c: BadCall, sq: Context, other: Context): Promise<[string, string, string | undefined, string]> {
  try {
    await c.call(sq, other);
  } catch (e) {
    const err = e as Error & { code?: string; argument?: string };
    return [err.constructor.name, err.code ?? '', err.argument, err.message];
  }
  return ['none', '', undefined, ''];
}

const backends = backendMatrix()
  .filter((b) => b.backend !== 'cuda' && b.present)
  .map((b) => b.backend);

describe(`bad calls: one mistake, one error on ${backends.join(' and ')}`, () => {
  it.each(CALLS)('$name', async (c) => {
    const seen: string[] = [];
    for (const backend of backends) {
      const sq = await open({ backend });
      const other = await open({ backend });
      const [cls, code, argument, message] = await outcome(c, sq, other);
      expect([cls, code, argument]).toEqual(c.expected);
      if (c.message) expect(message).toMatch(c.message);
      seen.push(`${cls}/${code}/${argument}`);
      // the context stays usable: a real matmul with a known answer
      const y = await sq.dense.matmul(sq.tensor(f16(2 * 8, 1), [2, 8], 'f16'), sq.tensor(f16(8, 0.5), [1, 8], 'f16')).read();
      expect(Array.from(y)).toEqual([0x4400, 0x4400]); // 8 · 1 · 0.5 = 4
      await Promise.all([sq.close(), other.close()]);
    }
    expect(new Set(seen).size).toBe(1);
  });

  it('runs on both cpu and sim in a checkout build (sim is only absent from the CPU prebuild)', () => {
    expect(backends[0]).toBe('cpu');
    if (process.env.SPARQ_ADDON_PATH === undefined) expect(backends).toEqual(['cpu', 'sim']);
  });
});

describe('open() names the option that was wrong', () => {
  it.each([
    [{ cpuIsa: 'sse' }, undefined, 'cpuIsa', /^open: cpuIsa must be one of/],
    [{}, 'sse', 'SPARQ_CPU_ISA', /^open: SPARQ_CPU_ISA must be one of/],
  ])('%j with SPARQ_CPU_ISA=%s → argument %s', async (options, env, argument, message) => {
    const prev = process.env.SPARQ_CPU_ISA;
    if (env === undefined) delete process.env.SPARQ_CPU_ISA;
    else process.env.SPARQ_CPU_ISA = env;
    try {
      const e = (await open({ backend: 'cpu', ...(options as object) }).catch((x: unknown) => x)) as Error & { argument?: string };
      expect(e.constructor.name).toBe('SparqArgumentError');
      expect(e.argument).toBe(argument);
      expect(e.message).toMatch(message);
    } finally {
      if (prev === undefined) delete process.env.SPARQ_CPU_ISA;
      else process.env.SPARQ_CPU_ISA = prev;
    }
  });
});

describe('a weight in the other layout: the shape error names both shapes', () => {
  it.each([
    [[2, 16], 'dense.matmul: x must be [m, 8] to match w [n, k] = [16, 8], got [2, 16]'],
    [[3, 2, 16], 'dense.matmul: x must be [..., 8] to match w [n, k] = [16, 8], got [3, 2, 16]'],
  ])('x %j against w [16, 8]', async (xShape, message) => {
    const sq = await open({ backend: 'cpu' });
    try {
      const w = sq.tensor(new Uint16Array(16 * 8).fill(0x3c00), [16, 8], 'f16');
      const x = sq.zeros(xShape, 'f16');
      let caught: unknown;
      try {
        sq.dense.matmul(w, x);
      } catch (e) {
        caught = e;
      }
      expect(caught).toMatchObject({ name: 'SparqShapeError', argument: 'x', message });
      const qw = await sq.w4a16.quantize(new Uint16Array(16 * 64).fill(0x3c00), [16, 64]);
      expect(() => sq.w4a16.matmul(qw, sq.zeros([2, 16], 'f16'))).toThrow('w4a16.matmul: x must be [m, 64] to match w [n, k] = [16, 64], got [2, 16]');
    } finally {
      await sq.close();
    }
  });
});

describe('open() refuses a simulated device size that is not a count', () => {
  it.each([
    ['SPARQ_SIM_SMS', 'abc'],
    ['SPARQ_SIM_SMS', '0'],
    ['SPARQ_SIM_SMS', '2.5'],
    ['SPARQ_SIM_SMS', '-3'],
    ['SPARQ_SIM_SMS', '1025'],
    ['SPARQ_SIM_MEMORY_BYTES', '1e6'],
    ['SPARQ_SIM_MEMORY_BYTES', '0'],
    ['SPARQ_SIM_MEMORY_BYTES', 'lots'],
  ])('%s=%s → SparqArgumentError naming it (sim, before the addon is asked); cpu opens as before', async (name, value) => {
    const prev = process.env[name];
    process.env[name] = value;
    try {
      const e = (await open({ backend: 'sim' }).catch((x: unknown) => x)) as Error & { argument?: string };
      expect(e.constructor.name).toBe('SparqArgumentError');
      expect(e.argument).toBe(name);
      expect(e.message).toBe(`open: ${name} must be an integer in 1..${name === 'SPARQ_SIM_SMS' ? 1024 : Number.MAX_SAFE_INTEGER}, got ${JSON.stringify(value)}`);
      const cpu = await open({ backend: 'cpu' });
      await cpu.close();
    } finally {
      if (prev === undefined) delete process.env[name];
      else process.env[name] = prev;
    }
  });
  it('a valid SPARQ_SIM_SMS opens sim', async () => {
    const prev = process.env.SPARQ_SIM_SMS;
    process.env.SPARQ_SIM_SMS = '6';
    try {
      const sq = await open({ backend: 'sim' }).catch((x: unknown) => x);
      if (sq instanceof Error) {
        // Only the CPU prebuild lacks sim, and then it says so.
        expect([sq.constructor.name, process.env.SPARQ_ADDON_PATH !== undefined]).toEqual(['SparqBackendError', true]);
        return;
      }
      expect((sq as Context).backend).toBe('sim');
      await (sq as Context).close();
    } finally {
      if (prev === undefined) delete process.env.SPARQ_SIM_SMS;
      else process.env.SPARQ_SIM_SMS = prev;
    }
  });
});

describe('an op a backend lacks', () => {
  it('fragmentDump on cpu (sim and cuda only) is a SparqBackendError saying so, from the Backend default', async () => {
    const sq = await open({ backend: 'cpu' });
    const e = (await native()
      .fragmentDump(sq.handle)
      .catch((x: unknown) => x)) as Error & { code?: string; argument?: string };
    expect(e.constructor.name).toBe('SparqBackendError');
    expect(e.message).toBe("fragmentDump: not supported on backend 'cpu'");
    expect(sq.lost).toBe(false);
    await sq.close();
  });
});

describe('no user code runs while an op checks its tensors and weights', () => {
  // instanceof walked the prototype chain: a Proxy there ran its getPrototypeOf trap between the
  // checks, and a trap disposing w (already checked) made the op use a freed tensor (SIGSEGV on
  // the stream worker for dense, on the JS thread for w4a16; 2026-12-05). The type tag is read from
  // the object itself: the trap never runs.
  it.each(backends)('a Proxy in x\'s handle prototype chain, disposing w from its trap: never runs (%s)', async (backend) => {
    const sq = await open({ backend });
    const [n, kk] = [4, 16];
    const w = sq.tensor(f16(n * kk, 1), [n, kk], 'f16');
    const x = sq.tensor(f16(2 * kk, 0.5), [2, kk], 'f16');
    const q = await sq.w4a16.quantize(f16(n * 128, 1), [n, 128], { groupSize: 128 });
    const x128 = sq.tensor(f16(2 * 128, 0.5), [2, 128], 'f16');
    let trapRuns = 0;
    const booby = (handle: object, victim: { dispose(): void }) => {
      const proto = Object.getPrototypeOf(handle) as object;
      Object.setPrototypeOf(
        handle,
        new Proxy(Object.create(null) as object, {
          getPrototypeOf() {
            trapRuns++;
            victim.dispose();
            return proto;
          },
        }),
      );
    };
    booby((x as unknown as { handle: object }).handle, w);
    booby((x128 as unknown as { handle: object }).handle, q);
    const y = await sq.dense.matmul(w, x).read();
    const y4 = await sq.w4a16.matmul(q, x128).read();
    expect(trapRuns).toBe(0);
    expect(Array.from(y)).toEqual(new Array(2 * n).fill(0x4800)); // 16 · 1 · 0.5 = 8
    expect(Array.from(y4)).toEqual(new Array(2 * n).fill(0x5400)); // 128 · 1 · 0.5 = 64 (1.0 is exact in 4 bits)
    await sq.close();
  });
});
