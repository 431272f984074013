// native/cuda/dense_plan.cuh: the launch plan of the tensor-core dense GEMM (kernels/dense.cuh),
// shared by the nvcc launcher (cuda/dense.cu) and the simulator's (sim/dense_sim.cc) through a
// launch target (cuda/launch_target.h): instance choice (dense_choose), grid, row chunks.
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

template <class Cfg>
std::string ConfigString(const char* config_name) {
  return std::string(config_name) + " TILE_M=" + std::to_string(Cfg::TILE_M) + " TILE_N=" + std::to_string(Cfg::TILE_N) +
         " TILE_K=" + std::to_string(Cfg::TILE_K) + " STAGES=" + std::to_string(Cfg::STAGES) +
         " WARPS=" + std::to_string(Cfg::WARPS) + " K_CHUNK_ELEMS=" + std::to_string(Cfg::K_CHUNK_ELEMS);
}

template <class Cfg, class Target>
Status RunInstance(const DenseMatmulArgs& a, const char* config_name, Target& target, LaunchInfo* info) {
  const std::string config = ConfigString<Cfg>(config_name);
  const int64_t rows_per_launch = kMaxGridY * Cfg::TILE_M;
  const dim3 block(Cfg::THREADS);
  dim3 grid;
  int launches = 0;
  for (int64_t r0 = 0; r0 < a.m; r0 += rows_per_launch, ++launches) {
    const int64_t rows = std::min(rows_per_launch, a.m - r0);
    const DenseParams p{a.w, a.x + r0 * a.k, a.bias, a.y + r0 * a.n, int(rows), int(a.n), int(a.k)};
    grid = dim3(unsigned((a.n + Cfg::TILE_N - 1) / Cfg::TILE_N), unsigned((rows + Cfg::TILE_M - 1) / Cfg::TILE_M));
    const size_t k = size_t(a.k);
    Status s = target.Launch("dense_tc_gemm_kernel<" + config + ">", grid, block, 0,
                             {{"w", p.w, size_t(a.n) * k * 2},
                              {"x", p.x, size_t(rows) * k * 2},
                              {"bias", p.bias, size_t(a.n) * 2},
                              {"y", p.y, size_t(rows) * size_t(a.n) * 2}},
                             &dense_tc_gemm_kernel<Cfg>, p);
    if (!s.ok()) return s;
  }
  if (info) {
    info->kernel = "dense_tc_gemm";
    info->config = config + (launches > 1 ? " launches=" + std::to_string(launches) : "");
    info->grid_x = int(grid.x);
    info->grid_y = int(grid.y);
    info->grid_z = 1;
    info->block_threads = Cfg::THREADS;
    info->smem_bytes = Cfg::SMEM_BYTES;
    target.ReportBytes(info);
  }
  return Status::Ok();
}

// Y = fp16(X·Wᵀ + bias) on `target`. Dims are within DenseMatmulArgs::kMax* (the binding checked).
template <class Target>
Status Run(const DenseMatmulArgs& a, Target& target, LaunchInfo* info) {
  if (a.m > DenseMatmulArgs::kMaxM || a.n > DenseMatmulArgs::kMaxN || a.k > DenseMatmulArgs::kMaxK)
    return Status::Error(StatusCode::kShape, "dense.matmul: dims must be <= 2^30 for the kernel's 32-bit indices", "x");
  if (a.m <= 0 || a.n <= 0) return Status::Ok();
  const DenseChoice c = dense_choose(int(std::min<int64_t>(a.m, 1 << 30)), int(a.k), a.x, a.w);
  if (c.small_m) {
    if (c.k_chunk_elems == 8) return RunInstance<DenseConfigSmallM<8>>(a, "small_m", target, info);
    if (c.k_chunk_elems == 2) return RunInstance<DenseConfigSmallM<2>>(a, "small_m", target, info);
    return RunInstance<DenseConfigSmallM<1>>(a, "small_m", target, info);
  }
  if (c.k_chunk_elems == 8) return RunInstance<DenseConfigLarge<8>>(a, "large", target, info);
  if (c.k_chunk_elems == 2) return RunInstance<DenseConfigLarge<2>>(a, "large", target, info);
  return RunInstance<DenseConfigLarge<1>>(a, "large", target, info);
}

}  // namespace sparq::dense_plan
