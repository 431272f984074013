// How many weight copies to rotate through so that no cache holds the weights between calls.
import { l3CacheBytes } from './machineInfo';

const MIN_ROTATE_BYTES = 256 * 2 ** 20;
const MIN_COPIES = 2;
const MAX_COPIES = 32;

/**
 * Bytes the rotation should cover. On the CPU: at least 256 MiB and twice the L3. On a GPU the
 * weights live in device memory and the cache to defeat is the device's L2 (50–60 MiB on an
 * H100/H200, 126 MiB on a B200), so 256 MiB whatever the host's L3: twice as many copies for a
 * 300 MiB host L3 only multiplied the host-side encoding and packing time (the sparse benchmark ran
 * out of the device check's time on it, 2026-12-04).
 */
export function defaultRotateBytes(backend: string): number {
  if (backend === 'cuda') return MIN_ROTATE_BYTES;
  return Math.max(MIN_ROTATE_BYTES, 2 * (l3CacheBytes() ?? 0));
}

/** Copies of a `bytesPerCopy` weight that together cover `rotateBytes` (2..32). */
export function copiesFor(bytesPerCopy: number, rotateBytes: number): number {
  return Math.min(MAX_COPIES, Math.max(MIN_COPIES, Math.ceil(rotateBytes / bytesPerCopy)));
}
