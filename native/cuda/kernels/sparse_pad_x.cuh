// native/cuda/kernels/sparse_pad_x.cuh: the sparse matmul's first step when x's rows cannot feed
// 16-byte cp.async (k % 8 != 0 or a misaligned base). A non-template __global__, so it lives in its
// own header that only the launch plan (cuda/sparse_plan.cuh) includes.
#pragma once
#include <cstdint>

#include "../ptx_prims.cuh"
#include "../sparse_layout.cuh"

namespace sparq::spmm {

// x [m][k] → x_pad [m][k_pad], zeros in columns k..k_pad−1; grid-stride over the elements.
__global__ void __launch_bounds__(kThreads) sparse_pad_x_kernel(const uint16_t* x, int64_t m, int64_t k,
                                                               int64_t k_pad, uint16_t* x_pad) {
  const int64_t total = m * k_pad, stride = int64_t(gridDim.x) * kThreads;
  for (int64_t e = int64_t(blockIdx.x) * kThreads + threadIdx.x; e < total; e += stride) {
    const int64_t r = e / k_pad, c = e % k_pad;
    g_store(x_pad + e, c < k ? g_load(x + r * k + c) : uint16_t(0));
  }
}

}  // namespace sparq::spmm
