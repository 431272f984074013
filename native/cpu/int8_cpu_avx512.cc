// native/cpu/int8_cpu_avx512.cc: AVX-512 int8 accumulators (exactness and the VNNI bias: int8_cpu.h).
// Register tile: MR rows of CA × 4 rows of W, 4·MR zmm accumulators; each step loads the 4 W
// vectors once for the MR rows.
//   AccBw    32 k per step over the whole k_pad: vpmovsxbw to int16, vpmaddwd, vpaddd.
//   AccVnni  64 k per step: per chunk of ≤ 32 CA rows and k block of ≤ 32 KiB / rows bytes, the
//            block is copied once as CA ^ 0x80 = CA + 128 (u8) into an L1 buffer, then each 4×4
//            register tile runs vpdpbusd over it and folds its 16 zmm into acc; acc starts at
//            −128·row_sums.
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

// Rows of CA per chunk and the L1 copy of a chunk's k block: rows × kc ≤ kVnniBufBytes biased
// bytes (CA + 128), so the block every 4×4 register tile of the chunk re-reads sits in L1d (48 KiB
// on Sapphire Rapids) next to the 4 W rows it streams.
constexpr int64_t kVnniRowChunk = 32;
constexpr int64_t kVnniBufBytes = 32 << 10;

// Per 128-bit lane, the partial sums of c0..c3 over that lane: [Σc0, Σc1, Σc2, Σc3] (mod 2³²).
inline __m512i LaneSums4(__m512i c0, __m512i c1, __m512i c2, __m512i c3) {
  const __m512i s01 = _mm512_add_epi32(_mm512_unpacklo_epi32(c0, c1), _mm512_unpackhi_epi32(c0, c1));
  const __m512i s23 = _mm512_add_epi32(_mm512_unpacklo_epi32(c2, c3), _mm512_unpackhi_epi32(c2, c3));
  return _mm512_add_epi32(_mm512_unpacklo_epi64(s01, s23), _mm512_unpackhi_epi64(s01, s23));
}
// Lane r of the result = the sum of v_r's four 128-bit lanes.
inline __m512i SumLanes4(__m512i v0, __m512i v1, __m512i v2, __m512i v3) {
  const __m512i w01 = _mm512_add_epi32(_mm512_shuffle_i32x4(v0, v1, 0x88), _mm512_shuffle_i32x4(v0, v1, 0xdd));
  const __m512i w23 = _mm512_add_epi32(_mm512_shuffle_i32x4(v2, v3, 0x88), _mm512_shuffle_i32x4(v2, v3, 0xdd));
  return _mm512_add_epi32(_mm512_shuffle_i32x4(w01, w23, 0x88), _mm512_shuffle_i32x4(w01, w23, 0xdd));
}

// MR rows of the biased CA block (a, lda apart) × 4 W rows (b, ldb apart) over kc bytes:
// s[4r + c] = the lane-wise sums of row r × W row c. Kept out of line and spilling its
// accumulators to s once: inlined into its caller (with the reduction after the loop), GCC 12
// splits their live ranges and emits two zmm moves per vpdpbusd, a third of the speed.
template <int MR>
__attribute__((noinline)) void VnniMicro(const uint8_t* a, int64_t lda, const int8_t* b, int64_t ldb, int64_t kc,
                                         __m512i* s) {
  __m512i acc[MR][kNr];
#pragma GCC unroll 4
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int c = 0; c < kNr; ++c) acc[r][c] = _mm512_setzero_si512();
  for (int64_t kk = 0; kk < kc; kk += 64) {
    __m512i bv[kNr];
#pragma GCC unroll 4
    for (int c = 0; c < kNr; ++c) bv[c] = _mm512_loadu_si512(b + c * ldb + kk);
#pragma GCC unroll 4
    for (int r = 0; r < MR; ++r) {
      const __m512i av = _mm512_load_si512(a + r * lda + kk);
#pragma GCC unroll 4
      for (int c = 0; c < kNr; ++c) acc[r][c] = _mm512_dpbusd_epi32(acc[r][c], av, bv[c]);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int c = 0; c < kNr; ++c) s[r * kNr + c] = acc[r][c];
}

// VnniMicro, then its 4·MR sums added (mod 2³²) to acc[r][0..3]: the 16 zmm fold into one with 45
// shuffles/adds instead of 16 separate horizontal sums.
template <int MR>
void VnniBlock(const uint8_t* a, int64_t lda, const int8_t* b, int64_t ldb, int64_t kc, int32_t* acc,
               int64_t ld_acc) {
  __m512i s[4 * kNr];
  VnniMicro<MR>(a, lda, b, ldb, kc, s);
  __m512i v[4];
#pragma GCC unroll 4
  for (int r = 0; r < 4; ++r)
    v[r] = r < MR ? LaneSums4(s[r * kNr], s[r * kNr + 1], s[r * kNr + 2], s[r * kNr + 3]) : _mm512_setzero_si512();
  alignas(64) int32_t sum[16];
  _mm512_store_si512(sum, SumLanes4(v[0], v[1], v[2], v[3]));
#pragma GCC unroll 4
  for (int r = 0; r < MR; ++r) {
    __m128i* o = reinterpret_cast<__m128i*>(acc + r * ld_acc);
    _mm_storeu_si128(o, _mm_add_epi32(_mm_loadu_si128(o), _mm_load_si128(reinterpret_cast<const __m128i*>(sum + 4 * r))));
  }
}

}  // namespace

// Chunks of ≤ kVnniRowChunk CA rows; per chunk, k blocks of kc bytes: the block's CA rows biased
// into an L1 buffer once, then every (4 W rows) × (4 CA rows) register tile over it.
void AccVnni(const AccTile& t) {
  alignas(64) uint8_t buf[kVnniBufBytes];
  const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
  // acc starts at −128·row_sums (mod 2³²); the blocks add Σ (CA+128)·CB.
  for (int64_t r = 0; r < t.rows; ++r)
    for (int64_t c = 0; c < t.cols; ++c)
      t.acc[r * t.ld_acc + c] = static_cast<int32_t>(0u - (static_cast<uint32_t>(t.row_sums[c]) << 7));
  for (int64_t r0 = 0; r0 < t.rows; r0 += kVnniRowChunk) {
    const int64_t rows = t.rows - r0 < kVnniRowChunk ? t.rows - r0 : kVnniRowChunk;
    int64_t kc = kVnniBufBytes / rows / 64 * 64;
    if (kc > t.k_pad) kc = t.k_pad;
    for (int64_t k0 = 0; k0 < t.k_pad; k0 += kc) {
      const int64_t kb = t.k_pad - k0 < kc ? t.k_pad - k0 : kc;
      for (int64_t r = 0; r < rows; ++r) {
        const int8_t* src = t.ca + (r0 + r) * t.k_pad + k0;
        uint8_t* dst = buf + r * kb;
        for (int64_t kk = 0; kk < kb; kk += 64)
          _mm512_store_si512(dst + kk, _mm512_xor_si512(_mm512_loadu_si512(src + kk), bias));  // CA + 128 as u8
      }
      for (int64_t c0 = 0; c0 < t.cols; c0 += kNr) {
        const int8_t* b = t.cb + c0 * t.k_pad + k0;
        int32_t* acc = t.acc + r0 * t.ld_acc + c0;
        int64_t r = 0;
        for (; r + kMr <= rows; r += kMr) VnniBlock<4>(buf + r * kb, kb, b, t.k_pad, kb, acc + r * t.ld_acc, t.ld_acc);
        switch (rows - r) {
          case 3: VnniBlock<3>(buf + r * kb, kb, b, t.k_pad, kb, acc + r * t.ld_acc, t.ld_acc); break;
          case 2: VnniBlock<2>(buf + r * kb, kb, b, t.k_pad, kb, acc + r * t.ld_acc, t.ld_acc); break;
          case 1: VnniBlock<1>(buf + r * kb, kb, b, t.k_pad, kb, acc + r * t.ld_acc, t.ld_acc); break;
          default: break;
        }
      }
    }
  }
}
#pragma GCC pop_options

}  // namespace sparq::cpu::int8::avx512
