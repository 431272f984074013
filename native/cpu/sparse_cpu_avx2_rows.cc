// native/cpu/sparse_cpu_avx2_rows.cc: the AVX2 kernel over the cpu row lists (sparq/sparse.h "row
// lists"; contract: sparse_cpu.h; the AVX-512 one and why it keeps the same bits:
// sparse_cpu_avx512_rows.cc). One ymm holds 8 X rows of a column, so a 16-row block is two passes
// over each list, each with the row's 8 class accumulators in registers (8 of the 16 ymm). The
// walk over a slab is shared (sparse_rows_body.inc).
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "cpu/sparse_cpu.h"
#include "sparq/sparse.h"

// After every #include: only this file's own functions get the ISA (STYLE.md §11).
#pragma GCC target("avx2,fma,f16c")

namespace sparq::cpu::sparse::avx2rows {
namespace {

using sparq::sparse::kRowsClasses;
constexpr int kLanes = 8;        // X rows per ymm
constexpr int kBlockLanes = 16;  // X rows per xt block (and per accumulator row)

void RowChunks(const char* x, int64_t x_stride, const uint8_t* xo, const uint16_t* values, int64_t groups,
               float* acc, int blocks, int last_lanes, bool narrow);

#include "cpu/sparse_rows_body.inc"

void RowChunks(const char* x, int64_t x_stride, const uint8_t* xo, const uint16_t* values, int64_t groups,
               float* acc, int blocks, int last_lanes, bool narrow) {
  if (narrow) return RowChunkYmm<1>(x, xo, values, groups, acc);  // (one block of <= 8 rows)
  constexpr int64_t kHalfBytes = kLanes * sizeof(float);
  for (int b = 0; b < blocks; ++b) {
    const int lanes = b + 1 == blocks ? last_lanes : kBlockLanes;
    for (int half = 0; half * kLanes < lanes; ++half)
      RowChunkYmm<0>(x + b * x_stride + half * kHalfBytes, xo, values, groups, acc + b * kRowsAccBlockFloats + half * kLanes);
  }
}

}  // namespace

SlabFn RowsSlabFn() { return &RowsSlab; }

}  // namespace sparq::cpu::sparse::avx2rows
