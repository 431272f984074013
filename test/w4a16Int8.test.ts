// w4a16.matmul(w, x, { accuracy: 'int8' }): the opt-in int8-activation function (docs/formats.md
// "W4A16 with int8 activations"). Checked here against an independent TypeScript implementation of
// that function bit for bit on every cpu ISA, against the float64 product within the quantization's
// error bound, and for what it must never do: run unless asked, or run silently where it does not exist.
import { open, SparqArgumentError, SparqBackendError } from '../src';
import { backendMatrix, cpuIsas, describeFor, titleFor } from './helpers/backends';
import { fmaF32, rne } from './int8Reference';
import { f16BitsToNumber, freshSeed, nanPoison, numberToF16Bits, rng } from './reference';

const fround = Math.fround;

interface Inputs {
  n: number;
  k: number;
  g: number;
  m: number;
  codes: Uint8Array;
  scales: Uint16Array;
  x: Uint16Array;
  bias: Uint16Array;
}

function makeInputs(seed: number, n: number, k: number, g: number, m: number): Inputs {
  const next = rng(seed);
  const normal = (): number => Math.sqrt(-2 * Math.log(next() + 1e-12)) * Math.cos(2 * Math.PI * next());
  const codes = Uint8Array.from({ length: n * k }, () => Math.floor(next() * 16));
  const scales = Uint16Array.from({ length: n * (k / g) }, () => numberToF16Bits(0.02 * normal() || 0.01));
  const x = Uint16Array.from({ length: m * k }, () => numberToF16Bits(normal() || 0.5));
  // planted outlier columns (×20–60), as in LLM activations: the case int8 activations handle worst
  for (let col = 5; col < k; col += 61)
    for (let r = 0; r < m; r++) x[r * k + col] = numberToF16Bits(f16BitsToNumber(x[r * k + col]) * (20 + 40 * next()));
  const bias = Uint16Array.from({ length: n }, () => numberToF16Bits(normal()));
  return { n, k, g, m, codes, scales, x, bias };
}

/** The function, step by step (each step one fp32 rounding, as docs/formats.md states it). */
function referenceInt8(t: Inputs): { y: Uint16Array; bound: Float64Array; exact: Float64Array } {
  const { n, k, g, m } = t;
  const groups = k / g;
  const y = new Uint16Array(m * n);
  const bound = new Float64Array(m * n);
  const exact = new Float64Array(m * n);
  for (let r = 0; r < m; r++) {
    const xs = new Float64Array(groups);
    const xq = new Int32Array(k);
    for (let gi = 0; gi < groups; gi++) {
      let a = 0;
      for (let i = gi * g; i < (gi + 1) * g; i++) a = Math.max(a, Math.abs(f16BitsToNumber(t.x[r * k + i])));
      if (a === 0) continue;
      const inv = fround(127 / a);
      xs[gi] = fround(a / 127);
      for (let i = gi * g; i < (gi + 1) * g; i++) xq[i] = rne(fround(f16BitsToNumber(t.x[r * k + i]) * inv));
    }
    for (let j = 0; j < n; j++) {
      let acc = 0;
      let b = 0;
      let e = f16BitsToNumber(t.bias[j]);
      for (let gi = 0; gi < groups; gi++) {
        const s = f16BitsToNumber(t.scales[j * groups + gi]);
        let d = 0;
        let wabs = 0;
        for (let i = gi * g; i < (gi + 1) * g; i++) {
          const q = t.codes[j * k + i] - 8;
          d += q * xq[i];
          const w = f16BitsToNumber(numberToF16Bits(q * s)); // the exact path's weight
          wabs += Math.abs(w);
          e += w * f16BitsToNumber(t.x[r * k + i]);
        }
        acc = fmaF32(fround(d * xs[gi]), s, acc);
        b += (xs[gi] / 2) * wabs;
      }
      y[r * n + j] = numberToF16Bits(fround(acc + f16BitsToNumber(t.bias[j])));
      bound[r * n + j] = b;
      exact[r * n + j] = e;
    }
  }
  return { y, bound, exact };
}

const cases = [
  { n: 37, k: 256, g: 128, m: 1 },
  { n: 70, k: 192, g: 32, m: 5 },
  { n: 33, k: 256, g: 64, m: 33 },
  { n: 21, k: 100, g: 100, m: 3 }, // per-channel, k padded inside the layout
];

describe('w4a16.matmul { accuracy: int8 } [cpu]', () => {
  for (const isa of cpuIsas()) {
    it.each(cases)(`isa=${isa} n=$n k=$k g=$g m=$m: Y bits equal an independent implementation of the function; error within the int8 bound of float64`, async (c) => {
      const seed = freshSeed();
      const t = makeInputs(seed, c.n, c.k, c.g, c.m);
      const sq = await open({ backend: 'cpu', cpuIsa: isa as 'avx512' });
      const w = await sq.w4a16.fromCodes(t.codes, t.scales, [c.n, c.k], { groupSize: c.g });
      const out = sq.tensor(nanPoison(c.m * c.n), [c.m, c.n], 'f16');
      sq.w4a16.matmul(w, sq.tensor(t.x, [c.m, c.k], 'f16'), { bias: sq.tensor(t.bias, [c.n], 'f16'), out, accuracy: 'int8' });
      const got = await out.read();
      const ref = referenceInt8(t);
      const firstDiff = got.findIndex((v, i) => v !== ref.y[i]);
      expect({ seed, firstDiff }).toEqual({ seed, firstDiff: -1 });
      let worst = 0;
      for (let i = 0; i < got.length; i++) {
        const allowed = ref.bound[i] * 1.001 + Math.abs(ref.exact[i]) * 1e-3 + 1e-6;
        worst = Math.max(worst, Math.abs(f16BitsToNumber(got[i]) - ref.exact[i]) / allowed);
      }
      expect(worst).toBeLessThanOrEqual(1);
      await sq.close();
    });
  }

  it('is never chosen unless asked: no accuracy and accuracy "exact" give the exact bits, "int8" others', async () => {
    const t = makeInputs(freshSeed(), 40, 256, 128, 4);
    const sq = await open({ backend: 'cpu' });
    const w = await sq.w4a16.fromCodes(t.codes, t.scales, [t.n, t.k]);
    const x = sq.tensor(t.x, [t.m, t.k], 'f16');
    const plain = await sq.w4a16.matmul(w, x).read();
    const exact = await sq.w4a16.matmul(w, x, { accuracy: 'exact' }).read();
    const int8 = await sq.w4a16.matmul(w, x, { accuracy: 'int8' }).read();
    expect(Array.from(exact)).toEqual(Array.from(plain));
    expect(Array.from(int8)).not.toEqual(Array.from(plain));
    expect(Array.from(int8)).toEqual(Array.from(referenceInt8({ ...t, bias: new Uint16Array(t.n) }).y));
    await sq.close();
  });

  it('the same call twice gives the same bits, at 1 and 3 threads', async () => {
    const t = makeInputs(freshSeed(), 52, 512, 128, 9);
    const runs: number[][] = [];
    for (const threads of [1, 3, 3]) {
      const sq = await open({ backend: 'cpu', threads });
      const w = await sq.w4a16.fromCodes(t.codes, t.scales, [t.n, t.k]);
      runs.push(Array.from(await sq.w4a16.matmul(w, sq.tensor(t.x, [t.m, t.k], 'f16'), { accuracy: 'int8' }).read()));
      await sq.close();
    }
    expect(runs[1]).toEqual(runs[0]);
    expect(runs[2]).toEqual(runs[0]);
  });

  it('a bad accuracy is a SparqArgumentError naming it, and the context stays usable', async () => {
    const t = makeInputs(freshSeed(), 8, 64, 32, 1);
    const sq = await open({ backend: 'cpu' });
    const w = await sq.w4a16.fromCodes(t.codes, t.scales, [t.n, t.k], { groupSize: 32 });
    const x = sq.tensor(t.x, [1, t.k], 'f16');
    for (const bad of ['fast', 'INT8', 8, null])
      expect(() => sq.w4a16.matmul(w, x, { accuracy: bad as 'int8' })).toThrow(
        expect.objectContaining({ name: SparqArgumentError.name, argument: 'accuracy' }),
      );
    expect(() => sq.w4a16.matmul(w, x, { accuracy: 'fast' as 'int8' })).toThrow(/accuracy.*'exact' or 'int8'/);
    expect((await sq.w4a16.matmul(w, x, { accuracy: 'int8' }).read()).length).toBe(t.n);
    await sq.close();
  });

  it('a per-channel group too long for its int32 sums is refused at the call, naming accuracy', async () => {
    const k = 2 ** 20 + 32;
    const sq = await open({ backend: 'cpu' });
    const w = await sq.w4a16.fromCodes(new Uint8Array(k).fill(9), Uint16Array.of(numberToF16Bits(0.01)), [1, k], { groupSize: k });
    const x = sq.tensor(new Uint16Array(k).fill(numberToF16Bits(1)), [1, k], 'f16');
    expect(() => sq.w4a16.matmul(w, x, { accuracy: 'int8' })).toThrow(
      expect.objectContaining({ name: SparqArgumentError.name, argument: 'accuracy' }),
    );
    expect(f16BitsToNumber((await sq.w4a16.matmul(w, x).read())[0])).toBeCloseTo(0.01 * k, -2);
    await sq.close();
  });
});

for (const p of backendMatrix().filter((b) => b.backend !== 'cpu')) {
  describeFor(p)(titleFor(p, 'w4a16.matmul { accuracy: int8 }'), () => {
    it('is refused at the call with a SparqBackendError (never the exact path in its place)', async () => {
      const t = makeInputs(freshSeed(), 8, 64, 32, 1);
      const sq = await open({ backend: p.backend });
      const w = await sq.w4a16.fromCodes(t.codes, t.scales, [t.n, t.k], { groupSize: 32 });
      const x = sq.tensor(t.x, [1, t.k], 'f16');
      expect(() => sq.w4a16.matmul(w, x, { accuracy: 'int8' })).toThrow(SparqBackendError);
      expect(() => sq.w4a16.matmul(w, x, { accuracy: 'int8' })).toThrow(/accuracy 'int8'.*not supported on backend/);
      expect((await sq.w4a16.matmul(w, x).read()).length).toBe(t.n);
      await sq.close();
    });
  });
}
