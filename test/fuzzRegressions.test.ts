// What the API fuzzer (test/fuzz) found that is not a bad call: inputs that must work, and did not.
// (The bad calls it found are rows of test/badCalls.test.ts, named "fuzz: …".)
import { fromBF16, fromF16, open, toBF16, toF16, type Context } from '../src';
import { backendMatrix } from './helpers/backends';
import { randomF16, rng } from './reference';

const backends = backendMatrix()
  .filter((b) => b.backend !== 'cuda' && b.present)
  .map((b) => b.backend);

/** The same elements in an array over a SharedArrayBuffer. */
function shared<T extends Uint8Array | Int8Array | Uint16Array | Float32Array>(a: T): T {
  const ctor = a.constructor as new (buffer: ArrayBufferLike) => T;
  const s = new ctor(new SharedArrayBuffer(a.byteLength));
  s.set(a as never);
  return s;
}

describe.each(backends)('fuzz regressions [%s]', (backend) => {
  let sq: Context;
  const next = rng(12);
  const [n, k] = [8, 64];
  const w = randomF16(n * k, next).bits;
  beforeAll(async () => {
    sq = await open({ backend });
  });
  afterAll(() => sq.close());

  it('SharedArrayBuffer-backed arrays are read like any other (each was a plain "Invalid argument" Error)', async () => {
    expect(Array.from(await sq.tensor(shared(w), [n, k], 'f16').read())).toEqual(Array.from(w));
    const f = Float32Array.of(1, -2.5, 65504, 1e-8);
    expect(toF16(shared(f))).toEqual(toF16(f));
    expect(toBF16(shared(f))).toEqual(toBF16(f));
    expect(fromF16(shared(w))).toEqual(fromF16(w));
    expect(fromBF16(shared(w))).toEqual(fromBF16(w));
    const same = async (a: Promise<{ read(): Promise<unknown> }>, b: Promise<{ read(): Promise<unknown> }>) =>
      expect(await (await a).read()).toEqual(await (await b).read());
    await same(sq.w4a16.quantize(shared(w), [n, k]), sq.w4a16.quantize(w, [n, k]));
    const codes = Uint8Array.from({ length: n * k }, (_, i) => i % 16);
    const scales = new Uint16Array(n).fill(0x3c00);
    await same(sq.w4a16.fromCodes(shared(codes), shared(scales), [n, k]), sq.w4a16.fromCodes(codes, scales, [n, k]));
    await same(sq.sparse.encode(shared(w), [n, k]), sq.sparse.encode(w, [n, k]));
    expect(await sq.sparse.prune(shared(w), [n, k], 0.5)).toEqual(await sq.sparse.prune(w, [n, k], 0.5));
    await same(sq.int8.quantize(shared(w), [n, k]), sq.int8.quantize(w, [n, k]));
    const i8 = Int8Array.from({ length: n * k }, (_, i) => (i % 255) - 127);
    const scb = new Float32Array(n).fill(2);
    await same(sq.int8.fromCodes(shared(i8), shared(scb), [n, k]), sq.int8.fromCodes(i8, scb, [n, k]));
  });

  it('an array at a byte offset (a subarray) is read from its offset', async () => {
    const padded = new Uint16Array(w.length + 3);
    padded.set(w, 3);
    expect(Array.from(await sq.tensor(padded.subarray(3), [n, k], 'f16').read())).toEqual(Array.from(w));
    expect(await (await sq.int8.quantize(padded.subarray(3), [n, k])).read()).toEqual(await (await sq.int8.quantize(w, [n, k])).read());
  });

  it('options.out null means no out, on every matmul (was a TypeError reading its handle)', async () => {
    const x = sq.tensor(randomF16(2 * k, next).bits, [2, k], 'f16');
    const wt = sq.tensor(w, [n, k], 'f16');
    const q = await sq.w4a16.quantize(w, [n, k]);
    const s = await sq.sparse.encode(w, [n, k]);
    const i = await sq.int8.quantize(w, [n, k]);
    const pairs: [string, () => { read(): Promise<Uint16Array> }, () => { read(): Promise<Uint16Array> }][] = [
      ['dense', () => sq.dense.matmul(wt, x, { out: null as never }), () => sq.dense.matmul(wt, x)],
      ['w4a16', () => sq.w4a16.matmul(q, x, { out: null as never }), () => sq.w4a16.matmul(q, x)],
      ['sparse', () => sq.sparse.matmul(s, x, { out: null as never }), () => sq.sparse.matmul(s, x)],
      ['int8', () => sq.int8.matmul(i, x, { out: null as never }).y, () => sq.int8.matmul(i, x).y],
      ['copy', () => sq.copy(x, { out: null as never }) as never, () => sq.copy(x) as never],
    ];
    for (const [, withNull, plain] of pairs) expect(await withNull().read()).toEqual(await plain().read());
  });

  it('JSON.stringify of a weight describes it (was the postMessage SparqArgumentError)', async () => {
    const q = await sq.w4a16.quantize(w, [n, k]);
    expect(JSON.parse(JSON.stringify(q))).toEqual({ kind: 'W4A16Weight', n, k, bytes: q.bytes, disposed: false });
    q.dispose();
    expect(JSON.parse(JSON.stringify({ q })).q).toMatchObject({ disposed: true });
    expect(JSON.parse(JSON.stringify(await sq.sparse.encode(w, [n, k]))).kind).toBe('SparseWeight');
    expect(JSON.parse(JSON.stringify(await sq.int8.quantize(w, [n, k]))).kind).toBe('Int8Weight');
  });
});
