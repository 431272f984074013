// native/cpu/int8_cpu_avx512.cc: AVX-512 int8 accumulators (exactness and the VNNI bias: int8_cpu.h).
// Register tile: MR rows of CA × 4 rows of W, 4·MR zmm accumulators; each step loads the 4 W
// vectors once for the MR rows.
//   AccBw    32 k per step over the whole k_pad: vpmovsxbw to int16, vpmaddwd, vpaddd.
//   AccVnni  64 k per step: per chunk of ≤ 32 CA rows and k block of ≤ 32 KiB / rows bytes of the
//            biased activations CA ^ 0x80 = CA + 128 (u8, made once per call by the driver), each
//            4×4 register tile runs vpdpbusd over the block and folds its 16 zmm into acc; acc
//            starts at −128·row_sums.
//            Tiles of ≥ kPanelMinRows rows take the panel form instead (AccVnniPanel, below).
//   Outlier  16 output columns per zmm, 4 rows' fma chains interleaved.
// GCC 12's AVX-512 intrinsics start from a self-initialised "undefined" vector and warn inside
// the header once inlined; the values are fully defined.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include "cpu/int8_cpu.h"

// After every #include: only this file's own functions get the ISA (STYLE.md §11).
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq")

#ifndef SPARQ_INT8_PF_HINT
#define SPARQ_INT8_PF_HINT _MM_HINT_T0
#endif

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

// CA rows r0.. × the 4 W rows c0 + c·cs (c = 0..3; RunTiles).
template <int MR>
void BwTile(const AccTile& t, int64_t r0, int64_t c0, int64_t cs) {
  const int8_t* a[MR];
  const int8_t* b[kNr];
#pragma GCC unroll 4
  for (int r = 0; r < MR; ++r) a[r] = t.ca + (r0 + r) * t.k_pad;
#pragma GCC unroll 4
  for (int c = 0; c < kNr; ++c) b[c] = t.cb + (c0 + c * cs) * t.k_pad;
  __m512i acc[MR][kNr];
#pragma GCC unroll 4
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int c = 0; c < kNr; ++c) acc[r][c] = _mm512_setzero_si512();
  // The first row tile streams the group's W rows in and, from 2 rows of CA, also prefetches the
  // next group's (NextGroupRowsBytes), as AccVnni does: each group starts 4 fresh pages, where the
  // hardware prefetchers stop.
  // Alternated call by call (2026-12-07, Zen 5 with this kernel forced, 2 threads, a C++ loop over
  // Int8MatmulCpu, rotated weight copies, medians ms), none → prefetch: m = 3 4096² 0.356 → 0.289,
  // 14336×4096 1.163 → 0.997, 4096×14336 1.202 → 0.990, 8192² 1.347 → 1.157; m = 4 13–21% faster;
  // m = 8 and 16 up to 20% faster on k = 4096, within −3..+5% on k = 8192 and 14336; m = 2 and 64
  // level. At one row (streaming ~55–60 GB/s) it measured level to 11% slower, so MR = 1 has none.
  const uintptr_t pf_step = uintptr_t(NextGroupRowsBytes(cs, t.k_pad));
  const bool prefetch = MR > 1 && r0 == 0;
  for (int64_t kk = 0; kk < t.k_pad; kk += 32) {
    if (prefetch && kk % 64 == 0) {
#pragma GCC unroll 4
      for (int c = 0; c < kNr; ++c)
        _mm_prefetch(reinterpret_cast<const char*>(reinterpret_cast<uintptr_t>(b[c] + kk) + pf_step), SPARQ_INT8_PF_HINT);
    }
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
    for (int c = 0; c < kNr; ++c) t.acc[(r0 + r) * t.ld_acc + c0 + c * cs] = static_cast<int32_t>(ReduceAdd(acc[r][c]));
}

// Tile j's 4 W rows are j + i·q (i = 0..3), a quarter of the tile's columns apart, as in AccVnni
// below (which says why; integer sums, so no bit changes). The BW kernel then had no software
// prefetch (it has one from 2 rows since, BwTile), so the 4 streams helped it most: alternated
// call by call (2026-12-07, Zen 5 with the kernel forced, 2 threads, rotated weight copies, the
// decode W blocks both ways, medians ms), adjacent → far apart, m = 1: 4096² 0.496 → 0.335, 14336×4096 1.602 → 1.014, 4096×14336 1.555 → 0.896, 8192²
// 1.698 → 1.032; m = 4 22–32% faster, m = 16 9–13%, m = 64 2–4%.
using TileFn = void (*)(const AccTile&, int64_t, int64_t, int64_t);
template <TileFn Tile1, TileFn Tile2, TileFn Tile3, TileFn Tile4>
void RunTiles(const AccTile& t) {
  const int64_t q = t.cols / kNr;
  for (int64_t j = 0; j < q; ++j) {
    int64_t r0 = 0;
    for (; r0 + kMr <= t.rows; r0 += kMr) Tile4(t, r0, j, q);
    switch (t.rows - r0) {
      case 3: Tile3(t, r0, j, q); break;
      case 2: Tile2(t, r0, j, q); break;
      case 1: Tile1(t, r0, j, q); break;
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

// ---------------------------------------------------------------- the fp32 steps, 16 lanes
// The contract's activation and output steps (sparq/int8.h) with one IEEE operation per scalar
// one: vcvtph2ps is exact, vdivps correctly rounded, vcvtps2dq rounds to nearest even under the
// default MXCSR (= RneToInt for |q| ≤ 128), vcvtps2ph with imm 0 is round-to-nearest-even.
float QuantRow(const uint16_t* x, const uint8_t* is_outlier, int64_t k, int64_t k_pad, int8_t* ca) {
  // rowStat: vmaxps(a, b) returns b when a is NaN, so a NaN |x| leaves the running max (std::max).
  __m512 run = _mm512_setzero_ps();
  for (int64_t c = 0; c < k; c += 16) {
    const __mmask16 in = k - c >= 16 ? __mmask16(0xffff) : __mmask16((1u << (k - c)) - 1u);
    const __mmask16 keep = _mm_mask_cmpeq_epi8_mask(in, _mm_maskz_loadu_epi8(in, is_outlier + c), _mm_setzero_si128());
    const __m512 ax = _mm512_abs_ps(_mm512_cvtph_ps(_mm256_maskz_loadu_epi16(keep, x + c)));
    run = _mm512_max_ps(ax, run);
  }
  const float stat = _mm512_reduce_max_ps(run);  // no NaN in run: any order gives the same max
  const __m512 vstat = _mm512_set1_ps(stat), scale = _mm512_set1_ps(kCodeScale);
  const __m512 lo = _mm512_set1_ps(-128.0f), hi = _mm512_set1_ps(127.0f);
  for (int64_t c = 0; c < k_pad; c += 16) {
    const __mmask16 in = k - c >= 16 ? __mmask16(0xffff) : k > c ? __mmask16((1u << (k - c)) - 1u) : __mmask16(0);
    __mmask16 ok = _mm_mask_cmpeq_epi8_mask(in, _mm_maskz_loadu_epi8(in, is_outlier + c), _mm_setzero_si128());
    if (stat == 0.0f) ok = 0;
    const __m512 q = _mm512_div_ps(_mm512_mul_ps(_mm512_cvtph_ps(_mm256_maskz_loadu_epi16(in, x + c)), scale), vstat);
    ok &= _mm512_cmp_ps_mask(q, lo, _CMP_GE_OQ) & _mm512_cmp_ps_mask(q, hi, _CMP_LE_OQ);  // NaN: neither
    _mm_storeu_si128(reinterpret_cast<__m128i*>(ca + c), _mm512_cvtepi32_epi8(_mm512_maskz_cvtps_epi32(ok, q)));
  }
  return stat;
}

void Epilogue(const EpilogueRow& e) {
  const __m512 stat = _mm512_set1_ps(e.row_stat), scale2 = _mm512_set1_ps(kCodeScale2);
  for (int64_t c = 0; c < e.cols; c += 16) {
    const __mmask16 in = e.cols - c >= 16 ? __mmask16(0xffff) : __mmask16((1u << (e.cols - c)) - 1u);
    const __m512 a = _mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(in, e.acc + c));
    __m512 v = _mm512_div_ps(_mm512_mul_ps(_mm512_mul_ps(a, stat), _mm512_maskz_loadu_ps(in, e.scb + c)), scale2);
    v = _mm512_add_ps(v, e.o != nullptr ? _mm512_maskz_loadu_ps(in, e.o + c) : _mm512_setzero_ps());
    if (e.bias != nullptr) v = _mm512_add_ps(v, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(in, e.bias + c)));
    _mm256_mask_storeu_epi16(e.y + c, in, _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
  }
}

// ---------------------------------------------------------------- the VNNI panels
// A panel is the 16 rows' dwords (4 bytes of k) transposed: per 64 bytes of k, 16 row vectors in,
// 16 panel vectors out (the 16 × 16 dword transpose: unpack 32, unpack 64, two 128-bit shuffles).
// The scalar byte loop it replaces took longer than quantizing the rows.
void MakePanel(const int8_t* ca, int64_t rows, int64_t k_pad, uint8_t* biased, uint8_t* panel) {
  const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
  for (int64_t kk = 0; kk < k_pad; kk += 64) {
    __m512i r[16];
#pragma GCC unroll 16
    for (int l = 0; l < 16; ++l) {
      if (l < rows) {
        r[l] = _mm512_xor_si512(_mm512_loadu_si512(ca + l * k_pad + kk), bias);
        _mm512_storeu_si512(biased + l * k_pad + kk, r[l]);
      } else {
        r[l] = bias;  // the biased zero code
      }
    }
    __m512i t[16], u[16];
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) {  // per 128-bit lane: [a0 b0 a1 b1], [a2 b2 a3 b3]
      t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
      t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {  // u[4i + j], lane L: dword 4L + j of rows 4i .. 4i + 3
      u[4 * i] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
      u[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
      u[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
      u[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
    }
    uint8_t* out = panel + kk * kPanelRows;  // dword g = 4L + j of the 64 bytes: out + 64g
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      const __m512i v0 = _mm512_shuffle_i32x4(u[j], u[4 + j], 0x88), w0 = _mm512_shuffle_i32x4(u[j], u[4 + j], 0xdd);
      const __m512i v1 = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0x88),
                    w1 = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0xdd);
      _mm512_storeu_si512(out + 64 * j, _mm512_shuffle_i32x4(v0, v1, 0x88));        // lane 0
      _mm512_storeu_si512(out + 64 * (4 + j), _mm512_shuffle_i32x4(w0, w1, 0x88));  // lane 1
      _mm512_storeu_si512(out + 64 * (8 + j), _mm512_shuffle_i32x4(v0, v1, 0xdd));  // lane 2
      _mm512_storeu_si512(out + 64 * (12 + j), _mm512_shuffle_i32x4(w0, w1, 0xdd)); // lane 3
    }
  }
}

// ---------------------------------------------------------------- VNNI (its own target)
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")
namespace {

// Rows of CA per chunk and bytes of k per block: a chunk's k block (≤ 32 KiB of biased CA, rows
// k_pad apart) stays in L1d (48 KiB on Sapphire Rapids) while every 4×4 register tile re-reads it
// next to the 4 W rows it streams.
constexpr int64_t kVnniRowChunk = 32;
// A panel tile's last rows past a multiple of 16, up to this many, run on the dot form (AccVnni).
constexpr int64_t kPanelTailDotMaxRows = 8;
constexpr int64_t kVnniChunkBytes = 32 << 10;

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
// With pf set, each k step also prefetches the same bytes of the next group's 4 W rows (pf, ldb
// apart; AccVnni: the row after each of this group's): a row is 4 KiB at k = 4096, so each group
// starts 4 fresh pages and the hardware prefetchers, which stop at page ends, would leave the first
// lines of each to demand misses. Only the first row tile of a group passes it; the others find the
// rows in cache.
template <int MR>
__attribute__((noinline)) void VnniMicro(const uint8_t* a, int64_t lda, const int8_t* b, int64_t ldb, int64_t kc,
                                         const int8_t* pf, __m512i* s) {
  __m512i acc[MR][kNr];
#pragma GCC unroll 4
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int c = 0; c < kNr; ++c) acc[r][c] = _mm512_setzero_si512();
  for (int64_t kk = 0; kk < kc; kk += 64) {
    if (pf != nullptr) {
#pragma GCC unroll 4
      for (int c = 0; c < kNr; ++c) _mm_prefetch(reinterpret_cast<const char*>(pf + c * ldb + kk), SPARQ_INT8_PF_HINT);
    }
    __m512i bv[kNr];
#pragma GCC unroll 4
    for (int c = 0; c < kNr; ++c) bv[c] = _mm512_loadu_si512(b + c * ldb + kk);
#pragma GCC unroll 4
    for (int r = 0; r < MR; ++r) {
      const __m512i av = _mm512_loadu_si512(a + r * lda + kk);
#pragma GCC unroll 4
      for (int c = 0; c < kNr; ++c) acc[r][c] = _mm512_dpbusd_epi32(acc[r][c], av, bv[c]);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int c = 0; c < kNr; ++c) s[r * kNr + c] = acc[r][c];
}

// VnniMicro, then its 4·MR sums added (mod 2³²) to acc[r][c·acc_cs] (c = 0..3; the W rows' own
// columns): the 16 zmm fold into one with 45 shuffles/adds instead of 16 separate horizontal sums.
template <int MR>
void VnniBlock(const uint8_t* a, int64_t lda, const int8_t* b, int64_t ldb, int64_t kc, const int8_t* pf,
               int32_t* acc, int64_t ld_acc, int64_t acc_cs) {
  __m512i s[4 * kNr];
  VnniMicro<MR>(a, lda, b, ldb, kc, pf, s);
  __m512i v[4];
#pragma GCC unroll 4
  for (int r = 0; r < 4; ++r)
    v[r] = r < MR ? LaneSums4(s[r * kNr], s[r * kNr + 1], s[r * kNr + 2], s[r * kNr + 3]) : _mm512_setzero_si512();
  alignas(64) int32_t sum[16];
  _mm512_store_si512(sum, SumLanes4(v[0], v[1], v[2], v[3]));
#pragma GCC unroll 4
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int c = 0; c < kNr; ++c)
      acc[r * ld_acc + c * acc_cs] = int32_t(uint32_t(acc[r * ld_acc + c * acc_cs]) + uint32_t(sum[4 * r + c]));
}

// ---- panel form: lanes over 16 CA rows (rows of the tile ≥ kPanelMinRows)
// MZ panels (16·MZ CA rows) × NR W rows over one k block: per 4 bytes of k, MZ panel loads, NR
// broadcasts of 4 W bytes and MZ·NR vpdpbusd. The sums land lane = row, so they add into the
// tile's transposed accumulators (acc_t[c][r]) a vector at a time and no horizontal sum is ever
// taken. Two prefetches per W row and 64-byte step of k:
//  - the line kPanelPfBytes ahead in the same row, into L1;
//  - the same line of the next micro tile's row (NR rows on), into L2. Each W row is its own 4 KiB
//    page at k = 4096, so the hardware prefetchers start every micro tile cold; fetching the next
//    tile while this one computes took m = 16, 4096² from 2.36 to 1.73 ms on one Zen 4 core
//    (native bench, 2026-12-01). The address is formed as an integer: past the last tile it points
//    beyond W, and a prefetch of any address is harmless where a pointer past the end would not be.
constexpr int64_t kPanelPfBytes = 256;

template <int MZ, int NR>
__attribute__((noinline)) void PanelMicro(const uint8_t* xp, int64_t panel_stride, const int8_t* b, int64_t ldb,
                                          int64_t kc, __m512i* s) {
  __m512i acc[MZ][NR];
#pragma GCC unroll 12
  for (int c = 0; c < NR; ++c)
#pragma GCC unroll 4
    for (int z = 0; z < MZ; ++z) acc[z][c] = _mm512_setzero_si512();
  const uintptr_t next_tile = reinterpret_cast<uintptr_t>(b) + uintptr_t(NR * ldb);
  for (int64_t k0 = 0; k0 < kc; k0 += 64) {
#pragma GCC unroll 12
    for (int c = 0; c < NR; ++c) {
      _mm_prefetch(reinterpret_cast<const char*>(b + c * ldb + k0 + kPanelPfBytes), SPARQ_INT8_PF_HINT);
      _mm_prefetch(reinterpret_cast<const char*>(next_tile + uintptr_t(c * ldb + k0)), _MM_HINT_T1);
    }
    const uint8_t* x = xp + k0 * kPanelRows;
#pragma GCC unroll 4
    for (int64_t g = 0; g < 16; ++g) {
      __m512i xv[MZ];
#pragma GCC unroll 4
      for (int z = 0; z < MZ; ++z) xv[z] = _mm512_loadu_si512(x + z * panel_stride + g * 64);
#pragma GCC unroll 12
      for (int c = 0; c < NR; ++c) {
        int32_t w4;
        __builtin_memcpy(&w4, b + c * ldb + k0 + 4 * g, 4);
        const __m512i wv = _mm512_set1_epi32(w4);
#pragma GCC unroll 4
        for (int z = 0; z < MZ; ++z) acc[z][c] = _mm512_dpbusd_epi32(acc[z][c], xv[z], wv);
      }
    }
  }
#pragma GCC unroll 12
  for (int c = 0; c < NR; ++c)
#pragma GCC unroll 4
    for (int z = 0; z < MZ; ++z) s[c * MZ + z] = acc[z][c];
}

// One micro tile over the k block [k0, k0 + kc): its sums stored (first block) or added (mod 2³²)
// into acc_t[c][r] (rows_pad apart).
template <int MZ, int NR>
void PanelBlock(const AccTile& t, int64_t r0, int64_t c0, int64_t k0, int64_t kc, int64_t rows_pad) {
  __m512i s[MZ * NR];
  PanelMicro<MZ, NR>(t.ca_panel + r0 * t.k_pad + k0 * kPanelRows, kPanelRows * t.k_pad, t.cb + c0 * t.k_pad + k0,
                     t.k_pad, kc, s);
#pragma GCC unroll 12
  for (int c = 0; c < NR; ++c)
#pragma GCC unroll 4
    for (int z = 0; z < MZ; ++z) {
      int32_t* to = t.acc_t + (c0 + c) * rows_pad + r0 + z * kPanelRows;
      const __m512i v = k0 == 0 ? s[c * MZ + z] : _mm512_add_epi32(_mm512_loadu_si512(to), s[c * MZ + z]);
      _mm512_storeu_si512(to, v);
    }
}

// Micro tile shapes. The W rows of a micro tile are k_pad apart, and at k_pad = 4096 (or any
// multiple) all their lines fall in one L1 set, where they and the panel lines evict each other
// before a line's 16 uses once they outnumber the ways; the more panels share each broadcast, the
// more work hides each refetch. In-cache micro tiles at k = 4096 on Zen 4 (8-way L1d), % of the
// vpdpbusd peak: <1, 12> 61%, <1, 8> 89%, <2, 12> 88%, <2, 8> 90–92%, <3, 8> 98%, <4, 6> 98%.
// So the tile's rows go 4 panels at a time (24 accumulators: 4 panel loads and 6 broadcasts per
// 24 vpdpbusd), and what is left in 3, 2 or 1: a pair takes 12 W rows where the L1d has 12 ways
// or more (Sapphire Rapids, where <2, 12> was tuned), else 8 (AccTile::panel_pair_w_rows).
// (Three or four panels once measured 1.5× and 3× slower: their loops over panels were unrolled
// by 2, so GCC kept the accumulator arrays in memory. Every loop over panels unrolls by 4.)
constexpr int kPanelNrQuad = 6;
constexpr int kPanelNrTriple = 8;
constexpr int kPanelNrPair = 12;
constexpr int kPanelNrPairNarrow = 8;
constexpr int kPanelNrSingle = 8;

// Column groups of NR W rows (in twos when NR is not a multiple of 4, so what is left stays one),
// then of 8 where 8·MZ accumulators fit, then of 4 (cols is a multiple of kColGroup).
template <int MZ, int NR>
void PanelRows(const AccTile& t, int64_t r0, int64_t k0, int64_t kc, int64_t rows_pad) {
  static_assert(MZ * NR <= 24 && (NR % kColGroup == 0 || (2 * NR) % kColGroup == 0), "micro tile shape");
  int64_t c0 = 0;
  if constexpr (NR % kColGroup == 0) {
    for (; c0 + NR <= t.cols; c0 += NR) PanelBlock<MZ, NR>(t, r0, c0, k0, kc, rows_pad);
  } else {
    for (; c0 + 2 * NR <= t.cols; c0 += 2 * NR) {
      PanelBlock<MZ, NR>(t, r0, c0, k0, kc, rows_pad);
      PanelBlock<MZ, NR>(t, r0, c0 + NR, k0, kc, rows_pad);
    }
  }
  if constexpr (NR > 8 && MZ * 8 <= 24) {
    if (c0 + 8 <= t.cols) {
      PanelBlock<MZ, 8>(t, r0, c0, k0, kc, rows_pad);
      c0 += 8;
    }
  }
  for (; c0 < t.cols; c0 += 4) PanelBlock<MZ, 4>(t, r0, c0, k0, kc, rows_pad);
}

// The whole k, or past kPanelWholeKMax k blocks of kPanelKBytes; per block, groups of kPanelMz
// panels, then the 3, 2 or 1 left. Then acc from the transposed sums, less 128·row_sums.
void AccVnniPanel(const AccTile& t) {
  static_assert(kPanelMz == 4, "AccVnniPanel runs groups of 4 panels");
  static_assert(kPanelKBytes % kKStep == 0, "k blocks end on k steps");
  const int64_t rows_pad = (t.rows + kPanelRows - 1) / kPanelRows * kPanelRows;
  const int64_t k_block = t.k_pad <= kPanelWholeKMax ? t.k_pad : kPanelKBytes;
  for (int64_t k0 = 0; k0 < t.k_pad; k0 += k_block) {
    const int64_t kc = t.k_pad - k0 < k_block ? t.k_pad - k0 : k_block;
    int64_t r0 = 0;
    for (; r0 + 4 * kPanelRows <= rows_pad; r0 += 4 * kPanelRows) PanelRows<4, kPanelNrQuad>(t, r0, k0, kc, rows_pad);
    switch ((rows_pad - r0) / kPanelRows) {
      case 3: PanelRows<3, kPanelNrTriple>(t, r0, k0, kc, rows_pad); break;
      case 2:
        if (t.panel_pair_w_rows == kPanelNrPair) PanelRows<2, kPanelNrPair>(t, r0, k0, kc, rows_pad);
        else PanelRows<2, kPanelNrPairNarrow>(t, r0, k0, kc, rows_pad);
        break;
      case 1: PanelRows<1, kPanelNrSingle>(t, r0, k0, kc, rows_pad); break;
      default: break;
    }
  }
  AccFromPanelSums(t, t.cols, rows_pad);
}

}  // namespace

// Chunks of ≤ kVnniRowChunk CA rows; per chunk, k blocks of kc bytes: every (4 W rows) × (4 CA
// rows) register tile over the block of the biased activations the driver made once per call. A
// tile's 4 W rows are a quarter of the tile's columns apart (since 2026-12-07; before, 4 adjacent
// rows, each group 4 fresh streams a row long, as the dense GEMV's were until 2026-12-06). Integer
// sums: no bit changes. Alternated call by call in one process (Zen 5, 2 threads, a C++ loop over
// Int8MatmulCpu, rotated weight copies, threshold 6 with 4 outlier columns, medians ms), adjacent →
// far apart: m = 1 4096² 0.372–0.398 → 0.333–0.351, 14336×4096 1.225–1.241 → 1.083–1.090,
// 4096×14336 1.342–1.350 → 1.184–1.189, 8192² 1.423–1.503 → 1.237–1.319; m = 4 8–14% faster,
// m = 8 3–11%.
void AccVnni(const AccTile& t) {
  if (t.ca_panel != nullptr && t.rows >= kPanelMinRows) {
    // A tile whose last panel holds only a few rows (m just past a multiple of 16): the whole panels
    // on the panel form, those rows on the dot form below rather than as a 16-row panel of mostly
    // padding. Both give the exact accumulators, so the same bits.
    const int64_t tail = t.rows % kPanelRows;
    if (tail == 0 || tail > kPanelTailDotMaxRows) return AccVnniPanel(t);
    AccTile head = t;
    head.rows = t.rows - tail;
    AccVnniPanel(head);
    AccTile rest = t;
    rest.rows = tail;
    rest.ca = t.ca + head.rows * t.k_pad;
    rest.ca_biased = t.ca_biased + head.rows * t.k_pad;
    rest.ca_panel = nullptr;
    rest.acc_t = nullptr;
    rest.acc = t.acc + head.rows * t.ld_acc;
    return AccVnni(rest);
  }
  // acc starts at −128·row_sums (mod 2³²); the blocks add Σ (CA+128)·CB.
  for (int64_t r = 0; r < t.rows; ++r)
    for (int64_t c = 0; c < t.cols; ++c)
      t.acc[r * t.ld_acc + c] = static_cast<int32_t>(0u - (static_cast<uint32_t>(t.row_sums[c]) << 7));
  const int64_t lda = t.k_pad;
  for (int64_t r0 = 0; r0 < t.rows; r0 += kVnniRowChunk) {
    const int64_t rows = t.rows - r0 < kVnniRowChunk ? t.rows - r0 : kVnniRowChunk;
    int64_t kc = kVnniChunkBytes / rows / 64 * 64;
    if (kc > t.k_pad) kc = t.k_pad;
    for (int64_t k0 = 0; k0 < t.k_pad; k0 += kc) {
      const int64_t kb = t.k_pad - k0 < kc ? t.k_pad - k0 : kc;
      const uint8_t* a0 = t.ca_biased + r0 * lda + k0;
      // Group j takes W rows j + i·q (i = 0..3): each of its 4 streams reads a quarter of the tile's
      // rows front to back, and prefetches the rows the next group reads (NextGroupRowsBytes).
      const int64_t q = t.cols / kNr;
      const int64_t ldb = q * t.k_pad, pf_step = NextGroupRowsBytes(q, t.k_pad);
      for (int64_t j = 0; j < q; ++j) {
        const int8_t* b = t.cb + j * t.k_pad + k0;
        int32_t* acc = t.acc + r0 * t.ld_acc + j;
        const int8_t* pf = r0 == 0 ? b + pf_step : nullptr;  // the first row chunk streams W in
        int64_t r = 0;
        for (; r + kMr <= rows; r += kMr, pf = nullptr)
          VnniBlock<4>(a0 + r * lda, lda, b, ldb, kb, pf, acc + r * t.ld_acc, t.ld_acc, q);
        switch (rows - r) {
          case 3: VnniBlock<3>(a0 + r * lda, lda, b, ldb, kb, pf, acc + r * t.ld_acc, t.ld_acc, q); break;
          case 2: VnniBlock<2>(a0 + r * lda, lda, b, ldb, kb, pf, acc + r * t.ld_acc, t.ld_acc, q); break;
          case 1: VnniBlock<1>(a0 + r * lda, lda, b, ldb, kb, pf, acc + r * t.ld_acc, t.ld_acc, q); break;
          default: break;
        }
      }
    }
  }
}
#pragma GCC pop_options

}  // namespace sparq::cpu::int8::avx512
