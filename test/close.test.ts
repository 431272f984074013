import { spawnSync } from 'child_process';
import * as path from 'path';

import { fromF16, open, SparqDeviceError, SparqDisposedError, toF16, type Context } from '../src';
import { native } from '../src/native';
import { backendMatrix, describeFor, titleFor } from './helpers/backends';

const indexJs = path.join(__dirname, '..', 'dist', 'src', 'index.js');
const DEVICE = 7; // sparq::StatusCode::kDevice

/** A small dense + w4a16 workload with known answers; returns its live objects. */
async function workload(sq: Context) {
  const n = 8;
  const k = 64;
  const w = sq.tensor(toF16(Array.from({ length: n * k }, (_, i) => ((i % 7) - 3) / 8)), [n, k], 'f16');
  const x = sq.tensor(toF16(Array.from({ length: 2 * k }, (_, i) => ((i % 5) - 2) / 4)), [2, k], 'f16');
  const qw = await sq.w4a16.fromCodes(
    Uint8Array.from({ length: n * k }, (_, i) => i % 16),
    new Uint16Array(n * (k / 32)).fill(0x3c00),
    [n, k],
    { groupSize: 32 },
  );
  return { w, x, qw };
}

async function expectClosedError(p: Promise<unknown> | (() => unknown), label: string, op: RegExp): Promise<void> {
  let caught: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(SparqDisposedError);
  const e = caught as SparqDisposedError;
  expect(e.code).toBe('ERR_SPARQ_DISPOSED');
  expect(e.message).toMatch(op);
  expect(e.message).toContain(label);
}

for (const p of backendMatrix().filter((b) => b.backend !== 'cuda')) {
  describeFor(p)(titleFor(p, 'close'), () => {
    it('drains queued work first: a read issued before close() resolves with the right answer', async () => {
      const sq = await open({ backend: p.backend });
      const { w, x } = await workload(sq);
      const ref = Array.from(fromF16(await sq.dense.matmul(w, x).read()));
      const y = sq.dense.matmul(w, x);
      const pending = y.read();
      const closing = sq.close();
      expect(sq.closed).toBe(true);
      // Disposed from the close() call on, as the docs say, though the memory waits for the queue.
      expect([y.disposed, y.bytes, w.disposed, w.bytes, String(y)]).toEqual([true, 0, true, 0, `Tensor<f16>[${y.shape.join(', ')}] (disposed)`]);
      // a read asked for after close() began is refused at once, naming the context
      await expectClosedError(y.read(), sq.label, /^read: tensor belongs to context .*, which was closed/);
      expect(Array.from(fromF16(await pending))).toEqual(ref);
      await closing;
      expect(y.disposed).toBe(true);
    });

    it('a weight whose making was queued before close() comes back disposed, with no bytes, before close() resolves', async () => {
      const sq = await open({ backend: p.backend });
      const making = sq.w4a16.quantize(toF16(Array.from({ length: 8 * 64 }, (_, i) => Math.sin(i))), [8, 64]);
      const closing = sq.close();
      const qw = await making;
      const early = [qw.disposed, qw.bytes, String(qw)];
      await closing;
      expect(early).toEqual([true, 0, 'W4A16Weight[8, 64] (disposed)']);
    });

    it('frees tensors and weights still alive; every later use is SparqDisposedError naming the closed context', async () => {
      const sq = await open({ backend: p.backend });
      const { w, x, qw } = await workload(sq);
      const label = sq.label;
      expect(label).toMatch(new RegExp(`^${p.backend}#\\d+$`));
      await sq.close();
      expect([w.disposed, x.disposed, qw.disposed, w.bytes]).toEqual([true, true, true, 0]);
      await expectClosedError(() => sq.dense.matmul(w, x), label, /^dense\.matmul: context .* was closed/);
      await expectClosedError(() => sq.w4a16.matmul(qw, x), label, /^w4a16\.matmul: context .* was closed/);
      await expectClosedError(() => sq.tensor(new Uint16Array(2), [2], 'f16'), label, /^tensor: context/);
      await expectClosedError(() => sq.zeros([2], 'f16'), label, /^zeros: context/);
      await expectClosedError(sq.synchronize(), label, /^synchronize: context/);
      await expectClosedError(sq.w4a16.quantize(new Uint16Array(64), [1, 64]), label, /^w4a16\.quantize: context/);
      await expectClosedError(w.read(), label, /^read: tensor belongs to context .*, which was closed/);
      await expectClosedError(qw.read(), label, /^w4a16\.read: weight belongs to context .*, which was closed/);
      expect(() => w.dispose()).not.toThrow(); // dispose stays idempotent
      await expect(sq.close()).resolves.toBeUndefined(); // and so does close
    });

    it('a shape getter that closes the context during a weight creation: the rejection names the op, not "enqueue"', async () => {
      const closingShape = (sq: Context, dims: number[]) => {
        const shape: number[] = [];
        dims.forEach((d, i) =>
          Object.defineProperty(shape, i, {
            enumerable: true,
            get() {
              if (i === dims.length - 1) void sq.close();
              return d;
            },
          }),
        );
        return shape;
      };
      const makers: [RegExp, (sq: Context) => Promise<unknown>][] = [
        [/^w4a16\.quantize: context/, (sq) => sq.w4a16.quantize(new Uint16Array(2 * 64), closingShape(sq, [2, 64]))],
        [/^w4a16\.fromCodes: context/, (sq) => sq.w4a16.fromCodes(new Uint8Array(2 * 64), new Uint16Array(2), closingShape(sq, [2, 64]), { groupSize: 64 })],
        [/^int8\.quantize: context/, (sq) => sq.int8.quantize(new Uint16Array(2 * 64), closingShape(sq, [2, 64]))],
        [/^sparse\.encode: context/, (sq) => sq.sparse.encode(new Uint16Array(2 * 64), closingShape(sq, [2, 64]))],
      ];
      for (const [op, make] of makers) {
        const sq = await open({ backend: p.backend });
        await expectClosedError(make(sq), sq.label, op);
      }
    });

    // The live set is an intrusive list since 2026-12-05 (a std::set before): removals from its
    // head (newest), tail (oldest) and middle, repeated ones, then close() over what is left.
    it('tensors disposed in any order, some twice: liveAllocations and V8 external bytes follow each; close() frees the rest', async () => {
      const sq = await open({ backend: p.backend, threads: 1 });
      const { w, x, qw } = await workload(sq);
      const ts = Array.from({ length: 300 }, (_, i) => sq.zeros([1 + (i % 7), 3], 'f32'));
      await sq.synchronize(); // the fills no longer hold the buffers
      const base = sq.liveAllocations - ts.length;
      const order = [ts.length - 1, 0, 150, ...Array.from({ length: 100 }, (_, i) => (i * 37 + 11) % ts.length)];
      const gone = new Set<number>();
      for (const batch of [order.slice(0, 3), order.slice(3, 40), order.slice(40)]) {
        let freed = 0;
        for (const i of batch) if (!gone.has(i)) (gone.add(i), (freed += ts[i].bytes));
        const ext = native().v8ExternalBytes();
        for (const i of batch) ts[i].dispose(); // a repeated index disposes twice: a no-op
        expect(ext - native().v8ExternalBytes()).toBe(freed);
        expect(sq.liveAllocations).toBe(base + ts.length - gone.size);
      }
      const left = ts.filter((t) => !t.disposed);
      expect(left.length).toBe(ts.length - gone.size);
      const leftBytes = [...left, w, x, qw].reduce((a, t) => a + t.bytes, 0);
      const ext = native().v8ExternalBytes();
      await sq.close();
      // at least what close() freed (V8 may also have swept an ArrayBuffer meanwhile)
      expect(ext - native().v8ExternalBytes()).toBeGreaterThanOrEqual(leftBytes);
      expect(ts.every((t) => t.disposed && t.bytes === 0)).toBe(true);
      await expectClosedError(left[0].read(), sq.label, /^read: tensor belongs to context .*, which was closed/);
      await expect(ts[0].read()).rejects.toThrow(new SparqDisposedError('read: tensor was disposed')); // disposed before the close
    });

    it('an op of another, open context rejects a tensor of a closed one as disposed', async () => {
      const a = await open({ backend: p.backend });
      const b = await open({ backend: p.backend });
      const { w } = await workload(a);
      const x = b.tensor(toF16(new Array(64).fill(1)), [1, 64], 'f16');
      await a.close();
      await expectClosedError(() => b.dense.matmul(w as never, x), a.label, /^dense\.matmul: w belongs to context/);
      await b.close();
    });

    it('two close() calls settle together; `await using` closes at the end of the block', async () => {
      const sq = await open({ backend: p.backend });
      await workload(sq);
      await Promise.all([sq.close(), sq.close()]);
      expect(sq.closed).toBe(true);
      let seen: Context | undefined;
      {
        await using scoped = await open({ backend: p.backend });
        seen = scoped;
        expect(scoped.closed).toBe(false);
      }
      expect(seen.closed).toBe(true);
    });

    it('a lost context can still be closed', async () => {
      const sq = await open({ backend: p.backend });
      sq.wrap(native().injectFault(sq.handle, DEVICE, 'injected: illegal address', [4]));
      await expect(sq.synchronize()).rejects.toBeInstanceOf(SparqDeviceError);
      expect(sq.lost).toBe(true);
      await expect(sq.close()).resolves.toBeUndefined();
      expect(sq.closed).toBe(true);
    });
  });
}

describe('close [cpu] resources', () => {
  it('50 open/use/close cycles leave the thread count and RSS where they started', () => {
    const r = spawnSync(
      process.execPath,
      [
        '--expose-gc',
        '-e',
        `
        const fs = require('fs');
        const sq0 = require(${JSON.stringify(indexJs)});
        const threads = () => fs.readdirSync('/proc/self/task').length;
        async function cycle() {
          const sq = await sq0.open({ backend: 'cpu', threads: 2 });
          const w = sq.tensor(sq0.toF16(new Array(256 * 512).fill(0.5)), [256, 512], 'f16');
          const x = sq.tensor(sq0.toF16(new Array(4 * 512).fill(0.25)), [4, 512], 'f16');
          const qw = await sq.w4a16.quantize(sq0.toF16(new Array(256 * 512).fill(0.5)), [256, 512]);
          sq.dense.matmul(w, x);
          const y = await sq.w4a16.matmul(qw, x).read();
          await sq.close(); // nothing disposed by hand: close frees it all
          return y[0];
        }
        (async () => {
          await cycle(); // warm-up: libuv's pool and V8's own threads start on first use
          global.gc();
          const t0 = threads(), r0 = process.memoryUsage().rss;
          let alive = 0;
          for (let i = 0; i < 50; i++) {
            await cycle();
            alive = Math.max(alive, threads());
          }
          for (let i = 0; i < 5; i++) { global.gc(); await new Promise((r) => setTimeout(r, 10)); }
          console.log(JSON.stringify({ t0, t1: threads(), alive, grewMiB: (process.memoryUsage().rss - r0) / 2 ** 20 }));
        })().catch((e) => { console.error(e); process.exit(1); });`,
      ],
      { encoding: 'utf8', timeout: 120000 },
    );
    expect(r.stderr).toBe('');
    const { t0, t1, alive, grewMiB } = JSON.parse(r.stdout) as { t0: number; t1: number; alive: number; grewMiB: number };
    expect(t1).toBe(t0);
    expect(alive).toBeLessThanOrEqual(t0 + 3); // at most one context's threads (stream + pool of 2) at a time
    expect(grewMiB).toBeLessThan(24);
  });
});
