// test/fuzz/valgrindScript.ts: a small run of every cpu op, with disposes, a refused call and two
// contexts opened and closed, for valgrind's memcheck (test/valgrind.test.ts). Small on purpose:
// node under memcheck runs ~50x slower. Valgrind hides AVX-512 from CPUID: the AVX2 kernels run.
import { open, toF16 } from '../../src';

async function main(): Promise<void> {
  for (let round = 0; round < 2; round++) {
    const sq = await open({ backend: 'cpu', threads: 2 });
    const [n, k] = [16, 64];
    const w = toF16(Float32Array.from({ length: n * k }, (_, i) => Math.sin(i)));
    const x = sq.tensor(toF16(new Float32Array(2 * k).fill(0.5)), [2, k], 'f16');
    const wt = sq.tensor(w, [n, k], 'f16');
    await sq.dense.matmul(wt, x).read();
    const q = await sq.w4a16.quantize(w, [n, k]);
    await sq.w4a16.matmul(q, x).read();
    await q.read();
    const sp = await sq.sparse.encode(w, [n, k]);
    await sq.sparse.matmul(sp, x, { bias: sq.zeros([n], 'f16') }).read();
    await sp.read();
    const i8 = await sq.int8.quantize(w, [n, k]);
    const r = sq.int8.matmul(i8, x, { threshold: 0.75 });
    await r.y.read();
    await r.outlierColumns;
    await sq.sparse.prune(w, [n, k], 0.5);
    await sq.copy(x).read();
    try {
      sq.dense.matmul(wt, sq.zeros([1, k + 1], 'f16'));
    } catch {
      // refused: what a refused call allocated must be freed too
    }
    q.dispose();
    x.dispose();
    await sq.close(); // frees the rest (wt, sp, i8, the outputs)
  }
  process.stdout.write('valgrind script done\n');
}

void main();
