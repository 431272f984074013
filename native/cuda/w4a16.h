// native/cuda/w4a16.h: nvcc launcher of the W4A16 GEMM (native/cuda/kernels/w4a16.cuh).
#pragma once
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "sparq/ops.h"
#include "sparq/w4a16.h"

// Bytes of device workspace sparq_cuda_w4a16_matmul needs for this weight and m: fp32 partials
// [n_pad/128][64][128], per-column flags, and — when k % 8 != 0 or x (if given) is not 16-byte
// aligned — a zero-padded copy of x. The context owns it (and serialises its use on its stream).
size_t sparq_cuda_w4a16_workspace_bytes(const sparq::W4A16WeightView& weight, int64_t m, const void* x = nullptr);

// Y[m, n] = fp16(X[m, k] · dequant(W)ᵀ + bias[n]) on `stream`; weight (layout kGpu), x, bias, y and
// workspace are device pointers. m is processed in slabs of 64 rows, one launch each, over a
// persistent grid of min(sm_count, tiles) CTAs. Picks the instance (M_BLOCKS from the slab's rows,
// 8 pipeline stages on sm_90+, 4 below), fills `info` (optional) and returns the first failing
// cudaError_t value (cudaSuccess = 0), launches included; cudaErrorInvalidValue when the weight is
// not kGpu or the workspace is too small.
int sparq_cuda_w4a16_matmul(const sparq::W4A16WeightView& weight, const uint16_t* x, const uint16_t* bias,
                            uint16_t* y, int64_t m, void* workspace, size_t workspace_bytes, cudaStream_t stream,
                            int sm_count, sparq::LaunchInfo* info);
