// native/sim/fragment_dump_sim.cc: runs native/cuda/kernels/fragment_dump.cuh on the simulator
// with the fixed inputs of FragmentDumpInputs (sparq/sim.h).
#include <cstring>

#include "cuda/kernels/fragment_dump.cuh"
#include "sim/sim_launch.h"
#include "sparq/sim.h"

namespace sparq::sim {

void FragmentDumpInputs(uint16_t a16[16 * 16], uint16_t bk[16 * 8], uint16_t a_identity[16 * 16],
                        int8_t a8_identity[16 * 32], int8_t b8_nmajor[8 * 32]) {
  for (int r = 0; r < 16; ++r)
    for (int c = 0; c < 16; ++c) {
      a16[r * 16 + c] = F32ToF16(float(r * 16 + c));  // 0..255: exact in f16
      a_identity[r * 16 + c] = F32ToF16(r == c ? 1.f : 0.f);
    }
  for (int k = 0; k < 16; ++k)
    for (int n = 0; n < 8; ++n) bk[k * 8 + n] = F32ToF16(float(k * 8 + n));
  for (int r = 0; r < 16; ++r)
    for (int k = 0; k < 32; ++k) a8_identity[r * 32 + k] = int8_t(r == k ? 1 : 0);
  for (int n = 0; n < 8; ++n)
    for (int k = 0; k < 32; ++k) b8_nmajor[n * 32 + k] = int8_t((k * 8 + n) % 127);
}

Status FragmentDump(const FragmentDumpArgs& args, const SimOptions& options, LaunchInfo* info) {
  (void)info;
  FragmentDumpData* out = args.out;
  alignas(16) uint16_t a16[256], bk[128], a_identity[256];
  alignas(16) int8_t a8[512], b8[256];
  FragmentDumpInputs(a16, bk, a_identity, a8, b8);
  std::memset(out, 0xFF, sizeof *out);  // poison: every lane must write every entry
  const FragmentDumpParams p{a16, bk, a_identity, a8, b8, &out->ldmatrix_x4[0][0], &out->ldmatrix_x2_trans[0][0],
                             &out->mma_f16[0][0], &out->mma_s8[0][0]};
  Launch launch("fragment_dump_kernel", options);
  launch.RegisterBuffer("a16", a16, sizeof a16);
  launch.RegisterBuffer("bk", bk, sizeof bk);
  launch.RegisterBuffer("a_identity", a_identity, sizeof a_identity);
  launch.RegisterBuffer("a8_identity", a8, sizeof a8);
  launch.RegisterBuffer("b8_nmajor", b8, sizeof b8);
  launch.RegisterBuffer("out", out, sizeof *out);
  return launch.Run(dim3(1), dim3(kDumpThreads), 0, &fragment_dump_kernel, p);
}

}  // namespace sparq::sim
