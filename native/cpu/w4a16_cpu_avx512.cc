// native/cpu/w4a16_cpu_avx512.cc: AVX-512 W4A16 kernels (layout and paths: w4a16_cpu.h).
// A 16-entry fp32 table fits one zmm, so dequantising 16 weights is one vpermps.
// GCC 12's AVX-512 intrinsics start from a self-initialised "undefined" vector and warn inside
// the header once inlined; the values are fully defined.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include "cpu/isa_kernels.h"
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
#include "cpu/w4a16_gemv_avx512.inc"

// ------------------------------------------------------------------------------------- gemm
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
        BuildGroupLuts(p, sc, g, lut);
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

// Dense's k-quad prefill (dense_cpu_avx512.cc RowsGemm says why and what it measured) over
// looked-up panels: p.xt is X's quad blocks, panels run in chunks with the k block outermost, C
// holds 4 partial sums per output, and the next panel's column blocks (512 code bytes each per
// 256-k block) are prefetched from inside the kernel. A panel cut short by n has zero rows past
// its blocks.
void Gemm(const Problem& p, int64_t s_begin, int64_t s_end) {
  static_assert(kGemmKc == 256 && kColsPerSuper % kQuadColumns == 0, "the k-quad form's panel");
  const int64_t m_pad = (p.m + kLanes - 1) / kLanes * kLanes, quads = p.k_pad / 4;
  const int64_t chunk = PanelChunk(m_pad, kColsPerSuper, 4);
  const int64_t c_panel = kColsPerSuper * m_pad * 4;                                 // floats of C per panel
  float* const panel = GemmScratch(size_t(kColsPerSuper * kGemmKc + chunk * c_panel));  // [kColsPerSuper][kGemmKc]
  float* const c = panel + kColsPerSuper * kGemmKc;                                  // [chunk][kColsPerSuper][m_pad][4]
  const int64_t col_blocks = p.n_pad / kCpuColBlock;
  constexpr int kBlocksPerSuper = kColsPerSuper / kCpuColBlock;
  const int64_t block_bytes = p.k_pad / kCpuChunkK * kCpuColBlock * 16;
  for (int64_t c_begin = s_begin; c_begin < s_end; c_begin += chunk) {
    const int64_t c_end = Min(s_end, c_begin + chunk);
    for (int64_t k0 = 0; k0 < p.k_pad; k0 += kGemmKc) {
      const int64_t kc_len = Min(kGemmKc, p.k_pad - k0);
      for (int64_t s = c_begin; s < c_end; ++s) {
        const int64_t cb0 = s * kBlocksPerSuper;
        const int nb = int(Min(kBlocksPerSuper, col_blocks - cb0));
        DequantPanel(p, cb0, nb, k0, kc_len, panel);
        for (int j = nb * kCpuColBlock; j < kColsPerSuper; ++j)
          for (int64_t kk = 0; kk < kc_len; kk += kLanes) _mm512_store_ps(panel + j * kGemmKc + kk, _mm512_setzero_ps());
        const PanelAt next = NextFill(s, k0, c_begin, c_end, p.k_pad, kGemmKc);  // past the codes: only prefetched
        const int64_t chunk_bytes = kCpuColBlock * 16;  // a block's codes per kCpuChunkK of k
        const uintptr_t pf = reinterpret_cast<uintptr_t>(p.qw) +
                             uintptr_t(next.panel * kBlocksPerSuper * block_bytes + next.k0 / kCpuChunkK * chunk_bytes);
        QuadPanelAllRows<kColsPerSuper>(p.xt, quads, panel, c + (s - c_begin) * c_panel, m_pad, k0, kc_len, pf,
                                        block_bytes, kBlocksPerSuper);
      }
    }
    // Row by row, so each row's outputs go out as one short run: column by column, every store
    // was a new line of Y, and at m = 128 that loop was ~13% of the call (perf, Zen 5).
    for (int64_t s = c_begin; s < c_end; ++s) {
      const int64_t cb0 = s * kBlocksPerSuper;
      const int cols = int(Min(kBlocksPerSuper, col_blocks - cb0)) * kCpuColBlock;
      const float* cs = c + (s - c_begin) * c_panel;
      for (int64_t r = 0; r < p.m; ++r)
        for (int j = 0; j < cols; ++j) {
          const float* q = cs + (j * m_pad + r) * 4;
          StoreOut(p, r, cb0 * kCpuColBlock + j, (q[0] + q[1]) + (q[2] + q[3]));
        }
    }
  }
}

}  // namespace

const KernelSet& Kernels() {
  static const KernelSet set{12, &Gemv, &Gemm, true, true};
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

}  // namespace sparq::cpu::w4a16::avx512
