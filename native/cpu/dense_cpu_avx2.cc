// native/cpu/dense_cpu_avx2.cc: AVX2+FMA micro-kernels for the dense fp16 GEMM (driver and
// layout: dense_cpu.cc, isa_kernels.h). 16 ymm: 12 accumulators + one operand set + one streamed vector.
#include <immintrin.h>

#include "cpu/isa_kernels.h"
#include "cpu/row_blocks.h"

// After every #include: only this file's own functions get the ISA (STYLE.md §11).
#pragma GCC target("avx2,fma,f16c")

namespace sparq::cpu::avx2 {
namespace {

constexpr int kLanes = 8;  // fp32 per ymm = m rows per X vector
// Not std::min: no template from a header may be instantiated under this file's target (STYLE.md §11).
constexpr int64_t Min(int64_t a, int64_t b) { return a < b ? a : b; }

constexpr int64_t kPrefetchAheadElems = 2048;  // as in the AVX-512 kernel

// 8 fp16 from src, zero past `left`.
__m256 LoadHalf8(const uint16_t* src, int64_t left) {
  if (left >= kLanes) return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src)));
  alignas(16) uint16_t tmp[kLanes] = {};
  for (int64_t l = 0; l < left; ++l) tmp[l] = src[l];
  return _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(tmp)));
}

template <bool CONVERT>
__m256 PanelVector(const DenseBlockArgs& b, int j, int64_t kk) {
  float* row = b.wp + j * kDenseWpStrideElems;
  if constexpr (CONVERT) {
    const uint16_t* src = b.w + j * b.ld_w + kk;
    _mm_prefetch(reinterpret_cast<const char*>(src + kPrefetchAheadElems), _MM_HINT_T0);
    const __m256 v = LoadHalf8(src, b.kc_len - kk);
    _mm256_store_ps(row + kk, v);
    return v;
  } else {
    return _mm256_load_ps(row + kk);
  }
}

using Vec = __m256;
inline Vec VLoad(const float* p) { return _mm256_load_ps(p); }
inline void VStore(float* p, Vec v) { _mm256_store_ps(p, v); }
inline Vec VZero() { return _mm256_setzero_ps(); }
inline Vec VFma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
constexpr int kMaxAccumulators = 12;  // of 16 ymm
#include "cpu/dense_micro_body.inc"

DenseMicroKernelFn KernelFor(int mr, int nr) {
  (void)nr;  // every tile is 4 columns wide
  return KernelFor<4>(mr);
}

// 3 x 4 blocks (7 loads per 12 FMAs) and a 1..2-row tail; KC as in the AVX-512 file.
DenseTile MainTile(int64_t m) {
  constexpr int kNr = 4;
  const int mr = static_cast<int>(Min(m, kMaxAccumulators / kNr));
  return {mr, kNr, kDenseKcMaxElems, KernelFor(mr, kNr)};
}

DenseTile TailTile(int mr_left, const DenseTile& main) {
  return {mr_left, main.nr, main.kc, KernelFor(mr_left, main.nr)};
}

float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// W rows per group for M rows of X. At m = 1 four streams read faster than six, as on AVX-512
// (dense_cpu_avx512.cc): 2026-12-06, the avx2 ISA forced on Zen 5, C++ loop over DenseMatmulF16,
// rotated weights, the two alternated in one process, medians ms, 6 → 4 rows: 2 threads 4096²
// 0.625 → 0.607 and 0.616 → 0.603, 4096×14336 2.24 → 1.94 and 2.21 → 1.98, 14336×4096 2.21 → 2.16
// and 2.18 → 2.16, 8192² 2.57 → 2.51 and 2.50 → 2.45; 1 thread 4096² 1.33 → 1.28, 4096×14336 3.70
// → 3.63 (against 4 rows: 3 rows 15% slower on 4096², 8 level to 8% slower). Each row is its own
// chain: same bits.
template <int M>
constexpr int GemvRows() {
  return M <= 2 ? 4 : 3;
}

constexpr int kGemvFirstPassRows = 3;
#include "cpu/dense_gemv_passes.inc"

// R rows of W against M rows of X over whole k; the k tail (< 8) is finished in scalar.
template <int M, int R>
void GemvRowsKernel(const float* x, const uint16_t* w, int64_t k, int64_t row_stride, float* out, int64_t out_stride,
                    int64_t ld_out) {
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
    if ((k0 & 31) == 0) {  // once per 64-byte line of each row
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r)
        _mm_prefetch(reinterpret_cast<const char*>(w + r * row_stride + k0 + kGemvPrefetchElems), _MM_HINT_T0);
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + r * row_stride + k0));
      const __m256 wv = _mm256_cvtph_ps(h);
#pragma GCC unroll 4
      for (int i = 0; i < M; ++i) acc[r][i] = _mm256_fmadd_ps(wv, xv[i], acc[r][i]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int i = 0; i < M; ++i) {
      float s = HorizontalSum(acc[r][i]);
      for (int64_t kk = k0; kk < k; ++kk) s += x[i * k + kk] * scalar::F16ToF32One(w[r * row_stride + kk]);
      out[i * ld_out + r * out_stride] = s;
    }
  }
}

void Gemv(const float* x, int m, const uint16_t* w, int64_t k, int64_t n_begin, int64_t n_end,
          float* out) {
  switch (m) {
    case 1: return GemvM<1>(x, w, k, n_begin, n_end, out);
    case 2: return GemvM<2>(x, w, k, n_begin, n_end, out);
    case 3: return GemvM<3>(x, w, k, n_begin, n_end, out);
    case 4: return GemvTwoPasses<1>(x, w, k, n_begin, n_end, out);
    case 5: return GemvTwoPasses<2>(x, w, k, n_begin, n_end, out);
    case 6: return GemvTwoPasses<3>(x, w, k, n_begin, n_end, out);
    default:
      switch (m % kGemvFirstPassRows) {
        case 0: return GemvPasses<0>(x, m, w, k, n_begin, n_end, out);
        case 1: return GemvPasses<1>(x, m, w, k, n_begin, n_end, out);
        default: return GemvPasses<2>(x, m, w, k, n_begin, n_end, out);
      }
  }
}

// Lane j of the result = the sum of the 8 lanes of v[j]: lanes l and l+4 first, then l and l+2,
// l and l+1 -- the same tree for every j.
__m256 SumLanes8(const __m256 (&v)[kLanes]) {
  __m256 s4[4], s2[2];
#pragma GCC unroll 4
  for (int t = 0; t < 4; ++t)  // 128-bit halves: lanes 0-3 from v[2t], 4-7 from v[2t+1]
    s4[t] = _mm256_add_ps(_mm256_permute2f128_ps(v[2 * t], v[2 * t + 1], 0x20),
                          _mm256_permute2f128_ps(v[2 * t], v[2 * t + 1], 0x31));
#pragma GCC unroll 2
  for (int t = 0; t < 2; ++t)  // 128-bit lane q: outputs 4t+q, 4t+2+q, two partials each
    s2[t] = _mm256_add_ps(_mm256_shuffle_ps(s4[2 * t], s4[2 * t + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                          _mm256_shuffle_ps(s4[2 * t], s4[2 * t + 1], _MM_SHUFFLE(3, 2, 3, 2)));
  // Element 4q+r holds output 2r+q.
  const __m256 s = _mm256_add_ps(_mm256_shuffle_ps(s2[0], s2[1], _MM_SHUFFLE(2, 0, 2, 0)),
                                 _mm256_shuffle_ps(s2[0], s2[1], _MM_SHUFFLE(3, 1, 3, 1)));
  return _mm256_permutevar8x32_ps(s, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

void Writeback(const float* c, int nr, int64_t m, int64_t cols, const float* bias, uint16_t* y,
               int64_t ld_y) {
  for (int64_t j0 = 0; j0 < cols; j0 += kLanes) {
    const int64_t width = Min(kLanes, cols - j0);
    alignas(32) float b[kLanes] = {};
    if (bias != nullptr)
      for (int64_t j = 0; j < width; ++j) b[j] = bias[j0 + j];
    for (int64_t i = 0; i < m; ++i) {
      __m256 v[kLanes];
      const float* row = c + (i * nr + j0) * kLanes;
      for (int j = 0; j < kLanes; ++j) v[j] = j < width ? _mm256_load_ps(row + j * kLanes) : _mm256_setzero_ps();
      const __m128i h = _mm256_cvtps_ph(_mm256_add_ps(SumLanes8(v), _mm256_load_ps(b)), _MM_FROUND_TO_NEAREST_INT);
      alignas(16) uint16_t out[kLanes];
      _mm_store_si128(reinterpret_cast<__m128i*>(out), h);
      for (int64_t j = 0; j < width; ++j) y[i * ld_y + j0 + j] = out[j];
    }
  }
}

// ------------------------------------------------------------------ rows-on-lanes prefill
// dense_rows_body.inc's panel loop (chunks of panels, the k block outermost, the next panel's W
// rows prefetched from inside the kernel) with the one-row-per-lane form on ymm: a 16-row block of xt is two ymm per k, and the 12-column panel runs as two halves
// of 6 columns, so 2 × 6 = 12 accumulators, 2 X vectors and a broadcast fit the 16 ymm. Per k: 2
// loads and 6 broadcasts per 12 FMAs. (The k-quad form on ymm would hold 2 rows × 4 k: 8 rows
// and 3 columns per 12 accumulators.)
constexpr int kRowsHalfCols = kDenseRowsCols / 2;

// c[c0 + j][16·mb + lane] (+)= Σ_kk panel[c0 + j][kk] · xt[mb][k0 + kk][lane], j < 6, lane < 16.
// pf_rows > 0: every 4th k prefetches one line into L1, 8 lines from each of pf_rows W rows
// (pf_stride bytes apart from pf): the next panel's fill then reads from L1.
void RowsMicro(const float* xt_base, int64_t xt_k, const float* panel, int c0, float* c, int64_t m_pad, int64_t mb,
               int64_t k0, int64_t kc_len, uintptr_t pf, int64_t pf_stride, int pf_rows) {
  __m256 acc[2][kRowsHalfCols];
  float* cb = c + c0 * m_pad + mb * 16;
#pragma GCC unroll 6
  for (int j = 0; j < kRowsHalfCols; ++j) {
    acc[0][j] = k0 > 0 ? _mm256_load_ps(cb + j * m_pad) : _mm256_setzero_ps();
    acc[1][j] = k0 > 0 ? _mm256_load_ps(cb + j * m_pad + kLanes) : _mm256_setzero_ps();
  }
  const float* xt = xt_base + (mb * xt_k + k0) * 16;
  const float* pn = panel + c0 * kDenseRowsKc;
  for (int64_t kk = 0; kk < kc_len; ++kk) {
    if (const int64_t t = kk / 4; kk % 4 == 0 && t < pf_rows * 8)
      _mm_prefetch(reinterpret_cast<const char*>(pf + uintptr_t((t >> 3) * pf_stride + (t & 7) * 64)), _MM_HINT_T0);
    const __m256 x0 = _mm256_load_ps(xt + kk * 16), x1 = _mm256_load_ps(xt + kk * 16 + kLanes);
#pragma GCC unroll 6
    for (int j = 0; j < kRowsHalfCols; ++j) {
      const __m256 w = _mm256_broadcast_ss(pn + j * kDenseRowsKc + kk);
      acc[0][j] = _mm256_fmadd_ps(x0, w, acc[0][j]);
      acc[1][j] = _mm256_fmadd_ps(x1, w, acc[1][j]);
    }
  }
#pragma GCC unroll 6
  for (int j = 0; j < kRowsHalfCols; ++j) {
    _mm256_store_ps(cb + j * m_pad, acc[0][j]);
    _mm256_store_ps(cb + j * m_pad + kLanes, acc[1][j]);
  }
}

#include "cpu/panel_tail_avx2.inc"

inline Vec VLoadHalf(const uint16_t* src, int64_t left) { return LoadHalf8(src, left); }
inline Vec VLoadHalfFull(const uint16_t* src) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src))); }
inline int64_t RowsCPerOutput(const DenseRowsArgs&) { return 1; }
inline bool ReadsWInPlace(const DenseRowsArgs&) { return false; }
inline float ColumnOutput(const DenseRowsArgs&, const float* c_col, int64_t i) { return c_col[i]; }
// Rows from RowsTailBegin (a last block of 1–12 past 16) run panel_tail_avx2.inc's kernel; the
// rows gemm starts at m = 16, so every other block holds 16 rows or 13–15 (the 2-ymm kernel's).
void RunPanel(const DenseRowsArgs& a, const float* panel, float* c, int64_t /*j0*/, int64_t /*cols*/, int64_t k0,
              int64_t kc_len, uintptr_t pf) {
  const int64_t tail_begin = RowsTailBegin(a.m, kDenseRowsTailRowsAvx2);
  if (tail_begin < a.m)
    TailRowsPanel(a.xt + tail_begin * a.k + k0, a.k, a.m - tail_begin, panel, kDenseRowsKc, kDenseRowsCols, c + tail_begin,
                  a.m_pad, k0, kc_len);
  for (int64_t mb = 0; mb < (tail_begin + 15) / 16; ++mb) {  // (whole blocks of 16 and, past 8 tail rows, the last)
    for (int c0 = 0; c0 < kDenseRowsCols; c0 += kRowsHalfCols)
      RowsMicro(a.xt, a.k, panel, c0, c, a.m_pad, mb, k0, kc_len, pf + uintptr_t(c0 * 2 * a.k), 2 * a.k,
                mb == 0 ? kRowsHalfCols : 0);
  }
}
#include "cpu/dense_rows_body.inc"

}  // namespace

const DenseKernelSet& DenseKernels() {
  static const DenseKernelSet set = [] {
    DenseKernelSet s;
    s.lanes = kLanes;
    // 4–6 rows: two passes per group of W rows (GemvTwoPasses), 1.7–1.9× faster than the dot-form
    // GEMM there (2026-12-02, Zen 5 with the avx2 ISA forced, 2 threads, builds alternated: m = 4
    // on 4096² 2.60 → 1.39 ms, m = 6 on 14336×4096 10.2 → 5.55)
    // 7–15 rows: passes of 3 (GemvPasses), the same bits as the dot form that had them where k is
    // a multiple of 8 (else the GEMV's scalar k tail can move the last bit of a few outputs) and
    // 0.59–0.78× its time (2026-12-05, the avx2 ISA forced on Zen 5, 1 thread, alternated in one
    // process, min ms on 4096²: m = 7 4.52 → 3.12, m = 8 4.31 → 3.05, m = 12 5.54 → 4.31, m = 15
    // 9.06 → 5.38; the dot form was 2.8× the GEMV's time per row from m = 6 to m = 7).
    s.gemv_max_m = 15;
    s.f16_to_f32 = F16ToF32;
    s.gemv = Gemv;
    s.writeback = Writeback;
    s.main_tile = MainTile;
    s.tail_tile = TailTile;
    s.rows_gemm = RowsGemm;
    s.rows_gemm_min_m = 16;
    return s;
  }();
  return set;
}

}  // namespace sparq::cpu::avx2
