// native/cpu/int8_cpu_avx512.cc: AVX-512 int8 accumulators (exactness and the VNNI bias: int8_cpu.h).
// Register tile: MR rows of CA × 4 rows of W, 4·MR zmm accumulators run over the whole k_pad; each
// step loads the 4 W vectors once for the MR rows.
//   AccBw    32 k per step: vpmovsxbw to int16, vpmaddwd, vpaddd.
//   AccVnni  64 k per step: CA ^ 0x80 = CA + 128 as u8, vpdpbusd; −128·row_sums at the end.
//   Outlier  16 output columns per zmm, 4 rows' fma chains interleaved.
// GCC 12's AVX-512 intrinsics start from a self-initialised "undefined" vector and warn inside
// the header once inlined; the values are fully defined.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include "cpu/int8_cpu.h"

// After every #include: only this file's own functions get the ISA (STYLE.md §11).
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq")

namespace sparq::cpu::int8::avx512 {
namespace {

constexpr int kMr = 4;  // CA rows per register tile
constexpr int kNr = 4;  // W rows per register tile (= kColGroup)
static_assert(kNr == kColGroup, "one register tile spans one kCpu column group");

inline __m512i LoadI16(const int8_t* p) {  // 32 int8 → 32 int16
  return _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

// Sum of the 16 lanes mod 2³² (not _mm512_reduce_add_epi32: GCC spells it with signed vector adds,
// undefined — and flagged by UBSan — when the VNNI kernel's biased partial sums wrap).
inline uint32_t ReduceAdd(__m512i v) {
  const __m256i s = _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
  __m128i x = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
  x = _mm_add_epi32(x, _mm_shuffle_epi32(x, _MM_SHUFFLE(1, 0, 3, 2)));
  x = _mm_add_epi32(x, _mm_shuffle_epi32(x, _MM_SHUFFLE(2, 3, 0, 1)));
  return static_cast<uint32_t>(_mm_cvtsi128_si32(x));
}

template <int MR>
void BwTile(const AccTile& t, int64_t r0, int64_t c0) {
  const int8_t* a[MR];
  const int8_t* b[kNr];
#pragma GCC unroll 4
  for (int r = 0; r < MR; ++r) a[r] = t.ca + (r0 + r) * t.k_pad;
#pragma GCC unroll 4
  for (int c = 0; c < kNr; ++c) b[c] = t.cb + (c0 + c) * t.k_pad;
  __m512i acc[MR][kNr];
#pragma GCC unroll 4
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int c = 0; c < kNr; ++c) acc[r][c] = _mm512_setzero_si512();
  for (int64_t kk = 0; kk < t.k_pad; kk += 32) {
    __m512i bv[kNr];
#pragma GCC unroll 4
    for (int c = 0; c < kNr; ++c) bv[c] = LoadI16(b[c] + kk);
#pragma GCC unroll 4
    for (int r = 0; r < MR; ++r) {
      const __m512i av = LoadI16(a[r] + kk);
#pragma GCC unroll 4
      for (int c = 0; c < kNr; ++c) acc[r][c] = _mm512_add_epi32(acc[r][c], _mm512_madd_epi16(av, bv[c]));
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int c = 0; c < kNr; ++c) t.acc[(r0 + r) * t.ld_acc + c0 + c] = static_cast<int32_t>(ReduceAdd(acc[r][c]));
}

template <void (*Tile1)(const AccTile&, int64_t, int64_t), void (*Tile2)(const AccTile&, int64_t, int64_t),
          void (*Tile3)(const AccTile&, int64_t, int64_t), void (*Tile4)(const AccTile&, int64_t, int64_t)>
void RunTiles(const AccTile& t) {
  for (int64_t c0 = 0; c0 < t.cols; c0 += kNr) {
    int64_t r0 = 0;
    for (; r0 + kMr <= t.rows; r0 += kMr) Tile4(t, r0, c0);
    switch (t.rows - r0) {
      case 3: Tile3(t, r0, c0); break;
      case 2: Tile2(t, r0, c0); break;
      case 1: Tile1(t, r0, c0); break;
      default: break;
    }
  }
}

}  // namespace

void AccBw(const AccTile& t) { RunTiles<&BwTile<1>, &BwTile<2>, &BwTile<3>, &BwTile<4>>(t); }

namespace {
template <int MR>
void OutlierRows(const OutlierTile& t, int64_t r0, int64_t c0, __mmask16 mask) {
  __m512 o[MR];
#pragma GCC unroll 4
  for (int r = 0; r < MR; ++r) o[r] = _mm512_setzero_ps();
  for (int64_t q = 0; q < t.n_out; ++q) {
    const __m512 wv = _mm512_maskz_loadu_ps(mask, t.wo + q * t.ld_wo + c0);
#pragma GCC unroll 4
    for (int r = 0; r < MR; ++r) o[r] = _mm512_fmadd_ps(_mm512_set1_ps(t.xo[(r0 + r) * t.ld_xo + q]), wv, o[r]);
  }
#pragma GCC unroll 4
  for (int r = 0; r < MR; ++r) _mm512_mask_storeu_ps(t.o + (r0 + r) * t.ld_o + c0, mask, o[r]);
}
}  // namespace

void Outlier(const OutlierTile& t) {
  for (int64_t c0 = 0; c0 < t.cols; c0 += 16) {
    const int64_t left = t.cols - c0;
    const __mmask16 mask = left >= 16 ? __mmask16(0xffff) : __mmask16((1u << left) - 1u);
    int64_t r = 0;
    for (; r + 4 <= t.rows; r += 4) OutlierRows<4>(t, r, c0, mask);
    for (; r < t.rows; ++r) OutlierRows<1>(t, r, c0, mask);
  }
}

// ---------------------------------------------------------------- VNNI (its own target)
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")
namespace {

template <int MR>
void VnniTile(const AccTile& t, int64_t r0, int64_t c0) {
  const int8_t* a[MR];
  const int8_t* b[kNr];
#pragma GCC unroll 4
  for (int r = 0; r < MR; ++r) a[r] = t.ca + (r0 + r) * t.k_pad;
#pragma GCC unroll 4
  for (int c = 0; c < kNr; ++c) b[c] = t.cb + (c0 + c) * t.k_pad;
  const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
  __m512i acc[MR][kNr];
#pragma GCC unroll 4
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int c = 0; c < kNr; ++c) acc[r][c] = _mm512_setzero_si512();
  for (int64_t kk = 0; kk < t.k_pad; kk += 64) {
    __m512i bv[kNr];
#pragma GCC unroll 4
    for (int c = 0; c < kNr; ++c) bv[c] = _mm512_loadu_si512(b[c] + kk);
#pragma GCC unroll 4
    for (int r = 0; r < MR; ++r) {
      const __m512i av = _mm512_xor_si512(_mm512_loadu_si512(a[r] + kk), bias);  // CA + 128 as u8
#pragma GCC unroll 4
      for (int c = 0; c < kNr; ++c) acc[r][c] = _mm512_dpbusd_epi32(acc[r][c], av, bv[c]);
    }
  }
  // acc = Σ (CA+128)·CB − 128·row_sums, all mod 2³² (the lanes wrap; the true acc fits an int32).
#pragma GCC unroll 4
  for (int c = 0; c < kNr; ++c) {
    const uint32_t correction = static_cast<uint32_t>(t.row_sums[c0 + c]) << 7;
#pragma GCC unroll 4
    for (int r = 0; r < MR; ++r) {
      const uint32_t s = ReduceAdd(acc[r][c]);
      t.acc[(r0 + r) * t.ld_acc + c0 + c] = static_cast<int32_t>(s - correction);
    }
  }
}

}  // namespace

void AccVnni(const AccTile& t) { RunTiles<&VnniTile<1>, &VnniTile<2>, &VnniTile<3>, &VnniTile<4>>(t); }
#pragma GCC pop_options

}  // namespace sparq::cpu::int8::avx512
