// native/cpu/w4a16_int8_cpu_avxvnni.cc: the AVX-VNNI kernel of W4A16 with int8 activations (the
// body: w4a16_int8_avx2.inc), for CPUs with 256-bit VNNI but no AVX-512 (Alder Lake and later
// client cores, Sierra Forest): one vpdpbusd per nibble half where AVX2 needs vpmaddubsw, an add
// and vpmaddwd + add. Same integers, so the same bits.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include "cpu/w4a16_int8_cpu.h"
#include "cuda/w4a16_layout.cuh"

// After every #include: only this file's own functions get the ISA (STYLE.md §11).
#pragma GCC target("avx2,fma,f16c,avxvnni")

namespace sparq::cpu::w4a16_int8::avxvnni {
namespace {

inline __m256i DotAdd(__m256i acc, __m256i lo, __m256i hi, __m256i xlo, __m256i xhi) {
  return _mm256_dpbusd_avx_epi32(_mm256_dpbusd_avx_epi32(acc, lo, xlo), hi, xhi);
}

#include "cpu/w4a16_int8_avx2.inc"

}  // namespace

void Quads(const Problem& p, int64_t q_begin, int64_t q_end) { QuadsYmm(p, q_begin, q_end); }

}  // namespace sparq::cpu::w4a16_int8::avxvnni
