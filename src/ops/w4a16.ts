import type { Context } from '../context';
import { asFp16Bits, type Fp16Bits, type HostArrayOf } from '../dtype';
import { refuseExtraArguments, startNow, withCallSite } from '../errors';
import { CONSTRUCT } from '../construct';
import type { NativeWeight } from '../native';
import type { OptionKeys } from '../options';
import { bindMethods, refuseBackendObject, type Tensor } from '../tensor';
import { PackedWeight } from '../weight';
import { MATMUL_KEYS, type MatmulOptions } from './dense';

export interface W4A16QuantizeOptions {
  /** Consecutive weights along k (within one row of W) that share one scale: 32, 64, 128, or `k` for per-channel. Must divide k. Defaults to `128` (or `k` when k < 128). */
  groupSize?: number | undefined;
}

export interface W4A16MatmulOptions extends MatmulOptions {
  /**
   * `'exact'` (default): the contract's function, w = fp16((q − 8)·s) times the fp16 X, fp32
   * accumulation. `'int8'`: a different, faster function, opt-in only — X quantized to int8 per
   * row and weight group (absmax / 127), integer dot products with the codes, one fp32 step per
   * group (what onnxruntime's MatMulNBits computes at accuracy level 4; docs/formats.md states it
   * step by step and docs/benchmarks.md its measured error). cpu backend only: elsewhere it throws
   * a SparqBackendError rather than silently running the exact path.
   */
  accuracy?: 'exact' | 'int8' | undefined;
}

const QUANTIZE_KEYS: OptionKeys<W4A16QuantizeOptions> = { groupSize: true };
const W4A16_MATMUL_KEYS: OptionKeys<W4A16MatmulOptions> = { ...MATMUL_KEYS, accuracy: true };

/**
 * 4-bit group-quantized weights W[n, k] (codes 0..15, zero point 8, fp16 scale per group), packed
 * in the layout of the backend that runs them. From {@link W4A16Ops.quantize} or {@link W4A16Ops.fromCodes}.
 */
export class W4A16Weight extends PackedWeight<{ codes: HostArrayOf['u8']; scales: HostArrayOf['f16'] }> {
  /** Consecutive weights along k, within one row, that share one scale (k for per-channel). */
  readonly groupSize: number;

  /** @internal */
  static fromNative(handle: NativeWeight, owner: object): W4A16Weight {
    return new W4A16Weight(CONSTRUCT, handle, owner);
  }

  private constructor(token: typeof CONSTRUCT, handle: NativeWeight, owner: object) {
    super(token, handle, owner);
    this.groupSize = handle.info().groupSize as number;
  }
}

/** Marlin-style W4A16: 4-bit weights × fp16 activations. */
export class W4A16Ops {
  /** @internal */
  constructor(private readonly ctx: Context) {
    bindMethods(this, W4A16Ops.prototype);
  }

  /**
   * Round-to-nearest quantization (the w4a16 contract: docs/api.md "w4a16"); quantizing and packing run off the JS thread.
   * @param w fp16 bits `[n*k]` (Uint16Array, or Float16Array where the runtime has it).
   * @param shape `[n, k]`.
   * @throws {SparqArgumentError} (as a rejection, like every error here) on an unsupported group size.
   * @throws {SparqShapeError} when k is not a multiple of the group size or `w` has the wrong length.
   */
  quantize(w: Fp16Bits, shape: readonly number[], options: W4A16QuantizeOptions = {}): Promise<W4A16Weight> {
    const site = new Error();
    const c = this.ctx;
    // Bad arguments reject (never throw) from a Promise-returning call.
    const p = startNow(() => {
      refuseExtraArguments('w4a16.quantize', arguments.length, ['w', 'shape', 'options']);
      const { groupSize } = c.options(options, 'w4a16.quantize', QUANTIZE_KEYS);
      refuseBackendObject(w, 'w4a16.quantize', 'w', 'fp16 bits (a Uint16Array)');
      return c.native.w4a16Quantize(c.handle, asFp16Bits(w), shape, groupSize);
    });
    return withCallSite(
      p.then((h) => W4A16Weight.fromNative(h, c)),
      site,
    );
  }

  /**
   * Weights from codes and scales of any quantizer (GPTQ, AWQ without zero points …).
   * @param codes `[n*k]` values 0..15 (zero point 8); checked off the JS thread.
   * @param scales fp16 bits `[n * k/groupSize]`.
   * @throws {SparqArgumentError} on codes outside 0..15 (names the first one) or a bad group size.
   * @throws {SparqShapeError} on wrong lengths or k not a multiple of the group size.
   */
  fromCodes(
    codes: Uint8Array,
    scales: Fp16Bits,
    shape: readonly number[],
    options: W4A16QuantizeOptions = {},
  ): Promise<W4A16Weight> {
    const site = new Error();
    const c = this.ctx;
    const p = startNow(() => {
      refuseExtraArguments('w4a16.fromCodes', arguments.length, ['codes', 'scales', 'shape', 'options']);
      const { groupSize } = c.options(options, 'w4a16.fromCodes', QUANTIZE_KEYS);
      refuseBackendObject(codes, 'w4a16.fromCodes', 'codes', 'a Uint8Array');
      refuseBackendObject(scales, 'w4a16.fromCodes', 'scales', 'fp16 bits (a Uint16Array)');
      return c.native.w4a16FromCodes(c.handle, codes, asFp16Bits(scales), shape, groupSize);
    });
    return withCallSite(
      p.then((h) => W4A16Weight.fromNative(h, c)),
      site,
    );
  }

  /**
   * Y[..., n] = fp16(X · dequant(W)ᵀ + bias) with w = fp16((q − 8)·s), fp32 accumulation — or,
   * with `{ accuracy: 'int8' }`, the int8-activation function (see {@link W4A16MatmulOptions.accuracy}).
   * @param x f16 tensor `[..., k]`.
   * @returns f16 tensor `[..., n]` (or `options.out`).
   * @throws {SparqArgumentError} when `accuracy` is not `'exact'` or `'int8'`.
   * @throws {SparqBackendError} for `accuracy: 'int8'` on a backend other than cpu.
   */
  matmul(weight: W4A16Weight, x: Tensor<'f16'>, options: W4A16MatmulOptions = {}): Tensor<'f16'> {
    refuseExtraArguments('w4a16.matmul', arguments.length, ['weight', 'x', 'options']);
    const c = this.ctx;
    const h = c.nativeArgs('w4a16.matmul', weight, x, options, W4A16_MATMUL_KEYS);
    const accuracy = options.accuracy;
    return c.wrap(c.native.w4a16Matmul(c.handle, h.a, h.b, h.bias, h.out, accuracy), options.out) as Tensor<'f16'>;
  }
}
