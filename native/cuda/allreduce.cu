// native/cuda/allreduce.cu: group.allreduceRmsnorm on CUDA (virtual ranks: every rank's buffers on
// this device): the plan of allreduce_plan.cuh (shared with the simulator) as ONE cooperative
// launch, so every rank's CTAs are resident at once and their flag waits cannot deadlock; a device
// that cannot hold them all gets a kDevice status, never a hang. The workspace is the caller's
// (args.workspace, zero-filled once, kept from call to call), not the context's.
#include <cuda_runtime.h>

#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "cuda/allreduce_plan.cuh"
#include "cuda/cuda_ops.h"
#include "cuda/cuda_status.h"
#include "cuda/nvcc_target.cuh"

namespace sparq::cuda_ops {

namespace {

// The device's cooperative-launch support and the kernel's CTAs per SM at this block size never
// change within a process, and the op is short (tens of µs at decode sizes): asked once per
// (device, kernel, block size) and kept, instead of two runtime queries on every call (the static
// review of 2026-12-03, docs/verification.md). Only answers that came back ok are kept.
struct CooperativeFit {
  bool cooperative = false;
  int per_sm = 0;
};

Status QueryCooperativeFit(const char* op, int device, const void* kernel, int threads, CooperativeFit* fit) {
  // Never destroyed: a stream worker may still launch while exit() runs the static destructors.
  static std::mutex& mu = *new std::mutex();
  static auto& known = *new std::map<std::tuple<int, const void*, int>, CooperativeFit>();
  const std::tuple<int, const void*, int> key{device, kernel, threads};
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = known.find(key);
    if (it != known.end()) {
      *fit = it->second;
      return Status::Ok();
    }
  }
  CooperativeFit f;
  int cooperative = 0;
  Status s = cuda::CudaStatus(cudaDeviceGetAttribute(&cooperative, cudaDevAttrCooperativeLaunch, device),
                              std::string(op) + ": cudaDeviceGetAttribute");
  if (!s.ok()) return s;
  f.cooperative = cooperative != 0;
  if (f.cooperative) {
    s = cuda::CudaStatus(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&f.per_sm, kernel, threads, 0),
                         std::string(op) + ": cudaOccupancyMaxActiveBlocksPerMultiprocessor");
    if (!s.ok()) return s;
  }
  std::lock_guard<std::mutex> lock(mu);
  known[key] = f;
  *fit = f;
  return Status::Ok();
}

}  // namespace

Status AllreduceRmsnorm(const AllreduceRmsnormArgs& a, cuda::Exec& exec, LaunchInfo* info) {
  const char* op = AllreduceRmsnormArgs::kOpName;
  const int threads = ar::BlockThreads(a.hidden);
  CooperativeFit fit;
  Status s = QueryCooperativeFit(op, exec.device, reinterpret_cast<const void*>(ar::PickKernel(ar::ChooseTwoShot(a))),
                                 threads, &fit);
  if (!s.ok()) return s;
  if (!fit.cooperative)
    return Status::Error(StatusCode::kDevice, std::string(op) + ": the device does not support cooperative launches, "
                                                                "which keep every rank's CTAs resident at once");
  const int per_sm = fit.per_sm;
  ar::ArPlan plan;
  ar::ArOverrides force;
  force.spin_timeout_ns = ar::kGpuSpinTimeoutNs;
  s = ar::MakePlan(a, exec.sm_count, per_sm * exec.sm_count, force, &plan);
  if (!s.ok()) return s;
  cuda::NvccTarget target(exec.stream, exec.sm_count);
  return ar::RunPlan(a, plan, target, info, 0, a.ranks);
}

}  // namespace sparq::cuda_ops
