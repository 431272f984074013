// native/sim/w4a16_sim.cc: the W4A16 CUDA kernel (cuda/kernels/w4a16.cuh) on the SIMT simulator,
// through the plan the nvcc launcher uses (cuda/w4a16_plan.cuh); the workspace is host memory.
#include <cstdint>
#include <string>
#include <vector>

#include "cuda/w4a16_plan.cuh"
#include "sim/sim_target.h"
#include "sparq/sim.h"

namespace sparq::sim {

Status W4A16MatmulStages(const W4A16MatmulArgs& args, int stages, const SimOptions& options, LaunchInfo* info) {
  using namespace sparq::w4a16;
  if (stages != kStagesAmpere && stages != kStagesHopper)
    return Status::Error(StatusCode::kArgument, "w4a16.matmul: stages must be 4 or 8, got " + std::to_string(stages),
                         "stages");
  SimTarget target(options);
  const W4a16Plan plan = MakePlan(args, stages, target.sm_count());
  // Fresh blocks per call: the counters zeroed as on a new device workspace; the scratch (partial
  // slots, padded x) filled with NaN bits, so a slot read before its contributor wrote it poisons Y.
  std::vector<uint64_t> counters(size_t(plan.workspace.counters_bytes / 8) + 1, 0);
  std::vector<uint64_t> scratch(size_t(plan.workspace.scratch_bytes / 8) + 1, 0x7fc000007fc00000ull);
  Status st = RunPlan(args, plan, counters.data(), scratch.data(), target, info);
  if (!st.ok()) return st;
  // The reduction's invariant, checked after every simulated call: each column's last arrival
  // reset its counter, so the next launch starts from zero with no clearing.
  const uint32_t* c = reinterpret_cast<const uint32_t*>(counters.data());
  for (int64_t col = 0; col < plan.n_tiles; ++col)
    if (c[col] != 0u)
      return Status::Error(StatusCode::kDevice, "w4a16_gemm_kernel: arrival counter of column " + std::to_string(col) +
                                                    " is " + std::to_string(c[col]) +
                                                    " after the launch (its last arrival did not reset it)");
  return Status::Ok();
}

Status W4A16Matmul(const W4A16MatmulArgs& args, const SimOptions& options, LaunchInfo* info) {
  return W4A16MatmulStages(args, w4a16::ChooseStages(9), options, info);
}

}  // namespace sparq::sim
