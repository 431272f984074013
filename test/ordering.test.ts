import { spawnSync } from 'child_process';
import * as path from 'path';

import { open, SparqDeviceError } from '../src';

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
    const { sq, w, x } = await slowMatmul(3072); // 58 GFLOP: well over 200 ms on 2 cores
    const t0 = await sq.mark();
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    const started = Date.now();
    const y = sq.dense.matmul(w, x);
    const returnedAfter = Date.now() - started;
    await y.read();
    const t1 = await sq.mark();
    clearInterval(timer);
    expect(t1 - t0).toBeGreaterThanOrEqual(200); // the work really took ≥ 200 ms of stream time
    expect(returnedAfter).toBeLessThan(50); // enqueue only
    expect(ticks).toBeGreaterThanOrEqual(5);
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

  it('SparqDeviceError is exported for device failures (context lost)', () => {
    expect(new SparqDeviceError('x').code).toBe('ERR_SPARQ_DEVICE');
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
