// native/cuda/w4a16.cu: the W4A16 op on CUDA: the plan of w4a16_plan.cuh (shared with the
// simulator's launcher) on the context's stream, its workspace from the context.
#include <cuda_runtime.h>

#include "cuda/cuda_ops.h"
#include "cuda/nvcc_target.cuh"
#include "cuda/w4a16_plan.cuh"

namespace sparq::cuda_ops {

Status W4A16Matmul(const W4A16MatmulArgs& a, cuda::Exec& exec, LaunchInfo* info) {
  cuda::NvccTarget target(exec.stream, exec.sm_count);
  const w4a16::W4a16Plan plan = w4a16::MakePlan(a, w4a16::ChooseStagesForSmem(exec.smem_optin_bytes), target.sm_count());
  void* counters = nullptr;
  void* scratch = nullptr;
  Status s = exec.workspace(0, size_t(plan.workspace.counters_bytes), &counters);
  if (s.ok() && plan.workspace.scratch_bytes > 0) s = exec.workspace(1, size_t(plan.workspace.scratch_bytes), &scratch);
  if (!s.ok()) return s;
  return w4a16::RunPlan(a, plan, counters, scratch, target, info);
}

}  // namespace sparq::cuda_ops
