import { open } from '../src';
import { denseCases, runDenseCase } from './cases/dense.cases';
import { backendMatrix, cpuIsas, describeFor, titleFor, withIsa } from './helpers/backends';
import { expectReferenceAndCpu } from './helpers/tolerance';
import { freshSeed } from './reference';

for (const p of backendMatrix()) {
  const isas = p.backend === 'cpu' ? cpuIsas() : [''];
  for (const isa of isas) {
    describeFor(p)(titleFor(p, 'dense.matmul') + (isa ? ` isa=${isa}` : ''), () => {
      const cases = denseCases(p.backend);
      it.each(cases)('$name: every element within its bound of the float64 reference' + (p.backend === 'cpu' ? '' : ' and of the cpu result') + ', norm ≤ 2e-3', async (c) => {
        const seed = freshSeed();
        const run = async () => {
          const sq = await open({ backend: p.backend });
          if (isa) expect(sq.cpuIsa).toBe(isa);
          return runDenseCase(sq, c, seed);
        };
        const got = isa ? await withIsa(isa, run) : await run();
        await expectReferenceAndCpu(p.backend, got, async () => runDenseCase(await open({ backend: 'cpu' }), c, seed), c.tolerance, seed);
      });
    });
  }
}
