// native/cpu/w4a16_int8_cpu_avxvnni.cc: the AVX-VNNI kernel of W4A16 with int8 activations (the
// body: w4a16_int8_avx2.inc), for CPUs with 256-bit VNNI but no AVX-512 (Alder Lake and later
// client cores, Sierra Forest): one vpdpbusd per nibble half where AVX2 needs vpmaddubsw, an add
// and vpmaddwd + add. Same integers, so the same bits.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include "cpu/w4a16_int8_cpu.h"
#include "cuda/w4a16_layout.cuh"

// AVX-VNNI needs GCC 11 or Clang 12; an older compiler (a user building from source without a
// prebuild: the README's minimum is g++ 10) builds Built() = false and the AVX2 kernel runs.
#if (defined(__clang__) && __clang_major__ >= 12) || (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 11)
#define SPARQ_W4A16_AVXVNNI 1
#else
#define SPARQ_W4A16_AVXVNNI 0
#endif

#if SPARQ_W4A16_AVXVNNI
// After every #include: only this file's own functions get the ISA (STYLE.md §11).
#pragma GCC target("avx2,fma,f16c,avxvnni")
#endif

namespace sparq::cpu::w4a16_int8::avxvnni {
#if SPARQ_W4A16_AVXVNNI
namespace {

inline __m256i DotAdd(__m256i acc, __m256i lo, __m256i hi, __m256i xlo, __m256i xhi) {
  return _mm256_dpbusd_avx_epi32(_mm256_dpbusd_avx_epi32(acc, lo, xlo), hi, xhi);
}

#include "cpu/w4a16_int8_avx2.inc"

}  // namespace

void Quads(const Problem& p, int64_t q_begin, int64_t q_end) { QuadsYmm(p, q_begin, q_end); }
bool Built() { return true; }
#else
void Quads(const Problem& p, int64_t q_begin, int64_t q_end) { avx2::Quads(p, q_begin, q_end); }
bool Built() { return false; }
#endif

}  // namespace sparq::cpu::w4a16_int8::avxvnni
