// The GPU floor of a layer is (bytes it must move) / (device-to-device copy bandwidth measured in
// the same run, counted as bytes read + written): DESIGN.md "Performance targets".
import type { Context } from '../src/index';

/**
 * Measured device copy bandwidth in bytes/s (read + written), or null where it cannot be measured.
 *
 * TODO(api): the sparq Context has no device-to-device copy to time yet. When it has one, time a
 * large (≥ 1 GiB, ≫ L2) copy back to back with marks here, return 2·bytes / median seconds, and the
 * w4a16 table fills its "floor" and "% floor" columns from it. Never substitute a spec-sheet number.
 */
export async function measureCopyBandwidth(sq: Context): Promise<number | null> {
  if (sq.backend !== 'cuda') return null;
  return null;
}
