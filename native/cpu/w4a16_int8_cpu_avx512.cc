// native/cpu/w4a16_int8_cpu_avx512.cc: the AVX-512 VNNI kernel of W4A16 with int8 activations
// (function and layout: w4a16_int8_cpu.h).
//
// One 64-byte load is a column block's 32 k (4 columns × 16 bytes, one column per 128-bit lane).
// Masking and shifting the nibbles gives the codes of k0..k0+15 (low) and k0+16..k0+31 (high) as
// u8, and X's 16 codes of each half broadcast to the four 128-bit lanes are the s8 operand: one
// vpdpbusd per half leaves, in dword j of lane c, Σ q·xq over k0+4j..k0+4j+3 of column c. A quad's
// 4 blocks are 4 accumulators per X row; at each group end one unpack tree sums their dwords into
// one vector of the quad's 16 columns (lane 4c + j = column c of the quad's block j), which takes
// the group's fp32 step. Per 16 columns × 32 k × row: 2 vpdpbusd. Rows go in passes of 4 over the
// quad, each streaming the packed weight and splitting its nibbles (3 ops per 64 bytes, shared by
// the pass's rows); the first pass reads it from DRAM, the others from L2. (Until 2026-12-02 more
// than 4 rows first split the quad's codes into a u8 buffer and ran 3-row passes over it; with the
// prefetch running ahead of every stream the streamed passes were 12–30% faster at every m from 5
// to 128.)
//
// A quad's blocks are far apart (Quads): block j of a thread's quad u is block u of the j-th
// quarter of the thread's range, so each of the 4 weight streams reads its quarter front to back
// (the dense GEMV's row groups, docs/kernels.md, found the same: 4 adjacent blocks made every
// stream one block long, a fresh set of streams per quad).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <cstring>
#include <limits>

#include "cpu/w4a16_int8_cpu.h"
#include "cuda/w4a16_layout.cuh"

// After every #include: only this file's own functions get the ISA (STYLE.md §11).
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,f16c,fma")

namespace sparq::cpu::w4a16_int8::avx512vnni {
namespace {

using sparq::w4a16::kCpuChunkK;
using sparq::w4a16::kCpuColBlock;
// Not std::min: no template from a header may be instantiated under this file's target (STYLE.md §11).
constexpr int64_t Min(int64_t a, int64_t b) { return a < b ? a : b; }
constexpr int64_t kChunkBytes = kCpuChunkK / 2 * kCpuColBlock;  // 64: one block's 32 k
// Per weight stream (one per block of the quad): ~300 ns of DRAM latency at ~4 GB/s per stream.
// Each stream runs straight on into its next block (Quads), so the prefetch needs no handover.
constexpr int64_t kPrefetchBytes = 2048;

// X rows per pass over the quad: 4 × 4 int32 accumulators, of which GCC 12 spills a few; the
// measurement above was of these passes, spills and all.
constexpr int kRowsPerPass = 4;

// Column offset within the quad (4 · block + column of the block) of lane L after Reduce4 (and the
// lane holding offset L: a 4 × 4 transpose is its own inverse).
constexpr int LaneColumn(int lane) { return 4 * (lane % 4) + lane / 4; }

// Lanes [0, left) of a 16-lane step (all 16 when left >= 16).
inline __mmask16 FirstLanes(int64_t left) { return left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1); }

// Lane 4c + j of the result = the sum of the 4 dwords of lane c of acc[j].
inline __m512i Reduce4(__m512i a, __m512i b, __m512i c, __m512i d) {
  const __m512i ab = _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b));
  const __m512i cd = _mm512_add_epi32(_mm512_unpacklo_epi32(c, d), _mm512_unpackhi_epi32(c, d));
  return _mm512_add_epi32(_mm512_unpacklo_epi64(ab, cd), _mm512_unpackhi_epi64(ab, cd));
}

// In-register 16 × 16 transpose: lane j of r[i] becomes lane i of r[j]. Unpacks pair the rows'
// elements within 128-bit lanes (2 stages), then two stages of 128-bit lane shuffles gather each
// element's four 4-row pieces: 64 shuffles.
inline void Transpose16x16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  // u[4q + e]: rows 4q..4q+3, elements e, e + 4, e + 8, e + 12 (one per 128-bit lane)
  __m512 u[16];
  for (int q = 0; q < 4; ++q) {
    const __m512d a = _mm512_castps_pd(t[4 * q]), b = _mm512_castps_pd(t[4 * q + 1]);
    const __m512d c = _mm512_castps_pd(t[4 * q + 2]), d = _mm512_castps_pd(t[4 * q + 3]);
    u[4 * q + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    u[4 * q + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    u[4 * q + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
    u[4 * q + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
  for (int e = 0; e < 4; ++e) {
    const __m512 v0 = _mm512_shuffle_f32x4(u[e], u[4 + e], 0x44), v1 = _mm512_shuffle_f32x4(u[e], u[4 + e], 0xEE);
    const __m512 w0 = _mm512_shuffle_f32x4(u[8 + e], u[12 + e], 0x44), w1 = _mm512_shuffle_f32x4(u[8 + e], u[12 + e], 0xEE);
    r[e] = _mm512_shuffle_f32x4(v0, w0, 0x88);
    r[e + 4] = _mm512_shuffle_f32x4(v0, w0, 0xDD);
    r[e + 8] = _mm512_shuffle_f32x4(v1, w1, 0x88);
    r[e + 12] = _mm512_shuffle_f32x4(v1, w1, 0xDD);
  }
}

// tbl[g][L] = fp32 scale in group g of column LaneColumn(L) % 4 of the quad's block
// cb[LaneColumn(L) / 4] (0 for absent blocks: the quad has nb of its 4).
// 16 groups at a time: one load and vcvtph2ps per column, then a transpose. (A scatter down the
// table's column per column, as before 2026-12-02, cost a fifth of an in-cache m = 1 call: 1024 ×
// 4096, one thread, 0.046 → 0.037 ms.)
void BuildScaleTable(const Problem& p, const int64_t* cb, int nb, float* tbl) {
  for (int64_t g = 0; g < p.groups_pad; g += 16) {
    const int64_t left = p.groups_pad - g;
    const __mmask16 mask = FirstLanes(left);
    __m512 r[kQuadCols];
    for (int lane = 0; lane < kQuadCols; ++lane) {
      const int block = LaneColumn(lane) / kCpuColBlock, col = LaneColumn(lane) % kCpuColBlock;
      r[lane] = block < nb
                    ? _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, p.scales + (cb[block] * kCpuColBlock + col) * p.groups_pad + g))
                    : _mm512_setzero_ps();
    }
    Transpose16x16(r);
    for (int64_t gi = 0; gi < 16 && gi < left; ++gi) _mm512_store_ps(tbl + (g + gi) * kQuadCols, r[gi]);
  }
}

// Rows [r0, r0 + R) × the quad's NB column blocks cb[0..NB), over all of k, streaming the packed
// codes.
template <int R, int NB>
void QuadRows(const Problem& p, const int64_t* cb, int64_t r0, const float* tbl) {
  const int64_t chunks = p.k_pad / kCpuChunkK, per_group = p.group_eff / kCpuChunkK;
  const int64_t block_bytes = chunks * kChunkBytes;
  const uint8_t* wq[kQuadBlocks];
#pragma GCC unroll 4
  for (int b = 0; b < NB; ++b) wq[b] = p.qw + cb[b] * block_bytes;
  const __m512i nibble = _mm512_set1_epi8(0x0F);
  __m512 sum[R];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) sum[r] = _mm512_setzero_ps();
  for (int64_t g = 0; g < p.groups_pad; ++g) {
    __m512i acc[R][kQuadBlocks];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
      for (int b = 0; b < kQuadBlocks; ++b) acc[r][b] = _mm512_setzero_si512();
    for (int64_t ch = g * per_group; ch < (g + 1) * per_group; ++ch) {
      __m512i xlo[R], xhi[R];
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
        const int8_t* x = p.xq + (r0 + r) * p.k_pad + ch * kCpuChunkK;
        xlo[r] = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x)));
        xhi[r] = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + 16)));
      }
#pragma GCC unroll 4
      for (int b = 0; b < NB; ++b) {
        const uint8_t* w = wq[b] + ch * kChunkBytes;
        _mm_prefetch(reinterpret_cast<const char*>(w + kPrefetchBytes), _MM_HINT_T0);
        const __m512i v = _mm512_loadu_si512(w);  // the weight buffer is only 16-byte aligned
        const __m512i lo = _mm512_and_si512(v, nibble);
        const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), nibble);
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) {
          acc[r][b] = _mm512_dpbusd_epi32(acc[r][b], lo, xlo[r]);
          acc[r][b] = _mm512_dpbusd_epi32(acc[r][b], hi, xhi[r]);
        }
      }
    }
    const __m512 s = _mm512_load_ps(tbl + g * kQuadCols);
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      const int64_t rg = (r0 + r) * p.groups_pad + g;
      const __m512i d = _mm512_sub_epi32(Reduce4(acc[r][0], acc[r][1], acc[r][2], acc[r][3]),
                                         _mm512_set1_epi32(p.xsum8[rg]));
      const __m512 t = _mm512_mul_ps(_mm512_cvtepi32_ps(d), _mm512_set1_ps(p.xs[rg]));
      sum[r] = _mm512_fmadd_ps(t, s, sum[r]);
    }
  }
  const __m512i to_columns = _mm512_setr_epi32(LaneColumn(0), LaneColumn(1), LaneColumn(2), LaneColumn(3),
                                               LaneColumn(4), LaneColumn(5), LaneColumn(6), LaneColumn(7),
                                               LaneColumn(8), LaneColumn(9), LaneColumn(10), LaneColumn(11),
                                               LaneColumn(12), LaneColumn(13), LaneColumn(14), LaneColumn(15));
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) {
    const __m512 v = _mm512_permutexvar_ps(to_columns, sum[r]);  // 128-bit lane j: block cb[j]'s 4 columns
    float* row = p.acc + (r0 + r) * p.n_pad;
    _mm_storeu_ps(row + cb[0] * kCpuColBlock, _mm512_castps512_ps128(v));
    if (NB > 1) _mm_storeu_ps(row + cb[1] * kCpuColBlock, _mm512_extractf32x4_ps(v, 1));
    if (NB > 2) _mm_storeu_ps(row + cb[2] * kCpuColBlock, _mm512_extractf32x4_ps(v, 2));
    if (NB > 3) _mm_storeu_ps(row + cb[3] * kCpuColBlock, _mm512_extractf32x4_ps(v, 3));
  }
}

// Every row of X against the quad, in passes of up to 4 rows.
template <int NB>
void QuadAllRows(const Problem& p, const int64_t* cb, const float* tbl) {
  int64_t r = 0;
  for (; r + kRowsPerPass <= p.m; r += kRowsPerPass) QuadRows<kRowsPerPass, NB>(p, cb, r, tbl);
  switch (p.m - r) {
    case 3: QuadRows<3, NB>(p, cb, r, tbl); break;
    case 2: QuadRows<2, NB>(p, cb, r, tbl); break;
    case 1: QuadRows<1, NB>(p, cb, r, tbl); break;
    default: break;
  }
}

}  // namespace

// scalar::QuantizeRow 16 lanes at a time (w4a16_int8_cpu.h says why the bits are the same). Masked
// lanes past the group load as 0 and add 0 to the max and the sum.
void QuantizeRow(const float* x, int64_t k, int64_t k_pad, int64_t group, int64_t groups, int8_t* xq, float* xs,
                 int32_t* xsum8) {
  const __m512 magnitude = _mm512_castsi512_ps(_mm512_set1_epi32(0x7FFFFFFF));
  const __m512 largest = _mm512_set1_ps(std::numeric_limits<float>::max());
  for (int64_t g = 0; g < groups; ++g) {
    const int64_t k0 = g * group, k1 = Min(k, k0 + group);
    __m512 amax = _mm512_setzero_ps();
    __mmask16 not_finite = 0;  // |x| > max or NaN: the scalar form's !(v <= max)
    for (int64_t i = k0; i < k1; i += 16) {
      const __mmask16 lanes = FirstLanes(k1 - i);
      const __m512 v = _mm512_and_ps(_mm512_maskz_loadu_ps(lanes, x + i), magnitude);
      not_finite |= _mm512_mask_cmp_ps_mask(lanes, v, largest, _CMP_NLE_UQ);
      amax = _mm512_max_ps(amax, v);
    }
    const float a = _mm512_reduce_max_ps(amax);
    int32_t sum = 0;
    if (not_finite != 0 || a == 0.0f) {
      xs[g] = not_finite == 0 ? 0.0f : std::numeric_limits<float>::quiet_NaN();
      if (k1 > k0) std::memset(xq + k0, 0, size_t(k1 - k0));
    } else {
      const float inv = 127.0f / a;
      xs[g] = a / 127.0f;
      const __m512 vinv = _mm512_set1_ps(inv);
      __m512i vsum = _mm512_setzero_si512();
      for (int64_t i = k0; i < k1; i += 16) {
        const __mmask16 lanes = FirstLanes(k1 - i);
        const __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(lanes, x + i), vinv));
        _mm512_mask_cvtepi32_storeu_epi8(xq + i, lanes, q);
        vsum = _mm512_add_epi32(vsum, q);
      }
      sum = _mm512_reduce_add_epi32(vsum);
    }
    xsum8[g] = 8 * sum;
  }
  std::memset(xq + k, 0, size_t(k_pad - k));
}

// The thread's blocks [b0, b1) as quads of far-apart blocks: quad u takes blocks b0 + u + i·run
// (i = 0..3, those below b1; a missing one is always the last), run = ⌈(b1 − b0) / 4⌉. Each output
// column is its own chain, so the grouping changes no bit. Measured against quads of 4 adjacent
// blocks (2026-12-07, Zen 5, 2 threads, a C++ loop over W4A16MatmulInt8Cpu on rotated weight
// copies, the two alternated call by call, same bits, medians ms, two rounds): m = 1 4096²
// 0.235–0.249 → 0.204–0.205, 4096×14336 0.600–0.617 → 0.521–0.545, 14336×4096 0.684–0.709 →
// 0.524–0.533, 8192² 0.752–0.754 → 0.612–0.628; m = 2 5–17% faster, m = 4 4–7%, m = 8 and 16
// level to 8% faster.
void Quads(const Problem& p, int64_t q_begin, int64_t q_end) {
  const int64_t col_blocks = p.n_pad / kCpuColBlock;
  // The quad's scale table.
  const int64_t tbl_floats = p.groups_pad * kQuadCols;
  float* tbl = Scratch(size_t(tbl_floats));
  const int64_t b0 = q_begin * kQuadBlocks, b1 = Min(col_blocks, q_end * kQuadBlocks);
  const int64_t run = (b1 - b0 + kQuadBlocks - 1) / kQuadBlocks;
  for (int64_t u = 0; u < run; ++u) {
    int64_t cb[kQuadBlocks];
    int nb = 0;
    for (int i = 0; i < kQuadBlocks; ++i)
      if (b0 + u + i * run < b1) cb[nb++] = b0 + u + i * run;
    BuildScaleTable(p, cb, nb, tbl);
    switch (nb) {
      case 4: QuadAllRows<4>(p, cb, tbl); break;
      case 3: QuadAllRows<3>(p, cb, tbl); break;
      case 2: QuadAllRows<2>(p, cb, tbl); break;
      case 1: QuadAllRows<1>(p, cb, tbl); break;
      default: break;
    }
  }
}

}  // namespace sparq::cpu::w4a16_int8::avx512vnni
