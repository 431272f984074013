import { open } from '../src';
import { backendMatrix, describeFor, titleFor } from './helpers/backends';
import { freshSeed, randomF16, rng } from './reference';

const sim = backendMatrix().find((p) => p.backend === 'sim')!;

describeFor(sim)(titleFor(sim, 'launch reports and traffic'), () => {
  it('dense.matmul: lastLaunch names the instance; W is read once per CTA row of tiles, X once per CTA column', async () => {
    const sq = await open({ backend: 'sim' });
    const [m, n, k] = [40, 72, 64];
    const next = rng(freshSeed());
    const w = sq.tensor(randomF16(n * k, next).bits, [n, k], 'f16');
    const x = sq.tensor(randomF16(m * k, next).bits, [m, k], 'f16');
    await sq.dense.matmul(w, x).read();
    const l = sq.lastLaunch!;
    expect(l.kernel).toMatch(/dense/);
    expect(l.config).toMatch(/TILE_M=\d+ TILE_N=\d+/);
    const [gx, gy] = l.grid;
    expect(gx * gy).toBeGreaterThan(1);
    expect(l.bytesRead.w).toBe(gy * n * k * 2);
    expect(l.bytesRead.x).toBe(gx * m * k * 2);
  });

  it('w4a16.matmul: lastLaunch names the instance (tile, stages, stripes); each packed weight byte is fetched once per m-slab of 64', async () => {
    const sq = await open({ backend: 'sim' });
    const [n, k, g] = [200, 256, 64];
    const next = rng(freshSeed());
    const codes = Uint8Array.from({ length: n * k }, () => Math.floor(next() * 16));
    const scales = randomF16((n * k) / g, next, 0.001, 0.01).bits;
    const qw = await sq.w4a16.fromCodes(codes, scales, [n, k], { groupSize: g });
    const [nPad, kPad] = qw.handle.info().paddedShape as [number, number];
    for (const m of [16, 100]) {
      await sq.w4a16.matmul(qw, sq.tensor(randomF16(m * k, next).bits, [m, k], 'f16')).read();
      const l = sq.lastLaunch!;
      expect(l.kernel).toBe('w4a16_gemm_kernel');
      expect(l.config).toMatch(/STAGES=\d+ .*stripes=\d+x\d+ tiles/);
      expect(l.bytesRead.qweight).toBe(((nPad * kPad) / 2) * Math.ceil(m / 64));
    }
  });
});
