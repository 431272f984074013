// native/cpu/w4a16_cpu_avx512.cc: AVX-512 W4A16 kernels (layout and paths: w4a16_cpu.h).
// A 16-entry fp32 table fits one zmm, so dequantising 16 weights is one vpermps.
// GCC 12's AVX-512 intrinsics start from a self-initialised "undefined" vector and warn inside
// the header once inlined; the values are fully defined.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include "cpu/isa_kernels.h"
#include "cpu/row_blocks.h"
#include "cpu/w4a16_cpu.h"
#include "cuda/w4a16_layout.cuh"

// After every #include: only this file's own functions get the ISA (STYLE.md §11).
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c")

namespace sparq::cpu::w4a16::avx512 {
namespace {

using sparq::w4a16::kCpuChunkK;
using sparq::w4a16::kCpuColBlock;
constexpr int kLanes = 16;
// Not std::min: no template from a header may be instantiated under this file's target (STYLE.md §11).
constexpr int64_t Min(int64_t a, int64_t b) { return a < b ? a : b; }

#include "cpu/w4a16_luts_avx512.inc"

// The 32 weights of one column chunk: lo = k0..k0+15 (low nibbles), hi = k0+16..k0+31.
inline void Lookup(const uint8_t* chunk16, __m512 lut, __m512& lo, __m512& hi) {
  const __m512i bytes = _mm512_cvtepu8_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(chunk16)));
  lo = _mm512_permutexvar_ps(bytes, lut);  // vpermps reads only the low 4 index bits
  hi = _mm512_permutexvar_ps(_mm512_srli_epi32(bytes, 4), lut);
}

#define SPARQ_W4A16_GEMV_VPERMB 0
#define SPARQ_W4A16_GEMV_CONVERTED_TABLES 1
#include "cpu/w4a16_gemv_avx512.inc"

// ------------------------------------------------------------------------------------- gemm
// The 4 tables of one column block for group g as the panel fill builds them: BuildLut's
// arithmetic on each scale (broadcast, vmulps, vcvtps2ph, vcvtph2ps) instead of LutOf's row of the
// 64 KiB fraction table — the same bits for every scale. In the prefill that table is read a row at
// a time beside the panel, X's quads and C in L1/L2; measured 2026-12-05 on Zen 5 (alternated in
// one process, group 128, 4096², 4096×14336, 14336×4096 at m = 64–128, 1 and 2 threads) BuildLut's
// calls were 0–5% faster per round (median ratios 0.91–1.01), the fill being ~4–7% of the call.
inline void PanelGroupLuts(const uint16_t* sc, int64_t groups_pad, int64_t g, __m512 lut[kCpuColBlock]) {
#pragma GCC unroll 4
  for (int c = 0; c < kCpuColBlock; ++c) lut[c] = BuildLut(sc[c * groups_pad + g]);
}

// panel[j][kk] = w(col0 + j, k0 + kk) for the NB column blocks starting at cb0.
void DequantPanel(const Problem& p, int64_t cb0, int nb, int64_t k0, int64_t kc_len, float* panel) {
  const int64_t chunks = p.k_pad / kCpuChunkK;
  for (int b = 0; b < nb; ++b) {
    const uint8_t* wq = p.qw + (cb0 + b) * chunks * kCpuColBlock * 16;
    const uint16_t* sc = p.scales + (cb0 + b) * kCpuColBlock * p.groups_pad;
    int64_t lut_group = -1;
    __m512 lut[kCpuColBlock] = {};
    for (int64_t kk = 0; kk < kc_len; kk += kCpuChunkK) {
      const int64_t ch = (k0 + kk) / kCpuChunkK, g = (k0 + kk) / p.group_eff;
      if (g != lut_group) {
        PanelGroupLuts(sc, p.groups_pad, g, lut);
        lut_group = g;
      }
      const uint8_t* bq = wq + ch * kCpuColBlock * 16;
      for (int c = 0; c < kCpuColBlock; ++c) {
        __m512 lo, hi;
        Lookup(bq + c * 16, lut[c], lo, hi);
        float* dst = panel + (b * kCpuColBlock + c) * kGemmKc + kk;
        _mm512_store_ps(dst, lo);
        _mm512_store_ps(dst + kLanes, hi);
      }
    }
  }
}

constexpr int kPanelKc = kGemmKc;
#include "cpu/panel_gemm_avx512.inc"

// Dense's prefill micro-kernel (docs/kernels.md "Dense") over looked-up panels, in the k-pair or
// k-quad form by m (PanelKGroup): p.xt is X's blocks of that form, C holds its 2 or 4 partial
// sums per output; the panel loop is w4a16_gemm_body.inc's. A panel cut short by n gets zero rows
// past its blocks (the kernel always runs all 12 columns).
static_assert(kGemmKc == kPanelKc && kColsPerSuper % KGroupForm<2>::kColumns == 0 &&
                  kColsPerSuper % KGroupForm<4>::kColumns == 0, "the k-group forms' panel");
inline int64_t GemmCPerOutput(const Problem& p) { return p.xt_k_group; }
inline float ColumnOutput(const Problem& p, const float* c_col, int64_t i) {
  return ColumnOutputInForm(p.xt_k_group, c_col, i, p.m);
}
void RunPanel(const Problem& p, float* panel, float* c, int64_t m_pad, int nb, int64_t k0, int64_t kc_len, uintptr_t pf,
              int64_t pf_stride) {
  for (int j = nb * kCpuColBlock; j < kColsPerSuper; ++j)
    for (int64_t kk = 0; kk < kc_len; kk += kLanes) _mm512_store_ps(panel + j * kGemmKc + kk, _mm512_setzero_ps());
  PanelAllRowsInForm<kColsPerSuper>(p.xt_k_group, p.xt, p.k_pad, panel, c, p.m, m_pad, k0, kc_len, pf, pf_stride,
                                    kColsPerSuper / kCpuColBlock);
}
#include "cpu/w4a16_gemm_body.inc"

}  // namespace

// The decode path (k on the lanes, passes of 4 X rows) up to m = 14, the gemm from 15: at m = 13–14
// the gemm still runs one whole 16-row block. Builds alternated by process (2026-12-07, Zen 5, 2
// threads, C++ loop over W4A16MatmulCpu, rotated weight copies, medians ms, gemm → decode): m = 13
// 4096² 1.70–1.77 → 1.61–1.63, 14336×4096 5.66–7.01 → 5.47–5.86, 4096×14336 5.95–7.36 → 5.38–6.52,
// 8192×4096 3.26–3.35 → 3.10–3.15; m = 14 level to 9% faster (4096² 1.73 → 1.65–1.66); m = 15 mixed
// (0.92–1.04×), m = 16 the gemm 10% faster (1.72–1.75 against 1.90–1.94 on 4096²).
const KernelSet& Kernels() {
  static const KernelSet set{14, &Gemv, &Gemm, true, &PanelKGroup};
  return set;
}

void GroupTablesForTest(const uint16_t scales[kCpuColBlock], float* out) {
  Problem p;
  p.groups_pad = 1;
  p.tables = &GetScaleTables();
  __m512 lut[kCpuColBlock];
  BuildGroupLuts(p, scales, 0, lut);
  for (int c = 0; c < kCpuColBlock; ++c) _mm512_storeu_ps(out + c * kLanes, lut[c]);
}

void ConvertedTablesForTest(const uint16_t* scales, int64_t count, float* out) {
  alignas(64) float s32[kScaleWindow];
  ConvertScales(scales, 0, count, s32);
  const __m512 q_minus_8 = _mm512_setr_ps(-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7);
  for (int64_t i = 0; i < count; ++i) _mm512_storeu_ps(out + i * kLanes, ConvertedLut(q_minus_8, &s32[i]));
}

void PanelTablesForTest(const uint16_t scales[kCpuColBlock], float* out) {
  __m512 lut[kCpuColBlock];
  PanelGroupLuts(scales, 1, 0, lut);
  for (int c = 0; c < kCpuColBlock; ++c) _mm512_storeu_ps(out + c * kLanes, lut[c]);
}

ColumnsFn TableGemvForTest() { return &GemvWith<false>; }

}  // namespace sparq::cpu::w4a16::avx512
