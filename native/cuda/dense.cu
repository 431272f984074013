// native/cuda/dense.cu: the dense op on CUDA. cuBLAS when the context uses it (found, and
// SPARQ_DENSE_KERNEL is not `sparq`; bias added in its fp32 epilogue), else sparq's tensor-core
// GEMM (kernels/dense.cuh) through the plan the simulator runs too (dense_plan.cuh), its split-K
// workspace from the context.
#include <cuda_runtime.h>

#include <string>

#include "cuda/cuda_ops.h"
#include "cuda/dense_plan.cuh"
#include "cuda/nvcc_target.cuh"

namespace sparq::cuda_ops {
namespace {

// Broadcasts bias[n] into every row of y[m][n] with log2(m) device copies, so cuBLAS can add it
// with beta = 1 inside its fp32 epilogue: fp16(acc + bias) with one rounding, as the contract says.
Status BroadcastBias(cudaStream_t stream, const uint16_t* bias, uint16_t* y, int64_t m, int64_t n) {
  const size_t row_bytes = static_cast<size_t>(n) * 2;
  Status s = cuda::CudaStatus(cudaMemcpyAsync(y, bias, row_bytes, cudaMemcpyDeviceToDevice, stream), "bias broadcast");
  for (int64_t filled = 1; s.ok() && filled < m;) {
    const int64_t rows = filled < m - filled ? filled : m - filled;
    s = cuda::CudaStatus(cudaMemcpyAsync(y + filled * n, y, size_t(rows) * row_bytes, cudaMemcpyDeviceToDevice, stream),
                         "bias broadcast");
    filled += rows;
  }
  return s;
}

}  // namespace

Status DenseMatmul(const DenseMatmulArgs& a, cuda::Exec& exec, LaunchInfo* info) {
  if (exec.cublas != nullptr && exec.cublas->used()) {
    if (a.bias) {
      Status s = BroadcastBias(exec.stream, a.bias, a.y, a.m, a.n);
      if (!s.ok()) return s;
    }
    const int rc = exec.cublas->GemmF16(exec.stream, a.w, a.x, a.y, a.m, a.n, a.k, a.bias ? 1.0f : 0.0f);
    if (rc != 0) return Status::Error(StatusCode::kDevice, "dense.matmul: cublasGemmEx failed with status " + std::to_string(rc));
    if (info) {
      info->kernel = "cublasGemmEx";
      info->config = exec.cublas->path;
    }
    return Status::Ok();
  }
  if (exec.cublas != nullptr && exec.cublas->requested == cuda::DenseKernel::kCublas)
    return Status::Error(StatusCode::kBackend,
                         "dense.matmul: SPARQ_DENSE_KERNEL=cublas, but this context has no cuBLAS (sq.device.cublasNote "
                         "says what was tried); set SPARQ_CUBLAS_PATH, or SPARQ_DENSE_KERNEL=auto to run sparq's GEMM");
  cuda::NvccTarget target(exec.stream, exec.sm_count);
  const dense_plan::DensePlan plan = dense_plan::MakePlan(a, target.sm_count());
  void* counters = nullptr;
  void* partials = nullptr;
  if (plan.k_splits > 1) {
    Status s = exec.workspace(0, size_t(plan.counters_bytes), &counters);
    if (s.ok()) s = exec.workspace(1, size_t(plan.partials_bytes), &partials);
    if (!s.ok()) return s;
  }
  return dense_plan::RunPlan(a, plan, counters, partials, target, info);
}

}  // namespace sparq::cuda_ops
