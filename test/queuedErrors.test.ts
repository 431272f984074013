import { open, SparqDeviceError, SparqOutOfMemoryError } from '../src';
import { native } from '../src/native';

const OUT_OF_MEMORY = 6; // sparq::StatusCode::kOutOfMemory
const DEVICE = 7; // sparq::StatusCode::kDevice

describe('failures inside queued work [cpu]', () => {
  it('a failed op: its read() rejects typed, a consumer of its output rejects with the same error, synchronize() rejects once, the context stays usable', async () => {
    const sq = await open({ backend: 'cpu' });
    const failed = sq.wrap(native().injectFault(sq.handle, OUT_OF_MEMORY, 'injected: scratch allocation failed', [1, 2]));
    const w = sq.tensor(new Uint16Array([0x3c00, 0x3c00]), [1, 2], 'f16');
    const downstream = sq.dense.matmul(w, failed as never);
    await expect(failed.read()).rejects.toThrow(SparqOutOfMemoryError);
    await expect(downstream.read()).rejects.toThrow(/injected: scratch allocation failed/);
    await expect(sq.synchronize()).rejects.toBeInstanceOf(SparqOutOfMemoryError);
    await expect(sq.synchronize()).resolves.toBeUndefined();
    expect(sq.lost).toBe(false);
    const y = await sq.dense.matmul(w, sq.tensor(new Uint16Array([0x4000, 0x4000]), [1, 2], 'f16')).read();
    expect(Array.from(y)).toEqual([0x4400]); // 4.0
  });

  it('a device error loses the context: later calls throw SparqDeviceError, a new context works', async () => {
    const sq = await open({ backend: 'cpu' });
    const t = sq.wrap(native().injectFault(sq.handle, DEVICE, 'injected: illegal address', [4]));
    const site = await sq.synchronize().catch((e: unknown) => e);
    expect(site).toBeInstanceOf(SparqDeviceError);
    expect((site as Error).stack).toMatch(/queuedErrors\.test/); // the stack points at the call that queued the work
    await expect(t.read()).rejects.toBeInstanceOf(SparqDeviceError);
    expect(sq.lost).toBe(true);
    expect(() => sq.zeros([2], 'f16')).toThrow(SparqDeviceError);
    expect(() => sq.zeros([2], 'f16')).toThrow(/context is lost after a device error \(injected: illegal address\); open a new context/);
    const fresh = await open({ backend: 'cpu' });
    expect(Array.from(await fresh.zeros([2], 'f16').read())).toEqual([0, 0]);
  });
});
