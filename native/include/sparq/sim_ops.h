// sparq/sim_ops.h: the fragment-layout dump, an op of the sim and cuda backends only (the device
// check compares the GPU's dump with the simulator's; native/cuda/kernels/fragment_dump.cuh).
//
// What each lane of one warp holds after known loads, mma and the W4A16 dequant. Inputs (fixed,
// native/cuda/fragment_dump_inputs.h, the same bytes on both backends):
//   A16[r][c] = r*16 + c          (16x16 f16, row-major)    -> ldmatrix.x4 (non-trans)
//   Bk[k][n] = k*8 + n            (16x8 f16, k-major)       -> ldmatrix.x2.trans
//   mma f16:  A = AMma (16x16, small integers, four distinct non-zero 8x8 blocks), B = Bk
//   mma s8:   A = A8 (16x32, four distinct 8x16 blocks), B[k][n] = (k*8+n) % 127
//   W4A16:    w4a16::DequantPair on one warp's packed kGpu slice (64 n x 16 k) -> the fp16x2
//             B fragments fed to mma, w = fp16((q - 8) * s)
// Every entry is in register order, exactly as the lane holds it.
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
  uint32_t w4a16_dequant[32][16];  // [lane][2*n8 + i]: frag_b.x[i] (fp16x2) of n8 tile 0..7
};
}  // namespace sim

struct FragmentDumpArgs {
  static constexpr const char* kOpName = "fragmentDump";
  static constexpr int64_t kMaxM = 1, kMaxN = 1, kMaxK = 1;

  sim::FragmentDumpData* out = nullptr;  // host memory; written when the op returns
};
SPARQ_ASSERT_ABI_LAYOUT(FragmentDumpArgs, 8);
static_assert(sizeof(sim::FragmentDumpData) == 3840, "FragmentDumpData crosses the C ABI inside FragmentDumpArgs");

}  // namespace sparq
