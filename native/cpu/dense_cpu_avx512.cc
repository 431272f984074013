// native/cpu/dense_cpu_avx512.cc: AVX-512 micro-kernels for the dense fp16 GEMM (driver and
// layout: dense_cpu.cc, isa_kernels.h). 32 zmm: up to 24 accumulators + X vectors + a broadcast.
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c")
// GCC 12's AVX-512 headers seed unused lanes with a self-initialized `__Y = __Y`, which
// -W(maybe-)uninitialized reports at every inlined intrinsic; the lanes are never read.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include "cpu/isa_kernels.h"

namespace sparq::cpu::avx512 {
namespace {

constexpr int kLanes = 16;  // fp32 per zmm = m rows per X vector

__mmask16 TailMask(int64_t left) {
  return left >= kLanes ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << left) - 1u);
}

// C[j][v*16 + lane] (+)= Σ_kk wp[j][kk] · xt[kk][v*16 + lane]: each W value is broadcast once and
// meets MV X vectors; the X row for kk is MV contiguous vectors.
template <int MV, int NR>
void MicroKernel(const float* xt, int64_t ld_xt, const float* wp, float* c, int64_t ld_c,
                 int64_t kc_len, bool accumulate) {
  __m512 acc[NR][MV];
#pragma GCC unroll 32
  for (int j = 0; j < NR; ++j)
#pragma GCC unroll 4
    for (int v = 0; v < MV; ++v)
      acc[j][v] = accumulate ? _mm512_loadu_ps(c + j * ld_c + v * kLanes) : _mm512_setzero_ps();
  for (int64_t kk = 0; kk < kc_len; ++kk) {
    __m512 x[MV];
#pragma GCC unroll 4
    for (int v = 0; v < MV; ++v) x[v] = _mm512_load_ps(xt + kk * ld_xt + v * kLanes);
#pragma GCC unroll 32
    for (int j = 0; j < NR; ++j) {
      const __m512 w = _mm512_set1_ps(wp[j * kDenseWpStrideElems + kk]);
#pragma GCC unroll 4
      for (int v = 0; v < MV; ++v) acc[j][v] = _mm512_fmadd_ps(x[v], w, acc[j][v]);
    }
  }
#pragma GCC unroll 32
  for (int j = 0; j < NR; ++j)
#pragma GCC unroll 4
    for (int v = 0; v < MV; ++v) _mm512_storeu_ps(c + j * ld_c + v * kLanes, acc[j][v]);
}

// Tiles keep MV*NR <= 24 accumulators. Fewer X vectors get more columns: the broadcast count per
// FMA stays low and each converted W panel row serves a full tile.
DenseTile MainTile(int64_t m_vectors) {
  if (m_vectors <= 1) return {1, 24, MicroKernel<1, 24>};
  if (m_vectors == 2) return {2, 12, MicroKernel<2, 12>};
  if (m_vectors == 3) return {3, 8, MicroKernel<3, 8>};
  return {4, 6, MicroKernel<4, 6>};
}

DenseTile TailTile(int mv, int nr) {
  (void)nr;  // only the (4, 6) main tile has tails
  if (mv == 1) return {1, 6, MicroKernel<1, 6>};
  if (mv == 2) return {2, 6, MicroKernel<2, 6>};
  return {3, 6, MicroKernel<3, 6>};
}

// Rows of W at a time for M rows of X: R*M accumulators, R conversions feed R*M FMAs.
template <int M>
constexpr int GemvRows() {
  return M == 1 ? 8 : M == 2 ? 6 : 4;
}

template <int M, int R>
void GemvRowsKernel(const float* x, const uint16_t* w, int64_t k, float* out, int64_t ld_out) {
  __m512 acc[R][M];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int i = 0; i < M; ++i) acc[r][i] = _mm512_setzero_ps();
  for (int64_t k0 = 0; k0 < k; k0 += kLanes) {
    const __mmask16 mask = TailMask(k - k0);
    __m512 xv[M];
#pragma GCC unroll 4
    for (int i = 0; i < M; ++i) xv[i] = _mm512_maskz_loadu_ps(mask, x + i * k + k0);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512 wv = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, w + r * k + k0));
#pragma GCC unroll 4
      for (int i = 0; i < M; ++i) acc[r][i] = _mm512_fmadd_ps(wv, xv[i], acc[r][i]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int i = 0; i < M; ++i) out[i * ld_out + r] = _mm512_reduce_add_ps(acc[r][i]);
}

template <int M>
void GemvM(const float* x, const uint16_t* w, int64_t k, int64_t n_begin, int64_t n_end, float* out) {
  constexpr int R = GemvRows<M>();
  const int64_t cols = n_end - n_begin;
  int64_t j = 0;
  for (; j + R <= cols; j += R) GemvRowsKernel<M, R>(x, w + (n_begin + j) * k, k, out + j, cols);
  for (; j < cols; ++j) GemvRowsKernel<M, 1>(x, w + (n_begin + j) * k, k, out + j, cols);
}

void Gemv(const float* x, int m, const uint16_t* w, int64_t k, int64_t n_begin, int64_t n_end,
          float* out) {
  switch (m) {
    case 1: return GemvM<1>(x, w, k, n_begin, n_end, out);
    case 2: return GemvM<2>(x, w, k, n_begin, n_end, out);
    case 3: return GemvM<3>(x, w, k, n_begin, n_end, out);
    default: return GemvM<4>(x, w, k, n_begin, n_end, out);
  }
}

// C is [cols][ld_c] (m contiguous); Y rows want the cols of one m contiguous: gather them.
void Writeback(const float* c, int64_t ld_c, int64_t m, int64_t cols, const float* bias,
               uint16_t* y, int64_t ld_y) {
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  for (int64_t j0 = 0; j0 < cols; j0 += kLanes) {
    const __mmask16 mask = TailMask(cols - j0);
    const __m512i col_offsets = _mm512_mullo_epi32(lane, _mm512_set1_epi32(static_cast<int>(ld_c)));
    const __m512 b = bias != nullptr ? _mm512_maskz_loadu_ps(mask, bias + j0) : _mm512_setzero_ps();
    const float* c_cols = c + j0 * ld_c;
    for (int64_t i = 0; i < m; ++i) {
      const __m512 v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mask, col_offsets, c_cols + i, 4);
      const __m256i h = _mm512_cvtps_ph(_mm512_add_ps(v, b), _MM_FROUND_TO_NEAREST_INT);
      _mm256_mask_storeu_epi16(y + i * ld_y + j0, mask, h);
    }
  }
}

}  // namespace

const DenseKernelSet& DenseKernels() {
  static const DenseKernelSet set = [] {
    DenseKernelSet s;
    s.lanes = kLanes;
    s.gemv_max_m = 4;
    s.f16_to_f32 = F16ToF32;
    s.gemv = Gemv;
    s.writeback = Writeback;
    s.main_tile = MainTile;
    s.tail_tile = TailTile;
    return s;
  }();
  return set;
}

}  // namespace sparq::cpu::avx512
