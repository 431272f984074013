import { spawnSync } from 'child_process';
import * as path from 'path';

import { open } from '../src';

/** A matmul that takes a while on this machine: 2·m·n·k flops with m = n = k = size. */
async function slowMatmul(size: number) {
  const sq = await open({ backend: 'cpu' });
  const w = sq.tensor(new Uint16Array(size * size).fill(0x3c00), [size, size], 'f16');
  const x = sq.tensor(new Uint16Array(size * size).fill(0x2c00), [size, size], 'f16');
  return { sq, w, x };
}

describe('stream ordering [cpu]', () => {
  it('matmul() returns at once with work pending; read() resolves after it', async () => {
    const { sq, w, x } = await slowMatmul(1024);
    const y = sq.dense.matmul(w, x);
    expect(sq.pending).toBeGreaterThan(0);
    const bits = await y.read();
    expect(sq.pending).toBe(0);
    expect(bits[0]).toBe(0x5400); // 1024 · 1 · 0.0625 = 64
  });

  it('interval timers keep firing while a ≥ 200 ms matmul runs', async () => {
    // Size the matmul from this machine's rate so it takes ≥ 300 ms here, on 2 cores or on a big
    // AVX-512 server alike. Calibrate at the first size whose matmul takes ≥ 20 ms (small ones are
    // dominated by thread start-up and would underestimate a big server), best of two (the fastest
    // rate: a busy machine during calibration only makes the real run longer).
    let calSize = 256;
    let calMs = 0;
    for (;;) {
      const cal = await slowMatmul(calSize);
      await cal.sq.dense.matmul(cal.w, cal.x).read(); // warm the worker threads
      calMs = Infinity;
      for (let i = 0; i < 2; i++) {
        const a = await cal.sq.mark();
        await cal.sq.dense.matmul(cal.w, cal.x).read();
        calMs = Math.min(calMs, (await cal.sq.mark()) - a);
      }
      await cal.sq.close(); // its threads would otherwise compete with the timed run
      if (calMs >= 20 || calSize >= 2048) break;
      calSize *= 2;
    }
    const flopsPerMs = (2 * calSize ** 3) / Math.max(calMs, 0.01);
    const targetMs = 300;
    // The rate can still rise a little with size: 1.1x on the size (1.33x the time), whole 256s,
    // capped at 4096 (3 × 32 MiB of f16); past the cap the matmul is repeated on the stream.
    const size = Math.min(4096, Math.max(calSize, Math.ceil((Math.cbrt((targetMs * flopsPerMs) / 2) * 1.1) / 256) * 256));
    let reps = Math.max(1, Math.ceil((targetMs * 1.33 * flopsPerMs) / (2 * size ** 3)));
    const { sq, w, x } = await slowMatmul(size);
    // A calibration taken in a slow spell of a shared host can undershoot: a run that came in under
    // 200 ms proves nothing, so it is run again with more reps (at most 4 tries), never passed.
    let detail = { size, reps, calSize, calMs, streamMs: 0, returnedAfter: 0, ticks: 0, tries: 0 };
    for (let tries = 1; tries <= 4 && detail.streamMs < 200; tries++) {
      const t0 = await sq.mark();
      let ticks = 0;
      const timer = setInterval(() => ticks++, 10);
      const started = Date.now();
      let y = sq.dense.matmul(w, x);
      for (let i = 1; i < reps; i++) y = sq.dense.matmul(w, x, { out: y });
      const returnedAfter = Date.now() - started;
      await y.read();
      const t1 = await sq.mark();
      clearInterval(timer);
      detail = { size, reps, calSize, calMs, streamMs: t1 - t0, returnedAfter, ticks, tries };
      reps = Math.ceil(reps * Math.max(2, (1.5 * targetMs) / Math.max(t1 - t0, 1)));
    }
    await sq.close();
    expect({ ...detail, tookAtLeast200ms: detail.streamMs >= 200 }).toMatchObject({ tookAtLeast200ms: true }); // really ran ≥ 200 ms on the stream
    expect({ ...detail, enqueueUnder50ms: detail.returnedAfter < 50 }).toMatchObject({ enqueueUnder50ms: true }); // enqueue only
    expect({ ...detail, fiveTicks: detail.ticks >= 5 }).toMatchObject({ fiveTicks: true });
  });

  it('ops run in enqueue order: a later op sees an earlier op’s output', async () => {
    const sq = await open({ backend: 'cpu' });
    const ones = sq.tensor(new Uint16Array(64 * 64).fill(0x3c00), [64, 64], 'f16');
    const x = sq.tensor(new Uint16Array(64).fill(0x3c00), [1, 64], 'f16');
    const y1 = sq.dense.matmul(ones, x); // all 64
    const y2 = sq.dense.matmul(ones, y1); // 64 · 64 = 4096
    expect(Array.from(await y2.read()).every((b) => b === 0x6c00)).toBe(true);
  });

  it('synchronize() resolves after everything enqueued', async () => {
    const { sq, w, x } = await slowMatmul(512);
    sq.dense.matmul(w, x);
    sq.dense.matmul(w, x);
    await sq.synchronize();
    expect(sq.pending).toBe(0);
  });
});

describe('process exit with work in flight', () => {
  const indexJs = path.join(__dirname, '..', 'dist', 'src', 'index.js');
  const script = (exit: string) => `
    const sq0 = require(${JSON.stringify(indexJs)});
    sq0.open({ backend: 'cpu' }).then((sq) => {
      const n = 2048;
      const w = sq.tensor(new Uint16Array(n * n).fill(0x3c00), [n, n], 'f16');
      const x = sq.tensor(new Uint16Array(n * n).fill(0x3c00), [n, n], 'f16');
      for (let i = 0; i < 4; i++) sq.dense.matmul(w, x);
      const leaked = sq.zeros([1 << 20], 'f32'); // never disposed
      if (sq.pending === 0) process.exit(3);
      ${exit}
    });`;

  it.each([
    ['process.exit() while kernels run', 'process.exit(0);'],
    ['the event loop ends while kernels run', 'setTimeout(() => {}, 5);'],
    ['an exception ends the process while kernels run', 'setImmediate(() => { throw new Error("boom"); });'],
  ])('%s: exits cleanly, no crash', (_name, exit) => {
    const r = spawnSync(process.execPath, ['-e', script(exit)], { encoding: 'utf8', timeout: 60000 });
    expect(r.signal).toBeNull();
    if (exit.includes('boom')) {
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/boom/);
    } else {
      expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
    }
  });
});
