// native/cuda/int8.cu: the int8 (LLM.int8()) matmul on CUDA: the plan of int8_plan.cuh (shared with
// the simulator) on the context's stream, its workspace (CA, rowStat, outlier flags; split k's
// totals in a second block) from the context. No host sync: the outlier count stays on the device.
#include <cuda_runtime.h>

#include "cuda/cuda_ops.h"
#include "cuda/int8_plan.cuh"
#include "cuda/nvcc_target.cuh"

namespace sparq::cuda_ops {

Status Int8Matmul(const Int8MatmulArgs& a, cuda::Exec& exec, LaunchInfo* info) {
  cuda::NvccTarget target(exec.stream, exec.sm_count);
  const i8::Int8Plan plan = i8::MakePlan(a, exec.smem_optin_bytes, exec.sm_count);
  void* workspace = nullptr;
  void* split = nullptr;  // block 1: zero when allocated, and every launch leaves it zero
  if (plan.workspace.bytes > 0) {
    Status s = exec.workspace(0, size_t(plan.workspace.bytes), &workspace);
    if (!s.ok()) return s;
  }
  if (plan.split_bytes > 0) {
    Status s = exec.workspace(1, size_t(plan.split_bytes), &split);
    if (!s.ok()) return s;
  }
  return i8::RunPlan(a, plan, workspace, split, target, info);
}

}  // namespace sparq::cuda_ops
