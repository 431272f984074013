// native/cpu/sparse_cpu_avx512_rows.cc: the AVX-512 kernel over the cpu row lists (sparq/sparse.h
// "row lists"; contract: sparse_cpu.h). X rows sit on the lanes (xt, 16 rows per column) and each
// slot of a list is one FMA: accumulator c of the 8 (one per k mod 8 class, as every sparse CPU
// kernel keeps them) += the slot's X column × its weight. The lists give the class of slot c of a
// group at compile time, so the 8 accumulators of a weight row stay in registers for a whole chunk,
// where the bitmap skip kernel (sparse_cpu_avx512_skip.cc) loads and stores one per weight.
//
// Same bits as the expanding kernels for finite X: each class is summed in increasing k, from +0,
// and a padding slot or a skipped zero adds ±0, which changes no bit of an accumulator that is +0
// or not zero (sparse_cpu_avx512_skip.cc gives the argument). The driver keeps X with an Inf or NaN
// off this kernel.
//
// The walk over a slab is shared with the AVX2 kernel (sparse_rows_body.inc); here two X blocks
// share a slot's offset and weight (16 zmm accumulators), and up to 8 X rows run on ymm (half the
// bytes per FMA, two FMAs a cycle where zmm gives one).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "cpu/sparse_cpu.h"
#include "sparq/sparse.h"

// After every #include: only this file's own functions get the ISA (STYLE.md §11).
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c")

namespace sparq::cpu::sparse::avx512rows {
namespace {

using sparq::sparse::kRowsClasses;
constexpr int kLanes = 16;  // X rows per zmm

void RowChunks(const char* x, int64_t x_stride, const uint8_t* xo, const uint16_t* values, int64_t groups,
               float* acc, int blocks, int last_lanes, bool narrow);

#include "cpu/sparse_rows_body.inc"

// One list into kBlocks zmm blocks (16 accumulators for two: all in registers).
template <int kBlocks>
void RowChunkZmm(const char* x, int64_t x_stride, const uint8_t* x_cols, const uint16_t* values, int64_t groups,
                 float* acc) {
  __m512 a[kBlocks][kRowsClasses];
  for (int b = 0; b < kBlocks; ++b)
    for (int c = 0; c < kRowsClasses; ++c) a[b][c] = _mm512_load_ps(acc + b * kRowsAccBlockFloats + c * kLanes);
  for (int64_t g = 0; g < groups; ++g) {
    PrefetchListsAhead(values + g * kRowsClasses, x_cols + g * kRowsClasses);
    const GroupOffsets<0> xo(x_cols + g * kRowsClasses);
    const __m512 w = _mm512_castps256_ps512(GroupWeights(values + g * kRowsClasses));
#pragma GCC unroll 8
    for (int c = 0; c < kRowsClasses; ++c) {
      const __m512 wc = _mm512_permutexvar_ps(_mm512_set1_epi32(c), w);
#pragma GCC unroll 2
      for (int b = 0; b < kBlocks; ++b)
        a[b][c] = _mm512_fmadd_ps(_mm512_load_ps(reinterpret_cast<const float*>(x + b * x_stride + xo[c])), wc, a[b][c]);
    }
  }
  for (int b = 0; b < kBlocks; ++b)
    for (int c = 0; c < kRowsClasses; ++c) _mm512_store_ps(acc + b * kRowsAccBlockFloats + c * kLanes, a[b][c]);
}

void RowChunks(const char* x, int64_t x_stride, const uint8_t* xo, const uint16_t* values, int64_t groups,
               float* acc, int blocks, int last_lanes, bool narrow) {
  if (narrow) RowChunkYmm<1>(x, xo, values, groups, acc);  // (one block of <= 8 rows)
  else if (blocks == 2) RowChunkZmm<2>(x, x_stride, xo, values, groups, acc);
  else if (last_lanes <= 8) RowChunkYmm<0>(x, xo, values, groups, acc);
  else RowChunkZmm<1>(x, x_stride, xo, values, groups, acc);
}

}  // namespace

SlabFn RowsSlabFn() { return &RowsSlab; }

}  // namespace sparq::cpu::sparse::avx512rows
