// native/sim/int8_sim.cc: the int8 matmul CUDA kernels (cuda/kernels/int8.cuh) on the SIMT
// simulator, through the plan the nvcc launcher uses (cuda/int8_plan.cuh); the workspace is host
// memory filled with 0xff bytes (NaN floats, −1 codes, all-ones flag words), so a part read before
// the kernel meant to write it did shows in Y or in the outlier list.
#include <cstdint>
#include <string>
#include <vector>

#include "cuda/int8_plan.cuh"
#include "sim/int8_sim.h"
#include "sim/sim_target.h"
#include "sparq/sim.h"

namespace sparq::sim {

namespace {
// The opt-in shared memory per block of the sm_90 the simulator models (H100/H200: 227 KB).
constexpr int kSimSmemOptinBytes = 232448;
}  // namespace

Status Int8MatmulForced(const Int8MatmulArgs& args, const Int8Force& force, const SimOptions& options,
                        LaunchInfo* info, Int8Workspace* workspace) {
  using namespace sparq::i8;
  SimTarget target(options);
  Int8Overrides o;
  o.rows_per_chunk = force.rows_per_chunk;
  o.splits = force.splits;
  const Int8Plan plan = MakePlan(args, kSimSmemOptinBytes, target.sm_count(), o);
  std::vector<uint64_t> block(size_t(plan.workspace.bytes / 8) + 1, ~uint64_t(0));
  // Split k's block zeroed as a new device workspace is; after the call it must be zero again
  // (each tile's last arrival reset its totals and counter), so the next launch needs no clearing.
  std::vector<uint64_t> split(size_t(plan.split_bytes / 8) + 1, 0);
  Status st = RunPlan(args, plan, block.data(), plan.split_bytes > 0 ? split.data() : nullptr, target, info);
  if (!st.ok()) return st;
  for (size_t i = 0; i < split.size(); ++i)
    if (split[i] != 0u)
      return Status::Error(StatusCode::kDevice, "int8_gemm_kernel: split-k word " + std::to_string(i) +
                                                    " is not zero after the launch (a tile's last arrival did not reset it)");
  if (workspace == nullptr) return st;
  const Int8WorkspaceParts parts = CarveWorkspace(plan.workspace, block.data());
  const int64_t rows = plan.workspace.ca_rows, k_pad = args.weight.k_pad;
  workspace->ca_rows = rows;
  workspace->k_pad = k_pad;
  workspace->ca.assign(size_t(rows * k_pad), 0);
  workspace->row_stat.assign(parts.row_stat, parts.row_stat + rows);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t c = 0; c < k_pad; ++c) workspace->ca[size_t(i * k_pad + c)] = parts.ca[CaOffset(i, c, k_pad)];
  return st;
}

bool Int8SplitBlockCoversLaunches(int64_t m, int64_t n, int64_t k, int sm_count, std::string* why) {
  using namespace sparq::i8;
  Int8MatmulArgs a;
  a.weight.n = n;
  a.weight.k = k;
  a.weight.n_pad = CeilDiv(n, kMmaN) * kMmaN;
  a.weight.k_pad = CeilDiv(k, kBlockK) * kBlockK;
  a.m = m;
  const Int8Plan plan = MakePlan(a, kSimSmemOptinBytes, sm_count);
  for (const GemmLaunch& g : GemmLaunches(plan))
    if (g.splits > 1 && plan.n_ctas * g.slabs > plan.split_ctas) {
      *why = "m=" + std::to_string(m) + ": a launch of " + std::to_string(g.slabs) + " slabs splits k but the block holds " +
             std::to_string(plan.split_ctas) + " CTAs";
      return false;
    }
  return true;
}

Status Int8Matmul(const Int8MatmulArgs& args, const SimOptions& options, LaunchInfo* info) {
  return Int8MatmulForced(args, Int8Force{}, options, info);
}

}  // namespace sparq::sim
