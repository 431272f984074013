// native/sim/dense_sim.cc: runs native/cuda/kernels/dense.cuh on the SIMT simulator. Picks the
// template instance exactly as native/cuda/dense.cu does (dense_choose), registers w/x/bias/y so
// every global access is bounds-checked and reads are counted, and reports what it ran.
#include <cstdint>
#include <string>

#include "cuda/kernels/dense.cuh"
#include "sim/sim_launch.h"
#include "sparq/sim.h"

namespace sparq::sim {
namespace {

template <class Cfg>
Status RunDense(const DenseParams& p, const char* config_name, const SimOptions& options, LaunchInfo* info) {
  const dim3 grid((p.n + Cfg::TILE_N - 1) / Cfg::TILE_N, (p.m + Cfg::TILE_M - 1) / Cfg::TILE_M);
  const dim3 block(Cfg::THREADS);
  const std::string config = std::string(config_name) + " TILE_M=" + std::to_string(Cfg::TILE_M) +
                             " TILE_N=" + std::to_string(Cfg::TILE_N) + " TILE_K=" + std::to_string(Cfg::TILE_K) +
                             " STAGES=" + std::to_string(Cfg::STAGES) + " WARPS=" + std::to_string(Cfg::WARPS) +
                             " K_CHUNK_ELEMS=" + std::to_string(Cfg::K_CHUNK_ELEMS);
  Launch launch("dense_tc_gemm_kernel<" + config + ">", options);
  const size_t k = size_t(p.k);
  launch.RegisterBuffer("w", p.w, size_t(p.n) * k * 2);
  launch.RegisterBuffer("x", p.x, size_t(p.m) * k * 2);
  if (p.bias) launch.RegisterBuffer("bias", p.bias, size_t(p.n) * 2);
  launch.RegisterBuffer("y", p.y, size_t(p.m) * size_t(p.n) * 2);
  Status s = launch.Run(grid, block, 0, &dense_tc_gemm_kernel<Cfg>, p);
  if (info) {
    info->kernel = "dense_tc_gemm";
    info->config = config;
    info->grid_x = int(grid.x);
    info->grid_y = int(grid.y);
    info->grid_z = 1;
    info->block_threads = Cfg::THREADS;
    info->smem_bytes = Cfg::SMEM_BYTES;
    info->bytes_read = launch.BytesRead();
  }
  return s;
}

}  // namespace

Status DenseMatmul(const DenseMatmulArgs& args, const SimOptions& options, LaunchInfo* info) {
  constexpr int64_t kMaxDim = int64_t(1) << 30;  // the kernel indexes with int (offsets in size_t)
  if (args.m > kMaxDim || args.n > kMaxDim || args.k > kMaxDim || args.m * args.k > (int64_t(1) << 40))
    return Status::Error(StatusCode::kShape, "dense.matmul: shape is too large for the dense kernel's 32-bit indices");
  const DenseParams p{args.w, args.x, args.bias, args.y, int(args.m), int(args.n), int(args.k)};
  const DenseChoice c = dense_choose(p.m, p.k, p.x, p.w);
  if (c.small_m) {
    if (c.k_chunk_elems == 8) return RunDense<DenseConfigSmallM<8>>(p, "small_m", options, info);
    if (c.k_chunk_elems == 2) return RunDense<DenseConfigSmallM<2>>(p, "small_m", options, info);
    return RunDense<DenseConfigSmallM<1>>(p, "small_m", options, info);
  }
  if (c.k_chunk_elems == 8) return RunDense<DenseConfigLarge<8>>(p, "large", options, info);
  if (c.k_chunk_elems == 2) return RunDense<DenseConfigLarge<2>>(p, "large", options, info);
  return RunDense<DenseConfigLarge<1>>(p, "large", options, info);
}

}  // namespace sparq::sim
