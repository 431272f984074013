import { MessageChannel } from 'worker_threads';
import { inspect } from 'util';

import { comm, fromBF16, fromF16, open, SparqArgumentError, toBF16, toF16, type Context, type Tensor } from '../src';

describe('sparq objects in Node’s host facilities [cpu]', () => {
  it('posting a tensor, a weight, a context, a group or a comm to another thread throws a SparqArgumentError that says what to post', async () => {
    const sq = await open({ backend: 'cpu' });
    const t = sq.tensor(toF16([1, 2, 3, 4]), [2, 2], 'f16');
    const qw = await sq.w4a16.quantize(toF16(new Array(2 * 32).fill(0.5)), [2, 32]);
    const { port1, port2 } = new MessageChannel();
    try {
      // every sparq object: a context, a group and a comm used to fail with a DataCloneError naming a native class
      const c = await sq.comm({ id: comm.create(), rank: 0, size: 1 });
      for (const [obj, what, instead] of [
        [t, 'tensor', /post await tensor\.read\(\) instead/],
        [qw, 'weight', /post await weight\.read\(\) instead/],
        [sq, 'context', /instead/],
        [sq.group({ ranks: 2 }), 'group', /instead/],
        [c, 'comm', /post the comm id/],
      ] as const) {
        let caught: unknown;
        try {
          port1.postMessage(obj);
        } catch (e) {
          caught = e;
        }
        expect(caught).toBeInstanceOf(SparqArgumentError);
        expect((caught as SparqArgumentError).argument).toBe(what);
        expect((caught as Error).message).toMatch(new RegExp(`^postMessage: a sparq ${what} cannot be sent to another thread`));
        expect((caught as Error).message).toMatch(instead);
      }
      expect(Object.keys(c)).toEqual(['rank', 'size', '__noStructuredClone']); // no ctx or native handle
      expect(Object.keys(sq.group({ ranks: 2 }))).toEqual(['ranks', '__noStructuredClone']);
      expect(JSON.parse(JSON.stringify({ sq, c }))).toEqual({
        sq: { backend: 'cpu', label: sq.label, closed: false },
        c: { rank: 0, size: 1, closed: false, broken: null },
      });
      expect(JSON.stringify(sq.group({ ranks: 2 }))).toBe('{"ranks":2,"disposed":false}');
      c.close();
      port1.postMessage(await t.read()); // the data itself goes through
    } finally {
      port1.close();
      port2.close();
    }
    await sq.close();
  });

  it('console.log / util.inspect show a one-line summary, not the context’s internals', async () => {
    const sq = await open({ backend: 'cpu' });
    const t = sq.tensor(toF16([1, 2, 3, 4]), [2, 2], 'f16');
    const qw = await sq.w4a16.quantize(toF16(new Array(2 * 32).fill(0.5)), [2, 32]);
    expect(inspect(t)).toBe('Tensor<f16>[2, 2]');
    expect(inspect(qw)).toMatch(/^W4A16Weight\[2, 32\] \d+ bytes$/);
    expect(inspect(sq)).toBe(`Context(${sq.label})`);
    const g = sq.group({ ranks: 3 });
    expect(inspect(g)).toBe('Group(3 ranks)');
    expect(g.disposed).toBe(false);
    g.dispose();
    expect([inspect(g), g.disposed]).toEqual(['Group(3 ranks, disposed)', true]);
    expect(String(sq.group({ ranks: 1 }))).toBe('Group(1 rank)');
    const c = await sq.comm({ id: comm.create(), rank: 0, size: 1 });
    expect(inspect(c)).toBe('Comm(rank 0 of 1)');
    c.close();
    expect([inspect(c), c.closed, JSON.stringify(c)]).toEqual(['Comm(rank 0 of 1, closed)', true, '{"rank":0,"size":1,"closed":true,"broken":"rank 0 closed the comm"}']);
    expect(JSON.stringify(t)).toBe('{"dtype":"f16","shape":[2,2],"disposed":false}');
    t.dispose();
    expect(inspect(t)).toBe('Tensor<f16>[2, 2] (disposed)');
    await sq.close();
    expect(inspect(sq)).toBe(`Context(${sq.label}, closed)`);
    expect(inspect(qw)).toBe('W4A16Weight[2, 32] (disposed)');
  });
});

// The API's promise for every call that takes a caller's array: it is copied before the call
// returns, so the caller may overwrite it at once. Until 2026-12-05 the weight preparations started
// in a microtask, so an array overwritten right after the call (before any await) was what they
// quantized, encoded or pruned.
// What sq.tensor says when `data` (a sparq object, a look-alike) is passed as host data: its
// SparqArgumentError's message, or 'accepted'.
const refusalOf =
  (sq: Context) =>
  (data: unknown): string => {
    try {
      sq.tensor(data as never, [4], 'f16');
    } catch (e) {
      expect(e).toBeInstanceOf(SparqArgumentError);
      return (e as Error).message;
    }
    return 'accepted';
  };

describe('a sparq object passed where host data goes says what it is [cpu]', () => {
  it('a tensor or weight points at read(); a context, group or comm (no host data) is named without a read() hint', async () => {
    const sq = await open({ backend: 'cpu', threads: 1 });
    try {
      const t = sq.tensor(toF16([1, 2, 3, 4]), [2, 2], 'f16');
      const w = await sq.int8.quantize(toF16([1, 2, 3, 4]), [2, 2]);
      const c = await sq.comm({ id: comm.create(), rank: 0, size: 1 });
      const messageOf = refusalOf(sq);
      expect(messageOf(t)).toMatch(/got a sparq tensor \(its memory is the backend's: await tensor\.read\(\) gives its host data\)$/);
      expect(messageOf(w)).toMatch(/got a sparq weight \(its memory is the backend's: await weight\.read\(\) gives its host data\)$/);
      // (was "… the rank count gives its host data", "… join with sq.comm() there gives its host data")
      for (const [what, o] of [['context', sq], ['group', sq.group({ ranks: 2 })], ['comm', c]] as const)
        expect(messageOf(o)).toBe(`tensor: data must be a typed array of host data, got a sparq ${what} (it holds no host data)`);
      c.close();
    } finally {
      await sq.close();
    }
  });
});

// Tensors are told by their private field since 2026-12-05 (a WeakMap entry per tensor before):
// the same answers for every tensor there is, and still none for look-alikes.
describe('every tensor passed where host data goes is named as one [cpu]', () => {
  it('an op output, a disposed tensor and a closed context\'s tensor point at read(); a Proxy of one or an object inheriting from one does not', async () => {
    const sq = await open({ backend: 'cpu', threads: 1 });
    const messageOf = refusalOf(sq);
    const named = "tensor: data must be a typed array of host data, got a sparq tensor (its memory is the backend's: await tensor.read() gives its host data)";
    const w = sq.tensor(toF16([1, 2, 3, 4]), [2, 2], 'f16');
    const y = sq.dense.matmul(w, sq.tensor(toF16([1, 1]), [1, 2], 'f16'));
    const gone = sq.zeros([2], 'f16');
    gone.dispose();
    expect([messageOf(w), messageOf(y), messageOf(gone)]).toEqual([named, named, named]);
    const lookAlike = "tensor: data must be a Uint16Array (fp16 bits) for dtype 'f16', got object";
    expect([messageOf(new Proxy(w, {})), messageOf(Object.create(w))]).toEqual([lookAlike, lookAlike]);
    const other = await open({ backend: 'cpu', threads: 1 });
    const closed = other.zeros([2], 'f16');
    await other.close();
    expect(messageOf(closed)).toBe(named);
    await sq.close();
  });
});

describe('a Tensor of unknown dtype narrows with hasDType [cpu]', () => {
  // Compiles only because hasDType is a type guard: t.dtype === 'f16' would not narrow the Map's
  // Tensor<DType> to the Tensor<'f16'> dense.matmul takes (the type-check of this file fails then).
  it('narrows for the ops and answers by the dtype', async () => {
    const sq = await open({ backend: 'cpu', threads: 1 });
    try {
      const cache = new Map<string, Tensor>([
        ['w', sq.tensor(toF16([1, 2, 3, 4]), [2, 2], 'f16')],
        ['x', sq.tensor(toF16([1, 1]), [1, 2], 'f16')],
        ['i', sq.tensor(new Int32Array([1]), [1], 'i32')],
      ]);
      const w = cache.get('w')!, x = cache.get('x')!, i = cache.get('i')!;
      expect([w.hasDType('f16'), i.hasDType('f16'), i.hasDType('i32')]).toEqual([true, false, true]);
      if (!(w.hasDType('f16') && x.hasDType('f16'))) throw new Error('unreachable');
      expect(Array.from(fromF16(await sq.dense.matmul(w, x).read()))).toEqual([3, 7]);
    } finally {
      await sq.close();
    }
  });
});

describe('arrays sparq returns are transferable [cpu]', () => {
  // api.md's worker pattern, postMessage(data, [data.buffer]): since TypeScript 5.7 a plain
  // `Uint16Array` is `<ArrayBufferLike>` (maybe shared, not Transferable), so this file only
  // type-checks (npm run typecheck) while the returned types name a plain ArrayBuffer.
  it('read(), the conversions, weight parts, outlierColumns, prune and comm.create post with their buffer in the transfer list', async () => {
    const sq = await open({ backend: 'cpu' });
    const { port1, port2 } = new MessageChannel();
    try {
      const k = 64;
      const w = toF16(Array.from({ length: 4 * k }, (_, i) => ((i * 37) % 19) / 8 - 1));
      const t = sq.tensor(w, [4, k], 'f16');
      const qw = await sq.w4a16.quantize(w, [4, k], { groupSize: 32 });
      const iw = await sq.int8.quantize(w, [4, k]);
      const sw = await sq.sparse.encode(w, [4, k]);
      const { codes, scales } = await qw.read();
      const int8Parts = await iw.read();
      const arrays = {
        read: await t.read(),
        readF32: await sq.tensor(fromF16(w), [4, k], 'f32').read(),
        toF16: toF16([1, 2]),
        fromF16: fromF16(w),
        toBF16: toBF16([1, 2]),
        fromBF16: fromBF16(toBF16([1, 2])),
        w4a16Codes: codes,
        w4a16Scales: scales,
        int8Codes: int8Parts.codes,
        int8Scb: int8Parts.scb,
        sparseRead: await sw.read(),
        outlierColumns: await sq.int8.matmul(iw, sq.tensor(w.subarray(0, k), [1, k], 'f16')).outlierColumns,
        prune: await sq.sparse.prune(w, [4, k], 0.5),
        commId: comm.create({ maxBytes: 4096 }),
      };
      for (const [name, a] of Object.entries(arrays)) {
        const copy = Array.from(a as ArrayLike<number>);
        const received = new Promise<unknown>((resolve) => port2.once('message', resolve));
        port1.postMessage(a, [a.buffer]);
        expect({ name, detached: a.byteLength }).toEqual({ name, detached: 0 });
        expect({ name, data: Array.from((await received) as ArrayLike<number>) }).toEqual({ name, data: copy });
      }
    } finally {
      port1.close();
      await sq.close();
    }
  });
});

describe('a caller array overwritten right after the call returns [cpu]', () => {
  it('every weight preparation uses the values it was called with', async () => {
    const sq = await open({ backend: 'cpu' });
    try {
      const n = 8;
      const k = 128;
      const values = (seed: number): Uint16Array => toF16(Array.from({ length: n * k }, (_, i) => Math.sin(seed + i * 0.37) * 2));
      const codes = (): Uint8Array => Uint8Array.from({ length: n * k }, (_, i) => (i * 7 + 3) % 16);
      const scales = (): Uint16Array => toF16(Array.from({ length: n * (k / 128) }, (_, i) => 0.01 * (i + 1)));
      const int8Codes = (): Int8Array => Int8Array.from({ length: n * k }, (_, i) => ((i * 13) % 255) - 127);
      const scb = (): Float32Array => Float32Array.from({ length: n }, (_, i) => 0.5 + i);
      type Case = [string, (a: ArrayBufferView[]) => Promise<unknown>, () => ArrayBufferView[]];
      const cases: Case[] = [
        ['w4a16.quantize', (a) => sq.w4a16.quantize(a[0] as Uint16Array, [n, k]), () => [values(1)]],
        ['w4a16.fromCodes', (a) => sq.w4a16.fromCodes(a[0] as Uint8Array, a[1] as Uint16Array, [n, k]), () => [codes(), scales()]],
        ['int8.quantize', (a) => sq.int8.quantize(a[0] as Uint16Array, [n, k]), () => [values(2)]],
        ['int8.fromCodes', (a) => sq.int8.fromCodes(a[0] as Int8Array, a[1] as Float32Array, [n, k]), () => [int8Codes(), scb()]],
        ['sparse.encode', (a) => sq.sparse.encode(a[0] as Uint16Array, [n, k]), () => [values(3)]],
        ['sparse.prune', (a) => sq.sparse.prune(a[0] as Uint16Array, [n, k], 0.5), () => [values(4)]],
      ];
      const contents = async (r: unknown): Promise<unknown> => {
        const read = ArrayBuffer.isView(r) ? r : await (r as { read(): Promise<unknown> }).read(); // prune: the array itself
        return JSON.stringify(read, (_, v) => (ArrayBuffer.isView(v) ? Array.from(v as Uint8Array) : v));
      };
      for (const [name, call, make] of cases) {
        const want = await contents(await call(make()));
        const arrays = make();
        const pending = call(arrays);
        for (const a of arrays) new Uint8Array(a.buffer, a.byteOffset, a.byteLength).fill(0x11); // overwritten at once
        expect({ name, got: await contents(await pending) }).toEqual({ name, got: want });
      }
    } finally {
      await sq.close();
    }
  });
});
