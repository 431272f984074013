// native/cpu/int8_cpu_avx2.cc: AVX2 int8 accumulators (exactness: int8_cpu.h). 16 k per step:
// vpmovsxbw to int16, vpmaddwd (exact int32 pair sums), vpaddd — never vpmaddubsw, whose int16 pair
// sums saturate. Register tile: MR ≤ 2 rows of CA × 4 rows of W (8 ymm accumulators, 4 W vectors
// and one CA vector: 13 of the 16 ymm). Outlier: 8 output columns per ymm (vfmadd, masked tails),
// 4 rows' fma chains interleaved. QuantRow / Epilogue: the contract's fp32 steps on 8 lanes (see
// int8_cpu_avx512.cc for why each instruction gives the scalar step's bits); the last < 8 elements
// go through a zero-padded copy so every element takes the same instructions.
#include <immintrin.h>

#include "cpu/int8_cpu.h"

// After every #include: only this file's own functions get the ISA (STYLE.md §11).
#pragma GCC target("avx2,fma,f16c")

namespace sparq::cpu::int8::avx2 {
namespace {

constexpr int kMr = 2;
constexpr int kNr = 4;
static_assert(kNr == kColGroup, "one register tile spans one kCpu column group");

inline __m256i LoadI16(const int8_t* p) {  // 16 int8 → 16 int16
  return _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// Sum of the 8 lanes mod 2³² (unsigned vector adds: no signed overflow even if partial sums wrap).
inline int32_t HSum(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(s);
}

// CA rows r0.. × the 4 W rows c0 + c·cs (c = 0..3). With prefetch set, every 64 bytes of k also
// prefetch the same bytes of the rows the next group reads (NextGroupRowsBytes): see
// int8_cpu_avx512.cc's VnniMicro for why. Only the first row tile of a group
// does; the others find the rows in cache.
template <int MR>
void Tile(const AccTile& t, int64_t r0, int64_t c0, int64_t cs, bool prefetch) {
  const int8_t* a[MR];
  const int8_t* b[kNr];
#pragma GCC unroll 2
  for (int r = 0; r < MR; ++r) a[r] = t.ca + (r0 + r) * t.k_pad;
#pragma GCC unroll 4
  for (int c = 0; c < kNr; ++c) b[c] = t.cb + (c0 + c * cs) * t.k_pad;
  const int64_t pf = NextGroupRowsBytes(cs, t.k_pad);
  __m256i acc[MR][kNr];
#pragma GCC unroll 2
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int c = 0; c < kNr; ++c) acc[r][c] = _mm256_setzero_si256();
  for (int64_t kk = 0; kk < t.k_pad; kk += 16) {
    if (prefetch && kk % 64 == 0) {
#pragma GCC unroll 4
      for (int c = 0; c < kNr; ++c) _mm_prefetch(reinterpret_cast<const char*>(b[c] + pf + kk), _MM_HINT_T0);
    }
    __m256i bv[kNr];
#pragma GCC unroll 4
    for (int c = 0; c < kNr; ++c) bv[c] = LoadI16(b[c] + kk);
#pragma GCC unroll 2
    for (int r = 0; r < MR; ++r) {
      const __m256i av = LoadI16(a[r] + kk);
#pragma GCC unroll 4
      for (int c = 0; c < kNr; ++c) acc[r][c] = _mm256_add_epi32(acc[r][c], _mm256_madd_epi16(av, bv[c]));
    }
  }
#pragma GCC unroll 2
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int c = 0; c < kNr; ++c) t.acc[(r0 + r) * t.ld_acc + c0 + c * cs] = HSum(acc[r][c]);
}

template <int MR>
void OutlierRows(const OutlierTile& t, int64_t r0, int64_t c0, __m256i mask) {
  __m256 o[MR];
#pragma GCC unroll 4
  for (int r = 0; r < MR; ++r) o[r] = _mm256_setzero_ps();
  for (int64_t q = 0; q < t.n_out; ++q) {
    const __m256 wv = _mm256_maskload_ps(t.wo + q * t.ld_wo + c0, mask);
#pragma GCC unroll 4
    for (int r = 0; r < MR; ++r) o[r] = _mm256_fmadd_ps(_mm256_set1_ps(t.xo[(r0 + r) * t.ld_xo + q]), wv, o[r]);
  }
#pragma GCC unroll 4
  for (int r = 0; r < MR; ++r) _mm256_maskstore_ps(t.o + (r0 + r) * t.ld_o + c0, mask, o[r]);
}

}  // namespace

void Outlier(const OutlierTile& t) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (int64_t c0 = 0; c0 < t.cols; c0 += 8) {
    const int64_t left = t.cols - c0;
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(int(left < 8 ? left : 8)), lane);
    int64_t r = 0;
    for (; r + 4 <= t.rows; r += 4) OutlierRows<4>(t, r, c0, mask);
    for (; r < t.rows; ++r) OutlierRows<1>(t, r, c0, mask);
  }
}

namespace {
// |x| of 8 fp16 as fp32, 0 where skip[] ≠ 0.
inline __m256 KeptAbs(const uint16_t* x, const uint8_t* skip) {
  const __m256 v = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x)));
  const __m256i outl = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(skip)));
  const __m256 keep = _mm256_castsi256_ps(_mm256_cmpeq_epi32(outl, _mm256_setzero_si256()));
  return _mm256_and_ps(_mm256_and_ps(v, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff))), keep);
}

// The codes of 8 values (skip[] ≠ 0 → 0) into out[0..8).
inline void Codes8(const uint16_t* x, const uint8_t* skip, __m256 stat, bool zero, int8_t* out) {
  const __m256 xf = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x)));
  const __m256 q = _mm256_div_ps(_mm256_mul_ps(xf, _mm256_set1_ps(kCodeScale)), stat);
  const __m256i outl = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(skip)));
  __m256 ok = _mm256_and_ps(_mm256_cmp_ps(q, _mm256_set1_ps(-128.0f), _CMP_GE_OQ),
                            _mm256_cmp_ps(q, _mm256_set1_ps(127.0f), _CMP_LE_OQ));  // NaN: neither
  ok = _mm256_and_ps(ok, _mm256_castsi256_ps(_mm256_cmpeq_epi32(outl, _mm256_setzero_si256())));
  if (zero) ok = _mm256_setzero_ps();
  const __m256i ci = _mm256_and_si256(_mm256_cvtps_epi32(q), _mm256_castps_si256(ok));
  const __m128i w16 = _mm_packs_epi32(_mm256_castsi256_si128(ci), _mm256_extracti128_si256(ci, 1));
  _mm_storel_epi64(reinterpret_cast<__m128i*>(out), _mm_packs_epi16(w16, w16));
}
}  // namespace

float QuantRow(const uint16_t* x, const uint8_t* is_outlier, int64_t k, int64_t k_pad, int8_t* ca) {
  const int64_t body = k / 8 * 8;
  alignas(16) uint16_t tail_x[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  alignas(16) uint8_t tail_skip[8] = {1, 1, 1, 1, 1, 1, 1, 1};  // lanes past k: not in the max, code 0
  for (int64_t c = body; c < k; ++c) {
    tail_x[c - body] = x[c];
    tail_skip[c - body] = is_outlier[c];
  }
  // vmaxps(a, b) returns b when a is NaN: a NaN |x| leaves the running max, as std::max does.
  __m256 run = _mm256_setzero_ps();
  for (int64_t c = 0; c < body; c += 8) run = _mm256_max_ps(KeptAbs(x + c, is_outlier + c), run);
  if (body < k) run = _mm256_max_ps(KeptAbs(tail_x, tail_skip), run);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, run);
  float stat = 0.0f;  // no NaN in run: any order gives the same max
  for (float v : lanes) stat = v > stat ? v : stat;
  const __m256 vstat = _mm256_set1_ps(stat);
  for (int64_t c = 0; c < body; c += 8) Codes8(x + c, is_outlier + c, vstat, stat == 0.0f, ca + c);
  if (body < k) {
    alignas(8) int8_t codes[8];
    Codes8(tail_x, tail_skip, vstat, stat == 0.0f, codes);
    for (int64_t c = body; c < k; ++c) ca[c] = codes[c - body];
  }
  for (int64_t c = k; c < k_pad; ++c) ca[c] = 0;
  return stat;
}

namespace {
inline __m128i Output8(const int32_t* acc, __m256 stat, const float* scb, const float* o, const uint16_t* bias) {
  const __m256 a = _mm256_cvtepi32_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(acc)));
  __m256 v = _mm256_div_ps(_mm256_mul_ps(_mm256_mul_ps(a, stat), _mm256_loadu_ps(scb)), _mm256_set1_ps(kCodeScale2));
  v = _mm256_add_ps(v, o != nullptr ? _mm256_loadu_ps(o) : _mm256_setzero_ps());
  if (bias != nullptr) v = _mm256_add_ps(v, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(bias))));
  return _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT);
}
}  // namespace

void Epilogue(const EpilogueRow& e) {
  const __m256 stat = _mm256_set1_ps(e.row_stat);
  const int64_t body = e.cols / 8 * 8;
  for (int64_t c = 0; c < body; c += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(e.y + c),
                     Output8(e.acc + c, stat, e.scb + c, e.o != nullptr ? e.o + c : nullptr,
                             e.bias != nullptr ? e.bias + c : nullptr));
  if (body < e.cols) {
    alignas(32) int32_t acc[8] = {};
    alignas(32) float scb[8] = {}, o[8] = {};
    alignas(16) uint16_t bias[8] = {}, y[8];
    for (int64_t c = body; c < e.cols; ++c) {
      acc[c - body] = e.acc[c];
      scb[c - body] = e.scb[c];
      if (e.o != nullptr) o[c - body] = e.o[c];
      if (e.bias != nullptr) bias[c - body] = e.bias[c];
    }
    _mm_store_si128(reinterpret_cast<__m128i*>(y),
                    Output8(acc, stat, scb, e.o != nullptr ? o : nullptr, e.bias != nullptr ? bias : nullptr));
    for (int64_t c = body; c < e.cols; ++c) e.y[c] = y[c - body];
  }
}

// Tile j's 4 W rows are j + i·q (i = 0..3), a quarter of the tile's columns apart, as in
// int8_cpu_avx512.cc's AccVnni (which says why; integer sums, so no bit changes). Alternated call
// by call in one process (Zen 5, 2 threads, C++ loop over Int8MatmulCpu, rotated copies, medians
// ms, two rounds), adjacent → far apart: m = 1 14336×4096 1.826–1.864 → 1.652–1.666, 8192²
// 2.017–2.128 → 1.852–1.977, 4096² and 4096×14336 level (0.48–0.53, 1.65–1.76); m = 4 and 8 level.
void Acc(const AccTile& t) {
  const int64_t q = t.cols / kNr;
  for (int64_t j = 0; j < q; ++j) {
    int64_t r0 = 0;
    for (; r0 + kMr <= t.rows; r0 += kMr) Tile<kMr>(t, r0, j, q, r0 == 0);
    if (r0 < t.rows) Tile<1>(t, r0, j, q, r0 == 0);
  }
}

}  // namespace sparq::cpu::int8::avx2
