// native/cpu/half_convert_avx2.cc: fp16 via F16C (exact IEEE, imm 0 = round-to-nearest-even);
// bf16 with 32-bit integer SIMD, 8 values per step; tails go through the scalar path.
#include <immintrin.h>

#include "cpu/isa_kernels.h"

// After every #include: only this file's own functions get the ISA (STYLE.md §11).
#pragma GCC target("avx2,fma,f16c")

namespace sparq::cpu::avx2 {
namespace {

constexpr size_t kLanes = 8;  // fp32 per ymm

// RNE to bf16 in the low 16 bits of each 32-bit lane; NaN -> quiet NaN with its top payload.
__m256i RoundToBF16(__m256i x) {
  const __m256i abs = _mm256_and_si256(x, _mm256_set1_epi32(0x7FFFFFFF));
  const __m256i is_nan = _mm256_cmpgt_epi32(abs, _mm256_set1_epi32(0x7F800000));
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(1));
  const __m256i rounded =
      _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(x, _mm256_set1_epi32(0x7FFF)), lsb), 16);
  const __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(0x0040));
  return _mm256_blendv_epi8(rounded, quiet, is_nan);
}

}  // namespace

void F32ToF16(const float* src, uint16_t* dst, size_t n) {
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), h);
  }
  scalar::F32ToF16(src + i, dst + i, n - i);
}

void F16ToF32(const uint16_t* src, float* dst, size_t n) {
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
  }
  scalar::F16ToF32(src + i, dst + i, n - i);
}

void F32ToBF16(const float* src, uint16_t* dst, size_t n) {
  size_t i = 0;
  for (; i + 2 * kLanes <= n; i += 2 * kLanes) {
    const __m256i lo = RoundToBF16(_mm256_castps_si256(_mm256_loadu_ps(src + i)));
    const __m256i hi = RoundToBF16(_mm256_castps_si256(_mm256_loadu_ps(src + i + kLanes)));
    // packus works per 128-bit lane: [lo0 hi0 lo1 hi1] -> reorder the 64-bit quarters.
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(lo, hi), 0xD8);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), packed);
  }
  scalar::F32ToBF16(src + i, dst + i, n - i);
}

void BF16ToF32(const uint16_t* src, float* dst, size_t n) {
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    const __m256i x = _mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16);
    const __m256i abs = _mm256_and_si256(x, _mm256_set1_epi32(0x7FFFFFFF));
    const __m256i is_nan = _mm256_cmpgt_epi32(abs, _mm256_set1_epi32(0x7F800000));
    const __m256i quiet = _mm256_and_si256(is_nan, _mm256_set1_epi32(0x00400000));
    _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_or_si256(x, quiet)));
  }
  scalar::BF16ToF32(src + i, dst + i, n - i);
}

}  // namespace sparq::cpu::avx2
