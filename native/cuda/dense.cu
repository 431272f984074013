// native/cuda/dense.cu: the dense op on CUDA. cuBLAS when the context uses it (found, and
// SPARQ_DENSE_KERNEL is not `sparq`; a bias is added to its fp32 output by our own epilogue
// kernel), else sparq's tensor-core GEMM (kernels/dense.cuh) through the plan the simulator runs
// too (dense_plan.cuh), its split-K workspace from the context.
#include <cuda_runtime.h>

#include <string>

#include "cuda/cuda_ops.h"
#include "cuda/dense_plan.cuh"
#include "cuda/kernels/dense_bias_epilogue.cuh"
#include "cuda/nvcc_target.cuh"

namespace sparq::cuda_ops {

Status DenseMatmul(const DenseMatmulArgs& a, cuda::Exec& exec, LaunchInfo* info) {
  if (exec.cublas != nullptr && exec.cublas->used()) {
    // With a bias: cuBLAS's fp32 accumulators into the workspace, then bias + one rounding here
    // (kernels/dense_bias_epilogue.cuh says why cuBLAS's own beta = 1 path is not used).
    float* acc = nullptr;
    if (a.bias) {
      Status s = exec.workspace(1, size_t(a.m) * size_t(a.n) * sizeof(float), reinterpret_cast<void**>(&acc));
      if (!s.ok()) return s;
    }
    const int rc = exec.cublas->Gemm(exec.stream, a.w, a.x, a.bias ? static_cast<void*>(acc) : a.y, a.m, a.n, a.k, a.bias != nullptr);
    if (rc != 0) return Status::Error(StatusCode::kDevice, "dense.matmul: cublasGemmEx failed with status " + std::to_string(rc));
    if (a.bias) {
      cuda::NvccTarget target(exec.stream, exec.sm_count);
      Status s = target.Launch("dense_bias_epilogue_kernel", dim3(BiasEpilogueCtas(a.m * a.n, exec.sm_count)),
                               dim3(kBiasEpilogueThreads), 0, {}, &dense_bias_epilogue_kernel,
                               static_cast<const float*>(acc), a.bias, a.m, a.n, a.y);
      if (!s.ok()) return s;
    }
    if (info) {
      info->kernel = a.bias ? "cublasGemmEx + dense_bias_epilogue_kernel" : "cublasGemmEx";
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
