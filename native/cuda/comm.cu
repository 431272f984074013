// native/cuda/comm.cu: the kernel of comm.allreduceRmsnorm on CUDA (the AllreduceGathered op):
// the rows the comm's transport gathered — a host staging (runtime/comm_host.h) or the peers'
// device slots (runtime/comm_device.h) — copied into this op's workspace in stream order (NCCL's
// all-gather, already one array in rank order, is read in place), then
// allreduce_gathered_rmsnorm_kernel through the plan shared with the simulator (cuda/comm_plan.cuh).
#include <cuda_runtime.h>

#include "cuda/comm_plan.cuh"
#include "cuda/cuda_ops.h"
#include "cuda/cuda_status.h"
#include "cuda/nvcc_target.cuh"

namespace sparq::cuda_ops {

Status AllreduceGathered(const AllreduceGatheredArgs& a, cuda::Exec& exec, LaunchInfo* info) {
  if (a.ranks < 1 || a.ranks > allreduce::kMaxRanks || a.rank < 0 || a.rank >= a.ranks || a.tokens < 1 || a.hidden < 1)
    return Status::Error(StatusCode::kArgument, std::string(AllreduceGatheredArgs::kOpName) +
                                                    ": rank, ranks, tokens or hidden out of range");
  cuda::NvccTarget target(exec.stream, exec.sm_count);
  if (a.staging == nullptr && a.peers_contiguous != 0) {
    // NCCL's all-gather left every rank's x in one device array in rank order: read in place (it
    // was copied once more into the workspace, a full extra pass over ranks × tokens × hidden).
    const uint16_t* gathered = nullptr;
    Status s = ar::ContiguousGather(a, &gathered);
    return s.ok() ? ar::RunGathered(ar::GatheredFrom(a, gathered), target, info) : s;
  }
  const size_t row_bytes = size_t(a.tokens) * size_t(a.hidden) * 2;
  const size_t bytes = size_t(a.ranks) * row_bytes;
  void* staging = nullptr;
  Status s = exec.workspace(0, bytes, &staging);
  if (!s.ok()) return s;
  if (a.staging != nullptr) {
    // Through host memory. The host staging is the caller's until this op returns; a copy from
    // pageable memory "might be synchronous" (CUDA runtime API, API synchronization behavior), so
    // wait for it rather than rely on that. The transport synchronized the stream for x a moment
    // ago: this waits for the copy only.
    s = cuda::CudaStatus(cudaMemcpyAsync(staging, a.staging, bytes, cudaMemcpyHostToDevice, exec.stream),
                         "comm.allreduceRmsnorm: staging copy");
    if (s.ok()) s = cuda::CudaStatus(cudaStreamSynchronize(exec.stream), "comm.allreduceRmsnorm: staging copy");
  } else {
    // Device to device: each peer's slot (this device, a peer device through UVA, or an IPC
    // mapping — cudaMemcpyDefault tells them apart) into the workspace, in stream order before the
    // kernel. This rank's own row stays in x: the kernel reads it from there.
    for (int q = 0; q < a.ranks && s.ok(); ++q) {
      if (q == a.rank) continue;
      if (a.peers[q] == nullptr)
        return Status::Error(StatusCode::kArgument, std::string(AllreduceGatheredArgs::kOpName) + ": peer " +
                                                        std::to_string(q) + "'s slot is missing");
      s = cuda::CudaStatus(cudaMemcpyAsync(static_cast<uint8_t*>(staging) + size_t(q) * row_bytes, a.peers[q], row_bytes,
                                           cudaMemcpyDefault, exec.stream),
                           "comm.allreduceRmsnorm: peer copy");
    }
  }
  if (!s.ok()) return s;
  return ar::RunGathered(ar::GatheredFrom(a, static_cast<const uint16_t*>(staging)), target, info);
}

}  // namespace sparq::cuda_ops
