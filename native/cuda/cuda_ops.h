// native/cuda/cuda_ops.h: libsparq_cuda's op entries, one per op of sparq/op_list.h with CUDA = 1,
// each defined in its launcher native/cuda/<op>.cu:
//   Status cuda_ops::Name(const Args& args, cuda::Exec& exec, LaunchInfo* info);
// cuda_backend.cc dispatches the C ABI's run_op to them (generated from the list). Pointers in
// args are device pointers (host pointers where an args struct says so).
#pragma once
#include <cuda_runtime_api.h>

#include <cstddef>
#include <functional>

#include "cuda/cublas_loader.h"
#include "sparq/op_list.h"

namespace sparq::cuda {

// What an op runs with: the context's device, stream and cuBLAS, and its workspace.
struct Exec {
  int device = 0;
  int sm_count = 0;
  int sm_major = 0;
  int smem_optin_bytes = 0;  // cudaDevAttrMaxSharedMemoryPerBlockOptin
  cudaStream_t stream = nullptr;
  const Cublas* cublas = nullptr;
  // Block `which` (0 or 1) of this op's device workspace, at least `bytes`, owned by the context
  // (used in stream order). Zero-filled when (re)allocated and touched by no other op or block, so
  // state an op keeps there (e.g. counters it resets itself) is there at its next launch.
  std::function<Status(int which, size_t bytes, void** ptr)> workspace;
};

}  // namespace sparq::cuda

namespace sparq::cuda_ops {
#define SPARQ_CUDA_OP_DECL(Name, Args, C, S, G) \
  SPARQ_IF(G, Status Name(const Args& args, cuda::Exec& exec, LaunchInfo* info);)
SPARQ_OPS(SPARQ_CUDA_OP_DECL)
#undef SPARQ_CUDA_OP_DECL
}  // namespace sparq::cuda_ops
