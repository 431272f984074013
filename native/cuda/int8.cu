// native/cuda/int8.cu: the int8 (LLM.int8()) matmul on CUDA: the plan of int8_plan.cuh (shared with
// the simulator) on the context's stream, its workspace (CA, rowStat, outlier flags) from the
// context. No host sync: the outlier count stays on the device.
#include <cuda_runtime.h>

#include "cuda/cuda_ops.h"
#include "cuda/int8_plan.cuh"
#include "cuda/nvcc_target.cuh"

namespace sparq::cuda_ops {

Status Int8Matmul(const Int8MatmulArgs& a, cuda::Exec& exec, LaunchInfo* info) {
  cuda::NvccTarget target(exec.stream, exec.sm_count);
  const i8::Int8Plan plan = i8::MakePlan(a, exec.smem_optin_bytes);
  void* workspace = nullptr;
  if (plan.workspace.bytes > 0) {
    Status s = exec.workspace(0, size_t(plan.workspace.bytes), &workspace);
    if (!s.ok()) return s;
  }
  return i8::RunPlan(a, plan, workspace, target, info);
}

}  // namespace sparq::cuda_ops
