// test/benchProbes.test.ts: the cpu backend's bench-only probes (src/native.ts, not the public
// API). fmaProbe (the compute peak of bench/harness/cpuPeak.ts) reports the flops it ran per thread
// and iteration for each ISA; readProbe (the floor of bench/harness/cpuFloor.ts) returns the sum of
// every word it read, whatever the pool size and however the buffer ends; copyProbe (the floor of
// bench/harness/cpuCopyFloor.ts) copies every byte, both ways, however the slices fall;
// bad arguments are typed errors, other backends refuse all three. Timing is the bench's business, never asserted here.
import { open, SparqArgumentError, SparqBackendError, SparqShapeError } from '../src';
import { native } from '../src/native';
import { backendMatrix, cpuIsas, describeFor, titleFor } from './helpers/backends';
import { CpuFloor, FloorProbe, floorsAlongside } from '../bench/harness/cpuFloor';
import { CpuPeak, PeakProbe, measureCpuPeak } from '../bench/harness/cpuPeak';

describe('bench probes [cpu]', () => {
  it.each(cpuIsas())('fmaProbe on %s: flops per thread-iteration of its vector width (0 on scalar), finite checksum', async (isa) => {
    const sq = await open({ backend: 'cpu', cpuIsa: isa as 'avx512', threads: 2 });
    const r = await native().fmaProbe(sq.handle, 1000);
    expect(r.flopsPerIteration).toBe({ avx512: 512, avx2: 192, scalar: 0 }[isa]);
    expect(Number.isFinite(r.checksum)).toBe(true);
    if (isa !== 'scalar') expect(r.checksum).toBeGreaterThan(0);
    for (const bad of [0, -1, 1.5, 'many', undefined])
      expect(() => native().fmaProbe(sq.handle, bad as number)).toThrow(expect.objectContaining({ name: SparqArgumentError.name, argument: 'iterations' }));
    await sq.close();
  });

  // Byte i is (i / 8) % 251 where i % 8 == 0, else 0: every u64 word and every tail byte adds its
  // low byte, so the sum is exact in a double. 1000 lines + 37 bytes: a partial last line, and
  // 3 threads split the lines unevenly.
  it.each([1, 2, 3])('readProbe on %i thread(s) returns the sum of every word, a partial last line included', async (threads) => {
    const bytes = 1000 * 64 + 37;
    const data = new Uint8Array(bytes);
    let want = 0;
    for (let i = 0; i < bytes; i += 8) {
      data[i] = (i / 8) % 251;
      want += data[i];
    }
    const sq = await open({ backend: 'cpu', threads });
    const src = sq.tensor(data, [bytes], 'u8');
    expect(await native().readProbe(sq.handle, src.handle)).toBe(want);
    // Every read shape the bench tries; runs that leave lines over (3 threads: 333 lines a slice,
    // 7 runs leave 4, 64 runs leave 13); a prefetch 64 KiB ahead, past the buffer's end.
    for (const [streams, prefetchBytes] of [[1, 0], [4, 1024], [8, 1024], [7, 64], [64, 65536]])
      expect(await native().readProbe(sq.handle, src.handle, streams, prefetchBytes)).toBe(want);
    src.dispose();
    await sq.close();
  });

  it('readProbe refuses a streams or prefetchBytes outside its range with a SparqArgumentError naming it', async () => {
    const sq = await open({ backend: 'cpu', threads: 2 });
    const src = sq.zeros([4096], 'u8');
    for (const bad of [0, 65, 1.5, -1, 'four', null])
      expect(() => native().readProbe(sq.handle, src.handle, bad as number)).toThrow(expect.objectContaining({ name: SparqArgumentError.name, argument: 'streams' }));
    for (const bad of [-1, 65537, 0.5, 'ahead'])
      expect(() => native().readProbe(sq.handle, src.handle, 2, bad as number)).toThrow(expect.objectContaining({ name: SparqArgumentError.name, argument: 'prefetchBytes' }));
    expect(await native().readProbe(sq.handle, src.handle, 2, 128)).toBe(0); // still usable
    src.dispose();
    await sq.close();
  });

  // 1000 lines + 37 random bytes into a poisoned buffer: 3 threads split the lines unevenly, and the
  // last slice ends in a partial line (the streaming-store copy finishes it with memcpy). The bytes
  // cannot show which stores wrote them: that nonTemporal reaches the streaming loop is the code's
  // word (read_probe.cc), not this test's.
  it.each([1, 2, 3])('copyProbe on %i thread(s) copies every byte, with memcpy and with streaming stores', async (threads) => {
    const bytes = 1000 * 64 + 37;
    const data = new Uint8Array(bytes);
    for (let i = 0; i < bytes; i++) data[i] = (i * 2654435761) >>> 24;
    const sq = await open({ backend: 'cpu', threads });
    const src = sq.tensor(data, [bytes], 'u8');
    for (const nonTemporal of [undefined, false, true]) {
      const dst = sq.tensor(new Uint8Array(bytes).fill(0xa5), [bytes], 'u8');
      await native().copyProbe(sq.handle, dst.handle, src.handle, nonTemporal);
      expect(Buffer.from(await dst.read()).equals(Buffer.from(data))).toBe(true);
      dst.dispose();
    }
    src.dispose();
    await sq.close();
  });

  it('copyProbe refuses tensors of different sizes (SparqShapeError naming dst) and a non-boolean nonTemporal', async () => {
    const sq = await open({ backend: 'cpu', threads: 2 });
    const src = sq.zeros([4096], 'u8');
    const short = sq.zeros([4095], 'u8');
    expect(() => native().copyProbe(sq.handle, short.handle, src.handle)).toThrow(expect.objectContaining({ name: SparqShapeError.name, argument: 'dst' }));
    for (const bad of [1, 'yes', null])
      expect(() => native().copyProbe(sq.handle, src.handle, src.handle, bad as unknown as boolean)).toThrow(expect.objectContaining({ name: SparqArgumentError.name, argument: 'nonTemporal' }));
    const dst = sq.zeros([2048], 'f16'); // the same bytes in another dtype copies
    await native().copyProbe(sq.handle, dst.handle, src.handle, true); // still usable
    src.dispose();
    short.dispose();
    dst.dispose();
    await sq.close();
  });

  // The bench's floor kept for the run (bench/harness/cpuFloor.ts): its batch is one stream-time
  // sample per read, and a config's floor only ever rises to a faster read than the start's.
  it('FloorProbe samples its read and raises the floor only to a faster read', async () => {
    const sq = await open({ backend: 'cpu', threads: 2 });
    const start: CpuFloor = { bytesPerS: 10e9, threads: 2, bufferBytes: 4 * 2 ** 20, samples: 3,
      shape: { streams: 4, prefetchBytes: 1024 }, source: 'test' };
    const probe = FloorProbe.open(sq, start) as FloorProbe;
    const samples = await probe.batch(3);
    expect(samples).toHaveLength(3);
    for (const ms of samples) expect(ms).toBeGreaterThan(0);
    const stats = (minMs: number) => ({ median: 2 * minMs, p10: minMs, p90: 3 * minMs, min: minMs, mean: 2 * minMs, reps: 5 });
    const msAt = (gbPerS: number) => (start.bufferBytes / (gbPerS * 1e9)) * 1e3;
    expect(probe.refreshedFloor(stats(msAt(20))).bytesPerS).toBeCloseTo(20e9, -6);
    expect(probe.refreshedFloor(stats(msAt(5)))).toBe(start);
    expect(probe.refreshedFloor(new Error('probe failed'))).toBe(start);
    expect(probe.refreshedFloor(undefined)).toBe(start);
    probe.dispose();
    expect(FloorProbe.open(sq, null)).toBeNull();

    // Several pools beside one config: only pools with a probe sample, each gets its own result back.
    const one = FloorProbe.open(sq, { ...start, threads: 1 }) as FloorProbe;
    const two = FloorProbe.open(sq, start) as FloorProbe;
    const noProbe: CpuFloor = { ...start, threads: 3, bytesPerS: 7e9 };
    const pools = floorsAlongside([{ floor: start, floorProbe: two }, { floor: noProbe, floorProbe: null }, { floor: start, floorProbe: one }]);
    expect(pools.batches).toEqual([two.batch, one.batch]);
    const [f2, f3, f1] = pools.floors([stats(msAt(30)), stats(msAt(1))]);
    expect(f2?.bytesPerS).toBeCloseTo(30e9, -6);
    expect(f3).toBe(noProbe);
    expect(f1).toEqual({ ...start, threads: 1 });
    one.dispose();
    two.dispose();
    await sq.close();
  });

  // The bench's FMA probe kept for the run (bench/harness/cpuPeak.ts): its batch is one stream-time
  // sample per probe run, and a config's peak only ever rises to a faster run than the start's.
  it('PeakProbe samples the FMA probe and raises the peak only to a faster run', async () => {
    if (!cpuIsas().includes('avx2')) {  // a CPU without AVX2: no probe, so no peak to keep
      const scalar = await open({ backend: 'cpu', cpuIsa: 'scalar', threads: 2 });
      expect(await measureCpuPeak(scalar)).toBeNull();
      await scalar.close();
      return;
    }
    const sq = await open({ backend: 'cpu', cpuIsa: 'avx2', threads: 2 });
    const measured = (await measureCpuPeak(sq)) as CpuPeak;
    expect(measured.flopsPerIteration).toBe(192);
    expect(measured.flopsPerS).toBeGreaterThan(0);
    const start: CpuPeak = { ...measured, flopsPerS: 100e9 };
    const probe = PeakProbe.open(sq, start) as PeakProbe;
    const samples = await probe.batch(3);
    expect(samples).toHaveLength(3);
    for (const ms of samples) expect(ms).toBeGreaterThan(0);
    const stats = (minMs: number) => ({ median: 2 * minMs, p10: minMs, p90: 3 * minMs, min: minMs, mean: 2 * minMs, reps: 5 });
    // A run of the probe is 2 threads × 4e6 iterations × 192 flops.
    const msAt = (gflops: number) => ((2 * 4e6 * 192) / (gflops * 1e9)) * 1e3;
    expect(probe.refreshedPeak(stats(msAt(200))).flopsPerS).toBeCloseTo(200e9, -6);
    expect(probe.refreshedPeak(stats(msAt(50)))).toBe(start);
    expect(probe.refreshedPeak(new Error('probe failed'))).toBe(start);
    expect(probe.refreshedPeak(undefined)).toBe(start);
    expect(PeakProbe.open(sq, null)).toBeNull();
    expect(PeakProbe.open(sq, { ...start, flopsPerIteration: 0 })).toBeNull();
    await sq.close();
  });
});

for (const p of backendMatrix().filter((b) => b.backend !== 'cpu')) {
  describeFor(p)(titleFor(p, 'bench probes'), () => {
    it('fmaProbe rejects with a SparqBackendError', async () => {
      const sq = await open({ backend: p.backend });
      await expect(native().fmaProbe(sq.handle, 10)).rejects.toThrow(SparqBackendError);
      await sq.close();
    });
    it('readProbe and copyProbe reject with a SparqBackendError', async () => {
      const sq = await open({ backend: p.backend });
      const src = sq.zeros([64], 'u8');
      const dst = sq.zeros([64], 'u8');
      await expect(native().readProbe(sq.handle, src.handle)).rejects.toThrow(SparqBackendError);
      await expect(native().copyProbe(sq.handle, dst.handle, src.handle)).rejects.toThrow(SparqBackendError);
      src.dispose();
      dst.dispose();
      await sq.close();
    });
  });
}
