// A caller's array that cannot be copied, or a result array that cannot be made, for lack of host
// memory: the op rejects (or throws) a typed SparqOutOfMemoryError naming the array, and the process
// and context stay usable. Until 2026-12-05 the copy's std::bad_alloc escaped the binding
// (std::terminate), and a result ArrayBuffer V8 could not allocate was V8's fatal out-of-memory.
// The child caps its own address space (prlimit) a little above what it uses with a 1 GiB array.
import { spawnSync } from 'child_process';
import * as path from 'path';

import { compiledScript } from './helpers/compiled';
import { backendMatrix, titleFor } from './helpers/backends';

const script = compiledScript(path.join('test', 'hostMemory', 'outOfHostMemory'));
const havePrlimit = spawnSync('prlimit', ['--version']).status === 0;

describe('host memory exhausted while copying a caller array', () => {
  for (const p of backendMatrix().filter((b) => b.backend !== 'cuda')) {
    const backend = p.backend;
    const run = havePrlimit && p.present ? it : it.skip;
    const title = titleFor(p, 'every copying op rejects with SparqOutOfMemoryError naming the array; the context still computes');
    run(havePrlimit ? title : `${title} (skipped: no prlimit)`, () => {
      const r = spawnSync(process.execPath, [script, backend], { encoding: 'utf8', timeout: 120000 });
      expect({ status: r.status, signal: r.signal, stderr: r.stderr.slice(-2000) }).toEqual({ status: 0, signal: null, stderr: '' });
      const results = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Record<string, { name: string; argument: string } | string>;
      for (const op of ['w4a16.quantize', 'int8.quantize', 'sparse.encode', 'sparse.prune'])
        expect({ op, result: results[op] }).toEqual({
          op,
          result: expect.objectContaining({ name: 'SparqOutOfMemoryError', argument: 'w', message: expect.stringMatching(/a copy of w/) }),
        });
      expect(results['sparse.prune result']).toEqual(
        expect.objectContaining({ name: 'SparqOutOfMemoryError', message: expect.stringMatching(/the pruned weight/) }),
      );
      expect(results.tensor).toEqual(expect.objectContaining({ name: 'SparqOutOfMemoryError', argument: 'data' }));
      expect(results.read).toEqual(expect.objectContaining({ name: 'SparqOutOfMemoryError', argument: 'tensor' }));
      expect(results.fromF16).toEqual(expect.objectContaining({ name: 'SparqOutOfMemoryError', argument: 'bits' }));
      expect(results.afterwards).toBe('computes');
    });
  }

  // Needs a mount namespace of its own (root, or CAP_SYS_ADMIN): skipped, and said so, elsewhere.
  const smallShm = compiledScript(path.join('test', 'hostMemory', 'smallShm'));
  const canMount = spawnSync('unshare', ['-m', 'bash', '-c', 'mount -t tmpfs -o size=16m tmpfs /dev/shm']).status === 0;
  (canMount ? it : it.skip)(
    `a comm whose /dev/shm has no room for a rank's x: that rank gets SparqOutOfMemoryError, its peer fails at once naming it, no SIGBUS${canMount ? '' : ' (skipped: no private mount namespace here)'}`,
    () => {
      const r = spawnSync('unshare', ['-m', 'bash', '-c', `mount -t tmpfs -o size=16m tmpfs /dev/shm && exec "${process.execPath}" "${smallShm}"`], {
        encoding: 'utf8',
        timeout: 120000,
      });
      expect({ status: r.status, signal: r.signal, stderr: r.stderr.slice(-2000) }).toEqual({ status: 0, signal: null, stderr: '' });
      const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as {
        results: Array<{ name: string; message: string; ms: number }>;
        timeoutMs: number;
        after: number[];
      };
      const oom = out.results.findIndex((x) => x.name === 'SparqOutOfMemoryError');
      expect(oom).toBeGreaterThanOrEqual(0);
      expect(out.results[oom].message).toMatch(new RegExp(`rank ${oom} found no room in /dev/shm for its x`));
      const peer = out.results[1 - oom];
      expect(peer).toEqual(expect.objectContaining({ name: 'SparqTimeoutError', message: expect.stringMatching(new RegExp(`rank ${oom} found no room`)) }));
      expect(peer.ms).toBeLessThan(out.timeoutMs / 4);
      expect(out.after).toEqual([0x4200, 0x4200]); // a new comm on the same contexts: 1 + 1 + 1 = 3 on both ranks
    },
  );
});
