// native/sim/int8_sim.h: test hooks of the int8 matmul on the simulator (sim/int8_sim.cc), beside
// the op entry sim::Int8Matmul (sparq/sim.h): the plan's choices forced, and the quantized
// activations the CUDA kernels left in the workspace, for tests that check the codes themselves.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "sparq/int8.h"
#include "sparq/sim.h"

namespace sparq::sim {

struct Int8Force {
  int64_t rows_per_chunk = 0;  // detection rows per CTA (0: the plan's)
  int splits = 0;              // k splits of every GEMM launch (0: the plan's, from the SM count)
};

// What the kernels wrote to the workspace, copied out after the run (row-major, unpermuted):
// ca [ca_rows][k_pad] (rows ≥ m and columns ≥ k included, so their zeros can be checked) and
// row_stat [ca_rows].
struct Int8Workspace {
  int64_t ca_rows = 0, k_pad = 0;
  std::vector<int8_t> ca;
  std::vector<float> row_stat;
};

// sim::Int8Matmul with `force`; `workspace` (optional) receives CA and rowStat. bytes_read in info
// sums every launch.
Status Int8MatmulForced(const Int8MatmulArgs& args, const Int8Force& force, const SimOptions& options,
                        LaunchInfo* info, Int8Workspace* workspace = nullptr);

// The plan's split-k block against every GEMM launch RunPlan makes for an m × n × k call on
// `sm_count` SMs: true when each launch that splits fits it; else false and *why. Plans only.
bool Int8SplitBlockCoversLaunches(int64_t m, int64_t n, int64_t k, int sm_count, std::string* why);

}  // namespace sparq::sim
