// native/cuda/int8_plan.cuh: the launch plan of the int8 matmul (kernels/int8.cuh), shared by the
// nvcc launcher (cuda/int8.cu) and the simulator's (sim/int8_sim.cc) through a launch target
// (cuda/launch_target.h): the kernels launched, their grids, the instance per row slab and the
// workspace carve exist only here, so both run and report the same launches.
#pragma once
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "cuda/int8_layout.cuh"
#include "cuda/kernels/int8.cuh"
#include "cuda/launch_target.h"
#include "sparq/int8.h"

namespace sparq::i8 {

static_assert(kMmaN == int8::kGpuTileN && kBlockK == int8::kGpuKBlock && kBlockBytes == int8::kGpuBlockBytes,
              "the kernel's tile is the packed layout's");
static_assert(WeightCodeOffset(9, 0, 128) == 2 * 512 + 1 * 64 && WeightCodeOffset(0, 21, 64) == 1 * 16 + 1 * 4 + 1 &&
                  WeightCodeOffset(0, 45, 64) == 3 * 16 + 2 * 4 + 1 && WeightCodeOffset(3, 64, 128) == 512 + 3 * 64,
              "(tile, block) 512 B, lane 4g + q, word 2s + h, byte e: sparq/int8.h GpuCodeOffset");
static_assert(CaOffset(2, 21, 128) == 2 * 128 + 16 + 4 + 1, "CA rows are permuted like a lane's 16 B");
static_assert(GemmSmemBytes(kMaxMTiles, true) <= 99 * 1024, "fits sm_86/sm_89's opt-in shared memory per block");

// What a test may force (0 = the plan's choice): rows per detection chunk, k splits of every GEMM
// launch (capped at the k blocks).
struct Int8Overrides {
  int64_t rows_per_chunk = 0;
  int splits = 0;
};

// Split k when a GEMM launch has fewer CTAs than kSplitCtasPerSm per SM (n = 4096 gives 128 CTAs of
// 32 columns: one per SM of an H200, each streaming its whole k with one block in flight per warp),
// into as many splits as reach that, keeping ≥ 2 k64 blocks per warp per split (its loads run one
// block ahead of its mma). Any split gives the same bits (int32 totals).
inline constexpr int64_t kSplitCtasPerSm = 3;
inline int ChooseSplits(int64_t ctas, int64_t k_blocks, int sm_count, int forced) {
  const int64_t most = std::max<int64_t>(1, forced > 0 ? k_blocks : k_blocks / (2 * kGemmWarps));
  if (forced > 0) return int(std::min<int64_t>(forced, most));
  const int64_t target = kSplitCtasPerSm * std::max(1, sm_count);
  return ctas >= target ? 1 : int(std::min<int64_t>(CeilDiv(target, ctas), most));
}
// Split k's second workspace block, zero between launches (each launch resets what it used):
// int32 totals [ctas][SlotInts(kMaxMTiles) / kGemmWarps], then arrival counters [ctas].
SPARQ_I8_HD constexpr int64_t SplitTotalsInts() { return SlotInts(kMaxMTiles) / kGemmWarps; }
SPARQ_I8_HD constexpr int64_t SplitArrivalsOffset(int64_t ctas) { return RoundUp(ctas * SplitTotalsInts() * 4, 256); }

struct Int8Plan {
  int64_t m = 0, n = 0, k = 0, k_pad = 0, n_tiles = 0, k_blocks = 0, n_ctas = 0;
  int64_t full_slabs = 0, tail_rows = 0;  // slabs of 64 rows, then the rows of the last one
  int tail_m_tiles = 0;
  bool detect = false;  // threshold > 0: detect + compact launches
  int smem_optin_bytes = 0;
  int sm_count = 1;
  int forced_splits = 0;
  Workspace workspace;
  int64_t split_ctas = 0, split_bytes = 0;  // split k: CTAs of the largest splitting launch, its block's bytes
};

// Splits of a GEMM launch over `slabs` row slabs.
inline int LaunchSplits(const Int8Plan& plan, int64_t slabs) {
  return ChooseSplits(plan.n_ctas * slabs, plan.k_blocks, plan.sm_count, plan.forced_splits);
}

// One GEMM launch: rows slabs [slab0, slab0 + slabs), the instance, and its k split (no empty split).
struct GemmLaunch {
  int64_t slab0 = 0, slabs = 0;
  int m_tiles = 0;
  int splits = 1;
  int64_t blocks_per_split = 0;
};
// The GEMM launches of a plan, in order: runs of at most kMaxGridY full slabs, then the partial
// slab. The one list MakePlan sizes the split-k block from and RunPlan launches.
inline std::vector<GemmLaunch> GemmLaunches(const Int8Plan& plan) {
  std::vector<GemmLaunch> out;
  auto add = [&](int64_t slab0, int64_t slabs, int m_tiles) {
    GemmLaunch g{slab0, slabs, m_tiles, LaunchSplits(plan, slabs), 0};
    g.blocks_per_split = CeilDiv(plan.k_blocks, int64_t(g.splits));
    g.splits = int(CeilDiv(plan.k_blocks, g.blocks_per_split));
    out.push_back(g);
  };
  for (int64_t slab0 = 0; slab0 < plan.full_slabs; slab0 += kMaxGridY)
    add(slab0, std::min<int64_t>(kMaxGridY, plan.full_slabs - slab0), kMaxMTiles);
  if (plan.tail_rows > 0) add(plan.full_slabs, 1, plan.tail_m_tiles);
  return out;
}

inline Int8Plan MakePlan(const Int8MatmulArgs& a, int smem_optin_bytes, int sm_count,
                         const Int8Overrides& force = Int8Overrides{}) {
  const Int8WeightView& w = a.weight;
  Int8Plan plan;
  plan.m = a.m;
  plan.n = w.n;
  plan.k = w.k;
  plan.k_pad = w.k_pad;
  plan.n_tiles = w.n_pad / kMmaN;
  plan.k_blocks = w.k_pad / kBlockK;
  plan.n_ctas = CeilDiv(plan.n_tiles, kNTiles);
  plan.smem_optin_bytes = smem_optin_bytes;
  if (a.m <= 0 || plan.n_tiles <= 0 || plan.k_blocks <= 0) return plan;
  plan.full_slabs = a.m / kSlabM;
  plan.tail_rows = a.m % kSlabM;
  plan.tail_m_tiles = plan.tail_rows > 0 ? ChooseMTiles(plan.tail_rows) : 0;
  plan.detect = a.threshold > 0.0f;
  const int64_t rows_per_chunk = force.rows_per_chunk > 0 ? force.rows_per_chunk : DetectRowsPerChunk(a.m);
  plan.workspace = MakeWorkspace(a.m, w.k, w.k_pad, plan.detect, rows_per_chunk);
  plan.sm_count = std::max(1, sm_count);
  plan.forced_splits = force.splits;
  for (const GemmLaunch& g : GemmLaunches(plan))
    if (g.splits > 1) plan.split_ctas = std::max(plan.split_ctas, plan.n_ctas * g.slabs);
  if (plan.split_ctas > 0) plan.split_bytes = SplitArrivalsOffset(plan.split_ctas) + RoundUp(plan.split_ctas * 4, 256);
  return plan;
}

// The workspace's parts.
struct Int8WorkspaceParts {
  int8_t* ca;
  float* row_stat;
  uint32_t* partial;
  uint32_t* mask;
};
inline Int8WorkspaceParts CarveWorkspace(const Workspace& ws, void* block) {
  uint8_t* b = static_cast<uint8_t*>(block);
  return {reinterpret_cast<int8_t*>(b + ws.ca_offset), reinterpret_cast<float*>(b + ws.row_stat_offset),
          ws.row_chunks > 0 ? reinterpret_cast<uint32_t*>(b + ws.partial_offset) : nullptr,
          ws.row_chunks > 0 ? reinterpret_cast<uint32_t*>(b + ws.mask_offset) : nullptr};
}

using GemmKernelFn = void (*)(const GemmParams);
inline GemmKernelFn PickGemm(int m_tiles) {
  switch (m_tiles) {
    case 1: return &int8_gemm_kernel<1>;
    case 2: return &int8_gemm_kernel<2>;
    default: return &int8_gemm_kernel<4>;
  }
}

inline std::string GemmConfigString(int m_tiles, bool outliers) {
  return "M_TILES=" + std::to_string(m_tiles) + " N_TILES=" + std::to_string(kNTiles) +
         " WARPS=" + std::to_string(kGemmWarps) + (outliers ? " OUTLIER_CAP=" + std::to_string(kOutlierCap) : "");
}

// Y = the contract of sparq/int8.h on `target`: [detect, compact,] quantize, then the GEMM launches
// of GemmLaunches. `workspace`:
// plan.workspace.bytes of the target's memory, any content (every byte read is written first);
// `split`: plan.split_bytes, zero when allocated and zero again after every launch (null when 0).
template <class Target>
Status RunPlan(const Int8MatmulArgs& a, const Int8Plan& plan, void* workspace, void* split, Target& target,
               LaunchInfo* info) {
  const Int8WeightView& w = a.weight;
  if (w.layout != Int8Layout::kGpu)
    return Status::Error(StatusCode::kArgument, "int8.matmul: weight must be packed for the GPU (kGpu layout)", "weight");
  if (a.m <= 0 || plan.n_tiles <= 0 || plan.k_blocks <= 0) return Status::Ok();
  const Workspace& ws = plan.workspace;
  const Int8WorkspaceParts parts = CarveWorkspace(ws, workspace);
  const size_t x_bytes = size_t(a.m * w.k * 2), cols_bytes = size_t((1 + w.k) * 4);
  const size_t ca_bytes = size_t(ws.ca_rows * w.k_pad), stat_bytes = size_t(ws.ca_rows * 4);
  const size_t partial_bytes = size_t(ws.row_chunks * ws.k_words * 4), mask_bytes = size_t(ws.k_words * 4);
  Status s;

  if (plan.detect) {
    const DetectParams dp{a.x, parts.partial, a.m, w.k, ws.k_words, ws.rows_per_chunk, a.threshold};
    s = target.Launch("int8_detect_kernel", dim3(unsigned(CeilDiv(w.k, kDetectThreads)), unsigned(ws.row_chunks)),
                      dim3(kDetectThreads), 0, {{"x", a.x, x_bytes}, {"partial", parts.partial, partial_bytes}},
                      &int8_detect_kernel, dp);
    if (!s.ok()) return s;
    const CompactParams cp{parts.partial, parts.mask, a.outlier_cols, ws.row_chunks, ws.k_words};
    s = target.Launch("int8_compact_kernel", dim3(1), dim3(kCompactThreads), 0,
                      {{"partial", parts.partial, partial_bytes},
                       {"mask", parts.mask, mask_bytes},
                       {"outlier_cols", a.outlier_cols, cols_bytes}},
                      &int8_compact_kernel, cp);
    if (!s.ok()) return s;
  }

  const QuantizeParams qp{a.x, parts.mask, parts.ca, parts.row_stat, plan.detect ? nullptr : a.outlier_cols,
                          a.m, w.k, w.k_pad};
  s = target.Launch("int8_quantize_x_kernel", dim3(unsigned(ws.ca_rows)), dim3(kQuantThreads), 0,
                    {{"x", a.x, x_bytes},
                     {"mask", parts.mask, mask_bytes},
                     {"ca", parts.ca, ca_bytes},
                     {"row_stat", parts.row_stat, stat_bytes},
                     {"outlier_cols", a.outlier_cols, cols_bytes}},
                    &int8_quantize_x_kernel, qp);
  if (!s.ok()) return s;

  GemmParams gp{};
  gp.codes = w.codes;
  gp.scb = w.scb;
  gp.ca = parts.ca;
  gp.row_stat = parts.row_stat;
  gp.x = a.x;
  gp.bias = a.bias;
  gp.outlier_cols = a.outlier_cols;
  gp.y = a.y;
  gp.m = a.m;
  gp.n = w.n;
  gp.k = w.k;
  gp.k_pad = w.k_pad;
  gp.n_tiles = plan.n_tiles;
  gp.k_blocks = plan.k_blocks;
  gp.stage_cap = plan.detect ? kOutlierCap : 0;
  std::string config;
  int smem_max = 0, splits_max = 1;
  auto gemm = [&](const GemmLaunch& g) -> Status {
    const int64_t slabs = g.slabs;
    const int m_tiles = g.m_tiles;
    const int smem = GemmSmemBytes(m_tiles, plan.detect);
    if (smem > plan.smem_optin_bytes)
      return Status::Error(StatusCode::kShape,
                           "int8.matmul: needs " + std::to_string(smem) +
                               " bytes of shared memory per block, more than this device has",
                           "weight");
    gp.slab0 = g.slab0;
    gp.splits = g.splits;
    gp.blocks_per_split = g.blocks_per_split;
    const int64_t ctas = plan.n_ctas * slabs;
    if (gp.splits > 1 && (split == nullptr || ctas > plan.split_ctas))
      return Status::Error(StatusCode::kArgument, "int8.matmul: the split-k block is missing or too small", "workspace");
    uint8_t* const sb = static_cast<uint8_t*>(split);
    gp.totals = gp.splits > 1 ? reinterpret_cast<int32_t*>(sb) : nullptr;
    gp.arrivals = gp.splits > 1 ? reinterpret_cast<uint32_t*>(sb + SplitArrivalsOffset(plan.split_ctas)) : nullptr;
    const std::string cfg = GemmConfigString(m_tiles, plan.detect);
    Status st = target.Launch("int8_gemm_kernel<" + cfg + ">", dim3(unsigned(plan.n_ctas), unsigned(slabs), unsigned(gp.splits)),
                              dim3(kGemmThreads), size_t(smem),
                              {{"codes", w.codes, size_t(plan.n_tiles * plan.k_blocks * kBlockBytes)},
                               {"scb", w.scb, size_t(plan.n_tiles * kMmaN * 4)},
                               {"ca", parts.ca, ca_bytes},
                               {"row_stat", parts.row_stat, stat_bytes},
                               {"x", a.x, x_bytes},
                               {"bias", a.bias, size_t(w.n * 2)},
                               {"outlier_cols", a.outlier_cols, cols_bytes},
                               {"y", a.y, size_t(a.m * w.n * 2)},
                               {"totals", gp.totals, size_t(gp.splits > 1 ? ctas * SplitTotalsInts() * 4 : 0)},
                               {"arrivals", gp.arrivals, size_t(gp.splits > 1 ? ctas * 4 : 0)}},
                              PickGemm(m_tiles), gp);
    const std::string shown = cfg + (gp.splits > 1 ? " split_k=" + std::to_string(gp.splits) : "");
    if (config.find(shown) == std::string::npos) config += (config.empty() ? "" : "; ") + shown;
    smem_max = std::max(smem_max, smem);
    splits_max = std::max(splits_max, gp.splits);
    return st;
  };
  for (const GemmLaunch& g : GemmLaunches(plan)) {
    s = gemm(g);
    if (!s.ok()) return s;
  }

  if (info != nullptr) {
    info->kernel = "int8_gemm_kernel";
    info->config = config + " slabs=" + std::to_string(plan.full_slabs + (plan.tail_rows > 0 ? 1 : 0)) +
                   (plan.detect ? " outliers=detect row_chunks=" + std::to_string(ws.row_chunks) : " outliers=none");
    info->grid_x = int(plan.n_ctas);
    info->grid_y = int(std::max<int64_t>(1, std::min<int64_t>(kMaxGridY, plan.full_slabs)));
    info->grid_z = splits_max;
    info->block_threads = kGemmThreads;
    info->smem_bytes = smem_max;
    target.ReportBytes(info);
  }
  return Status::Ok();
}

}  // namespace sparq::i8
