// native/cpu/half_convert_avx512.cc: 16 values per step; tails use masked loads and stores.
// fp16 via vcvtps2ph/vcvtph2ps (exact IEEE, imm 0 = RNE); bf16 with 32-bit integer SIMD.
// GCC 12's AVX-512 headers seed unused lanes with a self-initialized `__Y = __Y`, which
// -W(maybe-)uninitialized reports at every inlined intrinsic; the lanes are never read.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include "cpu/isa_kernels.h"

// After every #include: only this file's own functions get the ISA (STYLE.md §11).
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c")

namespace sparq::cpu::avx512 {
namespace {

constexpr size_t kLanes = 16;  // fp32 per zmm

__mmask16 TailMask(size_t left) {
  return left >= kLanes ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << left) - 1u);
}

__m256i RoundToBF16(__m512 v) {
  const __m512i x = _mm512_castps_si512(v);
  const __m512i abs = _mm512_and_si512(x, _mm512_set1_epi32(0x7FFFFFFF));
  const __mmask16 is_nan = _mm512_cmpgt_epu32_mask(abs, _mm512_set1_epi32(0x7F800000));
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(x, 16), _mm512_set1_epi32(1));
  __m512i r = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(x, _mm512_set1_epi32(0x7FFF)), lsb), 16);
  r = _mm512_mask_or_epi32(r, is_nan, _mm512_srli_epi32(x, 16), _mm512_set1_epi32(0x0040));
  return _mm512_cvtepi32_epi16(r);
}

__m512 WidenBF16(__m256i h) {
  const __m512i x = _mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16);
  const __m512i abs = _mm512_and_si512(x, _mm512_set1_epi32(0x7FFFFFFF));
  const __mmask16 is_nan = _mm512_cmpgt_epu32_mask(abs, _mm512_set1_epi32(0x7F800000));
  return _mm512_castsi512_ps(_mm512_mask_or_epi32(x, is_nan, x, _mm512_set1_epi32(0x00400000)));
}

}  // namespace

void F32ToF16(const float* src, uint16_t* dst, size_t n) {
  for (size_t i = 0; i < n; i += kLanes) {
    const __mmask16 m = TailMask(n - i);
    const __m256i h = _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, src + i), _MM_FROUND_TO_NEAREST_INT);
    _mm256_mask_storeu_epi16(dst + i, m, h);
  }
}

void F16ToF32(const uint16_t* src, float* dst, size_t n) {
  for (size_t i = 0; i < n; i += kLanes) {
    const __mmask16 m = TailMask(n - i);
    _mm512_mask_storeu_ps(dst + i, m, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, src + i)));
  }
}

void F32ToBF16(const float* src, uint16_t* dst, size_t n) {
  for (size_t i = 0; i < n; i += kLanes) {
    const __mmask16 m = TailMask(n - i);
    _mm256_mask_storeu_epi16(dst + i, m, RoundToBF16(_mm512_maskz_loadu_ps(m, src + i)));
  }
}

void BF16ToF32(const uint16_t* src, float* dst, size_t n) {
  for (size_t i = 0; i < n; i += kLanes) {
    const __mmask16 m = TailMask(n - i);
    _mm512_mask_storeu_ps(dst + i, m, WidenBF16(_mm256_maskz_loadu_epi16(m, src + i)));
  }
}

}  // namespace sparq::cpu::avx512
