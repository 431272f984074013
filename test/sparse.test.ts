import { open, SparqArgumentError, SparqDisposedError, SparqShapeError, type Context } from '../src';
import { runSparseCase, sparseCases } from './cases/sparse.cases';
import { backendMatrix, cpuIsas, describeFor, titleFor } from './helpers/backends';
import { expectReferenceAndCpu } from './helpers/tolerance';
import { freshSeed, randomF16, rng } from './reference';

for (const p of backendMatrix()) {
  const isas = p.backend === 'cpu' ? cpuIsas() : [undefined];
  for (const isa of isas) {
    describeFor(p)(titleFor(p, 'sparse.matmul') + (isa ? ` isa=${isa}` : ''), () => {
      it.each(sparseCases(p.backend))('$name: every element within its bound of the float64 reference' + (p.backend === 'cpu' ? '' : ' and of the cpu result') + ', norm ≤ 2e-3', async (c) => {
        const seed = freshSeed();
        const sq = await open({ backend: p.backend, cpuIsa: isa as 'avx512' | undefined });
        const got = await runSparseCase(sq, c, seed);
        await expectReferenceAndCpu(p.backend, got, async () => runSparseCase(await open({ backend: 'cpu' }), c, seed), c.tolerance, seed);
      });
    });
  }
}

/** A random [n, k] fp16 weight with about `sparsity` of its entries 0x0000 (the rest never 0x0000). */
function sparseWeight(n: number, k: number, sparsity: number, next: () => number): Uint16Array {
  const w = randomF16(n * k, next).bits;
  for (let i = 0; i < w.length; i++) w[i] = next() < sparsity ? 0 : w[i] || 0x3400;
  return w;
}

describe('sparse weights [cpu]', () => {
  let sq: Context;
  beforeAll(async () => {
    sq = await open({ backend: 'cpu' });
  });
  afterAll(() => sq.close());

  it.each(['bitmap', 'tiled-csl'] as const)('%s: read() returns the exact bits given, −0, NaN, ∞ and subnormals included; the weight reports its dims', async (format) => {
    const next = rng(freshSeed());
    const [n, k] = [70, 131];
    const w = sparseWeight(n, k, 0.6, next);
    w.set([0x8000, 0x7e01, 0x7c00, 0xfc00, 0x0001, 0x83ff], 5);
    const sw = await sq.sparse.encode(w, [n, k], { format });
    let nnz = 0;
    for (const v of w) nnz += v !== 0 ? 1 : 0;
    expect([sw.n, sw.k, sw.nnz, sw.format]).toEqual([n, k, nnz, format]);
    expect(sw.sparsity).toBeCloseTo(1 - nnz / (n * k), 12);
    expect(sw.toString()).toMatch(new RegExp(`^SparseWeight\\[70, 131\\] ${format} \\d+\\.\\d% sparse, ${sw.bytes} bytes$`));
    expect(Array.from(await sw.read())).toEqual(Array.from(w));
    sw.dispose();
    await expect(sw.read()).rejects.toThrow(SparqDisposedError);
  });

  it.each([0.5, 0.7, 0.8, 0.9, 0.95])('bytes per weight at %p sparsity agree with the brief\'s model (bitmap 2(1−s)+0.125, tiled-csl 4(1−s)) within 2%; auto picks the smaller', async (s) => {
    const next = rng(freshSeed());
    const [n, k] = [512, 1024];
    const w = sparseWeight(n, k, s, next);
    const bitmap = await sq.sparse.encode(w, [n, k], { format: 'bitmap' });
    const csl = await sq.sparse.encode(w, [n, k], { format: 'tiled-csl' });
    const auto = await sq.sparse.encode(w, [n, k]);
    const real = bitmap.sparsity;
    expect(Math.abs(bitmap.formatBytes / (n * k) / (2 * (1 - real) + 0.125) - 1)).toBeLessThan(0.02);
    expect(Math.abs(csl.formatBytes / (n * k) / (4 * (1 - real)) - 1)).toBeLessThan(0.02);
    expect(auto.formatBytes).toBe(Math.min(bitmap.formatBytes, csl.formatBytes));
    expect(auto.format).toBe(csl.formatBytes < bitmap.formatBytes ? 'tiled-csl' : 'bitmap');
    for (const x of [bitmap, csl, auto]) {
      expect(x.bytes).toBe(x.formatBytes + x.rowListBytes);
      x.dispose();
    }
  });

  it('row lists (or instead lanes with avx512 on Zen 5 at ≥ 68% sparsity): on by default with the avx512 and avx2 kernels (3 bytes a slot, at least one slot per stored weight), never with scalar or rowLists: false, and the same bits either way', async () => {
    const next = rng(freshSeed());
    const [n, k, m] = [200, 1500, 20];
    const w = sparseWeight(n, k, 0.7, next);
    const scalar = await open({ backend: 'cpu', cpuIsa: 'scalar' });
    const noKernel = await scalar.sparse.encode(w, [n, k], { rowLists: true });
    expect(noKernel.rowListBytes).toBe(0);
    await scalar.close();
    if (sq.cpuIsa === 'scalar') return; // a CPU without AVX2: no rows kernel, nothing more to check
    const withLists = await sq.sparse.encode(w, [n, k]);
    const without = await sq.sparse.encode(w, [n, k], { rowLists: false });
    expect(without.rowListBytes).toBe(0);
    expect(without.bytes).toBe(without.formatBytes);
    expect(withLists.formatBytes).toBe(without.formatBytes);
    // slots ≥ nnz, 3 bytes each (a 1-byte column index, 2-byte value; padding well under half at
    // 70%), an 8-byte offset per (row of the padded 256, chunk of ≥ 256 columns) and the header;
    // the lanes that replace them with the avx512 kernels where the core prefers them (AMD Zen 5)
    // hold the same slots with their own padding (the longest of 32 rows), 16 bytes of counts per
    // (32 rows, chunk) and 8 per 32 rows: within the same bounds
    const overhead = 8 * 256 * Math.ceil(1536 / 256) + 4096;
    expect(withLists.rowListBytes).toBeGreaterThanOrEqual(3 * withLists.nnz);
    expect(withLists.rowListBytes).toBeLessThan(3 * 1.5 * withLists.nnz + overhead);
    // m = 20 runs the rows kernel, m = 1 the lanes kernel (avx512, Zen 5) — and without either the format's own
    for (const rows of [m, 1]) {
      const x = sq.tensor(randomF16(rows * k, next).bits, [rows, k], 'f16');
      const a = await sq.sparse.matmul(withLists, x).read();
      const b = await sq.sparse.matmul(without, x).read();
      expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
      x.dispose();
    }
    await expect(sq.sparse.encode(w, [n, k], { rowLists: 1 as unknown as boolean })).rejects.toThrow(SparqArgumentError);
    await expect(sq.sparse.encode(w, [n, k], { rowLists: 1 as unknown as boolean })).rejects.toThrow(/rowLists/);
    for (const t of [withLists, without]) t.dispose();
  });

  it('auto takes tiled-csl only where it is smaller: bitmap at 80%, tiled-csl at 99%', async () => {
    const next = rng(freshSeed());
    expect((await sq.sparse.encode(sparseWeight(256, 512, 0.8, next), [256, 512])).format).toBe('bitmap');
    expect((await sq.sparse.encode(sparseWeight(256, 512, 0.99, next), [256, 512])).format).toBe('tiled-csl');
  });

  it.each(['row', 'global'] as const)('prune (%s): exactly round(s·count) zeros, every kept magnitude ≥ every pruned one, kept bits unchanged', async (scope) => {
    const next = rng(freshSeed());
    const [n, k] = [33, 257];
    const w = randomF16(n * k, next, -3, 3).bits;
    for (let i = 0; i < w.length; i++) if (w[i] === 0) w[i] = 0x3400;
    for (const s of [0, 0.37, 0.8, 1]) {
      const out = await sq.sparse.prune(w, [n, k], s, { scope });
      const runs = scope === 'row' ? n : 1;
      const len = (n * k) / runs;
      let changed = 0;
      for (let r = 0; r < runs; r++) {
        let zeros = 0;
        let maxPruned = -1;
        let minKept = Infinity;
        for (let i = r * len; i < (r + 1) * len; i++) {
          const mag = w[i] & 0x7fff;
          if (out[i] === 0) {
            zeros++;
            maxPruned = Math.max(maxPruned, mag);
          } else {
            if (out[i] !== w[i]) changed++;
            minKept = Math.min(minKept, mag);
          }
        }
        expect(zeros).toBe(Math.round(s * len));
        expect(maxPruned).toBeLessThanOrEqual(minKept);
      }
      expect(changed).toBe(0);
    }
    expect(w.some((v) => v === 0)).toBe(false); // the input is left alone
  });

  it('prune then encode: the weight has the asked sparsity', async () => {
    const next = rng(freshSeed());
    const w = randomF16(64 * 640, next).bits.map((v) => v || 0x3400);
    const sw = await sq.sparse.encode(await sq.sparse.prune(w, [64, 640], 0.75), [64, 640]);
    expect(sw.sparsity).toBe(0.75);
  });

  it('matmul refuses x of the wrong width and a disposed weight', async () => {
    const sw = await sq.sparse.encode(new Uint16Array(8 * 64).fill(0x3c00), [8, 64]);
    expect(() => sq.sparse.matmul(sw, sq.zeros([2, 63], 'f16'))).toThrow(SparqShapeError);
    sw.dispose();
    expect(() => sq.sparse.matmul(sw, sq.zeros([2, 64], 'f16'))).toThrow(/weight was disposed/);
  });
});
