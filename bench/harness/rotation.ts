// How many weight copies to rotate through so that no cache holds the weights between calls.
import { l3CacheBytes } from './machineInfo';

const MIN_ROTATE_BYTES = 256 * 2 ** 20;
const MIN_COPIES = 2;
const MAX_COPIES = 32;

/** Bytes the rotation should cover: at least 256 MiB and twice the L3 (GPU L2s are far smaller). */
export function defaultRotateBytes(): number {
  return Math.max(MIN_ROTATE_BYTES, 2 * (l3CacheBytes() ?? 0));
}

/** Copies of a `bytesPerCopy` weight that together cover `rotateBytes` (2..32). */
export function copiesFor(bytesPerCopy: number, rotateBytes: number): number {
  return Math.min(MAX_COPIES, Math.max(MIN_COPIES, Math.ceil(rotateBytes / bytesPerCopy)));
}
