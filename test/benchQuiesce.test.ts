// test/benchQuiesce.test.ts: the bench's wait for an idle process (bench/harness/quiesce.ts), which
// keeps a peer's spinning pool (onnxruntime's) from running beside the next contender's batch.
// A worker thread stands in for the spinning pool. The bounds are loose (a spin of 300 ms must hold
// the wait past 150 ms) so a slow host cannot fail them; no speed is asserted.
import { Worker } from 'worker_threads';
import { waitForIdle } from '../bench/harness/quiesce';

/** Starts a thread that busy-loops for `ms` of wall time; resolves once it is spinning. */
function spinFor(ms: number): Promise<Worker> {
  const w = new Worker(`
    const { parentPort } = require('worker_threads');
    parentPort.postMessage('spinning');
    const end = Date.now() + ${ms};
    let x = 0;
    while (Date.now() < end) x += Math.sqrt(x + 1);
    parentPort.postMessage(x);
  `, { eval: true });
  return new Promise((resolve, reject) => {
    w.once('message', () => resolve(w));
    w.once('error', reject);
  });
}

describe('waitForIdle', () => {
  it('returns at once (one quiet window) when nothing else runs', async () => {
    const r = await waitForIdle({ maxMs: 2000 });
    expect(r.idle).toBe(true);
    expect(r.waitedMs).toBeLessThan(2000);
  });

  it('waits while another thread of the process is busy, and returns once it stops', async () => {
    const w = await spinFor(300);
    try {
      const r = await waitForIdle({ maxMs: 5000 });
      expect(r.idle).toBe(true);
      expect(r.waitedMs).toBeGreaterThanOrEqual(150);
    } finally {
      await w.terminate();
    }
  });

  it('gives up after maxMs and says so', async () => {
    const w = await spinFor(3000);
    try {
      const r = await waitForIdle({ maxMs: 100 });
      expect(r.idle).toBe(false);
      expect(r.waitedMs).toBeGreaterThanOrEqual(100);
    } finally {
      await w.terminate();
    }
  });
});
