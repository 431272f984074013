// native/sim/dense_sim.cc: the dense tensor-core GEMM (cuda/kernels/dense.cuh) on the SIMT
// simulator, through the plan the nvcc launcher uses (cuda/dense_plan.cuh); the split-K workspace
// is host memory.
#include <cstdint>
#include <limits>
#include <vector>

#include "cuda/dense_plan.cuh"
#include "sim/sim_target.h"

namespace sparq::sim {

Status DenseMatmul(const DenseMatmulArgs& args, const SimOptions& options, LaunchInfo* info) {
  SimTarget target(options);
  const dense_plan::DensePlan plan = dense_plan::MakePlan(args, target.sm_count());
  // Fresh zeroed blocks per call: the counters start at zero as on a new device workspace.
  std::vector<uint32_t> counters(size_t(plan.counters_bytes / 4), 0u);
  // NaN-poisoned partials: a slot read before its split wrote it would show in Y.
  std::vector<float> partials(size_t(plan.partials_bytes / 4), std::numeric_limits<float>::quiet_NaN());
  return dense_plan::RunPlan(args, plan, counters.empty() ? nullptr : counters.data(),
                             partials.empty() ? nullptr : partials.data(), target, info);
}

}  // namespace sparq::sim
