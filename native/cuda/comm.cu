// native/cuda/comm.cu: the kernel of comm.allreduceRmsnorm on CUDA (the AllreduceGathered op):
// the host staging the comm's transport filled (runtime/comm_host.h) copied into this op's
// workspace in stream order, then allreduce_gathered_rmsnorm_kernel through the plan shared with
// the simulator (cuda/comm_plan.cuh).
#include <cuda_runtime.h>

#include "cuda/comm_plan.cuh"
#include "cuda/cuda_ops.h"
#include "cuda/cuda_status.h"
#include "cuda/nvcc_target.cuh"

namespace sparq::cuda_ops {

Status AllreduceGathered(const AllreduceGatheredArgs& a, cuda::Exec& exec, LaunchInfo* info) {
  if (a.staging == nullptr || a.ranks < 1 || a.ranks > allreduce::kMaxRanks || a.tokens < 1 || a.hidden < 1)
    return Status::Error(StatusCode::kArgument, std::string(AllreduceGatheredArgs::kOpName) +
                                                    ": staging, ranks, tokens or hidden out of range");
  const size_t bytes = size_t(a.ranks) * size_t(a.tokens) * size_t(a.hidden) * 2;
  void* staging = nullptr;
  Status s = exec.workspace(0, bytes, &staging);
  if (!s.ok()) return s;
  // The host staging is the caller's until this op returns; a copy from pageable memory "might be
  // synchronous" (CUDA runtime API, API synchronization behavior), so wait for it rather than rely
  // on that. The transport synchronized the stream for x a moment ago: this waits for the copy only.
  s = cuda::CudaStatus(cudaMemcpyAsync(staging, a.staging, bytes, cudaMemcpyHostToDevice, exec.stream),
                 "comm.allreduceRmsnorm: staging copy");
  if (s.ok()) s = cuda::CudaStatus(cudaStreamSynchronize(exec.stream), "comm.allreduceRmsnorm: staging copy");
  if (!s.ok()) return s;
  cuda::NvccTarget target(exec.stream, exec.sm_count);
  return ar::RunGathered(ar::GatheredFrom(a, static_cast<const uint16_t*>(staging)), target, info);
}

}  // namespace sparq::cuda_ops
