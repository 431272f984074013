// Out of memory: an allocation the backend cannot give fails with SparqOutOfMemoryError naming what
// was asked, and the context stays usable. On sim the device's size is SPARQ_SIM_MEMORY_BYTES (read
// when the context opens), so the device-memory path is testable without a GPU; on cpu an
// allocation far beyond the machine's memory fails in the host allocator.
import { open, SparqOutOfMemoryError, SparqShapeError, type Context } from '../src';
import { backendMatrix, describeFor, titleFor } from './helpers/backends';
import { randomF16, referenceMatmul, rng, relErrorF16 } from './reference';

const sim = backendMatrix().find((p) => p.backend === 'sim')!;

/** A small dense matmul checked against float64: the context still computes right answers. */
async function stillWorks(sq: Context): Promise<void> {
  const next = rng(12345);
  const [m, n, k] = [3, 17, 40];
  const w = randomF16(n * k, next);
  const x = randomF16(m * k, next);
  const tw = sq.tensor(w.bits, [n, k], 'f16');
  const tx = sq.tensor(x.bits, [m, k], 'f16');
  const y = await sq.dense.matmul(tw, tx).read();
  expect(relErrorF16(y, referenceMatmul(w.values, x.values, m, n, k))).toBeLessThan(2e-3);
  tw.dispose();
  tx.dispose();
}

async function withSimMemory<T>(bytes: number, fn: (sq: Context) => Promise<T>): Promise<T> {
  const prev = process.env.SPARQ_SIM_MEMORY_BYTES;
  process.env.SPARQ_SIM_MEMORY_BYTES = String(bytes);
  let sq: Context;
  try {
    sq = await open({ backend: 'sim' });
  } finally {
    if (prev === undefined) delete process.env.SPARQ_SIM_MEMORY_BYTES;
    else process.env.SPARQ_SIM_MEMORY_BYTES = prev;
  }
  try {
    return await fn(sq);
  } finally {
    await sq.close();
  }
}

describeFor(sim)(titleFor(sim, 'out of device memory (SPARQ_SIM_MEMORY_BYTES = 1 MiB)'), () => {
  const MiB = 2 ** 20;

  it('a tensor past the limit throws SparqOutOfMemoryError naming it; freeing makes room again; the context stays usable', async () => {
    await withSimMemory(MiB, async (sq) => {
      const a = sq.zeros([256, 1024], 'f16'); // 512 KiB
      let e: unknown;
      try {
        sq.zeros([512, 1024], 'f16'); // another 1 MiB: over
      } catch (x) {
        e = x;
      }
      expect(e).toBeInstanceOf(SparqOutOfMemoryError);
      expect((e as SparqOutOfMemoryError).code).toBe('ERR_SPARQ_OUT_OF_MEMORY');
      expect((e as Error).message).toMatch(/zeros: could not allocate the tensor \[512, 1024\] f16 .*SPARQ_SIM_MEMORY_BYTES=1048576/);
      expect(sq.lost).toBe(false);
      a.dispose();
      await sq.synchronize(); // the free is stream-ordered
      const b = sq.zeros([512, 1024], 'f16'); // fits now
      b.dispose();
      await sq.synchronize(); // b's 1 MiB is free only once the stream has run its free
      await stillWorks(sq);
    });
  });

  it('a weight whose packed parts do not fit rejects with SparqOutOfMemoryError; a matmul output that does not fit throws it; the context stays usable', async () => {
    await withSimMemory(MiB, async (sq) => {
      const next = rng(99);
      const big = randomF16(1024 * 1024, next).bits; // 1 MiB of int8 codes + scb: over
      await expect(sq.int8.quantize(big, [1024, 1024])).rejects.toBeInstanceOf(SparqOutOfMemoryError);
      const small = await sq.int8.quantize(randomF16(64 * 64, next).bits, [64, 64]); // ~4.6 KiB
      const x2 = sq.zeros([16, 64], 'f16'); // 2 KiB
      const hold = sq.zeros([480, 1024], 'f16'); // 960 KiB: about 57 KiB left
      const r = sq.int8.matmul(small, x2, { threshold: 0 }); // y 2 KiB + the outlier list: fits
      await r.outlierColumns;
      const w = sq.zeros([64, 64], 'f16'); // 8 KiB
      const x3 = sq.zeros([300, 64], 'f16'); // 37.5 KiB: about 11 KiB left
      let e: unknown;
      try {
        sq.dense.matmul(w, x3); // its output [300, 64] f16 (37.5 KiB) does not fit
      } catch (x) {
        e = x;
      }
      expect(e).toBeInstanceOf(SparqOutOfMemoryError);
      expect((e as Error).message).toMatch(/^dense\.matmul: /);
      expect(sq.lost).toBe(false);
      for (const t of [r.y, w, x3]) t.dispose();
      hold.dispose();
      x2.dispose();
      small.dispose();
      await sq.synchronize();
      await stillWorks(sq);
    });
  });
});

describe('out of host memory [cpu]', () => {
  it('an allocation far beyond the machine fails with SparqOutOfMemoryError and the context stays usable', async () => {
    const sq = await open({ backend: 'cpu' });
    try {
      expect(() => sq.zeros([2 ** 26, 2 ** 24], 'f32')).toThrow(SparqOutOfMemoryError); // 4 PiB
      await stillWorks(sq);
    } finally {
      await sq.close();
    }
  });
});

describe('tensors larger than a JavaScript typed array [cpu]', () => {
  it('read() of a tensor past 2^32 elements rejects with SparqShapeError before any work is queued (the completion aborted the process)', async () => {
    // 4 GiB of u8 (the fill touches it); read(out) cannot be given an array that large either.
    const sq = await open({ backend: 'cpu' });
    try {
      const big = sq.zeros([2 ** 32 + 64], 'u8');
      await expect(big.read()).rejects.toThrow(SparqShapeError);
      await expect(big.read()).rejects.toThrow(
        'read: tensor must be at most 4294967296 elements (the most one JavaScript typed array holds here), got [4294967360] (4294967360 elements)',
      );
      big.dispose();
      const edge = sq.zeros([2, 8], 'u8'); // and the context still reads and computes
      expect(Array.from(await edge.read())).toEqual(new Array(16).fill(0));
      await stillWorks(sq);
    } finally {
      await sq.close();
    }
  });
});
