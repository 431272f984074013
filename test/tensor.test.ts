import { open, toF16, type DType, type HostArrayOf } from '../src';
import { backendMatrix, describeFor, titleFor } from './helpers/backends';
import { freshSeed, rng } from './reference';

function sample(dtype: DType, count: number, next: () => number): HostArrayOf[DType] {
  switch (dtype) {
    case 'f16':
    case 'bf16':
      return Uint16Array.from({ length: count }, () => Math.floor(next() * 65536));
    case 'f32':
      return Float32Array.from({ length: count }, () => (next() - 0.5) * 1e6);
    case 'i8':
      return Int8Array.from({ length: count }, () => Math.floor(next() * 256) - 128);
    case 'u8':
      return Uint8Array.from({ length: count }, () => Math.floor(next() * 256));
    case 'i32':
      return Int32Array.from({ length: count }, () => Math.floor((next() - 0.5) * 2 ** 32));
  }
}

describe('tensors [cpu]', () => {
  const dtypes: DType[] = ['f16', 'bf16', 'f32', 'i8', 'u8', 'i32'];
  it.each(dtypes)('%s: round trip returns an equal fresh copy of the same array type', async (dtype) => {
    const sq = await open({ backend: 'cpu' });
    const next = rng(freshSeed());
    const data = sample(dtype, 3 * 5 * 7, next);
    const t = sq.tensor(data, [3, 5, 7], dtype);
    expect(t.shape).toEqual([3, 5, 7]);
    expect(t.dtype).toBe(dtype);
    const back = await t.read();
    expect(back.constructor.name).toBe(data.constructor.name);
    expect(Array.from(back)).toEqual(Array.from(data));
    expect(back.buffer).not.toBe(data.buffer);
    // a second read is another fresh copy
    const again = await t.read();
    expect(again).not.toBe(back);
    t.dispose();
  });

  it('copies at creation: mutating the source array afterwards does not change the tensor', async () => {
    const sq = await open({ backend: 'cpu' });
    const data = new Float32Array([1, 2, 3, 4]);
    const t = sq.tensor(data, [4], 'f32');
    data.fill(9);
    expect(Array.from(await t.read())).toEqual([1, 2, 3, 4]);
  });

  it('zeros: every dtype reads back as zeros', async () => {
    const sq = await open({ backend: 'cpu' });
    for (const d of dtypes) expect(Array.from(await sq.zeros([2, 3], d).read())).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('dispose: idempotent, Symbol.dispose works, bytes go to 0', async () => {
    const sq = await open({ backend: 'cpu' });
    const t = sq.zeros([128], 'f32');
    expect(t.bytes).toBe(512);
    t[Symbol.dispose]();
    expect(t.disposed).toBe(true);
    expect(t.bytes).toBe(0);
    t.dispose();
  });

  it('a tensor disposed while an op that reads it is queued still gives the right result', async () => {
    const sq = await open({ backend: 'cpu' });
    const n = 512;
    const w = sq.tensor(new Uint16Array(n * n).fill(0x3c00), [n, n], 'f16'); // ones
    const x = sq.tensor(new Uint16Array(4 * n).fill(0x3c00), [4, n], 'f16');
    const y = sq.dense.matmul(w, x);
    w.dispose();
    x.dispose();
    const bits = await y.read();
    expect(bits.every((b) => b === 0x6000)).toBe(true); // 512.0
  });

  // Node ≥ 24 has Float16Array; on older Node a stand-in with the same view shape (buffer, byteOffset,
  // length) is installed on globalThis, so the detection and the view in src/dtype.ts run either way.
  // Without that code the object would reach the binding as a non-typed-array and be rejected.
  const nativeF16 = (globalThis as { Float16Array?: unknown }).Float16Array;
  class Float16ArrayStandIn {
    constructor(readonly buffer: ArrayBuffer, readonly byteOffset: number, readonly length: number) {}
  }
  it(`Float16Array (${nativeF16 ? "the runtime's" : 'a stand-in on globalThis'}) is taken as f16 bits, at its byteOffset`, async () => {
    const g = globalThis as { Float16Array?: unknown };
    const F16 = (nativeF16 ?? Float16ArrayStandIn) as new (b: ArrayBuffer, off: number, len: number) => unknown;
    if (!nativeF16) g.Float16Array = Float16ArrayStandIn;
    try {
      const buffer = new ArrayBuffer(8);
      new Uint16Array(buffer).set([0x7bff, 0x3c00, 0x4000, 0xc000]); // 65504 | 1 2 | -2
      const sq = await open({ backend: 'cpu' });
      const t = sq.tensor(new F16(buffer, 2, 2) as unknown as Uint16Array, [2], 'f16');
      expect(Array.from(await t.read())).toEqual([0x3c00, 0x4000]);
      expect(() => sq.tensor(new F16(buffer, 2, 2) as unknown as Uint16Array, [3], 'f16')).toThrow(/3 elements for shape \[3\], got 2/);
    } finally {
      if (!nativeF16) delete g.Float16Array;
    }
  });
});

describe('copy [cpu]', () => {
  it('copies in stream order, into a new tensor or into out; rejects a mismatched out', async () => {
    const sq = await open({ backend: 'cpu' });
    const data = Int32Array.from({ length: 1000 }, (_, i) => i * 7 - 300);
    const src = sq.tensor(data, [10, 100], 'i32');
    const a = sq.copy(src);
    const out = sq.zeros([10, 100], 'i32');
    sq.copy(src, { out });
    expect(Array.from(await a.read())).toEqual(Array.from(data));
    expect(Array.from(await out.read())).toEqual(Array.from(data));
    expect(() => sq.copy(src, { out: sq.zeros([10, 100], 'f32') as never })).toThrow(/copy: out must be an i32 tensor, got an f32 tensor/);
    expect(() => sq.copy(src, { out: sq.zeros([100, 10], 'i32') })).toThrow(/copy: out must be \[10, 100\], got \[100, 10\]/);
  });
});

// read(out): the worker stages the copy and the completion writes out on the JS thread, so out is
// never written while JS runs and a detached or shrunk out is caught, not written through.
for (const p of backendMatrix()) {
  describeFor(p)(titleFor(p, 'tensor.read(out)'), () => {
    const dtypes: DType[] = ['f16', 'bf16', 'f32', 'i8', 'u8', 'i32'];
    const poison = (a: HostArrayOf[DType]): void => {
      if (a instanceof Float32Array) a.fill(NaN);
      else a.fill(0x5a);
    };

    it.each(dtypes)('%s: fills out (poisoned first), resolves with out itself, equals read()', async (dtype) => {
      const sq = await open({ backend: p.backend });
      const next = rng(freshSeed());
      const data = sample(dtype, 4 * 37, next);
      const t = sq.tensor(data, [4, 37], dtype);
      const Ctor = data.constructor as new (n: number) => HostArrayOf[DType];
      const out = new Ctor(4 * 37);
      poison(out);
      const got = await t.read(out);
      expect(got).toBe(out);
      expect(Array.from(out)).toEqual(Array.from(data));
      expect(Array.from(out)).toEqual(Array.from(await t.read()));
      await sq.close();
    });

    it('a view at an offset gets the data in its window only; an op result reads the same as read()', async () => {
      const sq = await open({ backend: p.backend });
      const next = rng(freshSeed());
      const n = 24, k = 40, m = 3;
      const w = sq.tensor(toF16(Float32Array.from({ length: n * k }, () => next() - 0.5)), [n, k], 'f16');
      const x = sq.tensor(toF16(Float32Array.from({ length: m * k }, () => next() - 0.5)), [m, k], 'f16');
      const y = sq.dense.matmul(w, x);
      const backing = new Uint16Array(m * n + 10).fill(0xbeef);
      const view = backing.subarray(4, 4 + m * n);
      await y.read(view); // queued right behind the matmul
      expect(Array.from(view)).toEqual(Array.from(await y.read()));
      expect(Array.from(backing.subarray(0, 4))).toEqual([0xbeef, 0xbeef, 0xbeef, 0xbeef]);
      expect(Array.from(backing.subarray(4 + m * n))).toEqual(new Array(6).fill(0xbeef));
      await sq.close();
    });

    it('a wrong out rejects with a typed error naming out; nothing is written; the context stays usable', async () => {
      const sq = await open({ backend: p.backend });
      const t = sq.tensor(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3], 'f32');
      const short = new Float32Array(5).fill(7);
      await expect(t.read(short)).rejects.toMatchObject({ name: 'SparqShapeError', argument: 'out' });
      expect(Array.from(short)).toEqual([7, 7, 7, 7, 7]);
      const wrongType = new Int32Array(6);
      await expect(t.read(wrongType as unknown as Float32Array)).rejects.toMatchObject({ name: 'SparqDTypeError', argument: 'out' });
      await expect(t.read([1, 2, 3, 4, 5, 6] as unknown as Float32Array)).rejects.toMatchObject({ name: 'SparqArgumentError', argument: 'out' });
      await expect(t.read(null as unknown as Float32Array)).rejects.toMatchObject({ name: 'SparqArgumentError', argument: 'out' });
      expect(Array.from(await t.read(new Float32Array(6)))).toEqual([1, 2, 3, 4, 5, 6]);
      t.dispose();
      const after = new Float32Array(6).fill(9);
      await expect(t.read(after)).rejects.toMatchObject({ name: 'SparqDisposedError' });
      expect(Array.from(after)).toEqual([9, 9, 9, 9, 9, 9]);
      await sq.close();
    });

    it('an out detached (transferred) or shrunk before the read completes rejects, and is not written', async () => {
      const sq = await open({ backend: p.backend });
      const t = sq.tensor(new Float32Array([1, 2, 3, 4, 5, 6]), [6], 'f32');
      const buffer = new ArrayBuffer(24);
      const pending = t.read(new Float32Array(buffer));
      const moved = structuredClone(buffer, { transfer: [buffer] });
      await expect(pending).rejects.toMatchObject({ name: 'SparqArgumentError', argument: 'out' });
      expect(Array.from(new Float32Array(moved))).toEqual([0, 0, 0, 0, 0, 0]);
      const resizable = new (ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer & { resize(n: number): void })(24, { maxByteLength: 48 });
      const shrinking = t.read(new Float32Array(resizable));
      resizable.resize(16);
      await expect(shrinking).rejects.toThrow(/detached or resized/);
      expect(Array.from(new Float32Array(resizable))).toEqual([0, 0, 0, 0]);
      expect(Array.from(await t.read())).toEqual([1, 2, 3, 4, 5, 6]);
      await sq.close();
    });
  });
}
