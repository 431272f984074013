import type { Context } from '../context';
import { asFp16Bits, type Fp16Bits, type HostArrayOf } from '../dtype';
import { refuseExtraArguments, settle, startNow, withCallSite } from '../errors';
import { CONSTRUCT } from '../construct';
import type { NativeWeight } from '../native';
import type { OptionKeys } from '../options';
import { bindMethods, refuseBackendObject, type Tensor } from '../tensor';
import { PackedWeight } from '../weight';
import { MATMUL_KEYS, type MatmulOptions } from './dense';

/** How a sparse weight is stored (docs/formats.md "Sparse"). */
export type SparseFormatName = 'bitmap' | 'tiled-csl';

export interface SparseEncodeOptions {
  /**
   * `'bitmap'`: one bit per weight in 8×8 blocks plus the stored values (≈ 2(1−s) + 0.125 bytes
   * per weight). `'tiled-csl'`: Flash-LLM's 32-bit value+location words (≈ 4(1−s)). `'auto'`
   * picks whichever is smaller for this matrix (bitmap below ≈ 94% sparsity). Defaults to `'auto'`.
   */
  format?: 'auto' | SparseFormatName | undefined;
  /**
   * Also keep the stored weights as per-row lists, the layout the CPU rows kernel reads (at the
   * rows of X and fractions of stored weights the README's `SPARQ_SPARSE_SKIP` lists; docs/formats.md
   * "CPU row lists"). Built only where that kernel runs — the cpu backend with its avx512 or avx2 kernels —
   * and ignored elsewhere (sim, cuda, scalar).
   * With the avx512 kernels on AMD Zen 5 and ≥ 68% sparsity the same weights are kept as lanes
   * instead, which both the prefill kernel and the decode kernel (1–6 rows of X from 68% sparsity)
   * read (docs/formats.md "CPU lanes").
   * Either costs about 3 bytes per stored weight plus padding ({@link SparseWeight.rowListBytes}:
   * ≈ 1.8 bytes a weight at 50% sparsity, ≈ 0.8 at 80%), on top of the format's bytes; without them such matmuls
   * run the format's own kernels, which are slower there (docs/benchmarks.md). Defaults to `true`.
   */
  rowLists?: boolean | undefined;
}

export interface SparsePruneOptions {
  /**
   * `'row'`: each row of W (one output feature) keeps its own largest `(1 − sparsity)·k` entries.
   * `'global'`: the largest over the whole matrix. Defaults to `'row'`.
   */
  scope?: 'row' | 'global' | undefined;
}

const ENCODE_KEYS: OptionKeys<SparseEncodeOptions> = { format: true, rowLists: true };
const PRUNE_KEYS: OptionKeys<SparsePruneOptions> = { scope: true };

/**
 * Unstructured-sparse fp16 weights W[n, k]: every entry whose fp16 bits are not 0x0000 is stored
 * exactly (−0 and NaN too). The same bytes on every backend. From {@link SparseOps.encode}.
 */
export class SparseWeight extends PackedWeight<HostArrayOf['f16']> {
  /** How it is stored. */
  readonly format: SparseFormatName;
  /** Stored entries. */
  readonly nnz: number;
  /** Fraction of W[n, k] not stored: `1 − nnz / (n·k)`. */
  readonly sparsity: number;
  /** Bytes of the format's encoding alone (what `'auto'` compares; the same on every backend). */
  readonly formatBytes: number;
  /** Bytes of the cpu row lists or lanes ({@link SparseEncodeOptions.rowLists}); 0 when there are none. `bytes` counts them. */
  readonly rowListBytes: number;

  /** @internal */
  static fromNative(handle: NativeWeight, owner: object): SparseWeight {
    return new SparseWeight(CONSTRUCT, handle, owner);
  }

  private constructor(token: typeof CONSTRUCT, handle: NativeWeight, owner: object) {
    super(token, handle, owner);
    const info = handle.info();
    this.format = info.format as SparseFormatName;
    this.nnz = info.nnz as number;
    this.sparsity = 1 - this.nnz / (this.n * this.k);
    this.formatBytes = info.formatBytes as number;
    this.rowListBytes = info.rowListBytes as number;
  }

  /**
   * The dense fp16 bits `[n*k]` the weight encodes, exactly as given to `encode`.
   * @throws {SparqDisposedError} (as a rejection) after dispose() or the context's close().
   */
  override read(): Promise<HostArrayOf['f16']> {
    return settle(() => this.handle.read().then((r) => r.w as HostArrayOf['f16']), new Error());
  }

  override toString(): string {
    return this.disposed
      ? `SparseWeight[${this.n}, ${this.k}] (disposed)`
      : `SparseWeight[${this.n}, ${this.k}] ${this.format} ${(100 * this.sparsity).toFixed(1)}% sparse, ${this.bytes} bytes`;
  }
}

/** Flash-LLM-style unstructured-sparse fp16 weights × fp16 activations. */
export class SparseOps {
  /** @internal */
  constructor(private readonly ctx: Context) {
    bindMethods(this, SparseOps.prototype);
  }

  /**
   * Encodes a dense fp16 weight (its non-zero bit patterns) off the JS thread.
   * @param w fp16 bits `[n*k]` (Uint16Array, or Float16Array where the runtime has it).
   * @param shape `[n, k]`, any n, k ≥ 1.
   * @throws {SparqArgumentError} (as a rejection, like every error here) on an unknown format or a
   *   `rowLists` that is not a boolean.
   * @throws {SparqShapeError} when `w` does not hold n·k values.
   * @throws {SparqDTypeError} when `w` is not fp16 bits.
   */
  encode(w: Fp16Bits, shape: readonly number[], options: SparseEncodeOptions = {}): Promise<SparseWeight> {
    const site = new Error();
    const c = this.ctx;
    const p = startNow(() => {
      refuseExtraArguments('sparse.encode', arguments.length, ['w', 'shape', 'options']);
      const o = c.options(options, 'sparse.encode', ENCODE_KEYS);
      refuseBackendObject(w, 'sparse.encode', 'w', 'fp16 bits (a Uint16Array)');
      return c.native.sparseEncode(c.handle, asFp16Bits(w), shape, o.format, o.rowLists);
    });
    return withCallSite(
      p.then((h) => SparseWeight.fromNative(h, c)),
      site,
    );
  }

  /**
   * Magnitude pruning, off the JS thread: a copy of `w` with the smallest-|w| entries set to 0
   * (bits 0x0000) so that `round(sparsity·count)` are zero per row (or over the whole matrix);
   * ties keep the lower index (the lower column in a row; row-major order for `'global'`), entries
   * already zero count toward the target, NaN counts as larger than any number (NaNs by payload).
   * @param sparsity in [0, 1].
   * @throws {SparqArgumentError} (as a rejection) on a sparsity outside [0, 1] or an unknown scope.
   */
  prune(
    w: Fp16Bits,
    shape: readonly number[],
    sparsity: number,
    options: SparsePruneOptions = {},
  ): Promise<HostArrayOf['f16']> {
    const site = new Error();
    const c = this.ctx;
    const p = startNow(() => {
      refuseExtraArguments('sparse.prune', arguments.length, ['w', 'shape', 'sparsity', 'options']);
      const { scope } = c.options(options, 'sparse.prune', PRUNE_KEYS);
      refuseBackendObject(w, 'sparse.prune', 'w', 'fp16 bits (a Uint16Array)');
      return c.native.sparsePrune(c.handle, asFp16Bits(w), shape, sparsity, scope);
    });
    return withCallSite(p, site);
  }

  /**
   * Y[..., n] = fp16(X · Wᵀ + bias) over the stored entries, fp32 accumulation.
   * @param x f16 tensor `[..., k]`.
   * @returns f16 tensor `[..., n]` (or `options.out`).
   */
  matmul(weight: SparseWeight, x: Tensor<'f16'>, options: MatmulOptions = {}): Tensor<'f16'> {
    refuseExtraArguments('sparse.matmul', arguments.length, ['weight', 'x', 'options']);
    const c = this.ctx;
    const h = c.nativeArgs('sparse.matmul', weight, x, options, MATMUL_KEYS);
    return c.wrap(c.native.sparseMatmul(c.handle, h.a, h.b, h.bias, h.out), options.out) as Tensor<'f16'>;
  }
}
