// native/cuda/kernels/w4a16_pad_x.cuh: the W4A16 launch's first step when x's rows cannot feed
// 16-byte cp.async (k % 8 != 0 or a misaligned base). A non-template __global__, so it lives in its
// own header that only the launch plan (cuda/w4a16_plan.cuh) includes: a second translation unit
// including kernels/w4a16.cuh (the fragment dump) must not define it again.
#pragma once
#include <cstdint>

#include "../ptx_prims.cuh"
#include "w4a16.cuh"

namespace sparq::w4a16 {

// X rows with k % 8 != 0 (or a misaligned base) are copied once into a zero-padded [m][k_pad]
// buffer so every 16-B cp.async of A is aligned; grid-stride over elements.
__global__ void __launch_bounds__(kThreads) w4a16_pad_x_kernel(const uint16_t* x, int64_t m, int64_t k,
                                                              int64_t k_pad, uint16_t* x_pad) {
  const int64_t total = m * k_pad, stride = int64_t(gridDim.x) * kThreads;
  for (int64_t e = int64_t(blockIdx.x) * kThreads + threadIdx.x; e < total; e += stride) {
    const int64_t r = e / k_pad, c = e % k_pad;
    g_store(x_pad + e, c < k ? g_load(x + r * k + c) : uint16_t(0));
  }
}

}  // namespace sparq::w4a16
