import type { Context } from '../context';
import { refuseExtraArguments } from '../errors';
import type { OptionKeys } from '../options';
import { bindMethods, type Tensor } from '../tensor';

/** Options every matmul takes. */
export interface MatmulOptions {
  /** f16 tensor `[n]` added before the single fp16 rounding. */
  bias?: Tensor<'f16'> | undefined;
  /** f16 tensor `[..., n]` to write into instead of allocating a new one. */
  out?: Tensor<'f16'> | undefined;
}
/** @internal */
export const MATMUL_KEYS: OptionKeys<MatmulOptions> = { bias: true, out: true };

/** The dense fp16 linear layer every other kernel is measured against. */
export class DenseOps {
  /** @internal */
  constructor(private readonly ctx: Context) {
    bindMethods(this, DenseOps.prototype);
  }

  /**
   * Y[..., n] = fp16(X[..., k] · Wᵀ + bias), fp32 accumulation, enqueued on the context's stream.
   * cpu: threads + SIMD (AVX-512 / AVX2+F16C / scalar); cuda: cuBLAS when found, else sparq's
   * tensor-core GEMM; sim: that GEMM on the SIMT simulator.
   * @param w f16 tensor `[n, k]` (nn.Linear layout).
   * @param x f16 tensor `[..., k]`; leading dims are flattened to m.
   * @returns f16 tensor `[..., n]` (or `options.out`).
   * @throws {SparqShapeError} when `x` is not `[..., k]`, `bias` not `[n]` or `out` not `[..., n]`.
   * @throws {SparqDTypeError} when a tensor is not f16.
   */
  matmul(w: Tensor<'f16'>, x: Tensor<'f16'>, options: MatmulOptions = {}): Tensor<'f16'> {
    refuseExtraArguments('dense.matmul', arguments.length, ['w', 'x', 'options']);
    const c = this.ctx;
    const h = c.nativeArgs('dense.matmul', w, x, options, MATMUL_KEYS);
    return c.wrap(c.native.denseMatmul(c.handle, h.a, h.b, h.bias, h.out), options.out) as Tensor<'f16'>;
  }
}
