// native/cuda/sparse_plan.cuh: the launch plan of the sparse matmul (kernels/sparse.cuh), shared by
// the nvcc launcher (cuda/sparse.cu) and the simulator's (sim/sparse_sim.cc) through a launch target
// (cuda/launch_target.h): the instance each m-slab runs, the pipeline depth, the split-K grid, the
// pad-x launch and the workspace carve exist only here, so both run and report the same launches.
#pragma once
#include <algorithm>
#include <cstdint>
#include <string>

#include "cuda/kernels/sparse.cuh"
#include "cuda/kernels/sparse_pad_x.cuh"
#include "cuda/launch_target.h"
#include "sparq/sparse.h"

namespace sparq::spmm {

static_assert(kTileN == sparse::kTileRows && kTileK == sparse::kTileCols, "the kernel's tile is the format's tile");
static_assert(kBlocksPerTile == sparse::kBlocksPerTile && kFormatBitmap == int(SparseFormat::kBitmap) &&
                  kFormatTiledCsl == int(SparseFormat::kTiledCsl),
              "format constants");
static_assert(sparse::kValueAlignHalves == kHalvesPerU128 && sparse::kWordAlign * 4 == kU128Bytes,
              "each tile's run starts 16-byte aligned, so one 16-B cp.async per chunk");
static_assert(sparse::BitmapBlockRow(5) == 8 && sparse::BitmapBlockCol(2) == 8 && sparse::BitmapBlockRow(16) == 16 &&
                  sparse::BitmapBlockCol(4) == 16,
              "block b = (w·4 + s)·4 + f: f & 1 = row half, f >> 1 = k half (the a-register order)");
static_assert(int(sparse::TiledCslLocation(9, 3)) == 9 * 64 + DenseChunk(9, 0) % kXChunksPerRow * 8 + 3 &&
                  int(sparse::TiledCslLocation(7, 60)) == 7 * 64 + (7 ^ 7) * 8 + 4,
              "a tiled-csl location is the half index of the kernel's swizzled dense tile");

using SparseKernelFn = void (*)(const SparseParams);

template <int FORMAT>
inline SparseKernelFn PickForFormat(int m_tiles) {
  switch (m_tiles) {
    case 1: return &sparse_matmul_kernel<FORMAT, 1>;
    case 2: return &sparse_matmul_kernel<FORMAT, 2>;
    case 4: return &sparse_matmul_kernel<FORMAT, 4>;
    default: return &sparse_matmul_kernel<FORMAT, 8>;
  }
}
inline SparseKernelFn PickInstance(int format, int m_tiles) {
  return format == kFormatBitmap ? PickForFormat<kFormatBitmap>(m_tiles) : PickForFormat<kFormatTiledCsl>(m_tiles);
}

// The deepest ring (kMinStages..kMaxStages) whose shared memory fits the device's opt-in limit;
// 0 when not even kMinStages does (never on sm_80+, whose opt-in is ≥ 99 KB: the largest
// instance, kTiledCsl with a fully dense tile at M_TILES = 8, needs 88 KB at 3 stages).
inline int ChooseStages(int format, int m_tiles, int64_t max_tile_units, int smem_optin_bytes) {
  for (int s = kMaxStages; s >= kMinStages; --s)
    if (SmemBytes(format, m_tiles, max_tile_units, s) <= smem_optin_bytes) return s;
  return 0;
}

// What a test may force (0 = the launcher's choice): a larger M_TILES than the rows need, the
// split count, the ring depth.
struct SparseOverrides {
  int m_tiles = 0, splits = 0, stages = 0;
};

// Everything a sparse matmul launches, decided once from the args and the target.
struct SparsePlan {
  int format = kFormatBitmap;
  int64_t n_slabs = 0, k_tiles = 0;
  int splits = 1;
  int m_tiles_max = 1;       // slab 0's instance: the largest, sizes the partial slots
  int forced_m_tiles = 0, forced_stages = 0;
  int smem_optin_bytes = 0;
  bool pad_x = false;
  int64_t pad_ctas = 0;
  int64_t values_bytes = 0;  // the encoded values' bytes (the simulator registers them)
  Workspace workspace;
};

inline int SlabMTiles(const SparsePlan& plan, int64_t m_slab) {
  return std::max(ChooseMTiles(m_slab), plan.forced_m_tiles);
}

inline SparsePlan MakePlan(const SparseMatmulArgs& a, int smem_optin_bytes, int sm_count,
                           const SparseOverrides& force = SparseOverrides{}) {
  constexpr int64_t kPadCtasPerSm = 8;
  const SparseWeightView& w = a.weight;
  SparsePlan plan;
  plan.format = int(w.format);
  plan.n_slabs = w.n_pad / kTileN;
  plan.k_tiles = w.k_pad / kTileK;
  plan.smem_optin_bytes = smem_optin_bytes;
  if (a.m <= 0 || plan.n_slabs <= 0 || plan.k_tiles <= 0) return plan;
  const int sms = std::max(1, sm_count);
  plan.forced_m_tiles = force.m_tiles == 1 || force.m_tiles == 2 || force.m_tiles == 4 || force.m_tiles == 8 ? force.m_tiles : 0;
  plan.forced_stages = force.stages;
  plan.splits = force.splits > 0 ? force.splits : ChooseSplits(plan.n_slabs, plan.k_tiles, sms);
  plan.splits = int(std::min<int64_t>({int64_t(plan.splits), plan.k_tiles, int64_t(kMaxSplits)}));
  plan.m_tiles_max = SlabMTiles(plan, std::min<int64_t>(a.m, kSlabM));
  plan.pad_x = NeedsPaddedX(w.k, reinterpret_cast<uint64_t>(a.x));
  plan.pad_ctas = std::max<int64_t>(1, std::min<int64_t>(CeilDiv(a.m * w.k_pad, kThreads), int64_t(sms) * kPadCtasPerSm));
  plan.values_bytes = int64_t(plan.n_slabs * plan.k_tiles) * w.max_tile_units * (w.format == SparseFormat::kBitmap ? 2 : 4);
  plan.workspace = MakeWorkspace(plan.n_slabs, w.k_pad, a.m, plan.pad_x, plan.splits, plan.m_tiles_max);
  return plan;
}

// The workspace's parts inside its two blocks.
struct SparseWorkspaceParts {
  float* partials;
  uint32_t* counters;
  uint16_t* x_pad;
};
inline SparseWorkspaceParts CarveWorkspace(const Workspace& ws, void* counters, void* scratch) {
  uint8_t* b = static_cast<uint8_t*>(scratch);
  return {b == nullptr ? nullptr : reinterpret_cast<float*>(b + ws.partials_offset), static_cast<uint32_t*>(counters),
          b == nullptr ? nullptr : reinterpret_cast<uint16_t*>(b + ws.x_pad_offset)};
}

inline std::string SparseConfigString(int format, int m_tiles, int stages) {
  return std::string("FORMAT=") + (format == kFormatBitmap ? "bitmap" : "tiled-csl") +
         " M_TILES=" + std::to_string(m_tiles) + " TILE_N=" + std::to_string(kTileN) +
         " TILE_K=" + std::to_string(kTileK) + " STAGES=" + std::to_string(stages) + " WARPS=" + std::to_string(kWarps);
}

// Y = fp16(X·Wᵀ + bias) on `target`: the optional pad-x launch, then one launch per m-slab of 64
// rows. counters: plan.workspace.counters_bytes of the target's memory, zero-filled when allocated
// and used for nothing else; scratch: plan.workspace.scratch_bytes (any content; null when 0).
template <class Target>
Status RunPlan(const SparseMatmulArgs& a, const SparsePlan& plan, void* counters, void* scratch, Target& target,
               LaunchInfo* info) {
  const SparseWeightView& w = a.weight;
  if (w.format != SparseFormat::kBitmap && w.format != SparseFormat::kTiledCsl)
    return Status::Error(StatusCode::kArgument, "sparse.matmul: weight must be encoded as bitmap or tiled-csl", "weight");
  if (a.m <= 0 || plan.n_slabs <= 0) return Status::Ok();
  const SparseWorkspaceParts parts = CarveWorkspace(plan.workspace, counters, scratch);
  Status s;

  const uint16_t* x_src = a.x;
  int64_t ldx = w.k, k_valid = w.k;
  if (plan.pad_x) {
    s = target.Launch("sparse_pad_x_kernel", dim3(unsigned(plan.pad_ctas)), dim3(kThreads), 0,
                      {{"x", a.x, size_t(a.m * w.k * 2)}, {"x_pad", parts.x_pad, size_t(a.m * w.k_pad * 2)}},
                      &sparse_pad_x_kernel, a.x, a.m, w.k, w.k_pad, parts.x_pad);
    if (!s.ok()) return s;
    x_src = parts.x_pad;
    ldx = k_valid = w.k_pad;
  }

  const int64_t tiles = plan.n_slabs * plan.k_tiles;
  std::string config;
  int smem_max = 0;
  for (int64_t slab = 0; slab < SlabCount(a.m); ++slab) {
    const int64_t r0 = slab * kSlabM, m_slab = std::min<int64_t>(kSlabM, a.m - r0);
    const int m_tiles = SlabMTiles(plan, m_slab);
    const int stages = plan.forced_stages >= kMinStages && plan.forced_stages <= kMaxStages
                           ? plan.forced_stages
                           : ChooseStages(plan.format, m_tiles, w.max_tile_units, plan.smem_optin_bytes);
    const int64_t smem = SmemBytes(plan.format, m_tiles, w.max_tile_units, stages);
    if (stages == 0 || smem > plan.smem_optin_bytes)
      return Status::Error(StatusCode::kShape,
                           "sparse.matmul: the largest tile (" + std::to_string(w.max_tile_units) +
                               " units) needs more shared memory than this device has per block",
                           "weight");
    SparseParams p{};
    p.bitmaps = w.bitmaps;
    p.values = static_cast<const uint8_t*>(w.values);
    p.tile_offsets = w.tile_offsets;
    p.x = x_src + r0 * ldx;
    p.bias = a.bias;
    p.y = a.y + r0 * w.n;
    p.partials = plan.splits > 1 ? parts.partials : nullptr;
    p.counters = plan.splits > 1 ? parts.counters : nullptr;
    p.ldx = ldx;
    p.k_valid = k_valid;
    p.n = w.n;
    p.k_tiles = plan.k_tiles;
    p.m = int(m_slab);
    p.splits = plan.splits;
    p.stages = stages;
    p.stage_bytes = int(StageBytes(plan.format, m_tiles, w.max_tile_units));
    const std::string cfg = SparseConfigString(plan.format, m_tiles, stages);
    s = target.Launch("sparse_matmul_kernel<" + cfg + ">", dim3(unsigned(plan.n_slabs), unsigned(plan.splits)),
                      dim3(kThreads), size_t(smem),
                      {{"bitmaps", w.bitmaps, size_t(tiles * kBitmapBytes)},
                       {"values", w.values, size_t(plan.values_bytes)},
                       {"tile_offsets", w.tile_offsets, size_t((tiles + 1) * 4)},
                       {plan.pad_x ? "x_pad" : "x", p.x, size_t(m_slab * ldx * 2)},
                       {"bias", a.bias, size_t(w.n * 2)},
                       {"y", p.y, size_t(m_slab * w.n * 2)},
                       {"partials", p.partials, size_t(plan.n_slabs * plan.splits * SlotFloats(m_tiles) * 4)},
                       {"counters", p.counters, size_t(plan.n_slabs * 4)}},
                      PickInstance(plan.format, m_tiles), p);
    if (!s.ok()) return s;
    if (config.find(cfg) == std::string::npos) config += (config.empty() ? "" : "; ") + cfg;
    smem_max = std::max(smem_max, int(smem));
  }
  if (info != nullptr) {
    info->kernel = "sparse_matmul_kernel";
    info->config = config + " split_k=" + std::to_string(plan.splits) + " slabs=" + std::to_string(SlabCount(a.m)) +
                   (plan.pad_x ? " x_padded" : "");
    info->grid_x = int(plan.n_slabs);
    info->grid_y = plan.splits;
    info->grid_z = 1;
    info->block_threads = kThreads;
    info->smem_bytes = smem_max;
    target.ReportBytes(info);
  }
  return Status::Ok();
}

}  // namespace sparq::spmm
