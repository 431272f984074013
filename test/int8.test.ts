import { open, SparqDisposedError, toF16, type Context, type Int8MatmulResult, type Int8MatmulYOnly } from '../src';
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

describe('int8: { outlierColumns: false } [cpu, sim]', () => {
  const backends = backendMatrix().filter((p) => p.present && p.backend !== 'cuda');
  it.each(backends.map((p) => p.backend))('%s: the same y bits, no list read back, and a non-boolean refused', async (backend) => {
    const sq = await open({ backend });
    try {
      const [m, n, k] = [3, 16, 40];
      const next = rng(freshSeed());
      const iw = await sq.int8.quantize(randomF16(n * k, next).bits, [n, k]);
      const xb = randomF16(m * k, next).bits;
      xb[k + 7] = numberToF16Bits(9); // an outlier column, so both paths take the fp32 products
      const x = sq.tensor(xb, [m, k], 'f16');
      const full: Int8MatmulResult = sq.int8.matmul(iw, x);
      const yOnly: Int8MatmulYOnly = sq.int8.matmul(iw, x, { outlierColumns: false });
      expect('outlierColumns' in yOnly).toBe(false);
      expect(await yOnly.y.read()).toEqual(await full.y.read());
      expect(await full.outlierColumns).toEqual(new Int32Array([7]));
      expect(() => sq.int8.matmul(iw, x, { outlierColumns: 'no' as unknown as boolean })).toThrow(
        expect.objectContaining({ name: 'SparqArgumentError', argument: 'outlierColumns' }),
      );
    } finally {
      await sq.close();
    }
  });
});

describe('int8: a NaN in a row of X makes that row NaN (rowStat is an IEEE max), never finite garbage', () => {
  // Before: every kernel took rowStat with a max that drops NaN, so the NaN counted as 0 and the
  // row's outputs were finite. An Inf is an outlier column (|Inf| ≥ 6), multiplied in fp32.
  for (const p of backendMatrix().filter((b) => b.present && b.backend !== 'cuda'))
    for (const isa of p.backend === 'cpu' ? cpuIsas() : [undefined])
      it(`${p.backend}${isa ? ` isa=${isa}` : ''}`, async () => {
        const prev = process.env.SPARQ_CPU_ISA;
        if (isa) process.env.SPARQ_CPU_ISA = isa;
        const sq = await open({ backend: p.backend });
        try {
          const seed = freshSeed();
          const next = rng(seed);
          const [m, n, k] = [6, 24, 200];
          const w = randomF16(n * k, next).bits;
          const x = randomF16(m * k, next).bits;
          x[2 * k + 17] = 0x7e00; // NaN in row 2
          x[3 * k + 150] = 0xfe01; // a negative NaN with a payload in row 3
          x[4 * k + 9] = 0x7c00; // +Inf in row 4: an outlier column at threshold 6
          const iw = await sq.int8.quantize(w, [n, k]);
          for (const threshold of [6, 0]) {
            const r = sq.int8.matmul(iw, sq.tensor(x, [m, k], 'f16'), { threshold });
            const y = await r.y.read();
            const ref = int8MatmulRef(quantizeWeightsRef(w, n, k), x, m, n, k, threshold);
            expect({ seed, threshold, outliers: Array.from(await r.outlierColumns) }).toEqual({ seed, threshold, outliers: Array.from(ref.outliers) });
            const bad: string[] = [];
            for (let i = 0; i < m * n; i++) {
              const refNaN = Number.isNaN(f16BitsToNumber(ref.y[i]));
              const ok = refNaN ? Number.isNaN(f16BitsToNumber(y[i])) : y[i] === ref.y[i];
              if (!ok) bad.push(`y[${Math.floor(i / n)}, ${i % n}] = 0x${y[i].toString(16)}, want ${refNaN ? 'NaN' : `0x${ref.y[i].toString(16)}`}`);
            }
            expect({ seed, threshold, bad: bad.slice(0, 5) }).toEqual({ seed, threshold, bad: [] });
            for (const row of [2, 3]) expect(Array.from(y.subarray(row * n, row * n + n)).every((h) => Number.isNaN(f16BitsToNumber(h)))).toBe(true);
          }
        } finally {
          await sq.close();
          if (prev === undefined) delete process.env.SPARQ_CPU_ISA;
          else process.env.SPARQ_CPU_ISA = prev;
        }
      });
});

describe('int8 threshold: |x| >= threshold on the number given, not on its fp32 rounding', () => {
  const backends = backendMatrix().filter((p) => p.present && p.backend !== 'cuda');
  it.each(backends.map((p) => p.backend))('%s', async (backend) => {
    const sq = await open({ backend });
    try {
      const k = 16;
      const iw = await sq.int8.quantize(randomF16(2 * k, rng(freshSeed())).bits, [2, k]);
      // column c holds c·0.5 (column 12: 6), others of the row 0
      const xs = new Float32Array(k).map((_, c) => c * 0.5);
      const x = sq.tensor(toF16(xs), [1, k], 'f16');
      const columns = async (threshold: number) => Array.from(await sq.int8.matmul(iw, x, { threshold }).outlierColumns);
      // 6.0000001 rounds to fp32 6: the old compare took x = 6 as an outlier
      expect(await columns(6.0000001)).toEqual([13, 14, 15]);
      expect(await columns(6)).toEqual([12, 13, 14, 15]);
      // a positive threshold under fp32's smallest value used to become 0, "no outliers"
      const everyNonZero = Array.from({ length: k - 1 }, (_, i) => i + 1);
      expect(await columns(1e-300)).toEqual(everyNonZero);
      expect(await columns(5e-324)).toEqual(everyNonZero);
      expect(await columns(0)).toEqual([]);
      // past fp32's largest number only an infinite |x| reaches a threshold, as it reaches FLT_MAX
      const big = new Float32Array(k).map((_, c) => c * 0.5);
      big[3] = -Infinity;
      big[5] = 65504;
      const xBig = sq.tensor(toF16(big), [1, k], 'f16');
      const bigColumns = async (threshold: number) => Array.from(await sq.int8.matmul(iw, xBig, { threshold }).outlierColumns);
      for (const threshold of [65504, 65505, 3.4028234663852886e38, 3.4028235677973366e38, 1e300, Number.MAX_VALUE])
        expect({ threshold, columns: await bigColumns(threshold) }).toEqual({ threshold, columns: threshold <= 65504 ? [3, 5] : [3] });
    } finally {
      await sq.close();
    }
  });
});

describe('int8 threshold defaults to 6 [cpu]', () => {
  it('without threshold a column at |x| = 7 is an outlier and y has the bits of { threshold: 6 }', async () => {
    const sq = await open({ backend: 'cpu' });
    try {
      const [n, k] = [4, 64];
      const iw = await sq.int8.quantize(randomF16(n * k, rng(freshSeed())).bits, [n, k]);
      const xs = new Float32Array(k).fill(1);
      xs[5] = 7;
      xs[9] = -6;
      const x = sq.tensor(toF16(xs), [1, k], 'f16');
      const byDefault = sq.int8.matmul(iw, x);
      const six = sq.int8.matmul(iw, x, { threshold: 6 });
      expect(Array.from(await byDefault.outlierColumns)).toEqual([5, 9]);
      expect(Array.from(await byDefault.y.read())).toEqual(Array.from(await six.y.read()));
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

