// Names of what actually ran, for benchmark columns: on cuda, dense.matmul is cuBLAS or sparq's
// own tensor-core GEMM depending on what the context found and SPARQ_DENSE_KERNEL, so a column
// named "cuBLAS" is only honest when `sq.lastLaunch.kernel` says cublasGemmEx.

/** Column/impl names of the fp16 dense GEMM, by the kernel `lastLaunch` reports. */
export const DENSE_KERNEL_LABELS = {
  cublasGemmEx: 'cuBLAS fp16 (cublasGemmEx)',
  dense_tc_gemm: 'sparq fp16 GEMM (dense_tc_gemm)',
  unknown: 'fp16 dense (kernel not reported)',
} as const;

/** The short form for table headers and chart titles. */
export const DENSE_KERNEL_SHORT: Readonly<Record<string, string>> = {
  [DENSE_KERNEL_LABELS.cublasGemmEx]: 'cuBLAS fp16',
  [DENSE_KERNEL_LABELS.dense_tc_gemm]: 'sparq fp16 GEMM',
  [DENSE_KERNEL_LABELS.unknown]: 'fp16 dense',
};

/**
 * The label of a GPU dense fp16 run whose launch record is `launch` (read right after the call):
 * 'cublasGemmEx' (also '… + dense_bias_epilogue_kernel', with a bias) → cuBLAS, 'dense_tc_gemm' →
 * sparq's GEMM; anything else (no launch, or another
 * op's) → the neutral `unknown` label, never a guess.
 */
export function denseKernelLabel(launch: { kernel: string } | null | undefined): string {
  if (launch?.kernel.startsWith('cublasGemmEx')) return DENSE_KERNEL_LABELS.cublasGemmEx;
  if (launch?.kernel === 'dense_tc_gemm') return DENSE_KERNEL_LABELS.dense_tc_gemm;
  return DENSE_KERNEL_LABELS.unknown;
}

/** Whether `impl` is one of the GPU dense labels above. */
export function isDenseKernelLabel(impl: string): boolean {
  return Object.values(DENSE_KERNEL_LABELS).includes(impl as never);
}

/** One header word for a set of dense impl labels: the kernel when all rows agree, else a neutral one. */
export function denseHeader(labels: Iterable<string>): string {
  const distinct = [...new Set(labels)];
  if (distinct.length === 0) return 'fp16 dense';
  return distinct.length === 1 ? DENSE_KERNEL_SHORT[distinct[0]] ?? distinct[0] : 'fp16 dense (per row: see impl)';
}
