import { open, SparqArgumentError, SparqShapeError } from '../src';
import { referenceRtn, runW4A16Case, w4a16Cases } from './cases/w4a16.cases';
import { backendMatrix, cpuIsas, describeFor, titleFor } from './helpers/backends';
import { expectReferenceAndCpu } from './helpers/tolerance';
import { f16BitsToNumber, freshSeed, randomF16, rng } from './reference';

for (const p of backendMatrix()) {
  const isas = p.backend === 'cpu' ? cpuIsas() : [undefined];
  for (const isa of isas) {
    describeFor(p)(titleFor(p, 'w4a16.matmul') + (isa ? ` isa=${isa}` : ''), () => {
      it.each(w4a16Cases(p.backend))('$name: fromCodes + matmul: every element within its bound of the float64 reference on dequantized weights' + (p.backend === 'cpu' ? '' : ' and of the cpu result') + ', norm ≤ 2e-3', async (c) => {
        const seed = freshSeed();
        const sq = await open({ backend: p.backend, cpuIsa: isa as 'avx512' | undefined });
        const got = await runW4A16Case(sq, c, seed);
        await expectReferenceAndCpu(p.backend, got, async () => runW4A16Case(await open({ backend: 'cpu' }), c, seed), c.tolerance, seed);
      });

      // groupSize k takes the table route of the AVX-512 decode path, 32 its converted tables (m = 1).
      it.each([{ g: 'k' }, { g: 32 }])('follows the contract w = fp16((q − 8)·s): a crafted case where that rounding decides the sum (groupSize $g)', async ({ g }) => {
        // s = 0x2E66 (0.0999755859375): 7·s = 0.6998291015625 rounds to 0.69970703125 in fp16, s·1 is exact.
        // Row: codes alternate 15, 9 (q−8 = 7, 1); x alternates 1, −7. Each pair contributes
        // fp16(7s) − 7s = −2^-13 under the contract and 0 without the rounding: Y = 64·(−2^-13) = −2^-7.
        const n = 8;
        const k = 128;
        const sq = await open({ backend: p.backend, cpuIsa: isa as 'avx512' | undefined });
        const codes = Uint8Array.from({ length: n * k }, (_, i) => (i % 2 === 0 ? 15 : 9));
        const groupSize = g === 'k' ? k : (g as number);
        const scales = new Uint16Array(n * (k / groupSize)).fill(0x2e66);
        const x = Uint16Array.from({ length: k }, (_, i) => (i % 2 === 0 ? 0x3c00 : 0xc700)); // 1, −7
        const qw = await sq.w4a16.fromCodes(codes, scales, [n, k], { groupSize });
        const y = await sq.w4a16.matmul(qw, sq.tensor(x, [1, k], 'f16')).read();
        expect(Array.from(y).map(f16BitsToNumber)).toEqual(new Array(n).fill(-(2 ** -7)));
      });
    });
  }
}

describe('w4a16 quantize and weights [cpu]', () => {
  it.each([32, 64, 128, 'k'] as const)('quantize (group %s): codes and scales equal an independent RTN bit for bit; read() returns them', async (g) => {
    const next = rng(freshSeed());
    const n = 37;
    const k = 256;
    const groupSize = g === 'k' ? k : g;
    const w = randomF16(n * k, next, -2, 2).bits;
    // rows 0 and 1: an all-zero row (s = 0 ⇒ q = 8) and a negative-dominant row
    w.fill(0, 0, k);
    for (let c = k; c < 2 * k; c++) w[c] = randomF16(1, next, -4, 0.1).bits[0];
    const sq = await open({ backend: 'cpu' });
    const qw = await sq.w4a16.quantize(w, [n, k], { groupSize });
    expect([qw.n, qw.k, qw.groupSize]).toEqual([n, k, groupSize]);
    expect(qw.bytes).toBeGreaterThanOrEqual((n * k) / 2);
    const got = await qw.read();
    const want = referenceRtn(w, n, k, groupSize);
    expect(Array.from(got.scales)).toEqual(Array.from(want.scales));
    expect(Array.from(got.codes)).toEqual(Array.from(want.codes));
    expect(Array.from(got.codes.subarray(0, k)).every((q) => q === 8)).toBe(true);
  });

  it('fromCodes → read() is the exact inverse for odd n and k', async () => {
    const next = rng(freshSeed());
    const [n, k, g] = [45, 96, 32];
    const codes = Uint8Array.from({ length: n * k }, () => Math.floor(next() * 16));
    const scales = randomF16((n * k) / g, next, 0.001, 1).bits;
    const sq = await open({ backend: 'cpu' });
    const got = await (await sq.w4a16.fromCodes(codes, scales, [n, k], { groupSize: g })).read();
    expect(Array.from(got.codes)).toEqual(Array.from(codes));
    expect(Array.from(got.scales)).toEqual(Array.from(scales));
  });

  it('bad arguments are rejected with typed errors naming the argument', async () => {
    const sq = await open({ backend: 'cpu' });
    const codes = new Uint8Array(8 * 64).fill(3);
    const scales = new Uint16Array(8 * 2).fill(0x3c00);
    const bad = codes.slice();
    bad[5 * 64 + 7] = 17;
    await expect(sq.w4a16.fromCodes(bad, scales, [8, 64], { groupSize: 32 })).rejects.toMatchObject({
      name: 'SparqArgumentError',
      argument: 'codes',
      message: 'w4a16.fromCodes: codes must be values in 0..15, got 17 at [5, 7]',
    });
    await expect(sq.w4a16.fromCodes(codes, new Uint16Array(3), [8, 64], { groupSize: 32 })).rejects.toMatchObject({
      name: 'SparqShapeError',
      argument: 'scales',
    });
    await expect(sq.w4a16.fromCodes(new Uint8Array(8 * 96), new Uint16Array(8 * 1), [8, 96], { groupSize: 64 })).rejects.toMatchObject({
      name: 'SparqShapeError',
      argument: 'shape',
    });
    await expect(sq.w4a16.quantize(new Uint16Array(8 * 64), [8, 64], { groupSize: 48 })).rejects.toMatchObject({
      name: 'SparqArgumentError',
      argument: 'groupSize',
    });
    const qw = await sq.w4a16.fromCodes(codes, scales, [8, 64], { groupSize: 32 });
    expect(() => sq.w4a16.matmul(qw, sq.zeros([2, 63], 'f16'))).toThrow(SparqShapeError);
    qw.dispose();
    expect(() => sq.w4a16.matmul(qw, sq.zeros([2, 64], 'f16'))).toThrow(/weight was disposed/);
  });
});
