// test/benchPeers.test.ts: the onnxruntime peer models give every rotated weight copy its own bytes
// (onnxruntime shares initializers with identical contents, so identical copies would be read from
// one cached weight and the peer would be timed on a warm cache while sparq streams from DRAM).
import { distinctCopy } from '../bench/peers/onnxModel';

describe('bench peers: distinctCopy', () => {
  const base = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i + 1));

  test('copy 0 is the checked weight itself', () => {
    expect(distinctCopy(base, 0)).toBe(base);
  });

  test('copies 1..254 differ from copy 0 and from each other in byte 0 only (255.. still differ from copy 0), and leave the base alone', () => {
    const before = new Uint8Array(base.buffer.slice(0));
    const firstBytes = new Set<number>([new Uint8Array(base.buffer)[0]]);
    for (let copy = 1; copy <= 254; copy++) {
      const c = new Uint8Array(distinctCopy(base, copy).buffer);
      expect(c.subarray(1)).toEqual(before.subarray(1));
      firstBytes.add(c[0]);
    }
    expect(firstBytes.size).toBe(255); // copy 0 and 254 copies, all different
    expect(new Uint8Array(base.buffer)).toEqual(before);
    for (const copy of [255, 256, 300]) expect(new Uint8Array(distinctCopy(base, copy).buffer)[0]).not.toBe(before[0]);
  });

  test('works on int8 and uint8 weights, and on a view into a larger buffer', () => {
    const pool = new Int8Array(100).map((_, i) => i - 50);
    const view = pool.subarray(10, 30);
    const c = distinctCopy(view, 3);
    expect(c.length).toBe(20);
    expect(c[0]).not.toBe(view[0]);
    expect(Array.from(c.subarray(1))).toEqual(Array.from(view.subarray(1)));
    expect(distinctCopy(new Uint8Array([7, 8]), 1)[0]).not.toBe(7);
  });
});
