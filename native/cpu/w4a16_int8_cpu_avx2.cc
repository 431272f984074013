// native/cpu/w4a16_int8_cpu_avx2.cc: the AVX2 kernel of W4A16 with int8 activations (the body:
// w4a16_int8_avx2.inc), for CPUs with neither AVX-512 VNNI nor AVX-VNNI.
//
// The products go through vpmaddubsw (u8 codes × s8 X → int16 pair sums) and vpmaddwd by 1 (→ int32
// sums of 4), which is exact here: codes are ≤ 15 and |xq| ≤ 127, so a pair sum is at most 3810 and
// the low- plus high-nibble sums 7620, far from int16 saturation (the pitfall of vpmaddubsw on
// general u8 × s8 data).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include "cpu/w4a16_int8_cpu.h"
#include "cuda/w4a16_layout.cuh"

// After every #include: only this file's own functions get the ISA (STYLE.md §11).
#pragma GCC target("avx2,fma,f16c")

namespace sparq::cpu::w4a16_int8::avx2 {
namespace {

inline __m256i DotAdd(__m256i acc, __m256i lo, __m256i hi, __m256i xlo, __m256i xhi) {
  const __m256i pairs = _mm256_add_epi16(_mm256_maddubs_epi16(lo, xlo), _mm256_maddubs_epi16(hi, xhi));
  return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

#include "cpu/w4a16_int8_avx2.inc"

}  // namespace

void Quads(const Problem& p, int64_t q_begin, int64_t q_end) { QuadsYmm(p, q_begin, q_end); }

}  // namespace sparq::cpu::w4a16_int8::avx2
