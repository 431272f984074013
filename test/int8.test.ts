import { open, SparqDisposedError, type Context } from '../src';
import { int8Cases, int8Mismatches, runInt8Case, type Int8CaseResult } from './cases/int8.cases';
import { backendMatrix, cpuIsas, describeFor, titleFor } from './helpers/backends';
import { fmaF32, int8MatmulRef, quantizeWeightsRef, rne } from './int8Reference';
import { f16BitsToNumber, freshSeed, numberToF16Bits, randomF16, rng } from './reference';

function expectBitExact(r: Int8CaseResult, seed: number): void {
  expect({ seed, mismatches: int8Mismatches(r) }).toEqual({ seed, mismatches: [] });
}

for (const p of backendMatrix()) {
  const isas = p.backend === 'cpu' ? cpuIsas() : [undefined];
  for (const isa of isas) {
    describeFor(p)(titleFor(p, 'int8.matmul') + (isa ? ` isa=${isa}` : ''), () => {
      it.each(int8Cases(p.backend))('$name: codes, outlier columns and every Y bit equal the independent contract implementation', async (c) => {
        const seed = freshSeed();
        const sq = await open({ backend: p.backend, cpuIsa: isa as 'avx512' | undefined });
        try {
          const r = await runInt8Case(sq, c, seed);
          if (c.threshold === 'all') expect(r.outliers.length).toBe(c.k);
          if (c.threshold === 0) expect(r.outliers.length).toBe(0);
          expectBitExact(r, seed);
        } finally {
          await sq.close();
        }
      });
    });
  }
}

describe('the contract implementation the tests trust', () => {
  it('fmaF32 rounds once where fround(a·b + c) double-rounds', () => {
    // a·b = 1 + 2^-36 exactly; + 2^24 the double sum loses 2^-36 and lands on the fp32 midpoint
    // 2^24 + 1, which ties to even (2^24); the exact value is above it, so one rounding gives 2^24 + 2.
    const a = 1 + 2 ** -12;
    const b = 1 - 2 ** -12 + 2 ** -24;
    const c = 2 ** 24;
    expect([a, b, c].map(Math.fround)).toEqual([a, b, c]);
    expect(Math.fround(a * b + c)).toBe(2 ** 24);
    expect(fmaF32(a, b, c)).toBe(2 ** 24 + 2);
    expect(fmaF32(-a, b, -c)).toBe(-(2 ** 24 + 2));
    expect(fmaF32(0.5, 0.25, 1)).toBe(1.125);
  });

  it('rne ties to even', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 126.5].map(rne)).toEqual([0, 2, 2, 0, -2, -2, 126]);
  });

  it('quantizeWeightsRef and int8MatmulRef on a hand example', () => {
    // W = [[1, -0.5], [0, 0]], X = [[2, 8]] with threshold 6: column 1 is an outlier.
    const w = Uint16Array.from([1, -0.5, 0, 0].map(numberToF16Bits));
    const wq = quantizeWeightsRef(w, 2, 2);
    expect(Array.from(wq.codes)).toEqual([127, -64, 0, 0]); // rne(-63.5) = -64
    expect(Array.from(wq.scb)).toEqual([1, 0]);
    const x = Uint16Array.from([2, 8].map(numberToF16Bits));
    const r = int8MatmulRef(wq, x, 1, 2, 2, 6);
    expect(Array.from(r.outliers)).toEqual([1]);
    // rowStat = 2, CA = [127, 0]; t = 127·127·2·1/16129 = 2; o = 8·(−64·1/127)
    const o = Math.fround(8 * Math.fround(-64 / 127));
    expect(r.y[0]).toBe(numberToF16Bits(Math.fround(2 + o)));
    expect(r.y[1]).toBe(0);
  });
});

describe('int8 weights [cpu, sim]', () => {
  const backends = backendMatrix().filter((p) => p.present && p.backend !== 'cuda');
  it.each(backends.map((p) => p.backend))('%s: fromCodes keeps any int8 code (−128 included) and scb exactly; read() inverts the packing; dims and bytes reported', async (backend) => {
    const sq: Context = await open({ backend });
    try {
      const next = rng(freshSeed());
      const [n, k] = [13, 75];
      const codes = Int8Array.from({ length: n * k }, () => Math.floor(next() * 256) - 128);
      codes[3] = -128;
      const scb = Float32Array.from({ length: n }, () => Math.fround(next() * 4));
      scb[1] = 0;
      const iw = await sq.int8.fromCodes(codes, scb, [n, k]);
      expect([iw.n, iw.k]).toEqual([n, k]);
      expect(iw.bytes).toBeGreaterThanOrEqual(n * k + 4 * n);
      expect(String(iw)).toBe(`Int8Weight[${n}, ${k}] ${iw.bytes} bytes`);
      const back = await iw.read();
      expect(Array.from(back.codes)).toEqual(Array.from(codes));
      expect(Array.from(back.scb)).toEqual(Array.from(scb));
      iw.dispose();
      await expect(iw.read()).rejects.toThrow(SparqDisposedError);
    } finally {
      await sq.close();
    }
  });

  it.each(backends.map((p) => p.backend))('%s: outlierColumns of a failed chain rejects like y.read(), and an ignored one never surfaces as an unhandled rejection', async (backend) => {
    const sq = await open({ backend });
    try {
      const w = randomF16(8 * 32, rng(freshSeed())).bits;
      const iw = await sq.int8.quantize(w, [8, 32]);
      const x = sq.tensor(randomF16(2 * 32, rng(7)).bits, [2, 32], 'f16');
      iw.dispose();
      expect(() => sq.int8.matmul(iw, x)).toThrow(/weight was disposed/);
      const live = await sq.int8.quantize(w, [8, 32]);
      const r = sq.int8.matmul(live, x, { threshold: 0 });
      expect(await r.outlierColumns).toEqual(new Int32Array(0));
      await r.y.read();
    } finally {
      await sq.close();
    }
  });
});

describe('int8 accuracy on activations with outlier columns [cpu]', () => {
  it('threshold 6 keeps the error of planted ×20–60 outlier columns far below threshold 0 (the point of LLM.int8())', async () => {
    const sq = await open({ backend: 'cpu' });
    try {
      const next = rng(freshSeed());
      const [m, n, k] = [16, 64, 1024];
      const w = randomF16(n * k, next).bits;
      const x = randomF16(m * k, next).bits;
      for (const col of [17, 400, 901]) for (let i = 0; i < m; i++) x[i * k + col] = numberToF16Bits(40 * (next() < 0.5 ? -1 : 1));
      const ref = new Float64Array(m * n);
      const wv = Array.from(w, (h) => f16BitsToNumber(h));
      const xv = Array.from(x, (h) => f16BitsToNumber(h));
      for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
        let s = 0;
        for (let c = 0; c < k; c++) s += xv[i * k + c] * wv[j * k + c];
        ref[i * n + j] = s;
      }
      const iw = await sq.int8.quantize(w, [n, k]);
      const tx = sq.tensor(x, [m, k], 'f16');
      const err = async (threshold: number) => {
        const y = await sq.int8.matmul(iw, tx, { threshold }).y.read();
        let num = 0;
        let den = 0;
        for (let i = 0; i < m * n; i++) {
          num += (f16BitsToNumber(y[i]) - ref[i]) ** 2;
          den += ref[i] ** 2;
        }
        return Math.sqrt(num / den);
      };
      const e0 = await err(0);
      const e6 = await err(6);
      expect(e6).toBeLessThan(e0 / 3);
      expect(e6).toBeLessThan(0.03);
    } finally {
      await sq.close();
    }
  });
});

