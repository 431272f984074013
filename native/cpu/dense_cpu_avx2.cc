// native/cpu/dense_cpu_avx2.cc: AVX2+FMA micro-kernels for the dense fp16 GEMM (driver and
// layout: dense_cpu.cc, isa_kernels.h). 16 ymm: 12 accumulators + X vectors + a broadcast.
#pragma GCC target("avx2,fma,f16c")
#include <immintrin.h>

#include "cpu/isa_kernels.h"

namespace sparq::cpu::avx2 {
namespace {

constexpr int kLanes = 8;  // fp32 per ymm = m rows per X vector

// Same contract as the AVX-512 kernel: each W value is broadcast once against MV X vectors.
template <int MV, int NR>
void MicroKernel(const float* xt, int64_t ld_xt, const float* wp, float* c, int64_t ld_c,
                 int64_t kc_len, bool accumulate) {
  __m256 acc[NR][MV];
#pragma GCC unroll 16
  for (int j = 0; j < NR; ++j)
#pragma GCC unroll 4
    for (int v = 0; v < MV; ++v)
      acc[j][v] = accumulate ? _mm256_loadu_ps(c + j * ld_c + v * kLanes) : _mm256_setzero_ps();
  for (int64_t kk = 0; kk < kc_len; ++kk) {
    __m256 x[MV];
#pragma GCC unroll 4
    for (int v = 0; v < MV; ++v) x[v] = _mm256_load_ps(xt + kk * ld_xt + v * kLanes);
#pragma GCC unroll 16
    for (int j = 0; j < NR; ++j) {
      const __m256 w = _mm256_broadcast_ss(wp + j * kDenseWpStrideElems + kk);
#pragma GCC unroll 4
      for (int v = 0; v < MV; ++v) acc[j][v] = _mm256_fmadd_ps(x[v], w, acc[j][v]);
    }
  }
#pragma GCC unroll 16
  for (int j = 0; j < NR; ++j)
#pragma GCC unroll 4
    for (int v = 0; v < MV; ++v) _mm256_storeu_ps(c + j * ld_c + v * kLanes, acc[j][v]);
}

DenseTile MainTile(int64_t m_vectors) {
  if (m_vectors <= 1) return {1, 12, MicroKernel<1, 12>};
  return {2, 6, MicroKernel<2, 6>};
}

DenseTile TailTile(int mv, int nr) {
  (void)mv;
  (void)nr;  // only the (2, 6) main tile has a tail: one vector
  return {1, 6, MicroKernel<1, 6>};
}

float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

template <int M>
constexpr int GemvRows() {
  return M == 1 ? 6 : M == 2 ? 4 : 3;
}

// R rows of W against M rows of X over whole k; the k tail (< 8) is finished in scalar.
template <int M, int R>
void GemvRowsKernel(const float* x, const uint16_t* w, int64_t k, float* out, int64_t ld_out) {
  __m256 acc[R][M];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int i = 0; i < M; ++i) acc[r][i] = _mm256_setzero_ps();
  int64_t k0 = 0;
  for (; k0 + kLanes <= k; k0 += kLanes) {
    __m256 xv[M];
#pragma GCC unroll 4
    for (int i = 0; i < M; ++i) xv[i] = _mm256_loadu_ps(x + i * k + k0);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + r * k + k0));
      const __m256 wv = _mm256_cvtph_ps(h);
#pragma GCC unroll 4
      for (int i = 0; i < M; ++i) acc[r][i] = _mm256_fmadd_ps(wv, xv[i], acc[r][i]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int i = 0; i < M; ++i) {
      float s = HorizontalSum(acc[r][i]);
      for (int64_t kk = k0; kk < k; ++kk) s += x[i * k + kk] * scalar::F16ToF32One(w[r * k + kk]);
      out[i * ld_out + r] = s;
    }
  }
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
    default: return GemvM<3>(x, w, k, n_begin, n_end, out);
  }
}

void Writeback(const float* c, int64_t ld_c, int64_t m, int64_t cols, const float* bias,
               uint16_t* y, int64_t ld_y) {
  const __m256i col_offsets =
      _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(static_cast<int>(ld_c)));
  int64_t j0 = 0;
  for (; j0 + kLanes <= cols; j0 += kLanes) {
    const __m256 b = bias != nullptr ? _mm256_loadu_ps(bias + j0) : _mm256_setzero_ps();
    const float* c_cols = c + j0 * ld_c;
    for (int64_t i = 0; i < m; ++i) {
      const __m256 v = _mm256_i32gather_ps(c_cols + i, col_offsets, 4);
      const __m128i h = _mm256_cvtps_ph(_mm256_add_ps(v, b), _MM_FROUND_TO_NEAREST_INT);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i * ld_y + j0), h);
    }
  }
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = j0; j < cols; ++j)
      y[i * ld_y + j] = scalar::F32ToF16One(c[j * ld_c + i] + (bias != nullptr ? bias[j] : 0.0f));
}

}  // namespace

const DenseKernelSet& DenseKernels() {
  static const DenseKernelSet set = [] {
    DenseKernelSet s;
    s.lanes = kLanes;
    s.gemv_max_m = 3;
    s.f16_to_f32 = F16ToF32;
    s.gemv = Gemv;
    s.writeback = Writeback;
    s.main_tile = MainTile;
    s.tail_tile = TailTile;
    return s;
  }();
  return set;
}

}  // namespace sparq::cpu::avx2
