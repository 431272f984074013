// native/cpu/w4a16_cpu_avx2.cc: AVX2 W4A16 kernels (layout and paths: w4a16_cpu.h).
// Tables are fp16 bytes looked up with vpshufb (16 entries fit one 128-bit lane), then widened.
#include <immintrin.h>

#include "cpu/isa_kernels.h"
#include "cpu/row_blocks.h"
#include "cpu/w4a16_cpu.h"
#include "cuda/w4a16_layout.cuh"

// After every #include: only this file's own functions get the ISA (STYLE.md §11).
#pragma GCC target("avx2,fma,f16c")

namespace sparq::cpu::w4a16::avx2 {
namespace {

using sparq::w4a16::kCpuChunkK;
using sparq::w4a16::kCpuColBlock;
constexpr int kLanes = 8;
// Not std::min: no template from a header may be instantiated under this file's target (STYLE.md §11).
constexpr int64_t Min(int64_t a, int64_t b) { return a < b ? a : b; }

// One column's table for one group as fp16 bytes: lo[q] / hi[q] = low / high byte of
// fp16((q − 8)·s), each 16-byte table in both 128-bit lanes for vpshufb.
struct Lut {
  __m256i lo, hi;
};

// fp16((q − 8)·s): exact product in fp32, one RNE to fp16 (the contract's w), split into bytes.
inline Lut BuildLut(uint16_t s_bits) {
  const __m256 s = _mm256_cvtph_ps(_mm_set1_epi16(static_cast<short>(s_bits)));
  constexpr int kRne = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
  const __m128i w_lo = _mm256_cvtps_ph(_mm256_mul_ps(_mm256_setr_ps(-8, -7, -6, -5, -4, -3, -2, -1), s), kRne);
  const __m128i w_hi = _mm256_cvtps_ph(_mm256_mul_ps(_mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7), s), kRne);
  const __m128i bytes_apart = _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
  const __m128i a = _mm_shuffle_epi8(w_lo, bytes_apart);  // low bytes of codes 0..7 | high bytes
  const __m128i b = _mm_shuffle_epi8(w_hi, bytes_apart);  // the same for codes 8..15
  return {_mm256_broadcastsi128_si256(_mm_unpacklo_epi64(a, b)), _mm256_broadcastsi128_si256(_mm_unpackhi_epi64(a, b))};
}

// The same table as BuildLut, the same bits, from ScaleTables (w4a16_cpu.h) where that is exact:
// the fraction row's fp16 bytes, the sign and exponent added to the high bytes (one vpaddb).
inline Lut LutOf(const Problem& p, uint16_t s_bits) {
  const uint32_t e = (s_bits >> 10) & 31u;
  if (__builtin_expect(e - 1u >= kTableExponentFields, 0)) return BuildLut(s_bits);
  const uint8_t* row = p.tables->fraction_f16 + (s_bits & 0x3ffu) * 32;
  const __m128i hi = _mm_add_epi8(_mm_load_si128(reinterpret_cast<const __m128i*>(row + 16)),
                                  _mm_load_si128(reinterpret_cast<const __m128i*>(p.tables->sign_exponent_f16 + (s_bits >> 10) * 16)));
  return {_mm256_broadcastsi128_si256(_mm_load_si128(reinterpret_cast<const __m128i*>(row))), _mm256_broadcastsi128_si256(hi)};
}

// The 32 weights of one column chunk as 4 ymm: k0..7, k8..15, k16..23, k24..31. The 16 code bytes
// go to both 128-bit lanes (a load); lane 0 keeps the low nibbles (k0..15), lane 1 the high ones
// (k16..31); two vpshufb look up the fp16 bytes, two unpacks pair them, four vcvtph2ps widen.
// Two 8-entry vpermps tables and a blend cost 3 port-5 uops per 8 weights; this costs ~1.5.
inline void Lookup(const uint8_t* chunk16, const Lut& t, __m256 w[4]) {
  const __m256i raw = _mm256_broadcastsi128_si256(_mm_load_si128(reinterpret_cast<const __m128i*>(chunk16)));
  const __m256i idx = _mm256_and_si256(_mm256_srlv_epi32(raw, _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4)),
                                       _mm256_set1_epi8(0x0F));
  const __m256i lo = _mm256_shuffle_epi8(t.lo, idx);
  const __m256i hi = _mm256_shuffle_epi8(t.hi, idx);
  const __m256i h0 = _mm256_unpacklo_epi8(lo, hi);  // fp16 of k0..7 | k16..23
  const __m256i h1 = _mm256_unpackhi_epi8(lo, hi);  // fp16 of k8..15 | k24..31
  w[0] = _mm256_cvtph_ps(_mm256_castsi256_si128(h0));
  w[1] = _mm256_cvtph_ps(_mm256_castsi256_si128(h1));
  w[2] = _mm256_cvtph_ps(_mm256_extracti128_si256(h0, 1));
  w[3] = _mm256_cvtph_ps(_mm256_extracti128_si256(h1, 1));
}

inline void StoreOut(const Problem& p, int64_t r, int64_t col, float v) {
  if (col >= p.n) return;
  if (p.bias != nullptr) v += p.bias[col];
  p.y[r * p.n + col] = static_cast<uint16_t>(_cvtss_sh(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

inline float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// One weight stream per thread (one block per pass, blocks contiguous), prefetched 8 KB ahead as
// in the AVX-512 gemv (w4a16_gemv_avx512.inc says why).
constexpr int64_t kPrefetchBytes = 8192;

template <int MR>
void GemvBlock(const Problem& p, int64_t cb, int64_t r0) {
  const int64_t chunks = p.k_pad / kCpuChunkK, per_group = p.group_eff / kCpuChunkK;
  const uint8_t* wq = p.qw + cb * chunks * kCpuColBlock * 16;
  const uint16_t* sc = p.scales + cb * kCpuColBlock * p.groups_pad;
  __m256 acc[MR][kCpuColBlock];
#pragma GCC unroll 2
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int c = 0; c < kCpuColBlock; ++c) acc[r][c] = _mm256_setzero_ps();
  for (int64_t g = 0; g < p.groups_pad; ++g) {
    Lut lut[kCpuColBlock];
    for (int c = 0; c < kCpuColBlock; ++c) lut[c] = LutOf(p, sc[c * p.groups_pad + g]);
    for (int64_t ch = g * per_group; ch < (g + 1) * per_group; ++ch) {
      const uint8_t* b = wq + ch * kCpuColBlock * 16;
      __builtin_prefetch(b + kPrefetchBytes, 0, 3);
      const float* xk = p.x + r0 * p.k_pad + ch * kCpuChunkK;
#pragma GCC unroll 4
      for (int c = 0; c < kCpuColBlock; ++c) {
        __m256 w[4];
        Lookup(b + c * 16, lut[c], w);
#pragma GCC unroll 2
        for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
          for (int q = 0; q < 4; ++q)
            acc[r][c] = _mm256_fmadd_ps(_mm256_load_ps(xk + r * p.k_pad + q * kLanes), w[q], acc[r][c]);
      }
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int c = 0; c < kCpuColBlock; ++c) StoreOut(p, r0 + r, cb * kCpuColBlock + c, HorizontalSum(acc[r][c]));
}

void Gemv(const Problem& p, int64_t cb_begin, int64_t cb_end) {
  for (int64_t cb = cb_begin; cb < cb_end; ++cb) {
    int64_t r = 0;
    for (; r + 2 <= p.m; r += 2) GemvBlock<2>(p, cb, r);
    if (r < p.m) GemvBlock<1>(p, cb, r);
  }
}

// ------------------------------------------------------------------------------------- gemm
void DequantPanel(const Problem& p, int64_t cb0, int nb, int64_t k0, int64_t kc_len, float* panel) {
  const int64_t chunks = p.k_pad / kCpuChunkK;
  for (int b = 0; b < nb; ++b) {
    const uint8_t* wq = p.qw + (cb0 + b) * chunks * kCpuColBlock * 16;
    const uint16_t* sc = p.scales + (cb0 + b) * kCpuColBlock * p.groups_pad;
    int64_t lut_group = -1;
    Lut lut[kCpuColBlock] = {};
    for (int64_t kk = 0; kk < kc_len; kk += kCpuChunkK) {
      const int64_t ch = (k0 + kk) / kCpuChunkK, g = (k0 + kk) / p.group_eff;
      if (g != lut_group) {
        for (int c = 0; c < kCpuColBlock; ++c) lut[c] = LutOf(p, sc[c * p.groups_pad + g]);
        lut_group = g;
      }
      for (int c = 0; c < kCpuColBlock; ++c) {
        __m256 w[4];
        Lookup(wq + ch * kCpuColBlock * 16 + c * 16, lut[c], w);
        float* dst = panel + (b * kCpuColBlock + c) * kGemmKc + kk;
        for (int q = 0; q < 4; ++q) _mm256_store_ps(dst + q * kLanes, w[q]);
      }
    }
  }
}

// 16 rows (2 ymm) × NR columns; Xt rows are 16 floats (kRowBlock). pf_lines > 0: every 32nd k
// prefetches one line into L1 from pf on (the next fill's codes).
template <int NR>
void MicroKernel(const Problem& p, const float* panel, float* c, int64_t m_pad, int64_t mb, int64_t k0,
                 int64_t kc_len, uintptr_t pf, int pf_lines) {
  __m256 acc[2][NR];  // fully unrolled so the 2·NR accumulators stay in ymm registers
#pragma GCC unroll 2
  for (int v = 0; v < 2; ++v)
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j)
      acc[v][j] = k0 > 0 ? _mm256_load_ps(c + j * m_pad + mb * kRowBlock + v * kLanes) : _mm256_setzero_ps();
  const float* xt = p.xt + (mb * p.k_pad + k0) * kRowBlock;
  for (int64_t kk = 0; kk < kc_len; ++kk) {
    if (kk % 32 == 0 && kk / 32 < pf_lines) _mm_prefetch(reinterpret_cast<const char*>(pf + uintptr_t(kk / 32 * 64)), _MM_HINT_T0);
    const __m256 x0 = _mm256_load_ps(xt + kk * kRowBlock), x1 = _mm256_load_ps(xt + kk * kRowBlock + kLanes);
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) {
      const __m256 w = _mm256_broadcast_ss(panel + j * kGemmKc + kk);
      acc[0][j] = _mm256_fmadd_ps(x0, w, acc[0][j]);
      acc[1][j] = _mm256_fmadd_ps(x1, w, acc[1][j]);
    }
  }
#pragma GCC unroll 2
  for (int v = 0; v < 2; ++v)
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) _mm256_store_ps(c + j * m_pad + mb * kRowBlock + v * kLanes, acc[v][j]);
}

#include "cpu/panel_tail_avx2.inc"
inline int64_t GemmCPerOutput(const Problem&) { return 1; }
inline float ColumnOutput(const Problem&, const float* c_col, int64_t i) { return c_col[i]; }
// One column block (4 columns: 8 accumulators of 16 ymm) at a time; the first row block's call
// for block b prefetches the next fill's block b (8 lines: its codes for one k block). Rows from
// RowsTailBegin (a last block of 1–13 rows; below m = 14 every row) run panel_tail_avx2.inc's kernel.
void RunPanel(const Problem& p, float* panel, float* c, int64_t m_pad, int nb, int64_t k0, int64_t kc_len, uintptr_t pf,
              int64_t pf_stride) {
  const int64_t tail_begin = RowsTailBegin(p.m, kGemmTailRowsAvx2), full_blocks = (tail_begin + kRowBlock - 1) / kRowBlock;
  for (int b = 0; b < nb; ++b)
    for (int64_t mb = 0; mb < full_blocks; ++mb)
      MicroKernel<kCpuColBlock>(p, panel + b * kCpuColBlock * kGemmKc, c + b * kCpuColBlock * m_pad, m_pad, mb, k0, kc_len,
                                pf + uintptr_t(b * pf_stride), mb == 0 ? 8 : 0);
  if (tail_begin < p.m)
    TailRowsPanel(p.xt + tail_begin * p.k_pad + k0, p.k_pad, p.m - tail_begin, panel, kGemmKc, nb * kCpuColBlock,
                  c + tail_begin, m_pad, k0, kc_len);
}
#include "cpu/w4a16_gemm_body.inc"

}  // namespace

// The decode path up to m = 4, the gemm from 5 (it was 8): from 5 rows the gemm's panel, looked
// up once per weight and run by the tail kernel in passes of 3 rows (m ≤ 13: every row a tail
// row, RowsTailBegin), beats the decode's passes of 2 rows that each look the weights up again.
// 2026-12-07, Zen 5, the avx2 ISA forced, node, 2 threads, the two alternated by process, medians
// ms, decode → gemm: 4096² m = 5 2.53–2.64 → 2.17–2.36, m = 8 3.53–3.56 → 2.61–3.22; 4096×14336
// m = 5 8.60–8.74 → 8.17–8.20, m = 8 12.0–13.2 → 10.4–10.5; 14336×4096 m = 8 12.2–12.3 → 9.8–10.4;
// m = 4 the decode is faster (1.77–1.96 against 2.00–2.09), m = 3 level.
const KernelSet& Kernels() {
  static const KernelSet set{4, &Gemv, &Gemm};
  return set;
}

void GroupTablesForTest(const uint16_t scales[kCpuColBlock], uint16_t* out) {
  Problem p;
  p.tables = &GetScaleTables();
  for (int c = 0; c < kCpuColBlock; ++c) {
    const Lut t = LutOf(p, scales[c]);
    alignas(32) uint8_t lo[32], hi[32];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lo), t.lo);
    _mm256_store_si256(reinterpret_cast<__m256i*>(hi), t.hi);
    for (int q = 0; q < 16; ++q) out[c * 16 + q] = uint16_t(lo[q] | hi[q] << 8);
  }
}

}  // namespace sparq::cpu::w4a16::avx2
