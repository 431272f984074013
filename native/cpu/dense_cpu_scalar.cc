// native/cpu/dense_cpu_scalar.cc: portable micro-kernels for the dense fp16 GEMM. Same layout and
// driver as the SIMD paths (dense_cpu.cc) with one k per "vector"; correct, not fast.
#include "cpu/isa_kernels.h"

namespace sparq::cpu::scalar {
namespace {

constexpr int kTileRows = 4;  // m rows per tile
constexpr int kTileCols = 4;  // output columns per tile

template <int MR>
void MicroKernel(const DenseBlockArgs& b) {
  if (b.w != nullptr) {  // the first m block converts the panel block
    for (int j = 0; j < kTileCols; ++j) {
      float* row = b.wp + j * kDenseWpStrideElems;
      F16ToF32(b.w + j * b.ld_w, row, static_cast<size_t>(b.kc_len));
      for (int64_t kk = b.kc_len; kk < b.kc_pad; ++kk) row[kk] = 0.0f;
    }
  }
  float acc[MR][kTileCols];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < kTileCols; ++j) acc[i][j] = b.accumulate ? b.c[i * kTileCols + j] : 0.0f;
  for (int64_t kk = 0; kk < b.kc_pad; ++kk)
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < kTileCols; ++j) acc[i][j] += b.x[i * b.ld_x + kk] * b.wp[j * kDenseWpStrideElems + kk];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < kTileCols; ++j) b.c[i * kTileCols + j] = acc[i][j];
}

DenseMicroKernelFn KernelFor(int mr) {
  if (mr == 1) return MicroKernel<1>;
  if (mr == 2) return MicroKernel<2>;
  if (mr == 3) return MicroKernel<3>;
  return MicroKernel<kTileRows>;
}

DenseTile MainTile(int64_t m) {
  (void)m;
  return {kTileRows, kTileCols, kDenseKcMaxElems, KernelFor(kTileRows)};
}

DenseTile TailTile(int mr_left, const DenseTile& main) {
  return {mr_left, main.nr, main.kc, KernelFor(mr_left)};
}

// One lane per "vector": c[i][j] is the whole sum.
void Writeback(const float* c, int nr, int64_t m, int64_t cols, const float* bias, uint16_t* y,
               int64_t ld_y) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < cols; ++j)
      y[i * ld_y + j] = F32ToF16One(c[i * nr + j] + (bias != nullptr ? bias[j] : 0.0f));
}

}  // namespace

const DenseKernelSet& DenseKernels() {
  static const DenseKernelSet set = [] {
    DenseKernelSet s;
    s.lanes = 1;
    s.gemv_max_m = 0;  // the tiled path serves every m
    s.f16_to_f32 = F16ToF32;
    s.writeback = Writeback;
    s.main_tile = MainTile;
    s.tail_tile = TailTile;
    return s;
  }();
  return set;
}

}  // namespace sparq::cpu::scalar
