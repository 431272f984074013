import type { Context } from '../context';
import { asFp16Bits, type Fp16Bits, type HostArrayOf } from '../dtype';
import { describeValue, refuseExtraArguments, SparqArgumentError, startNow, withCallSite } from '../errors';
import { CONSTRUCT } from '../construct';
import type { NativeWeight } from '../native';
import type { OptionKeys } from '../options';
import { bindMethods, refuseBackendObject, Tensor } from '../tensor';
import { PackedWeight } from '../weight';
import { MATMUL_KEYS, type MatmulOptions } from './dense';

/** Options of {@link Int8Ops.matmul}. */
export interface Int8MatmulOptions extends MatmulOptions {
  /**
   * Columns of X where any row has |x| ≥ threshold are outliers: they skip int8 and are multiplied
   * in fp32 (LLM.int8()'s mixed-precision decomposition). `0` = no outliers (pure int8). Defaults
   * to `6` (the LLM.int8() paper's and Hugging Face's `llm_int8_threshold`). Finite, ≥ 0 (`Infinity` is
   * refused: for "no outlier columns" pass `0`).
   */
  threshold?: number | undefined;
  /**
   * `false`: this call's outlier columns are not read back, and the result has no
   * `outlierColumns`. The read is a host copy and a Promise per call — about 3/4 of what an
   * `int8.matmul` costs the JavaScript thread on cpu (bench/opOverhead.ts), and on cuda a wait of
   * the context's stream for the GPU after every call. A decode loop that never looks at the list
   * should pass `false`. Default `true`.
   */
  outlierColumns?: boolean | undefined;
}
const INT8_MATMUL_KEYS: OptionKeys<Int8MatmulOptions> = { ...MATMUL_KEYS, threshold: true, outlierColumns: true };

/** What {@link Int8Ops.matmul} returns. */
export interface Int8MatmulResult {
  /** f16 `[..., n]` (or `options.out`). */
  y: Tensor<'f16'>;
  /**
   * The outlier columns of this call, increasing — read back in stream order after the matmul,
   * so it resolves when the matmul has run (the JavaScript thread never waits for it). Rejects
   * like `y.read()` when the matmul failed.
   */
  outlierColumns: Promise<HostArrayOf['i32']>;
}

/** What {@link Int8Ops.matmul} returns with `{ outlierColumns: false }`. */
export interface Int8MatmulYOnly {
  /** f16 `[..., n]` (or `options.out`). */
  y: Tensor<'f16'>;
  outlierColumns?: undefined;
}

/**
 * int8 weights W[n, k] in LLM.int8()'s format: codes `CB = rne(W·127 / SCB)` with one fp32 absmax
 * `SCB` per row (bitsandbytes-compatible), packed in the layout of the backend that runs them.
 * From {@link Int8Ops.quantize} or {@link Int8Ops.fromCodes}.
 */
export class Int8Weight extends PackedWeight<{ codes: HostArrayOf['i8']; scb: HostArrayOf['f32'] }> {
  /** @internal */
  static fromNative(handle: NativeWeight, owner: object): Int8Weight {
    return new Int8Weight(CONSTRUCT, handle, owner);
  }

  private constructor(token: typeof CONSTRUCT, handle: NativeWeight, owner: object) {
    super(token, handle, owner);
  }
}

/** LLM.int8(): int8 weights × fp16 activations, with fp16 outlier-column decomposition. */
export class Int8Ops {
  /** @internal */
  constructor(private readonly ctx: Context) {
    bindMethods(this, Int8Ops.prototype);
  }

  /**
   * Row-wise absmax quantization (the int8 contract: docs/api.md "int8"); quantizing and packing run off the JS thread.
   * @param w fp16 bits `[n*k]` (Uint16Array, or Float16Array where the runtime has it), finite.
   * @param shape `[n, k]`, k ≤ 131072 (the int32 accumulator stays exact).
   * @throws {SparqShapeError} (as a rejection, like every error here) on a bad shape or length.
   * @throws {SparqArgumentError} on a non-finite weight (names its row and column).
   */
  quantize(w: Fp16Bits, shape: readonly number[]): Promise<Int8Weight> {
    const site = new Error();
    const c = this.ctx;
    const p = startNow(() => {
      refuseExtraArguments('int8.quantize', arguments.length, ['w', 'shape']);
      refuseBackendObject(w, 'int8.quantize', 'w', 'fp16 bits (a Uint16Array)');
      return c.native.int8Quantize(c.handle, asFp16Bits(w), shape);
    });
    return withCallSite(
      p.then((h) => Int8Weight.fromNative(h, c)),
      site,
    );
  }

  /**
   * Weights quantized elsewhere (e.g. a bitsandbytes checkpoint's `CB` and `SCB`).
   * @param codes `[n*k]` int8 codes, row-major W[n, k].
   * @param scb `[n]` fp32 absmax per row (finite, ≥ 0): w ≈ codes · scb / 127.
   * @throws {SparqShapeError} on wrong lengths or shape.
   * @throws {SparqArgumentError} on a negative or non-finite scb (names the first).
   */
  fromCodes(codes: Int8Array, scb: Float32Array, shape: readonly number[]): Promise<Int8Weight> {
    const site = new Error();
    const c = this.ctx;
    const p = startNow(() => {
      refuseExtraArguments('int8.fromCodes', arguments.length, ['codes', 'scb', 'shape']);
      refuseBackendObject(codes, 'int8.fromCodes', 'codes', 'an Int8Array');
      refuseBackendObject(scb, 'int8.fromCodes', 'scb', 'a Float32Array');
      return c.native.int8FromCodes(c.handle, codes, scb, shape);
    });
    return withCallSite(
      p.then((h) => Int8Weight.fromNative(h, c)),
      site,
    );
  }

  /**
   * Y[..., n] per LLM.int8(): rows of X quantized to int8 by their absmax (outlier columns
   * excluded), exact int32 products with the weight codes, the outlier columns in fp32, one fp16
   * rounding. Bit-identical on cpu, sim and cuda.
   * @param x f16 tensor `[..., k]`.
   * @returns `{ y, outlierColumns }`; `y` is enqueued like any op's output.
   * @throws {SparqArgumentError} on a bad threshold or weight.
   * @throws {SparqShapeError} when x, bias or out do not fit the weight.
   */
  matmul(weight: Int8Weight, x: Tensor<'f16'>, options: Int8MatmulOptions & { outlierColumns: false }): Int8MatmulYOnly;
  matmul(weight: Int8Weight, x: Tensor<'f16'>, options?: Int8MatmulOptions & { outlierColumns?: true | undefined }): Int8MatmulResult;
  matmul(weight: Int8Weight, x: Tensor<'f16'>, options?: Int8MatmulOptions): Int8MatmulResult | Int8MatmulYOnly;
  matmul(weight: Int8Weight, x: Tensor<'f16'>, options: Int8MatmulOptions = {}): Int8MatmulResult | Int8MatmulYOnly {
    refuseExtraArguments('int8.matmul', arguments.length, ['weight', 'x', 'options']);
    const c = this.ctx;
    const h = c.nativeArgs('int8.matmul', weight, x, options, INT8_MATMUL_KEYS);
    const threshold: unknown = options.threshold === undefined ? 6 : options.threshold; // checked natively
    const want = options.outlierColumns;
    if (want !== undefined && typeof want !== 'boolean')
      throw new SparqArgumentError(`int8.matmul: outlierColumns must be a boolean, got ${describeValue(want)}`, {
        argument: 'outlierColumns',
      });
    const [yHandle, colsHandle] = c.native.int8Matmul(c.handle, h.a, h.b, h.bias, h.out, threshold, want !== false);
    const y = c.wrap(yHandle, options.out) as Tensor<'f16'>;
    if (colsHandle === undefined) return { y };
    const cols = Tensor.fromNative(colsHandle, c) as Tensor<'i32'>;
    const list = cols.read();
    cols.dispose(); // freed in stream order, after the read above
    const outlierColumns = list.then((a) => a.slice(1, 1 + a[0]));
    outlierColumns.catch(() => undefined); // a caller who never looks must not get an unhandled rejection
    return { y, outlierColumns };
  }
}
