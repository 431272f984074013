// native/cpu/dense_cpu_avx512.cc: AVX-512 micro-kernels for the dense fp16 GEMM (driver and
// layout: dense_cpu.cc, isa_kernels.h). 32 zmm: up to 24 accumulators + one operand set + one streamed vector.
// GCC 12's AVX-512 headers seed unused lanes with a self-initialized `__Y = __Y`, which
// -W(maybe-)uninitialized reports at every inlined intrinsic; the lanes are never read.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#include <cstring>

#include "cpu/isa_kernels.h"
#include "cpu/row_blocks.h"

// After every #include: only this file's own functions get the ISA (STYLE.md §11).
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c")

namespace sparq::cpu::avx512 {
namespace {

constexpr int kLanes = 16;  // fp32 per zmm = m rows per X vector
// Not std::min: no template from a header may be instantiated under this file's target (STYLE.md §11).
constexpr int64_t Min(int64_t a, int64_t b) { return a < b ? a : b; }

__mmask16 TailMask(int64_t left) {
  return left >= kLanes ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << left) - 1u);
}

// How far ahead along a W row (fp16 elements) the converting kernel prefetches: four KC blocks,
// so the rows stream from memory while the FMAs run (1024..8192 measured within noise).
constexpr int64_t kPrefetchAheadElems = 2048;

// Lane-wise W[j][kk..kk+16) of the panel: converted from fp16 (and stored to wp for the later m
// blocks) when CONVERT, else loaded from wp.
template <bool CONVERT>
__m512 PanelVector(const DenseBlockArgs& b, int j, int64_t kk) {
  float* row = b.wp + j * kDenseWpStrideElems;
  if constexpr (CONVERT) {
    const uint16_t* src = b.w + j * b.ld_w + kk;
    _mm_prefetch(reinterpret_cast<const char*>(src + kPrefetchAheadElems), _MM_HINT_T0);
    const __m512 v = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(TailMask(b.kc_len - kk), src));
    _mm512_store_ps(row + kk, v);
    return v;
  } else {
    return _mm512_load_ps(row + kk);
  }
}

using Vec = __m512;
inline Vec VLoad(const float* p) { return _mm512_load_ps(p); }
inline void VStore(float* p, Vec v) { _mm512_store_ps(p, v); }
inline Vec VZero() { return _mm512_setzero_ps(); }
inline Vec VFma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
constexpr int kMaxAccumulators = 24;  // of 32 zmm
#include "cpu/dense_micro_body.inc"

DenseMicroKernelFn KernelFor(int mr, int nr) { return nr == 4 ? KernelFor<4>(mr) : KernelFor<6>(mr); }

// Up to 6 rows: one block of m x 4. Otherwise 4 x 6 blocks (10 loads per 24 FMAs) and a 1..3-row
// tail with the same panel. KC = 512: the 6-row panel block is 12 KB of L1; the x block streams
// from L2 (4 lines per 12 FMA cycles) and c is loaded and stored once per 32 steps.
DenseTile MainTile(int64_t m) {
  const int nr = m <= kMaxAccumulators / 4 ? 4 : 6;
  const int mr = static_cast<int>(Min(m, nr == 4 ? kMaxAccumulators / 4 : 4));
  return {mr, nr, kDenseKcMaxElems, KernelFor(mr, nr)};
}

DenseTile TailTile(int mr_left, const DenseTile& main) {
  return {mr_left, main.nr, main.kc, KernelFor(mr_left, main.nr)};
}

// Rows of W at a time for M rows of X: R*M accumulators, R conversions feed R*M FMAs. At m = 1
// four streams read faster than eight once each is prefetched (2026-12-02, builds alternated, 2
// threads: 4096×14336 1.96–2.73 ms against 2.62–3.58, 4096² level to 15% faster); with 4 rows the
// FMA chains are still far from the latency bound (4 chains, 64 weights per 4 cycles).
template <int M>
constexpr int GemvRows() {
  return M == 2 ? 6 : 4;
}

constexpr int kGemvFirstPassRows = 4;
#include "cpu/dense_gemv_passes.inc"

template <int M, int R>
void GemvRowsKernel(const float* x, const uint16_t* w, int64_t k, int64_t row_stride, float* out, int64_t out_stride,
                    int64_t ld_out) {
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
    if ((k0 & 31) == 0) {
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r)
        _mm_prefetch(reinterpret_cast<const char*>(w + r * row_stride + k0 + kGemvPrefetchElems), _MM_HINT_T0);
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512 wv = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, w + r * row_stride + k0));
#pragma GCC unroll 4
      for (int i = 0; i < M; ++i) acc[r][i] = _mm512_fmadd_ps(wv, xv[i], acc[r][i]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int i = 0; i < M; ++i) out[i * ld_out + r * out_stride] = _mm512_reduce_add_ps(acc[r][i]);
}

void Gemv(const float* x, int m, const uint16_t* w, int64_t k, int64_t n_begin, int64_t n_end,
          float* out) {
  switch (m) {
    case 1: return GemvM<1>(x, w, k, n_begin, n_end, out);
    case 2: return GemvM<2>(x, w, k, n_begin, n_end, out);
    case 3: return GemvM<3>(x, w, k, n_begin, n_end, out);
    case 4: return GemvM<4>(x, w, k, n_begin, n_end, out);
    case 5: return GemvTwoPasses<1>(x, w, k, n_begin, n_end, out);
    case 6: return GemvTwoPasses<2>(x, w, k, n_begin, n_end, out);
    case 7: return GemvTwoPasses<3>(x, w, k, n_begin, n_end, out);
    case 8: return GemvTwoPasses<4>(x, w, k, n_begin, n_end, out);
    default:
      switch (m % kGemvFirstPassRows) {
        case 0: return GemvPasses<0>(x, m, w, k, n_begin, n_end, out);
        case 1: return GemvPasses<1>(x, m, w, k, n_begin, n_end, out);
        case 2: return GemvPasses<2>(x, m, w, k, n_begin, n_end, out);
        default: return GemvPasses<3>(x, m, w, k, n_begin, n_end, out);
      }
  }
}

// Lane j of the result = the sum of the 16 lanes of v[j]: lanes l and l+8 first, then l and l+4,
// l and l+2, l and l+1 -- the same tree for every j.
__m512 SumLanes16(const __m512 (&v)[kLanes]) {
  __m512 s8[8], s4[4], s2[2];
#pragma GCC unroll 8
  for (int t = 0; t < 8; ++t)  // 256-bit halves: lanes 0-7 from v[2t], 8-15 from v[2t+1]
    s8[t] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * t], v[2 * t + 1], 0x44),
                          _mm512_shuffle_f32x4(v[2 * t], v[2 * t + 1], 0xEE));
#pragma GCC unroll 4
  for (int t = 0; t < 4; ++t)  // 128-bit lane q holds output 4t+q
    s4[t] = _mm512_add_ps(_mm512_shuffle_f32x4(s8[2 * t], s8[2 * t + 1], 0x88),
                          _mm512_shuffle_f32x4(s8[2 * t], s8[2 * t + 1], 0xDD));
#pragma GCC unroll 2
  for (int t = 0; t < 2; ++t)  // lane q: outputs 8t+q, 8t+4+q, two partials each
    s2[t] = _mm512_add_ps(_mm512_shuffle_ps(s4[2 * t], s4[2 * t + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                          _mm512_shuffle_ps(s4[2 * t], s4[2 * t + 1], _MM_SHUFFLE(3, 2, 3, 2)));
  // Element 4q+r holds output 4r+q.
  const __m512 s = _mm512_add_ps(_mm512_shuffle_ps(s2[0], s2[1], _MM_SHUFFLE(2, 0, 2, 0)),
                                 _mm512_shuffle_ps(s2[0], s2[1], _MM_SHUFFLE(3, 1, 3, 1)));
  const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  return _mm512_permutexvar_ps(order, s);
}

void Writeback(const float* c, int nr, int64_t m, int64_t cols, const float* bias, uint16_t* y,
               int64_t ld_y) {
  for (int64_t j0 = 0; j0 < cols; j0 += kLanes) {
    const int64_t width = Min(kLanes, cols - j0);
    const __mmask16 mask = TailMask(width);
    const __m512 b = bias != nullptr ? _mm512_maskz_loadu_ps(mask, bias + j0) : _mm512_setzero_ps();
    for (int64_t i = 0; i < m; ++i) {
      __m512 v[kLanes];
      const float* row = c + (i * nr + j0) * kLanes;
      for (int j = 0; j < kLanes; ++j) v[j] = j < width ? _mm512_load_ps(row + j * kLanes) : _mm512_setzero_ps();
      const __m256i h = _mm512_cvtps_ph(_mm512_add_ps(SumLanes16(v), b), _MM_FROUND_TO_NEAREST_INT);
      _mm256_mask_storeu_epi16(y + i * ld_y + j0, mask, h);
    }
  }
}

// ------------------------------------------------------------------ rows-on-lanes prefill
// The k-quad form (panel_gemm_avx512.inc, isa_kernels.h): a.xt is X's quad blocks and c holds 4
// partial sums per output; the panel loop is dense_rows_body.inc's. Measured on the 2026-12-03
// Intel Xeon (2 threads, alternated in one process, min of 20 calls, ms), one-row-per-lane
// kernel panel by panel → this: 4096² m = 16 8.05 → 6.59, m = 64 18.9 → 14.5, m = 128 34.7 →
// 28.1; 14336×4096 m = 16 20.2 → 16.2, m = 64 66.3 → 47.3; m = 256 level.
constexpr int kPanelKc = kDenseRowsKc;
#include "cpu/panel_gemm_avx512.inc"

inline Vec VLoadHalf(const uint16_t* src, int64_t left) {
  return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(TailMask(left), src));
}
inline Vec VLoadHalfFull(const uint16_t* src) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src))); }

// Up to two row blocks of X (m ≤ 32) the kernel takes its weights straight from W's fp16 rows:
// 4 halves by one broadcast load (vpbroadcastq: the load port's work) and one vcvtph2ps give the
// quad's four k in every 128-bit lane, the panel's broadcast without the panel, whose fill (the
// conversion, 12 KiB of stores and their reloads per panel) one or two blocks share too little. In
// an L1 loop on Zen 5 (2026-12-05) the kernel ran at 97% of the FMA peak either way (216 against
// 219 GFLOP/s a core). In the op W's rows are 2k bytes apart (at k a multiple of 2048 all in the
// same 8 L1 sets), so each call prefetches only the 6 rows of the call after it — this panel's
// second half, then the next panel's first — not the next panel's 12 as the fill's kernel does:
// with those the in-place form ran level with the fill (m = 16, 4096² 2.07 against 2.07 ms,
// 14336×4096 7.30 against 7.13). Node, cpu backend, 2 threads, the forms alternated in one process
// (both orders, median of 24 rounds of 5 calls, rotated weights), fill → in place, ms: m = 16 4096²
// 1.85–1.86 → 1.64–1.67, 8192² 7.09–7.24 → 6.37–6.42, 14336×4096 6.33–6.45 → 5.72–5.79, 4096×14336
// 6.25–6.50 → 5.51–5.90; m = 13 0.88–0.89× on all four; m = 32 4096² 3.26–3.40 → 3.11–3.27,
// 14336×4096 11.1 → 10.7–10.8, 4096×14336 10.9–11.4 → 10.5–11.0; m = 24 0.97–0.99×. Same bits.
constexpr int64_t kInPlaceMaxRows = 32;
inline bool ReadsWInPlace(const DenseRowsArgs& a) { return a.m_pad <= kInPlaceMaxRows; }
// Read in place, W stays in the k-quad form (its fp16 pair would cost a vcvtph2ps per 2 FMAs of a
// block: panel_gemm_avx512.inc); the filled panels run the form PanelKGroup picks for m.
int RowsKGroup(int64_t m) { return (m + kLanes - 1) / kLanes * kLanes <= kInPlaceMaxRows ? 4 : PanelKGroup(m); }
inline int64_t RowsCPerOutput(const DenseRowsArgs& a) { return a.k_group; }
inline float ColumnOutput(const DenseRowsArgs& a, const float* c_col, int64_t i) {
  return ColumnOutputInForm(a.k_group, c_col, i, a.m);
}
constexpr int kQuadColumns = KGroupForm<4>::kColumns;
static_assert(kQuadColumns == kTailColumns, "F16RowQuads serves the tail kernel's calls too");
struct F16RowQuads {
  static constexpr int kKGroup = 4;
  const uint16_t* row[kQuadColumns];  // column j's W row at the block's k0 (kZeroRow past n)
  __m512 Group(int j, int64_t kk) const {
    int64_t q;
    std::memcpy(&q, row[j] + kk, sizeof q);
    return _mm512_cvtph_ps(_mm256_set1_epi64x(q));
  }
  // Only the `left` halves that exist are read: past k is the next W row or the end of W.
  __m512 TailGroup(int j, int64_t kk, int left) const {
    const __m128i h = _mm_maskz_loadu_epi16(__mmask8((1u << left) - 1u), row[j] + kk);
    return _mm512_cvtph_ps(_mm256_broadcastq_epi64(h));
  }
  __m512 Sixteen(int j, int64_t kk, int64_t left) const {
    if (left >= kLanes) return VLoadHalfFull(row[j] + kk);
    return VLoadHalf(row[j] + kk, left);
  }
};
alignas(64) constexpr uint16_t kZeroRow[kDenseRowsKc] = {};  // the columns of a panel past n
void RunPanel(const DenseRowsArgs& a, const float* panel, float* c, int64_t j0, int64_t cols, int64_t k0,
              int64_t kc_len, uintptr_t pf) {
  if (panel != nullptr) {
    PanelAllRowsInForm<kDenseRowsCols>(a.k_group, a.xt, a.k, panel, c, a.m, a.m_pad, k0, kc_len, pf, 2 * a.k,
                                       kDenseRowsCols);
    return;
  }
  const int64_t quads = (a.k + 3) / 4;
  const auto rows_at = [&](int j) {
    F16RowQuads src;
    for (int q = 0; q < kQuadColumns; ++q) src.row[q] = j + q < cols ? a.w + (j0 + j + q) * a.k + k0 : kZeroRow;
    return src;
  };
  // Each call prefetches the rows the next one reads: the first half this panel's second half's,
  // the second half the next panel's first (pf: where the next fill would read).
  const uintptr_t second_half = reinterpret_cast<uintptr_t>(a.w) + 2 * uintptr_t((j0 + kQuadColumns) * a.k + k0);
  GroupColumnsAllRows<kDenseRowsCols>(
      a.xt, quads, rows_at, c, a.m, a.m_pad, k0, kc_len, [&](int j) { return j == 0 ? second_half : pf; }, 2 * a.k,
      kDenseRowsCols);
}
#include "cpu/dense_rows_body.inc"

}  // namespace

const DenseKernelSet& DenseKernels() {
  static const DenseKernelSet set = [] {
    DenseKernelSet s;
    s.lanes = kLanes;
    // 5–8 rows: two passes per group of W rows (GemvTwoPasses), 15–30% faster than the dot-form
    // GEMM there (2026-12-02, Zen 5, 2 threads, builds alternated: m = 8 on 4096² 1.57 → 1.21 ms,
    // on 14336×4096 6.62 → 4.59). 9–12 rows: three passes (GemvPasses), the same bits as the
    // dot form that had them (k on the lanes, one chain per lane in k order, the same lane sum),
    // 0.73–0.82× its time (2026-12-05, Zen 5, 1 thread, alternated in one process, min ms: 4096²
    // m = 9 2.98 → 2.40, m = 12 3.76 → 3.10; 11008×4096 m = 9 10.9 → 8.1, m = 12 16.3 → 11.9).
    // The dot form now serves only the scalar ISA.
    s.gemv_max_m = 12;
    s.f16_to_f32 = F16ToF32;
    s.gemv = Gemv;
    s.writeback = Writeback;
    s.main_tile = MainTile;
    s.tail_tile = TailTile;
    s.rows_gemm = RowsGemm;
    // The k-quad form from m = 13 (was 16, for the one-row-per-lane form): alternated with the dot
    // form on the 2026-12-03 Intel Xeon (2 threads, median ms), 4096² m = 9 3.37 dot / 4.30 quad,
    // m = 12 4.07 / 4.31, m = 13 4.32 / 4.26, m = 14 3.91 / 3.58, m = 15 5.23 / 4.40; 14336×4096
    // m = 13 14.6 / 13.6, m = 14 13.1 / 11.5. (AVX2's dot form still wins up to m = 15 there.)
    s.rows_gemm_min_m = 13;
    s.rows_k_group = RowsKGroup;
    return s;
  }();
  return set;
}

}  // namespace sparq::cpu::avx512
