// native/cpu/int8_cpu_avx2.cc: AVX2 int8 accumulators (exactness: int8_cpu.h). 16 k per step:
// vpmovsxbw to int16, vpmaddwd (exact int32 pair sums), vpaddd — never vpmaddubsw, whose int16 pair
// sums saturate. Register tile: MR ≤ 2 rows of CA × 4 rows of W (8 ymm accumulators, 4 W vectors
// and one CA vector: 13 of the 16 ymm). Outlier: 8 output columns per ymm (vfmadd, masked tails),
// 4 rows' fma chains interleaved.
#include <immintrin.h>

#include "cpu/int8_cpu.h"

// After every #include: only this file's own functions get the ISA (STYLE.md §11).
#pragma GCC target("avx2,fma")

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

template <int MR>
void Tile(const AccTile& t, int64_t r0, int64_t c0) {
  const int8_t* a[MR];
  const int8_t* b[kNr];
#pragma GCC unroll 2
  for (int r = 0; r < MR; ++r) a[r] = t.ca + (r0 + r) * t.k_pad;
#pragma GCC unroll 4
  for (int c = 0; c < kNr; ++c) b[c] = t.cb + (c0 + c) * t.k_pad;
  __m256i acc[MR][kNr];
#pragma GCC unroll 2
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int c = 0; c < kNr; ++c) acc[r][c] = _mm256_setzero_si256();
  for (int64_t kk = 0; kk < t.k_pad; kk += 16) {
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
    for (int c = 0; c < kNr; ++c) t.acc[(r0 + r) * t.ld_acc + c0 + c] = HSum(acc[r][c]);
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

void Acc(const AccTile& t) {
  for (int64_t c0 = 0; c0 < t.cols; c0 += kNr) {
    int64_t r0 = 0;
    for (; r0 + kMr <= t.rows; r0 += kMr) Tile<kMr>(t, r0, c0);
    if (r0 < t.rows) Tile<1>(t, r0, c0);
  }
}

}  // namespace sparq::cpu::int8::avx2
