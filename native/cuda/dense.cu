// native/cuda/dense.cu: nvcc launcher of native/cuda/kernels/dense.cuh. Chooses the instance with
// dense_choose (shared with native/sim/dense_sim.cc), launches, and checks the launch.
#include <cuda_runtime.h>

#include <string>

#include "dense.h"
#include "kernels/dense.cuh"

namespace {

template <class Cfg>
int LaunchDense(const sparq::DenseParams& p, const char* config_name, cudaStream_t stream, sparq::LaunchInfo* info) {
  const dim3 grid((p.n + Cfg::TILE_N - 1) / Cfg::TILE_N, (p.m + Cfg::TILE_M - 1) / Cfg::TILE_M);
  const dim3 block(Cfg::THREADS);
  if (grid.y > 65535) return static_cast<int>(cudaErrorInvalidConfiguration);  // m > 65535 * TILE_M
  if (info) {
    info->kernel = "dense_tc_gemm";
    info->config = std::string(config_name) + " TILE_M=" + std::to_string(Cfg::TILE_M) +
                   " TILE_N=" + std::to_string(Cfg::TILE_N) + " TILE_K=" + std::to_string(Cfg::TILE_K) +
                   " STAGES=" + std::to_string(Cfg::STAGES) + " WARPS=" + std::to_string(Cfg::WARPS) +
                   " K_CHUNK_ELEMS=" + std::to_string(Cfg::K_CHUNK_ELEMS);
    info->grid_x = int(grid.x);
    info->grid_y = int(grid.y);
    info->grid_z = 1;
    info->block_threads = Cfg::THREADS;
    info->smem_bytes = Cfg::SMEM_BYTES;
    info->bytes_read.clear();  // counted by the simulator only
  }
  sparq::dense_tc_gemm_kernel<Cfg><<<grid, block, 0, stream>>>(p);
  return static_cast<int>(cudaGetLastError());  // launch errors (bad config, no kernel image, ...)
}

}  // namespace

int sparq_cuda_dense_matmul(const sparq::DenseMatmulArgs& args, cudaStream_t stream, int sm_count,
                            sparq::LaunchInfo* info) {
  (void)sm_count;
  constexpr int64_t kMaxDim = int64_t(1) << 30;  // the kernel indexes with int (offsets in size_t)
  if (args.m > kMaxDim || args.n > kMaxDim || args.k > kMaxDim)
    return static_cast<int>(cudaErrorInvalidValue);
  const sparq::DenseParams p{args.w, args.x, args.bias, args.y, int(args.m), int(args.n), int(args.k)};
  const sparq::DenseChoice c = sparq::dense_choose(p.m, p.k, p.x, p.w);
  if (c.small_m) {
    if (c.k_chunk_elems == 8) return LaunchDense<sparq::DenseConfigSmallM<8>>(p, "small_m", stream, info);
    if (c.k_chunk_elems == 2) return LaunchDense<sparq::DenseConfigSmallM<2>>(p, "small_m", stream, info);
    return LaunchDense<sparq::DenseConfigSmallM<1>>(p, "small_m", stream, info);
  }
  if (c.k_chunk_elems == 8) return LaunchDense<sparq::DenseConfigLarge<8>>(p, "large", stream, info);
  if (c.k_chunk_elems == 2) return LaunchDense<sparq::DenseConfigLarge<2>>(p, "large", stream, info);
  return LaunchDense<sparq::DenseConfigLarge<1>>(p, "large", stream, info);
}
