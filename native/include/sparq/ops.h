// sparq/ops.h: backend-neutral argument structs for every op. Pointers are in the backend's memory
// space (host for cpu/sim, device for cuda). The binding validates shapes and dtypes before a
// struct is built; kernels trust it (STYLE.md §6).
#pragma once
#include <cstdint>

namespace sparq {

// Y[m, n] = fp16(X[m, k] · W[n, k]ᵀ + bias[n]), fp32 accumulation. All fp16 bits, row-major.
struct DenseMatmulArgs {
  const uint16_t* w = nullptr;     // [n][k]
  const uint16_t* x = nullptr;     // [m][k]
  const uint16_t* bias = nullptr;  // [n] or null
  uint16_t* y = nullptr;           // [m][n]
  int64_t m = 0, n = 0, k = 0;
};

}  // namespace sparq

#include <string>
#include <utility>
#include <vector>

namespace sparq {

// What a launcher chose and, on sim, what the kernel moved. Filled by cuda and sim launchers so tests
// and benchmarks can show the configuration (STYLE.md §2: the launcher reports its instance).
struct LaunchInfo {
  std::string kernel;   // e.g. "dense_tc_gemm"
  std::string config;   // e.g. "TILE_M=64 TILE_N=128 TILE_K=32 STAGES=4 WARPS=8"
  int grid_x = 0, grid_y = 0, grid_z = 0, block_threads = 0;
  int smem_bytes = 0;
  // sim only: bytes read from global memory per registered buffer (cp.async + plain loads).
  std::vector<std::pair<std::string, uint64_t>> bytes_read;
};

}  // namespace sparq
