// native/cuda/kernels/dense_bias_epilogue.cuh: the second step of dense.matmul with a bias when
// cuBLAS computes the product. cuBLAS writes the fp32 accumulators (Ctype CUDA_R_32F); this adds
// the bias in fp32 and rounds once to fp16, as the contract says. Letting cuBLAS add the bias
// itself (beta = 1 over a broadcast fp16 bias) rounded twice on the H200 for some shapes: every
// case past 0.25 of its per-element bound had a bias (k = 64: up to 1.57), with errors the size of
// an fp16 rounding of the accumulator (docs/verification.md "GPU results"). A non-template __global__: only
// cuda/dense.cu (and the simulator test) include this header.
#pragma once
#include <cstdint>

#include "../ptx_prims.cuh"

namespace sparq {

constexpr int kBiasEpilogueThreads = 256;

// y[r][c] = fp16(acc[r][c] + bias[c]); grid-stride over the m·n elements.
__global__ void __launch_bounds__(kBiasEpilogueThreads)
    dense_bias_epilogue_kernel(const float* acc, const uint16_t* bias, int64_t m, int64_t n, uint16_t* y) {
  const int64_t total = m * n, stride = int64_t(gridDim.x) * kBiasEpilogueThreads;
  for (int64_t e = int64_t(blockIdx.x) * kBiasEpilogueThreads + threadIdx.x; e < total; e += stride)
    g_store(y + e, cvt_rn_f16_f32(g_load(acc + e) + cvt_f32_f16(g_load(bias + e % n))));
}

// Enough CTAs to cover the elements, at most 4 per SM (the loop strides over the rest).
inline unsigned BiasEpilogueCtas(int64_t elements, int sm_count) {
  const int64_t want = (elements + kBiasEpilogueThreads - 1) / kBiasEpilogueThreads;
  const int64_t cap = int64_t(sm_count > 0 ? sm_count : 1) * 4;
  return unsigned(want < 1 ? 1 : (want < cap ? want : cap));
}

}  // namespace sparq
