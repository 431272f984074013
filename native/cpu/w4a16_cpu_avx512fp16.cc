// native/cpu/w4a16_cpu_avx512fp16.cc: the AVX-512 W4A16 gemv with the per-group tables built in
// fp16 arithmetic, for CPUs with AVX512-FP16 (the driver picks it over w4a16_cpu_avx512.cc's at
// the avx512 level; the gemm path is that file's, w4a16_cpu.cc puts the two together). vmulph computes (q − 8)·s exactly and rounds
// once to fp16 — the contract's w, the same bits as the fp32-product-then-vcvtps2ph route — for
// two columns' 16 codes in one instruction, so a column block's 4 tables cost ~15 uops instead
// of ~30: at m = 1 they were a fifth of the work per weight byte (layout: w4a16_cpu.h).
// GCC 12's AVX-512 intrinsics start from a self-initialised "undefined" vector and warn inside
// the header once inlined; the values are fully defined.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include "cpu/w4a16_cpu.h"
#include "cuda/w4a16_layout.cuh"

// AVX512-FP16 needs GCC 12 or Clang 14; an older compiler (a user building without a prebuild)
// gets a null DecodeGemv() and the plain AVX-512 tables.
#if (defined(__clang__) && __clang_major__ >= 14) || (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 12)
#define SPARQ_W4A16_FP16_TABLES 1
#else
#define SPARQ_W4A16_FP16_TABLES 0
#endif

#if SPARQ_W4A16_FP16_TABLES
// After every #include: only this file's own functions get the ISA (STYLE.md §11).
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512fp16,fma,f16c")
#endif

namespace sparq::cpu::w4a16::avx512fp16 {
#if SPARQ_W4A16_FP16_TABLES
namespace {

using sparq::w4a16::kCpuChunkK;
using sparq::w4a16::kCpuColBlock;
constexpr int kLanes = 16;

// fp16 bits of q − 8 for q = 0..15, twice: one 32-lane vmulph makes two columns' tables.
alignas(64) constexpr uint16_t kCodeMinus8F16[32] = {
    0xC800, 0xC700, 0xC600, 0xC500, 0xC400, 0xC200, 0xC000, 0xBC00, 0x0000, 0x3C00, 0x4000, 0x4200, 0x4400, 0x4500, 0x4600, 0x4700,
    0xC800, 0xC700, 0xC600, 0xC500, 0xC400, 0xC200, 0xC000, 0xBC00, 0x0000, 0x3C00, 0x4000, 0x4200, 0x4400, 0x4500, 0x4600, 0x4700};
// vpermw indices: words 0..15 take scale word `lo`, words 16..31 scale word `lo + 1`.
alignas(64) constexpr uint16_t kSpread01[32] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                                1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
alignas(64) constexpr uint16_t kSpread23[32] = {2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
                                                3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3};

inline void StoreOut(const Problem& p, int64_t r, int64_t col, float v) {
  if (col >= p.n) return;
  if (p.bias != nullptr) v += p.bias[col];
  p.y[r * p.n + col] = static_cast<uint16_t>(_cvtss_sh(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

// The 4 tables of one column block for group g: lut[c][q] = fp32(fp16((q − 8)·s_c)).
inline void BuildGroupLuts(const Problem& p, const uint16_t* sc, int64_t g, __m512 lut[kCpuColBlock]) {
  const int64_t groups_pad = p.groups_pad;
  const uint64_t s4 = uint64_t(sc[g]) | uint64_t(sc[groups_pad + g]) << 16 |
                      uint64_t(sc[2 * groups_pad + g]) << 32 | uint64_t(sc[3 * groups_pad + g]) << 48;
  const __m512i s_words = _mm512_castsi128_si512(_mm_cvtsi64_si128(static_cast<long long>(s4)));
  const __m512h q_minus_8 = _mm512_castsi512_ph(_mm512_load_si512(kCodeMinus8F16));
  const __m512i t01 = _mm512_castph_si512(_mm512_mul_ph(
      q_minus_8, _mm512_castsi512_ph(_mm512_permutexvar_epi16(_mm512_load_si512(kSpread01), s_words))));
  const __m512i t23 = _mm512_castph_si512(_mm512_mul_ph(
      q_minus_8, _mm512_castsi512_ph(_mm512_permutexvar_epi16(_mm512_load_si512(kSpread23), s_words))));
  lut[0] = _mm512_cvtph_ps(_mm512_castsi512_si256(t01));
  lut[1] = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(t01, 1));
  lut[2] = _mm512_cvtph_ps(_mm512_castsi512_si256(t23));
  lut[3] = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(t23, 1));
}

#define SPARQ_W4A16_GEMV_VPERMB 0
#define SPARQ_W4A16_GEMV_CONVERTED_TABLES 0
#include "cpu/w4a16_gemv_avx512.inc"

}  // namespace

ColumnsFn DecodeGemv() { return &Gemv; }
#else
ColumnsFn DecodeGemv() { return nullptr; }
#endif

}  // namespace sparq::cpu::w4a16::avx512fp16
