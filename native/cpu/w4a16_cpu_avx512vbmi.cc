// native/cpu/w4a16_cpu_avx512vbmi.cc: the AVX-512 W4A16 gemv for CPUs with AVX512_VBMI (Ice Lake
// and later, Zen 4 and later); the driver (w4a16_cpu.cc) pairs it with w4a16_cpu_avx512.cc's gemm.
// The only difference from that file's gemv: a column's codes reach their dword lanes through one
// vpermb of the 64-byte chunk instead of a 128-bit broadcast and a variable shift, one vector op
// fewer per 32 weights (w4a16_gemv_avx512.inc). Same lanes, same order, same bits.
// GCC 12's AVX-512 intrinsics start from a self-initialised "undefined" vector and warn inside
// the header once inlined; the values are fully defined.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include "cpu/w4a16_cpu.h"
#include "cuda/w4a16_layout.cuh"

// After every #include: only this file's own functions get the ISA (STYLE.md §11).
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512vbmi,fma,f16c")

namespace sparq::cpu::w4a16::avx512vbmi {
namespace {

using sparq::w4a16::kCpuChunkK;
using sparq::w4a16::kCpuColBlock;
constexpr int kLanes = 16;

#include "cpu/w4a16_luts_avx512.inc"

#define SPARQ_W4A16_GEMV_VPERMB 1
#define SPARQ_W4A16_GEMV_CONVERTED_TABLES 1
#include "cpu/w4a16_gemv_avx512.inc"

}  // namespace

ColumnsFn DecodeGemv() { return &Gemv; }

}  // namespace sparq::cpu::w4a16::avx512vbmi
