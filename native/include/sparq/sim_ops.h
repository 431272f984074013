// sparq/sim_ops.h: the fragment-layout dump, an op of the sim and cuda backends only (the device
// check compares the GPU's dump with the simulator's; native/cuda/kernels/fragment_dump.cuh).
//
// What each lane of one warp holds after known loads and mma. Inputs (fixed, exact in f16):
//   A16[r][c] = r*16 + c          (16x16 f16, row-major)    -> ldmatrix.x4 (non-trans)
//   Bk[k][n] = k*8 + n            (16x8 f16, k-major)       -> ldmatrix.x2.trans
//   mma f16:  A = identity 16x16, B = Bk                    -> C[r][n] = r*8 + n
//   mma s8:   A = identity 16x32, B[k][n] = (k*8+n) % 127   -> C[r][n] = B[r][n]
#pragma once
#include <cstddef>
#include <cstdint>

#include "sparq/ops.h"

namespace sparq {
namespace sim {
struct FragmentDumpData {
  uint32_t ldmatrix_x4[32][4];
  uint32_t ldmatrix_x2_trans[32][2];
  float mma_f16[32][4];
  int32_t mma_s8[32][4];
};
}  // namespace sim

struct FragmentDumpArgs {
  static constexpr const char* kOpName = "fragmentDump";
  static constexpr int64_t kMaxM = 1, kMaxN = 1, kMaxK = 1;

  sim::FragmentDumpData* out = nullptr;  // host memory; written when the op returns
};
SPARQ_ASSERT_ABI_LAYOUT(FragmentDumpArgs, 8);
static_assert(sizeof(sim::FragmentDumpData) == 1792, "FragmentDumpData crosses the C ABI inside FragmentDumpArgs");

}  // namespace sparq
