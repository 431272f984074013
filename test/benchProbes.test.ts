// test/benchProbes.test.ts: the cpu backend's bench-only fmaProbe (src/native.ts, not the public
// API; the compute peak of bench/harness/cpuPeak.ts) reports the flops it ran per thread and
// iteration for each ISA; bad arguments are typed errors, other backends refuse it. Timing is the
// bench's business, never asserted here.
import { open, SparqArgumentError, SparqBackendError } from '../src';
import { native } from '../src/native';
import { backendMatrix, cpuIsas, describeFor, titleFor } from './helpers/backends';

describe('bench probes [cpu]', () => {
  it.each(cpuIsas())('fmaProbe on %s: flops per thread-iteration of its vector width (0 on scalar), finite checksum', async (isa) => {
    const sq = await open({ backend: 'cpu', cpuIsa: isa as 'avx512', threads: 2 });
    const r = await native().fmaProbe(sq.handle, 1000);
    expect(r.flopsPerIteration).toBe({ avx512: 512, avx2: 192, scalar: 0 }[isa]);
    expect(Number.isFinite(r.checksum)).toBe(true);
    if (isa !== 'scalar') expect(r.checksum).toBeGreaterThan(0);
    for (const bad of [0, -1, 1.5, 'many', undefined])
      expect(() => native().fmaProbe(sq.handle, bad as number)).toThrow(expect.objectContaining({ name: SparqArgumentError.name, argument: 'iterations' }));
    await sq.close();
  });
});

for (const p of backendMatrix().filter((b) => b.backend !== 'cpu')) {
  describeFor(p)(titleFor(p, 'bench probes'), () => {
    it('fmaProbe rejects with a SparqBackendError', async () => {
      const sq = await open({ backend: p.backend });
      await expect(native().fmaProbe(sq.handle, 10)).rejects.toThrow(SparqBackendError);
      await sq.close();
    });
  });
}
