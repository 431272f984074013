// sparq/sim.h: the sim backend's ops. Each runs the CUDA kernel source (native/cuda/kernels/*.cuh)
// on the host SIMT simulator (native/sim): every CUDA thread is a host thread, warp collectives
// are computed from the PTX ISA fragment layouts, shared memory is per CTA and NaN-poisoned,
// cp.async is deferred to its wait. Pointers are host pointers. A failed simulator check (partial
// warp at an mma, misaligned cp.async, deadlock, ...) unwinds every simulated thread and comes
// back as StatusCode::kDevice with a located message; it never ends the process.
#pragma once
#include <cstdint>

#include "sparq/ops.h"
#include "sparq/status.h"

namespace sparq::sim {

struct SimOptions {
  // Simulated multiprocessors. The launcher sizes grids from it like a device's SM count; with
  // concurrent_ctas, up to sm_count CTAs run at once (one per SM), so persistent grids,
  // cross-CTA flags and locks really execute.
  int sm_count = 4;
  bool concurrent_ctas = true;  // false: one CTA at a time, in blockIdx order
  double timeout_s = 10;        // a barrier, collective or spin-wait blocked longer is a deadlock
};

// Y[m, n] = fp16(X[m, k] · W[n, k]ᵀ + bias[n]) with the tensor-core kernel of
// native/cuda/kernels/dense.cuh. info (optional) gets the instance chosen, the grid, and the bytes
// read per buffer ("w", "x", "bias", "y").
Status DenseMatmul(const DenseMatmulArgs& args, const SimOptions& options, LaunchInfo* info);

// What each lane of one warp holds after known loads and mma (native/cuda/kernels/fragment_dump.cuh);
// the device check runs the same kernel on a GPU and compares, which guards the simulator's
// reading of the PTX ISA layouts. Inputs (fixed, exact in f16):
//   A16[r][c] = r*16 + c          (16x16 f16, row-major)    -> ldmatrix.x4 (non-trans)
//   Bk[k][n] = k*8 + n            (16x8 f16, k-major)       -> ldmatrix.x2.trans
//   mma f16:  A = identity 16x16, B = Bk                    -> C[r][n] = r*8 + n
//   mma s8:   A = identity 16x32, B[k][n] = (k*8+n) % 127   -> C[r][n] = B[r][n]
struct FragmentDumpData {
  uint32_t ldmatrix_x4[32][4];
  uint32_t ldmatrix_x2_trans[32][2];
  float mma_f16[32][4];
  int32_t mma_s8[32][4];
};
// Fills the kernel inputs described above (host arrays; the same bytes for sim and GPU).
void FragmentDumpInputs(uint16_t a16[16 * 16], uint16_t bk[16 * 8], uint16_t a_identity[16 * 16],
                        int8_t a8_identity[16 * 32], int8_t b8_nmajor[8 * 32]);
Status FragmentDump(FragmentDumpData* out, const SimOptions& options);

}  // namespace sparq::sim
