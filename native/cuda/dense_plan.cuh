// native/cuda/dense_plan.cuh: the launch plan of the tensor-core dense GEMM (kernels/dense.cuh),
// shared by the nvcc launcher (cuda/dense.cu) and the simulator's (sim/dense_sim.cc) through a
// launch target (cuda/launch_target.h): instance choice (dense_choose), grid, row chunks, split-K
// and the workspace it needs are decided only here, so both run and report the same launches.
#pragma once
#include <algorithm>
#include <cstdint>
#include <string>

#include "cuda/kernels/dense.cuh"
#include "cuda/launch_target.h"
#include "sparq/dense.h"
#include "sparq/status.h"

namespace sparq::dense_plan {

// gridDim.y is limited to 65535: m beyond 65535 row tiles runs as several launches.
inline constexpr int64_t kMaxGridY = 65535;

// Everything a dense matmul launches, decided once from the args and the target's SMs.
struct DensePlan {
  DenseChoice choice{true, 1};
  int tile_m = 0, tile_n = 0, tile_k = 0;
  int64_t n_tiles = 0, m_tiles = 0, k_tiles = 0;  // over the whole GEMM
  int launches = 0;                               // row chunks of at most kMaxGridY row tiles
  // CTAs per output tile along k (gridDim.z), > 1 only when the (m, n) grid is smaller than the
  // SM count, and then always a single launch (m_tiles < SMs <= kMaxGridY).
  int k_splits = 1;
  // Workspace, only with k_splits > 1. counters: block 0, [m_tiles * n_tiles] u32, zero-filled
  // when allocated and zero again after every launch (the last arrival resets it), so nothing
  // else may ever be stored there; partials: block 1, [tiles][k_splits][TILE_M*TILE_N] f32, any
  // content (every slot is written before it is read).
  int64_t counters_bytes = 0;
  int64_t partials_bytes = 0;
};

template <class Cfg>
DensePlan MakePlanFor(const DenseMatmulArgs& a, DenseChoice choice, int sm_count) {
  DensePlan plan;
  plan.choice = choice;
  plan.tile_m = Cfg::TILE_M;
  plan.tile_n = Cfg::TILE_N;
  plan.tile_k = Cfg::TILE_K;
  plan.n_tiles = (a.n + Cfg::TILE_N - 1) / Cfg::TILE_N;
  plan.m_tiles = (a.m + Cfg::TILE_M - 1) / Cfg::TILE_M;
  plan.k_tiles = (a.k + Cfg::TILE_K - 1) / Cfg::TILE_K;
  plan.launches = int((plan.m_tiles + kMaxGridY - 1) / kMaxGridY);
  if (plan.launches == 1) plan.k_splits = dense_choose_k_splits(plan.m_tiles * plan.n_tiles, plan.k_tiles, sm_count);
  if (plan.k_splits > 1) {
    const int64_t tiles = plan.m_tiles * plan.n_tiles;
    plan.counters_bytes = tiles * int64_t(sizeof(uint32_t));
    plan.partials_bytes = tiles * plan.k_splits * int64_t(Cfg::TILE_PARTIAL_FLOATS) * int64_t(sizeof(float));
  }
  return plan;
}

// The plan of Y = X·Wᵀ on a target with `sm_count` SMs. Empty or oversized dims give an empty
// plan (launches = 0); RunPlan reports the oversized ones.
inline DensePlan MakePlan(const DenseMatmulArgs& a, int sm_count) {
  if (a.m <= 0 || a.n <= 0 || a.m > DenseMatmulArgs::kMaxM || a.n > DenseMatmulArgs::kMaxN ||
      a.k > DenseMatmulArgs::kMaxK)
    return DensePlan{};
  const DenseChoice c = dense_choose(int(a.m), int(a.k), a.x, a.w);
  // Tile sizes do not depend on the copy width, so any K_CHUNK_ELEMS instance gives the geometry.
  return c.small_m ? MakePlanFor<DenseConfigSmallM<8>>(a, c, sm_count)
                   : MakePlanFor<DenseConfigLarge<8>>(a, c, sm_count);
}

template <class Cfg>
std::string ConfigString(const char* config_name) {
  return std::string(config_name) + " TILE_M=" + std::to_string(Cfg::TILE_M) + " TILE_N=" + std::to_string(Cfg::TILE_N) +
         " TILE_K=" + std::to_string(Cfg::TILE_K) + " STAGES=" + std::to_string(Cfg::STAGES) +
         " WARPS=" + std::to_string(Cfg::WARPS) + " K_CHUNK_ELEMS=" + std::to_string(Cfg::K_CHUNK_ELEMS);
}

template <class Cfg, class Target>
Status RunInstance(const DenseMatmulArgs& a, const DensePlan& plan, uint32_t* counters, float* partials,
                   const char* config_name, Target& target, LaunchInfo* info) {
  const std::string config = ConfigString<Cfg>(config_name);
  const int64_t rows_per_launch = kMaxGridY * Cfg::TILE_M;
  const bool split = plan.k_splits > 1;
  const dim3 block(Cfg::THREADS);
  dim3 grid;
  for (int64_t r0 = 0; r0 < a.m; r0 += rows_per_launch) {
    const int64_t rows = std::min(rows_per_launch, a.m - r0);
    const DenseParams p{a.w, a.x + r0 * a.k, a.bias, a.y + r0 * a.n, int(rows), int(a.n), int(a.k),
                        plan.k_splits, split ? partials : nullptr, split ? counters : nullptr};
    grid = dim3(unsigned(plan.n_tiles), unsigned((rows + Cfg::TILE_M - 1) / Cfg::TILE_M), unsigned(plan.k_splits));
    const size_t k = size_t(a.k);
    Status s = target.Launch("dense_tc_gemm_kernel<" + config + ">", grid, block, 0,
                             {{"w", p.w, size_t(a.n) * k * 2},
                              {"x", p.x, size_t(rows) * k * 2},
                              {"bias", p.bias, size_t(a.n) * 2},
                              {"y", p.y, size_t(rows) * size_t(a.n) * 2},
                              {"partials", p.partials, size_t(plan.partials_bytes)},
                              {"counters", p.counters, size_t(plan.counters_bytes)}},
                             &dense_tc_gemm_kernel<Cfg>, p);
    if (!s.ok()) return s;
  }
  if (info) {
    info->kernel = "dense_tc_gemm";
    info->config = config + (plan.launches > 1 ? " launches=" + std::to_string(plan.launches) : "") +
                   (split ? " split_k=" + std::to_string(plan.k_splits) : "");
    info->grid_x = int(grid.x);
    info->grid_y = int(grid.y);
    info->grid_z = int(grid.z);
    info->block_threads = Cfg::THREADS;
    info->smem_bytes = Cfg::SMEM_BYTES;
    target.ReportBytes(info);
  }
  return Status::Ok();
}

// The instance of copy width plan.choice.k_chunk_elems within one config family.
template <template <int> class CfgFamily, class Target>
Status RunFamily(const DenseMatmulArgs& a, const DensePlan& plan, uint32_t* counters, float* partials,
                 const char* config_name, Target& target, LaunchInfo* info) {
  switch (plan.choice.k_chunk_elems) {
    case 8: return RunInstance<CfgFamily<8>>(a, plan, counters, partials, config_name, target, info);
    case 2: return RunInstance<CfgFamily<2>>(a, plan, counters, partials, config_name, target, info);
    default: return RunInstance<CfgFamily<1>>(a, plan, counters, partials, config_name, target, info);
  }
}

// Y = fp16(X·Wᵀ + bias) on `target` as `plan` (MakePlan of the same args) says. With
// plan.k_splits > 1: counters = plan.counters_bytes of zeroed memory kept for this op (zero again
// when this returns, in stream order), partials = plan.partials_bytes; else both may be null.
template <class Target>
Status RunPlan(const DenseMatmulArgs& a, const DensePlan& plan, void* counters, void* partials, Target& target,
               LaunchInfo* info) {
  if (a.m > DenseMatmulArgs::kMaxM || a.n > DenseMatmulArgs::kMaxN || a.k > DenseMatmulArgs::kMaxK)
    return Status::Error(StatusCode::kShape, "dense.matmul: dims must be <= 2^30 for the kernel's 32-bit indices", "x");
  if (a.m <= 0 || a.n <= 0) return Status::Ok();
  uint32_t* const g_counters = static_cast<uint32_t*>(counters);
  float* const g_partials = static_cast<float*>(partials);
  if (plan.choice.small_m)
    return RunFamily<DenseConfigSmallM>(a, plan, g_counters, g_partials, "small_m", target, info);
  return RunFamily<DenseConfigLarge>(a, plan, g_counters, g_partials, "large", target, info);
}

}  // namespace sparq::dense_plan
