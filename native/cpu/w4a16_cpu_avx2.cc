// native/cpu/w4a16_cpu_avx2.cc: AVX2 W4A16 kernels (layout and paths: w4a16_cpu.h).
// A 16-entry fp32 table is two ymm (codes 0..7 and 8..15): two vpermps and a blend on bit 3.
#include <immintrin.h>

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

struct Lut {
  __m256 lo, hi;  // codes 0..7, 8..15
};

// lut[q] = fp32(fp16((q − 8)·s)): exact product in fp32, one RNE to fp16.
inline Lut BuildLut(uint16_t s_bits) {
  const __m256 s = _mm256_cvtph_ps(_mm_set1_epi16(static_cast<short>(s_bits)));
  const __m256 lo = _mm256_setr_ps(-8, -7, -6, -5, -4, -3, -2, -1);
  const __m256 hi = _mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7);
  constexpr int kRne = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
  return {_mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_mul_ps(lo, s), kRne)),
          _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_mul_ps(hi, s), kRne))};
}

// idx holds a code in bits 0..3 of each dword (higher bits ignored except via `bit3_at_31`).
inline __m256 Look(const Lut& t, __m256i idx, __m256i bit3_at_31) {
  return _mm256_blendv_ps(_mm256_permutevar8x32_ps(t.lo, idx), _mm256_permutevar8x32_ps(t.hi, idx),
                          _mm256_castsi256_ps(bit3_at_31));
}

// The 32 weights of one column chunk as 4 ymm: k0..7, k8..15, k16..23, k24..31.
inline void Lookup(const uint8_t* chunk16, const Lut& t, __m256 w[4]) {
  const __m128i raw = _mm_load_si128(reinterpret_cast<const __m128i*>(chunk16));
  const __m256i b0 = _mm256_cvtepu8_epi32(raw);                      // bytes 0..7
  const __m256i b1 = _mm256_cvtepu8_epi32(_mm_unpackhi_epi64(raw, raw));  // bytes 8..15
  w[0] = Look(t, b0, _mm256_slli_epi32(b0, 28));
  w[1] = Look(t, b1, _mm256_slli_epi32(b1, 28));
  w[2] = Look(t, _mm256_srli_epi32(b0, 4), _mm256_slli_epi32(b0, 24));
  w[3] = Look(t, _mm256_srli_epi32(b1, 4), _mm256_slli_epi32(b1, 24));
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
    for (int c = 0; c < kCpuColBlock; ++c) lut[c] = BuildLut(sc[c * p.groups_pad + g]);
    for (int64_t ch = g * per_group; ch < (g + 1) * per_group; ++ch) {
      const uint8_t* b = wq + ch * kCpuColBlock * 16;
      __builtin_prefetch(b + 32 * 64, 0, 3);  // 2 KB ahead of the stream
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
        for (int c = 0; c < kCpuColBlock; ++c) lut[c] = BuildLut(sc[c * p.groups_pad + g]);
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

// 16 rows (2 ymm) × NR columns; Xt rows are 16 floats (kRowBlock).
template <int NR>
void MicroKernel(const Problem& p, const float* panel, float* c, int64_t m_pad, int64_t mb, int64_t k0,
                 int64_t kc_len) {
  __m256 acc[2][NR];  // fully unrolled so the 2·NR accumulators stay in ymm registers
#pragma GCC unroll 2
  for (int v = 0; v < 2; ++v)
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j)
      acc[v][j] = k0 > 0 ? _mm256_load_ps(c + j * m_pad + mb * kRowBlock + v * kLanes) : _mm256_setzero_ps();
  const float* xt = p.xt + (mb * p.k_pad + k0) * kRowBlock;
  for (int64_t kk = 0; kk < kc_len; ++kk) {
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

void Gemm(const Problem& p, int64_t s_begin, int64_t s_end) {
  const int64_t m_pad = (p.m + kRowBlock - 1) / kRowBlock * kRowBlock;
  float* const panel = GemmScratch(size_t(kColsPerSuper) * (kGemmKc + m_pad));  // [kColsPerSuper][kGemmKc]
  float* const c = panel + kColsPerSuper * kGemmKc;                              // [kColsPerSuper][m_pad]
  const int64_t col_blocks = p.n_pad / kCpuColBlock;
  constexpr int kBlocksPerSuper = kColsPerSuper / kCpuColBlock;
  for (int64_t s = s_begin; s < s_end; ++s) {
    const int64_t cb0 = s * kBlocksPerSuper;
    const int nb = int(Min(kBlocksPerSuper, col_blocks - cb0));
    for (int64_t k0 = 0; k0 < p.k_pad; k0 += kGemmKc) {
      const int64_t kc_len = Min(kGemmKc, p.k_pad - k0);
      DequantPanel(p, cb0, nb, k0, kc_len, panel);
      for (int b = 0; b < nb; ++b)  // 4 columns at a time: 8 accumulators of 16 ymm
        for (int64_t mb = 0; mb < m_pad / kRowBlock; ++mb)
          MicroKernel<4>(p, panel + b * kCpuColBlock * kGemmKc, c + b * kCpuColBlock * m_pad,
                         m_pad, mb, k0, kc_len);
    }
    for (int j = 0; j < nb * kCpuColBlock; ++j)
      for (int64_t r = 0; r < p.m; ++r) StoreOut(p, r, cb0 * kCpuColBlock + j, c[j * m_pad + r]);
  }
}

}  // namespace

const KernelSet& Kernels() {
  static const KernelSet set{8, &Gemv, &Gemm};
  return set;
}

}  // namespace sparq::cpu::w4a16::avx2
