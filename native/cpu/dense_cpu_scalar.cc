// native/cpu/dense_cpu_scalar.cc: portable micro-kernels for the dense fp16 GEMM. Same layout and
// driver as the SIMD paths (dense_cpu.cc) with one m row per "vector"; correct, not fast.
#include "cpu/isa_kernels.h"

namespace sparq::cpu::scalar {
namespace {

constexpr int kTileRows = 4;  // m rows per tile
constexpr int kTileCols = 4;  // output columns per tile

template <int MV>
void MicroKernel(const float* xt, int64_t ld_xt, const float* wp, float* c, int64_t ld_c,
                 int64_t kc_len, bool accumulate) {
  float acc[kTileCols][MV];
  for (int j = 0; j < kTileCols; ++j)
    for (int v = 0; v < MV; ++v) acc[j][v] = accumulate ? c[j * ld_c + v] : 0.0f;
  for (int64_t kk = 0; kk < kc_len; ++kk)
    for (int j = 0; j < kTileCols; ++j)
      for (int v = 0; v < MV; ++v) acc[j][v] += wp[j * kDenseWpStrideElems + kk] * xt[kk * ld_xt + v];
  for (int j = 0; j < kTileCols; ++j)
    for (int v = 0; v < MV; ++v) c[j * ld_c + v] = acc[j][v];
}

DenseTile MainTile(int64_t m_vectors) {
  if (m_vectors == 1) return {1, kTileCols, MicroKernel<1>};
  if (m_vectors == 2) return {2, kTileCols, MicroKernel<2>};
  if (m_vectors == 3) return {3, kTileCols, MicroKernel<3>};
  return {kTileRows, kTileCols, MicroKernel<kTileRows>};
}

DenseTile TailTile(int mv, int nr) {
  (void)nr;  // every scalar tile has kTileCols columns
  return MainTile(mv);
}

void Writeback(const float* c, int64_t ld_c, int64_t m, int64_t cols, const float* bias,
               uint16_t* y, int64_t ld_y) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < cols; ++j)
      y[i * ld_y + j] = F32ToF16One(c[j * ld_c + i] + (bias != nullptr ? bias[j] : 0.0f));
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
