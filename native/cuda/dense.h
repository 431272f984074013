// native/cuda/dense.h: nvcc launcher of the tensor-core GEMM (native/cuda/kernels/dense.cuh).
#pragma once
#include <cuda_runtime_api.h>

#include "sparq/ops.h"

// Y[m, n] = fp16(X[m, k] · W[n, k]ᵀ + bias[n]) on `stream`; pointers are device pointers. Picks the
// template instance (dense_choose, the same choice the simulator makes), fills `info` (optional)
// with the kernel, config and grid, and returns the first failing cudaError_t value (cudaSuccess
// = 0), the launch included. sm_count is the device's multiprocessor count (unused by this
// non-persistent grid; kept so every op's launcher has the same shape).
int sparq_cuda_dense_matmul(const sparq::DenseMatmulArgs& args, cudaStream_t stream, int sm_count,
                            sparq::LaunchInfo* info);
