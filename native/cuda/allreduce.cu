// native/cuda/allreduce.cu: group.allreduceRmsnorm on CUDA (virtual ranks: every rank's buffers on
// this device): the plan of allreduce_plan.cuh (shared with the simulator) as ONE cooperative
// launch, so every rank's CTAs are resident at once and their flag waits cannot deadlock; a device
// that cannot hold them all gets a kDevice status, never a hang. The workspace is the caller's
// (args.workspace, zero-filled once, kept from call to call), not the context's.
#include <cuda_runtime.h>

#include <string>
#include <vector>

#include "cuda/allreduce_plan.cuh"
#include "cuda/cuda_ops.h"
#include "cuda/cuda_status.h"
#include "cuda/nvcc_target.cuh"

namespace sparq::cuda_ops {

Status AllreduceRmsnorm(const AllreduceRmsnormArgs& a, cuda::Exec& exec, LaunchInfo* info) {
  const char* op = AllreduceRmsnormArgs::kOpName;
  int cooperative = 0;
  Status s = cuda::CudaStatus(cudaDeviceGetAttribute(&cooperative, cudaDevAttrCooperativeLaunch, exec.device),
                              std::string(op) + ": cudaDeviceGetAttribute");
  if (!s.ok()) return s;
  if (!cooperative)
    return Status::Error(StatusCode::kDevice, std::string(op) + ": the device does not support cooperative launches, "
                                                                "which keep every rank's CTAs resident at once");
  const int threads = ar::BlockThreads(a.hidden);
  int per_sm = 0;
  s = cuda::CudaStatus(
      cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, ar::PickKernel(ar::ChooseTwoShot(a)), threads, 0),
      std::string(op) + ": cudaOccupancyMaxActiveBlocksPerMultiprocessor");
  if (!s.ok()) return s;
  ar::ArPlan plan;
  ar::ArOverrides force;
  force.spin_timeout_ns = ar::kGpuSpinTimeoutNs;
  s = ar::MakePlan(a, exec.sm_count, per_sm * exec.sm_count, force, &plan);
  if (!s.ok()) return s;
  cuda::NvccTarget target(exec.stream, exec.sm_count);
  return ar::RunPlan(a, plan, target, info, 0, a.ranks);
}

}  // namespace sparq::cuda_ops
