// sparq/ops.h: what every op shares below the binding — the launch report, the packed-weight
// layouts, and the rules an op's argument struct follows. Each op declares its own args struct in
// its header (sparq/dense.h, sparq/w4a16.h, ...); sparq/op_list.h lists the ops.
//
// An args struct is the op's whole descriptor below the binding:
//   - kOpName ("dense.matmul"): the name errors and launch reports use;
//   - kMaxM/kMaxN/kMaxK: the dims its kernels index with 32-bit integers on every backend — the
//     binding rejects larger ones with SparqShapeError before a struct is built, so no backend
//     ever sees them (one mistake, one error, on every backend);
//   - plain data only (pointers in the backend's memory space, int64 dims, weight views): it
//     crosses the C ABI to libsparq_cuda.so by pointer, as is, so its layout is pinned with
//     SPARQ_ASSERT_ABI_LAYOUT (size and field offsets) — never copied field by field.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
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

// Where a packed weight's bytes are laid out for: the tensor-core kernels (cuda and sim run the
// same kernel source) or the CPU kernels. A backend says which it wants (Backend::WeightLayout).
enum class PackedLayout : int32_t { kGpu = 0, kCpu = 1 };

// Largest dim any kernel indexes with a 32-bit int (offsets are computed in 64 bits).
inline constexpr int64_t kMaxIndexDim = int64_t(1) << 30;

}  // namespace sparq

// Pins an args or view struct's layout across the C ABI: standard layout, trivially copyable,
// the given size; add offsetof checks beside it for the fields that matter.
#define SPARQ_ASSERT_ABI_LAYOUT(T, BYTES)                                                      \
  static_assert(std::is_standard_layout_v<T> && std::is_trivially_copyable_v<T>,              \
                #T " crosses the C ABI: plain data only");                                     \
  static_assert(sizeof(T) == (BYTES), #T " changed size: bump SPARQ_CUDA_ABI_VERSION and this")
