// native/cpu/w4a16_int8_cpu_avx2.cc: the AVX2 kernel of W4A16 with int8 activations (function and
// layout: w4a16_int8_cpu.h), for CPUs without AVX-512 VNNI.
//
// A column block's 32 k is two ymm (columns 0–1, columns 2–3; one column per 128-bit lane). The
// products go through vpmaddubsw (u8 codes × s8 X → int16 pair sums) and vpmaddwd by 1 (→ int32
// sums of 4), which is exact here: codes are ≤ 15 and |xq| ≤ 127, so a pair sum is at most 3810 and
// the low- plus high-nibble sums 7620, far from int16 saturation (the pitfall of vpmaddubsw on
// general u8 × s8 data). A quad runs as two halves of 2 blocks (8 columns = one ymm of sums); with
// more than 4 rows a half's codes are split into u8 once and the 2-row passes load them.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include "cpu/w4a16_int8_cpu.h"
#include "cuda/w4a16_layout.cuh"

// After every #include: only this file's own functions get the ISA (STYLE.md §11).
#pragma GCC target("avx2,fma,f16c")

namespace sparq::cpu::w4a16_int8::avx2 {
namespace {

using sparq::w4a16::kCpuChunkK;
using sparq::w4a16::kCpuColBlock;
constexpr int64_t kChunkBytes = kCpuChunkK / 2 * kCpuColBlock;  // 64: one block's 32 k
constexpr int64_t kHalfBlocks = 2;
constexpr int kHalfCols = 8;
constexpr int kMaxRows = 2;  // 2 rows × 4 accumulators + the operands fill the 16 ymm
// Up to this many rows the passes re-read the packed half (from L1/L2 after the first) and split
// the nibbles each time; more rows split the codes once (measured: the split's stores cost more
// than they save at 2 passes, m = 4: 1.1 → 1.4 ms at 4096²; at m = 128 it saves 14%).
constexpr int kMaxRowsUnsplit = 4;
constexpr int64_t kPrefetchBytes = 2048;

// After Reduce4, lane 4h + j holds: j = 0 → block 0 column h, 1 → block 0 column 2 + h,
// 2 → block 1 column h, 3 → block 1 column 2 + h. LaneColumn: the half's column offset of a lane;
// ColumnLane: the lane of a column offset.
constexpr int LaneColumn(int lane) { return 4 * ((lane % 4) / 2) + 2 * (lane % 2) + lane / 4; }
constexpr int ColumnLane(int col) { return 4 * (col % 2) + 2 * (col / 4) + (col / 2) % 2; }

inline __m256i Reduce4(__m256i a, __m256i b, __m256i c, __m256i d) {
  const __m256i ab = _mm256_add_epi32(_mm256_unpacklo_epi32(a, b), _mm256_unpackhi_epi32(a, b));
  const __m256i cd = _mm256_add_epi32(_mm256_unpacklo_epi32(c, d), _mm256_unpackhi_epi32(c, d));
  return _mm256_add_epi32(_mm256_unpacklo_epi64(ab, cd), _mm256_unpackhi_epi64(ab, cd));
}

// tbl[g][8h + L] = fp32 scale of column 8h + LaneColumn(L) of the quad (0 for absent blocks).
void BuildScaleTable(const Problem& p, int64_t col0, int nb, float* tbl) {
  for (int i = 0; i < kQuadCols; ++i) {
    const int64_t off = (i / kHalfCols) * kHalfCols + LaneColumn(i % kHalfCols);
    if (off >= nb * kCpuColBlock) {
      for (int64_t g = 0; g < p.groups_pad; ++g) tbl[g * kQuadCols + i] = 0.0f;
      continue;
    }
    const uint16_t* s = p.scales + (col0 + off) * p.groups_pad;
    for (int64_t g = 0; g < p.groups_pad; ++g) tbl[g * kQuadCols + i] = _cvtsh_ss(s[g]);
  }
}

// Rows [r0, r0 + R) × the NB (1 or 2) column blocks from cb0, over all of k; `tbl` is the half's
// 8 columns of each group's row of the quad's table.
// The half's codes split into u8 once when several passes share them (m > kMaxRowsUnsplit): per chunk,
// block and ymm, 32 bytes of low-nibble codes then 32 of high, in the order HalfRows reads them.
void SplitHalf(const Problem& p, int64_t cb0, int nb, uint8_t* split) {
  const int64_t chunks = p.k_pad / kCpuChunkK, block_bytes = chunks * kChunkBytes;
  const __m256i nibble = _mm256_set1_epi8(0x0F);
  for (int64_t ch = 0; ch < chunks; ++ch)
    for (int b = 0; b < nb; ++b)
      for (int h = 0; h < 2; ++h) {
        const __m256i v = _mm256_loadu_si256(
            reinterpret_cast<const __m256i*>(p.qw + (cb0 + b) * block_bytes + ch * kChunkBytes + 32 * h));
        uint8_t* dst = split + ((ch * nb + b) * 2 + h) * 64;
        _mm256_store_si256(reinterpret_cast<__m256i*>(dst), _mm256_and_si256(v, nibble));
        _mm256_store_si256(reinterpret_cast<__m256i*>(dst + 32), _mm256_and_si256(_mm256_srli_epi16(v, 4), nibble));
      }
}

template <int R, int NB, bool kSplit>
void HalfRows(const Problem& p, int64_t cb0, int64_t r0, const float* tbl, const uint8_t* split) {
  const int64_t chunks = p.k_pad / kCpuChunkK, per_group = p.group_eff / kCpuChunkK;
  const int64_t block_bytes = chunks * kChunkBytes;
  const uint8_t* wq = p.qw + cb0 * block_bytes;
  const __m256i nibble = _mm256_set1_epi8(0x0F);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 sum[R];
  for (int r = 0; r < R; ++r) sum[r] = _mm256_setzero_ps();
  for (int64_t g = 0; g < p.groups_pad; ++g) {
    __m256i acc[R][4];  // [block][ymm of the block]
    for (int r = 0; r < R; ++r)
      for (int a = 0; a < 4; ++a) acc[r][a] = _mm256_setzero_si256();
    for (int64_t ch = g * per_group; ch < (g + 1) * per_group; ++ch) {
      __m256i xlo[R], xhi[R];
      for (int r = 0; r < R; ++r) {
        const int8_t* x = p.xq + (r0 + r) * p.k_pad + ch * kCpuChunkK;
        xlo[r] = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x)));
        xhi[r] = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + 16)));
      }
      for (int b = 0; b < NB; ++b) {
        const uint8_t* w = wq + b * block_bytes + ch * kChunkBytes;
        if (!kSplit) _mm_prefetch(reinterpret_cast<const char*>(w + kPrefetchBytes), _MM_HINT_T0);
        for (int h = 0; h < 2; ++h) {
          __m256i lo, hi;
          if (kSplit) {
            const uint8_t* sp = split + ((ch * NB + b) * 2 + h) * 64;
            lo = _mm256_load_si256(reinterpret_cast<const __m256i*>(sp));
            hi = _mm256_load_si256(reinterpret_cast<const __m256i*>(sp + 32));
          } else {
            const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 32 * h));
            lo = _mm256_and_si256(v, nibble);
            hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), nibble);
          }
          for (int r = 0; r < R; ++r) {
            const __m256i pairs = _mm256_add_epi16(_mm256_maddubs_epi16(lo, xlo[r]), _mm256_maddubs_epi16(hi, xhi[r]));
            acc[r][2 * b + h] = _mm256_add_epi32(acc[r][2 * b + h], _mm256_madd_epi16(pairs, ones));
          }
        }
      }
    }
    const __m256 s = _mm256_loadu_ps(tbl + g * kQuadCols);
    for (int r = 0; r < R; ++r) {
      const int64_t rg = (r0 + r) * p.groups_pad + g;
      const __m256i d = _mm256_sub_epi32(Reduce4(acc[r][0], acc[r][1], acc[r][2], acc[r][3]),
                                         _mm256_set1_epi32(p.xsum8[rg]));
      const __m256 t = _mm256_mul_ps(_mm256_cvtepi32_ps(d), _mm256_set1_ps(p.xs[rg]));
      sum[r] = _mm256_fmadd_ps(t, s, sum[r]);
    }
  }
  const __m256i to_columns = _mm256_setr_epi32(ColumnLane(0), ColumnLane(1), ColumnLane(2), ColumnLane(3),
                                               ColumnLane(4), ColumnLane(5), ColumnLane(6), ColumnLane(7));
  alignas(32) float out[kHalfCols];
  for (int r = 0; r < R; ++r) {
    _mm256_store_ps(out, _mm256_permutevar8x32_ps(sum[r], to_columns));
    float* dst = p.acc + (r0 + r) * p.n_pad + cb0 * kCpuColBlock;
    for (int c = 0; c < NB * kCpuColBlock; ++c) dst[c] = out[c];
  }
}

template <int NB>
void HalfAllRows(const Problem& p, int64_t cb0, const float* tbl, uint8_t* split) {
  int64_t r = 0;
  if (p.m <= kMaxRowsUnsplit) {
    for (; r + kMaxRows <= p.m; r += kMaxRows) HalfRows<kMaxRows, NB, false>(p, cb0, r, tbl, nullptr);
    if (r < p.m) HalfRows<1, NB, false>(p, cb0, r, tbl, nullptr);
    return;
  }
  SplitHalf(p, cb0, NB, split);
  for (; r + kMaxRows <= p.m; r += kMaxRows) HalfRows<kMaxRows, NB, true>(p, cb0, r, tbl, split);
  if (r < p.m) HalfRows<1, NB, true>(p, cb0, r, tbl, split);
}

}  // namespace

void Quads(const Problem& p, int64_t q_begin, int64_t q_end) {
  const int64_t col_blocks = p.n_pad / kCpuColBlock;
  // The scale table, then (m > kMaxRowsUnsplit) one half's split codes: 2 · 64 bytes per chunk and block.
  const int64_t tbl_floats = p.groups_pad * kQuadCols;
  const int64_t split_bytes = p.m > kMaxRowsUnsplit ? p.k_pad / kCpuChunkK * kHalfBlocks * 2 * kChunkBytes : 0;
  float* tbl = Scratch(size_t(tbl_floats + split_bytes / int64_t(sizeof(float))));
  uint8_t* split = reinterpret_cast<uint8_t*>(tbl + tbl_floats);  // 64-byte aligned: tbl_floats % 16 == 0
  for (int64_t q = q_begin; q < q_end; ++q) {
    const int64_t cb0 = q * kQuadBlocks;
    const int nb = int(col_blocks - cb0 < kQuadBlocks ? col_blocks - cb0 : kQuadBlocks);
    BuildScaleTable(p, cb0 * kCpuColBlock, nb, tbl);
    for (int64_t half = 0; half * kHalfBlocks < nb; ++half) {
      const int64_t hb = half * kHalfBlocks;
      const float* half_tbl = tbl + half * kHalfCols;
      if (nb - hb >= 2) HalfAllRows<2>(p, cb0 + hb, half_tbl, split);
      else HalfAllRows<1>(p, cb0 + hb, half_tbl, split);
    }
  }
}

}  // namespace sparq::cpu::w4a16_int8::avx2
