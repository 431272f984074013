// native/cuda/dense.cu: the dense op on CUDA. cuBLAS when the context uses it (found, and
// SPARQ_DENSE_KERNEL is not `sparq`; a bias is added to its fp32 output by our own epilogue
// kernel), else sparq's tensor-core GEMM (kernels/dense.cuh) through the plan the simulator runs
// too (dense_plan.cuh), its split-K workspace from the context.
#include <cuda_runtime.h>

#include <algorithm>
#include <string>

#include "cuda/cuda_ops.h"
#include "cuda/dense_plan.cuh"
#include "cuda/kernels/dense_bias_epilogue.cuh"
#include "cuda/nvcc_target.cuh"

namespace sparq::cuda_ops {

namespace {

// The fp32 workspace of the cuBLAS-with-bias path holds this many accumulators (or one row, when a
// row is longer): a prefill with a bias runs in row chunks of it (one GEMM + one epilogue each), so
// m never sizes it.
constexpr int64_t kBiasChunkFloats = int64_t(8) << 20;  // 32 MB

// cuBLAS, then (with a bias) our epilogue: cuBLAS's fp32 accumulators into the workspace, bias +
// one rounding in dense_bias_epilogue_kernel (that header says why cuBLAS's own beta = 1 path is not
// used).
Status CublasDense(const DenseMatmulArgs& a, cuda::Exec& exec, LaunchInfo* info) {
  auto gemm = [&](const uint16_t* x, void* y, int64_t rows, bool f32_out) -> Status {
    const int rc = exec.cublas->Gemm(exec.stream, a.w, x, y, rows, a.n, a.k, f32_out);
    return rc == 0 ? Status::Ok()
                   : Status::Error(StatusCode::kDevice, "dense.matmul: cublasGemmEx failed with status " + std::to_string(rc));
  };
  Status s = Status::Ok();
  if (!a.bias) {
    s = gemm(a.x, a.y, a.m, false);
  } else {
    const int64_t chunk_rows = std::max<int64_t>(1, std::min<int64_t>(a.m, kBiasChunkFloats / std::max<int64_t>(1, a.n)));
    float* acc = nullptr;
    s = exec.workspace(1, size_t(chunk_rows) * size_t(a.n) * sizeof(float), reinterpret_cast<void**>(&acc));
    cuda::NvccTarget target(exec.stream, exec.sm_count);
    for (int64_t r0 = 0; s.ok() && r0 < a.m; r0 += chunk_rows) {
      const int64_t rows = std::min(chunk_rows, a.m - r0);
      s = gemm(a.x + r0 * a.k, acc, rows, true);
      if (s.ok())
        s = target.Launch("dense_bias_epilogue_kernel", dim3(BiasEpilogueCtas(rows * a.n, exec.sm_count)),
                          dim3(kBiasEpilogueThreads), 0, {}, &dense_bias_epilogue_kernel, static_cast<const float*>(acc),
                          a.bias, rows, int64_t(a.n), a.y + r0 * a.n);
    }
  }
  if (s.ok() && info) {
    info->kernel = a.bias ? "cublasGemmEx + dense_bias_epilogue_kernel" : "cublasGemmEx";
    info->config = exec.cublas->path;
  }
  return s;
}

}  // namespace

Status DenseMatmul(const DenseMatmulArgs& a, cuda::Exec& exec, LaunchInfo* info) {
  if (exec.cublas != nullptr && exec.cublas->used()) return CublasDense(a, exec, info);
  if (exec.cublas != nullptr && exec.cublas->requested == cuda::DenseKernel::kCublas)
    return Status::Error(StatusCode::kBackend,
                         "dense.matmul: SPARQ_DENSE_KERNEL=cublas, but this context has no cuBLAS (sq.device.cublasNote "
                         "says what was tried); set SPARQ_CUBLAS_PATH before the process's first cuda context opens, or "
                         "SPARQ_DENSE_KERNEL=auto to run sparq's GEMM");
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
