// Check-then-time for one implementation on one config: a wrong result is reported, never timed.
import type { Context, Tensor } from '../src/index';
import { decodeF16 } from './harness/halfFloat';
import { CheckResult, Sample, compareToReference, describeCheck } from './harness/referenceCheck';
import { ImplResult } from './harness/results';
import { TimeLoopOptions, timeLoop } from './harness/timeLoop';
import { OrtPeer } from './peers/onnx';
import { timeSparq } from './sparqTiming';

/** What is being measured and what it costs per call. */
export interface ImplSpec {
  readonly impl: string;
  readonly bytes: number;
  readonly flops: number;
  readonly copies: number;
  /** Relative-error tolerance against the float64 reference. */
  readonly tolerance: number;
}

/** The float64 reference of one config on a sample of output elements. */
export interface Reference {
  readonly values: Float64Array;
  readonly sample: Sample;
  readonly n: number;
}

const F16_NAN = 0x7e00;

/** An f16 [m, n] output filled with NaN, so an element the kernel never writes fails the check. */
export function poisonedOutput(sq: Context, m: number, n: number): Tensor<'f16'> {
  return sq.tensor(new Uint16Array(m * n).fill(F16_NAN), [m, n], 'f16');
}

function message(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

function failed(spec: ImplSpec, status: 'wrong' | 'error', check: CheckResult | null, note: string): ImplResult {
  return { impl: spec.impl, status, stats: null, bytes: spec.bytes, flops: spec.flops,
    relErr: check?.relErr ?? null, copies: spec.copies, clock: null, note };
}

/**
 * Runs `first()` once (into a poisoned output) and checks it, then times `enqueue` with stream marks.
 * @param first enqueues one op on weight copy 0 and returns its output tensor.
 */
export async function measureSparq(sq: Context, spec: ImplSpec, ref: Reference, first: () => Tensor<'f16'>,
                                   enqueue: (i: number) => void, loop: TimeLoopOptions): Promise<ImplResult> {
  let check: CheckResult | null = null;
  try {
    const y = decodeF16(await first().read());
    const launch = sq.lastLaunch;
    check = compareToReference(y, ref.n, ref.values, ref.sample, spec.tolerance);
    if (!check.ok) return failed(spec, 'wrong', check, describeCheck(spec.impl, check));
    const t = await timeSparq(sq, enqueue, loop);
    const launchBound = sq.backend === 'cuda' && t.enqueueMicros >= 0.5 * t.stats.median * 1e3;
    return { impl: spec.impl, status: 'ok', stats: t.stats, bytes: spec.bytes, flops: spec.flops, relErr: check.relErr,
      copies: spec.copies, clock: 'stream', launch,
      note: launchBound ? `possibly launch-bound: enqueue ${t.enqueueMicros.toFixed(1)} µs/op` : undefined };
  } catch (e) {
    return failed(spec, 'error', check, message(e));
  }
}

/** Checks the peer's output once, then times `session.run` with the wall clock. */
export async function measureOrt(peer: OrtPeer, spec: ImplSpec, ref: Reference, loop: TimeLoopOptions): Promise<ImplResult> {
  let check: CheckResult | null = null;
  try {
    check = compareToReference(await peer.output(), ref.n, ref.values, ref.sample, spec.tolerance);
    if (!check.ok) return failed(spec, 'wrong', check, describeCheck(spec.impl, check));
    const stats = await timeLoop((c) => peer.timeRuns(c), loop);
    return { impl: spec.impl, status: 'ok', stats, bytes: spec.bytes, flops: spec.flops, relErr: check.relErr,
      copies: spec.copies, clock: 'wall' };
  } catch (e) {
    return failed(spec, 'error', check, message(e));
  }
}

/** A placeholder row for an implementation that does not apply or could not be set up. */
export function skipped(spec: ImplSpec, note: string): ImplResult {
  return { impl: spec.impl, status: 'skipped', stats: null, bytes: spec.bytes, flops: spec.flops, relErr: null,
    copies: spec.copies, clock: null, note };
}
