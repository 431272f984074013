import {
  Comm,
  Context,
  Group,
  Int8Weight,
  open,
  SparseWeight,
  SparqArgumentError,
  SparqBackendError,
  SparqDisposedError,
  SparqDTypeError,
  SparqError,
  SparqOutOfMemoryError,
  SparqShapeError,
  Tensor,
  W4A16Weight,
} from '../src';
import { native } from '../src/native';
import { ErrorClass, expectError } from './helpers/expectError';

/** After each bad call the context must still work: a real matmul with a known answer. */
async function stillUsable(sq: Context): Promise<void> {
  const w = sq.tensor(new Uint16Array([0x3c00, 0x4000]), [1, 2], 'f16'); // [1, 2]
  const x = sq.tensor(new Uint16Array([0x4000, 0x3c00]), [1, 2], 'f16'); // [2, 1]
  expect(Array.from(await sq.dense.matmul(w, x).read())).toEqual([0x4400]); // 4.0
}

describe('typed errors [cpu]', () => {
  let sq: Context;
  let w: ReturnType<Context['tensor']>;
  beforeAll(async () => {
    sq = await open({ backend: 'cpu' });
    w = sq.tensor(new Uint16Array(8 * 4), [8, 4], 'f16');
  });
  afterEach(async () => stillUsable(sq));

  const cases: [string, () => unknown, ErrorClass, string, string | undefined, RegExp?][] = [
    ['wrong shape of x', () => sq.dense.matmul(w as never, sq.zeros([8, 3], 'f16')), SparqShapeError, 'ERR_SPARQ_SHAPE', 'x', /dense\.matmul: x must be \[m, 4\] to match w \[n, k\] = \[\d+, 4\], got \[8, 3\]/],
    ['wrong dtype of x', () => sq.dense.matmul(w as never, sq.zeros([2, 4], 'f32') as never), SparqDTypeError, 'ERR_SPARQ_DTYPE', 'x', /must be an f16 tensor, got an f32 tensor/],
    ['not a typed array', () => sq.tensor([1, 2, 3] as never, [3], 'f32'), SparqArgumentError, 'ERR_SPARQ_ARGUMENT', 'data', /tensor: data must be a Float32Array/],
    ['array type not matching the dtype', () => sq.tensor(new Float32Array(4) as never, [4], 'f16'), SparqDTypeError, 'ERR_SPARQ_DTYPE', 'data', /got Float32Array\(4\) \(toF16\(\) turns numbers into fp16 bits\)$/],
    ['numbers where bf16 bits are due', () => sq.tensor([1, 2] as never, [2], 'bf16'), SparqArgumentError, 'ERR_SPARQ_ARGUMENT', 'data', /got array of length 2 \(toBF16\(\) turns numbers into bf16 bits\)$/],
    ['a bigint dim', () => sq.zeros([2n, 2] as never, 'f16'), SparqShapeError, 'ERR_SPARQ_SHAPE', 'shape', /got bigint 2 at index 0$/],
    [
      "int8.matmul's result where its tensor is due",
      () => sq.dense.matmul(w as never, { y: sq.zeros([2, 4], 'f16'), outlierColumns: Promise.resolve(new Int32Array(0)) } as never),
      SparqArgumentError,
      'ERR_SPARQ_ARGUMENT',
      'x',
      /x must be a sparq Tensor, got an object with a Tensor in \.y \(an int8\.matmul result\? pass its \.y\)$/,
    ],
    ['negative dim', () => sq.zeros([2, -3], 'f16'), SparqShapeError, 'ERR_SPARQ_SHAPE', 'shape', /got number -3 at index 1/],
    ['fractional dim', () => sq.zeros([2.5], 'f16'), SparqShapeError, 'ERR_SPARQ_SHAPE', 'shape', /got number 2.5 at index 0/],
    ['NaN in a shape', () => sq.zeros([NaN, 2], 'f16'), SparqShapeError, 'ERR_SPARQ_SHAPE', 'shape', /got NaN at index 0/],
    ['zeros too large to allocate', () => sq.zeros([2 ** 26, 2 ** 24], 'f32'), SparqOutOfMemoryError, 'ERR_SPARQ_OUT_OF_MEMORY', 'shape', /zeros: could not allocate the tensor \[67108864, 16777216\] f32 \(\d+ bytes\).*allocation of \d+ bytes/],
    ['shape too large to address', () => sq.zeros([2 ** 40, 2 ** 40], 'f32'), SparqOutOfMemoryError, 'ERR_SPARQ_OUT_OF_MEMORY', 'shape'],
    [
      'disposed tensor',
      () => {
        const x = sq.zeros([2, 4], 'f16');
        x.dispose();
        return sq.dense.matmul(w as never, x);
      },
      SparqDisposedError,
      'ERR_SPARQ_DISPOSED',
      'x',
      /x was disposed/,
    ],
    ['bias of the wrong length', () => sq.dense.matmul(w as never, sq.zeros([2, 4], 'f16'), { bias: sq.zeros([7], 'f16') }), SparqShapeError, 'ERR_SPARQ_SHAPE', 'bias', /bias must be \[8\], got \[7\]/],
    ['length not matching the shape', () => sq.tensor(new Uint16Array(5), [2, 3], 'f16'), SparqShapeError, 'ERR_SPARQ_SHAPE', 'data', /6 elements for shape \[2, 3\], got 5 elements/],
    ['unknown dtype', () => sq.zeros([2], 'f64' as never), SparqDTypeError, 'ERR_SPARQ_DTYPE', 'dtype', /got string "f64"/],
    ['out of the wrong shape', () => sq.dense.matmul(w as never, sq.zeros([2, 4], 'f16'), { out: sq.zeros([2, 7], 'f16') }), SparqShapeError, 'ERR_SPARQ_SHAPE', 'out'],
    ['w not a tensor', () => sq.dense.matmul(42 as never, sq.zeros([2, 4], 'f16')), SparqArgumentError, 'ERR_SPARQ_ARGUMENT', 'w', /w must be a sparq Tensor, got number 42/],
    ['empty shape', () => sq.zeros([], 'f16'), SparqShapeError, 'ERR_SPARQ_SHAPE', 'shape'],
  ];

  const rows = cases.map(([name, fn, cls, code, argument, message]) => ({ name, fn, cls, code, argument, message }));
  it.each(rows)('$name → the right class, code and argument', (c) => {
    expectError(c.fn, c.cls, c.code, c.argument, c.message);
  });

  it('tensor from another context → SparqArgumentError naming the argument', async () => {
    const other = await open({ backend: 'cpu' });
    const foreign = other.zeros([2, 4], 'f16');
    expectError(() => sq.dense.matmul(w as never, foreign), SparqArgumentError, 'ERR_SPARQ_ARGUMENT', 'x', /a tensor of another context/);
  });

  it('read() of a disposed tensor rejects with SparqDisposedError', async () => {
    const t = sq.zeros([2], 'f16');
    t.dispose();
    await expect(t.read()).rejects.toBeInstanceOf(SparqDisposedError);
  });

  it('an unknown backend name → SparqArgumentError; SPARQ_BACKEND garbage is named too', async () => {
    await expect(open({ backend: 'tpu' as never })).rejects.toMatchObject({ code: 'ERR_SPARQ_ARGUMENT', argument: 'backend' });
    process.env.SPARQ_BACKEND = 'gpu';
    try {
      await expect(open()).rejects.toThrow(/SPARQ_BACKEND must be one of/);
    } finally {
      delete process.env.SPARQ_BACKEND;
    }
  });

  it('SPARQ_CPU_ISA garbage → SparqArgumentError from open()', async () => {
    process.env.SPARQ_CPU_ISA = 'sse9';
    try {
      await expect(open({ backend: 'cpu' })).rejects.toBeInstanceOf(SparqArgumentError);
    } finally {
      delete process.env.SPARQ_CPU_ISA;
    }
  });
});

describe('backends without a GPU', () => {
  // With a driver and a device present this case cannot happen (the cuda suites cover that machine),
  // so it is reported as skipped there, never as passed.
  const withoutGpu = native().probeCuda(0) !== null;
  (withoutGpu ? it : it.skip)("'auto' falls back to cpu with a one-line reason; 'cuda' throws SparqBackendError saying what to do", async () => {
    const sq = await open();
    expect(sq.backend).toBe('cpu');
    expect(sq.fallbackReason).toMatch(/\S/);
    expect(sq.fallbackReason).not.toMatch(/\n/);
    await expect(open({ backend: 'cuda' })).rejects.toBeInstanceOf(SparqBackendError);
    await expect(open({ backend: 'cuda' })).rejects.toThrow(/driver|device|backend 'cpu'/);
  });
});

describe('raw native objects never crash the process', () => {
  it('NativeContext / NativeTensor / NativeWeight constructed directly throw typed errors', async () => {
    const { native } = await import('../src/native');
    const b = native() as unknown as Record<string, new () => Record<string, (...a: unknown[]) => unknown>>;
    const ctx = new b.NativeContext();
    expect(() => ctx.tensor(new Float32Array(1), [1], 'f32')).toThrow(SparqArgumentError);
    expect(() => ctx.synchronize()).toThrow(/a context from open\(\)/);
    const t = new b.NativeTensor();
    expect(() => t.read()).toThrow(SparqDisposedError);
    const w = new b.NativeWeight();
    expect(() => w.read()).toThrow(SparqDisposedError);
    const sq = await open({ backend: 'cpu' });
    // An op takes only objects the library made (type-tagged), so this one is refused as an argument.
    expect(() => native().denseMatmul(sq.handle, t, t, null, null)).toThrow(SparqArgumentError);
    expect(() => native().denseMatmul(sq.handle, t, t, null, null)).toThrow(/w must be a sparq Tensor, got a Tensor sparq did not make$/);
    expect(() => native().denseMatmul(ctx as never, t, t, null, null)).toThrow(/must be a sparq context/);
    // A native getter borrowed onto another kind of sparq object (V8 checks a method's receiver, not
    // an accessor's): "Illegal invocation", where it read the object as its own class (a SIGSEGV).
    const handleOf = (o: object): object => (o as { handle: object }).handle;
    const getter = (o: object, key: string): (() => unknown) =>
      Object.getOwnPropertyDescriptor(Object.getPrototypeOf(o) as object, key)?.get as () => unknown;
    const tz = sq.zeros([4], 'f16');
    const qw = await sq.w4a16.quantize(new Uint16Array(64).fill(0x3c00), [1, 64]);
    const borrowed: [object, string, object][] = [
      [handleOf(tz), 'bytes', handleOf(sq)],
      [handleOf(tz), 'shape', handleOf(sq)],
      [handleOf(tz), 'dtype', handleOf(qw)],
      [handleOf(sq), 'pending', handleOf(tz)],
      [handleOf(sq), 'lastLaunch', handleOf(qw)],
      [handleOf(qw), 'disposed', handleOf(tz)],
    ];
    for (const [from, key, on] of borrowed) {
      let caught: unknown;
      try {
        getter(from, key).call(on);
      } catch (e) {
        caught = e;
      }
      expect([(caught as Error).name, (caught as Error).message]).toEqual(['TypeError', 'Illegal invocation']); // the addon's realm's TypeError
    }
    // Not a sparq object at all: ObjectWrap's own unwrap refuses it before the getter runs.
    expect(() => getter(handleOf(sq), 'liveAllocations').call({})).toThrow('Invalid argument');
    expect([tz.bytes, sq.pending >= 0, qw.disposed]).toEqual([8, true, false]); // on their own objects, as before
    await sq.close();
  });
});

describe('the public classes are made by sparq, not by new', () => {
  // Their constructors are private in the types; from JavaScript, `new` threw a TypeError from
  // inside the constructor ("Cannot read properties of undefined (reading 'info')").
  it.each([
    ['Context', Context, /^Context cannot be constructed with new: open one with sparq\.open\(\)$/],
    ['Tensor', Tensor, /^Tensor cannot be constructed with new: tensors come from sq\.tensor\(\), sq\.zeros\(\) and the ops$/],
    ['W4A16Weight', W4A16Weight, /^W4A16Weight cannot be constructed with new: weights come from/],
    ['SparseWeight', SparseWeight, /^SparseWeight cannot be constructed with new/],
    ['Int8Weight', Int8Weight, /^Int8Weight cannot be constructed with new/],
    ['Group', Group, /^Group cannot be constructed with new: make one with sq\.group/],
    ['Comm', Comm, /^Comm cannot be constructed with new: join one with await sq\.comm/],
  ] as const)('new %s() is a SparqArgumentError saying how to get one', (_name, cls, message) => {
    const make = () => new (cls as unknown as new (...a: unknown[]) => unknown)();
    expect(make).toThrow(SparqArgumentError);
    expect(make).toThrow(message);
  });
});

describe('two copies of the addon in one process', () => {
  // Two sparq versions in one dependency tree load two sparq.node files: neither may take the
  // other's objects, whose layout it cannot know (the type tags carry the copy; 2026-12-05).
  it("a second copy refuses the first copy's context, tensors and weights (its error, not a misread object)", async () => {
    const fs = await import('fs');
    const os = await import('os');
    const path = await import('path');
    const { addonPath } = await import('../src/native');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparq-copy-'));
    const copy = path.join(dir, 'sparq.node');
    fs.copyFileSync(addonPath(), copy);
    const cuda = path.join(path.dirname(addonPath()), 'libsparq_cuda.so');
    if (fs.existsSync(cuda)) fs.copyFileSync(cuda, path.join(dir, 'libsparq_cuda.so'));
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const b = require(copy) as Record<string, (...a: unknown[]) => unknown>;
    const sq = await open({ backend: 'cpu' });
    try {
      const h = (v: object): unknown => (v as unknown as { handle: unknown }).handle;
      const w = sq.tensor(new Uint16Array(4).fill(0x3c00), [2, 2], 'f16');
      expect(() => b.denseMatmul(h(sq), h(w), h(w), null, null)).toThrow(/context must be a sparq context, got object/);
      const q = await sq.w4a16.quantize(new Uint16Array(2 * 32).fill(0x3c00), [2, 32]);
      const other = (await b.openContext('cpu', 0, { cpuIsa: '', cpuIsaSource: 'cpuIsa', threads: 1 })) as Record<string, unknown>;
      expect(() => b.denseMatmul(other, h(w), h(w), null, null)).toThrow(/w must be a sparq Tensor/);
      expect(() => b.w4a16Matmul(other, h(q), h(w), null, null, 'exact')).toThrow(/weight must be a W4A16Weight/);
      await (other.close as () => Promise<void>).call(other);
    } finally {
      await sq.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('two copies of the TypeScript layer on one addon', () => {
  // A second module registry (jest.isolateModules or resetModules, a bundle that inlines sparq's
  // JS beside a plain install) loads src/ again but gets the same sparq.node from Node's require
  // cache, and hands it its own error classes: errors of the first copy's calls were then made
  // by the second copy's classes, and `instanceof SparqShapeError` was false in the first copy
  // (jest: "Expected constructor: SparqShapeError, Received constructor: SparqShapeError").
  it("errors are instances of either copy's classes, by code, whichever copy loaded the addon last", async () => {
    const sq = await open({ backend: 'cpu' }); // this copy hands the addon its classes first
    let other: typeof import('../src') | undefined;
    jest.isolateModules(() => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      other = require('../src') as typeof import('../src');
    });
    const sq2 = await other!.open({ backend: 'cpu' }); // the second copy hands it its classes
    expect(other!.SparqShapeError).not.toBe(SparqShapeError);
    const caught = (fn: () => unknown): unknown => {
      try {
        fn();
      } catch (e) {
        return e;
      }
      return undefined;
    };
    try {
      const w = sq.tensor(new Uint16Array(4), [2, 2], 'f16');
      const mine = caught(() => sq.dense.matmul(w, sq.zeros([1, 3], 'f16')));
      const w2 = sq2.tensor(new Uint16Array(4), [2, 2], 'f16');
      const theirs = caught(() => sq2.dense.matmul(w2, sq2.zeros([1, 3], 'f16')));
      for (const e of [mine, theirs]) {
        expect(e instanceof SparqShapeError).toBe(true);
        expect(e instanceof other!.SparqShapeError).toBe(true);
        expect(e instanceof SparqError).toBe(true);
        expect(e instanceof other!.SparqError).toBe(true);
        expect(e instanceof Error).toBe(true);
        expect(e instanceof SparqDTypeError).toBe(false);
        expect(e instanceof other!.SparqDTypeError).toBe(false);
        expect((e as SparqShapeError).argument).toBe('x');
      }
      // rejections too (made by the addon's completion, with the classes it holds)
      const rejected = await sq.w4a16.quantize(new Uint16Array(3), [2, 2]).catch((e: unknown) => e);
      expect(rejected instanceof SparqShapeError).toBe(true);
      // an error of the same code made by hand is an instance of both, nothing else is
      expect(new SparqShapeError('x') instanceof other!.SparqShapeError).toBe(true);
      const lookalike = Object.assign(new Error('dense.matmul: x must be …'), { code: 'ERR_SPARQ_SHAPE' });
      expect(lookalike instanceof SparqShapeError).toBe(false);
      expect(lookalike instanceof SparqError).toBe(false);
      for (const v of [null, undefined, 1, 'ERR_SPARQ_SHAPE', {}]) expect(v instanceof SparqError).toBe(false);
    } finally {
      await sq.close();
      await sq2.close();
    }
  });
});
