/**
 * Child process of test/hostMemory.test.ts: caps its own address space (prlimit) a little above
 * what it uses once a 1 GiB weight array exists, so that copying that array cannot succeed, then
 * asks each op that copies a caller's array for it, and a 1 GiB tensor for its values. Prints one JSON line: per op the error (or
 * 'resolved'), and whether the context still computes afterwards. argv[2]: the backend.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';

import { fromF16, open, type SparqError } from '../../src';

const HEADROOM_BYTES = 512 * 2 ** 20;

async function main(): Promise<void> {
  const backend = process.argv[2] === 'sim' ? 'sim' : 'cpu';
  const sq = await open({ backend });
  const n = 16384;
  const k = 32768;
  const w = new Uint16Array(n * k).fill(0x3c00); // 1 GiB, touched: already in the address space
  const small = sq.tensor(new Uint16Array(64).fill(0x3c00), [8, 8], 'f16');
  const x = sq.tensor(new Uint16Array(8).fill(0x3c00), [1, 8], 'f16');
  await sq.dense.matmul(small, x).read(); // every thread and lazy allocation of a call made before the cap
  const big = sq.tensor(w, [n, k], 'f16'); // 1 GiB more, before the cap: its read() cannot get an array
  const vm = Number(/VmSize:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) * 1024;
  const cap = (headroom: number): void => void execFileSync('prlimit', ['--pid', String(process.pid), `--as=${vm + headroom}`]);
  const results: Record<string, unknown> = {};
  const record = async (name: string, op: () => Promise<unknown>): Promise<void> => {
    try {
      await op();
      results[name] = 'resolved';
    } catch (e) {
      const s = e as SparqError;
      results[name] = { name: s.name, argument: s.argument, message: s.message };
    }
  };
  // First room for the copy of w (1 GiB) but not also for prune's 1 GiB result; a process may lower
  // its own limit, not raise it, so the tighter cap comes second.
  cap(HEADROOM_BYTES * 3);
  await record('sparse.prune result', () => sq.sparse.prune(w, [n, k], 0.5));
  cap(HEADROOM_BYTES);
  const ops: Record<string, () => Promise<unknown>> = {
    'w4a16.quantize': () => sq.w4a16.quantize(w, [n, k]),
    'int8.quantize': () => sq.int8.quantize(w, [n, k]),
    'sparse.encode': () => sq.sparse.encode(w, [n, k]),
    'sparse.prune': () => sq.sparse.prune(w, [n, k], 0.5),
    // cpu and sim allocate the tensor itself first (typed before 2026-12-05 too); the staging copy
    // this guards on cuda has no test without a device
    tensor: async () => sq.tensor(w, [n, k], 'f16'),
    read: () => big.read(),
    fromF16: async () => fromF16(w), // 2 GiB of fp32
  };
  for (const [name, op] of Object.entries(ops)) await record(name, op);
  const y = await sq.dense.matmul(small, x).read();
  results.afterwards = Array.from(y).every((v) => v === 0x4800) ? 'computes' : `wrong: ${Array.from(y).join(',')}`;
  await sq.close();
  process.stdout.write(JSON.stringify(results) + '\n');
}

main().catch((e) => {
  process.stdout.write(JSON.stringify({ fatal: String(e) }) + '\n');
  process.exit(2);
});
