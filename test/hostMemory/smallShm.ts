/**
 * Child process of test/hostMemory.test.ts, run in a mount namespace of its own whose /dev/shm is a
 * 16 MiB tmpfs: two cpu ranks of one comm (two contexts of this process) call with 12 MiB each.
 * One gets its pages, the other finds no room: it must fail with SparqOutOfMemoryError (not die
 * of SIGBUS, as writing a tmpfs page /dev/shm has no room for does), and its peer at once, naming
 * it. Then a small comm still works. Prints one JSON line.
 */
import { comm, open, type SparqError } from '../../src';

async function main(): Promise<void> {
  const [a, b] = await Promise.all([open({ backend: 'cpu', threads: 1 }), open({ backend: 'cpu', threads: 1 })]);
  const T = 768;
  const H = 8192; // 12 MiB of fp16
  const id = comm.create({ maxBytes: T * H * 2 });
  const timeoutMs = 20000;
  const [ca, cb] = await Promise.all([a.comm({ id, rank: 0, size: 2, timeoutMs }), b.comm({ id, rank: 1, size: 2, timeoutMs })]);
  const call = async (sq: typeof a, c: typeof ca): Promise<{ name: string; message: string; ms: number } | 'resolved'> => {
    const x = sq.tensor(new Uint16Array(T * H).fill(0x3c00), [T, H], 'f16');
    const g = sq.tensor(new Uint16Array(H).fill(0x3c00), [H], 'f16');
    const t0 = Date.now();
    try {
      await c.allreduceRmsnorm(x, x, g).out.read();
      return 'resolved';
    } catch (e) {
      return { name: (e as SparqError).name, message: (e as SparqError).message, ms: Date.now() - t0 };
    }
  };
  const results = await Promise.all([call(a, ca), call(b, cb)]);
  ca.close();
  cb.close();
  // afterwards: a comm of small calls on the same contexts
  const id2 = comm.create({ maxBytes: 4096 });
  const [da, db] = await Promise.all([a.comm({ id: id2, rank: 0, size: 2, timeoutMs }), b.comm({ id: id2, rank: 1, size: 2, timeoutMs })]);
  const small = async (sq: typeof a, c: typeof ca): Promise<number> => {
    const x = sq.tensor(new Uint16Array(8).fill(0x3c00), [1, 8], 'f16');
    const g = sq.tensor(new Uint16Array(8).fill(0x3c00), [8], 'f16');
    return (await c.allreduceRmsnorm(x, x, g).residual.read())[0]; // 1 + 1 + 1 = 3: 0x4200
  };
  const after = await Promise.all([small(a, da), small(b, db)]);
  da.close();
  db.close();
  await Promise.all([a.close(), b.close()]);
  process.stdout.write(JSON.stringify({ results, timeoutMs, after }) + '\n');
}

main().catch((e) => {
  process.stdout.write(JSON.stringify({ fatal: String(e) }) + '\n');
  process.exit(2);
});
