// native/sim/dense_sim.cc: the dense tensor-core GEMM (cuda/kernels/dense.cuh) on the SIMT
// simulator, through the plan the nvcc launcher uses (cuda/dense_plan.cuh).
#include "cuda/dense_plan.cuh"
#include "sim/sim_target.h"

namespace sparq::sim {

Status DenseMatmul(const DenseMatmulArgs& args, const SimOptions& options, LaunchInfo* info) {
  SimTarget target(options);
  return dense_plan::Run(args, target, info);
}

}  // namespace sparq::sim
