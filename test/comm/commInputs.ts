/** The inputs every rank of a comm test draws for itself (and the test draws again to check them). */
import type { CommTransport } from '../../src';
import { numberToF16Bits, rng } from '../reference';

export interface CommCall {
  tokens: number;
  hidden: number;
}

export interface RankInputs {
  x: Uint16Array;
  residual: Uint16Array;
}

function draw(next: () => number, n: number, lo: number, hi: number): Uint16Array {
  return Uint16Array.from({ length: n }, () => numberToF16Bits(lo + (hi - lo) * next()));
}

/** Rank r's x and residual for call `call` of a run with `seed`. */
export function rankInputs(seed: number, call: number, rank: number, c: CommCall): RankInputs {
  const next = rng((seed ^ (call * 7919) ^ (rank * 104729)) >>> 0);
  const n = c.tokens * c.hidden;
  return { x: draw(next, n, -1, 1), residual: draw(next, n, -1, 1) };
}

/** gamma of call `call` (the same on every rank). */
export function callGamma(seed: number, call: number, c: CommCall): Uint16Array {
  return draw(rng((seed + call * 31) >>> 0), c.hidden, 0.5, 1.5);
}

export interface RankJob {
  /** comm id, hex */
  id: string;
  rank: number;
  size: number;
  seed: number;
  calls: CommCall[];
  timeoutMs: number;
  /** The rank's context; 'cpu' when absent. Ranks of any backends may share one comm (same bits). */
  backend?: 'cpu' | 'sim' | 'cuda';
  /**
   * join, then: 'never-call' waits without calling; 'exit' ends the process at once; 'exit-in-flight'
   * makes the first call (which waits for a peer that never calls) and ends the process meanwhile.
   */
  after?: 'never-call' | 'exit' | 'exit-in-flight';
  /** CommOptions.transport of this rank (default 'auto') */
  transport?: 'auto' | 'host';
  /** CommOptions.node of this rank (NCCL comms; default: what the OS says) */
  node?: string;
  /**
   * After the checked calls: this many more calls of the last call's shape, each followed by
   * `synchronize()`, timed on the rank (5 untimed first); reported as `timing`. Every rank of a
   * comm must be given the same count.
   */
  timeCalls?: number;
}

export interface RankReport {
  rank: number;
  joined?: boolean;
  /** after the join: how this rank's comm moves rows (Comm.transport) */
  transport?: CommTransport;
  call?: number;
  out?: string; // base64 of the fp16 bits
  residual?: string;
  /** the kernel the call ran, on sim and cuda (context.lastLaunch after the call's read) */
  kernel?: string;
  /** bytes the kernel read per buffer, on sim */
  bytesRead?: Record<string, number>;
  error?: { name: string; code: string; message: string; argument?: string };
  /** the timed calls (RankJob.timeCalls): µs per call + synchronize, on this rank */
  timing?: { n: number; medianUs: number; p10Us: number; p90Us: number };
  /** after a failed call: comm.broken, and what the next call threw */
  broken?: string | null;
  nextCallError?: { name: string; message: string };
}
