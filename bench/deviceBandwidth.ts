// The GPU floor of a layer is (bytes it must move) / (device-to-device copy bandwidth measured in
// the same run, counted as bytes read + written): DESIGN.md "Performance targets".
import type { Context } from '../src/index';
import { median } from './harness/stats';

/**
 * Measured device copy bandwidth in bytes/s (read + written), or null off the GPU. Times a 1 GiB
 * (≫ L2) `sq.copy` back to back between stream marks; never a spec-sheet number.
 */
export async function measureCopyBandwidth(sq: Context): Promise<number | null> {
  if (sq.backend !== 'cuda') return null;
  const elems = 2 ** 29; // 1 GiB of f16
  const src = sq.zeros([elems], 'f16');
  const dst = sq.zeros([elems], 'f16');
  try {
    sq.copy(src, { out: dst }); // warm-up
    const samples: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t0 = sq.mark();
      sq.copy(src, { out: dst });
      const t1 = sq.mark();
      samples.push((await t1) - (await t0));
    }
    return (2 * 2 * elems) / (median(samples) / 1000);
  } finally {
    src.dispose();
    dst.dispose();
  }
}
