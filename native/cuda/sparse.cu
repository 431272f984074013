// native/cuda/sparse.cu: the sparse matmul on CUDA: the plan of sparse_plan.cuh (shared with the
// simulator) on the context's stream, its workspace from the context.
#include <cuda_runtime.h>

#include "cuda/cuda_ops.h"
#include "cuda/nvcc_target.cuh"
#include "cuda/sparse_plan.cuh"

namespace sparq::cuda_ops {

Status SparseMatmul(const SparseMatmulArgs& a, cuda::Exec& exec, LaunchInfo* info) {
  cuda::NvccTarget target(exec.stream, exec.sm_count);
  const spmm::SparsePlan plan = spmm::MakePlan(a, exec.smem_optin_bytes, target.sm_count());
  void* counters = nullptr;
  void* scratch = nullptr;
  Status s = exec.workspace(0, size_t(plan.workspace.counters_bytes), &counters);
  if (s.ok() && plan.workspace.scratch_bytes > 0) s = exec.workspace(1, size_t(plan.workspace.scratch_bytes), &scratch);
  if (!s.ok()) return s;
  return spmm::RunPlan(a, plan, counters, scratch, target, info);
}

}  // namespace sparq::cuda_ops
