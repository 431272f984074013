// native/sim/sparse_sim.cc: the sparse matmul CUDA kernel (cuda/kernels/sparse.cuh) on the SIMT
// simulator, through the plan the nvcc launcher uses (cuda/sparse_plan.cuh); the workspace is host
// memory.
#include <cstdint>
#include <string>
#include <vector>

#include "cuda/sparse_plan.cuh"
#include "sim/sim_target.h"
#include "sparq/sim.h"

namespace sparq::sim {

namespace {
// The opt-in shared memory per block of the sm_90 the simulator models (H100/H200: 227 KB).
constexpr int kSimSmemOptinBytes = 232448;
}  // namespace

Status SparseMatmulForced(const SparseMatmulArgs& args, const SparseForce& force, const SimOptions& options,
                          LaunchInfo* info) {
  using namespace sparq::spmm;
  if (force.stages != 0 && (force.stages < kMinStages || force.stages > kMaxStages))
    return Status::Error(StatusCode::kArgument,
                         "sparse.matmul: stages must be 3 or 4, got " + std::to_string(force.stages), "stages");
  SimTarget target(options);
  SparseOverrides o;
  o.m_tiles = force.m_tiles;
  o.splits = force.splits;
  o.stages = force.stages;
  SparsePlan plan = MakePlan(args, kSimSmemOptinBytes, target.sm_count(), o);
  if (args.weight.tile_offsets != nullptr && plan.n_slabs > 0) {  // host memory here: the exact length
    const int64_t tiles = plan.n_slabs * plan.k_tiles;
    plan.values_bytes = int64_t(args.weight.tile_offsets[tiles]) * (args.weight.format == SparseFormat::kBitmap ? 2 : 4);
  }
  // Fresh blocks per call: the counters zeroed as on a new device workspace; the scratch (partial
  // slots, padded x) filled with NaN bits, so a slot read before its contributor wrote it poisons Y.
  std::vector<uint64_t> counters(size_t(plan.workspace.counters_bytes / 8) + 1, 0);
  std::vector<uint64_t> scratch(size_t(plan.workspace.scratch_bytes / 8) + 1, 0x7fc000007fc00000ull);
  Status st = RunPlan(args, plan, counters.data(), scratch.data(), target, info);
  if (!st.ok()) return st;
  // Each slab's last arrival reset its counter, so the next launch starts from zero with no clearing.
  const uint32_t* c = reinterpret_cast<const uint32_t*>(counters.data());
  for (int64_t slab = 0; slab < plan.n_slabs; ++slab)
    if (c[slab] != 0u)
      return Status::Error(StatusCode::kDevice, "sparse_matmul_kernel: arrival counter of slab " + std::to_string(slab) +
                                                    " is " + std::to_string(c[slab]) +
                                                    " after the launch (its last arrival did not reset it)");
  return Status::Ok();
}

Status SparseMatmul(const SparseMatmulArgs& args, const SimOptions& options, LaunchInfo* info) {
  return SparseMatmulForced(args, SparseForce{}, options, info);
}

}  // namespace sparq::sim
