// native/cpu/row_blocks.h: X transposed into blocks of 16 rows, one row per SIMD lane: the operand
// of the CPU kernels that put X rows on the lanes (the W4A16 gemm, the sparse zero-skipping
// kernels). Dense builds its own from fp16 on the fly (dense_cpu.cc), not from an fp32 copy.
#pragma once
#include <cstdint>

#include "cpu/aligned_array.h"
#include "sparq/cpu.h"

namespace sparq::cpu {

inline constexpr int64_t kRowBlockRows = 16;

// xt[b][kk][i] = x[R·b + i][kk] for kk < k (x rows k floats apart), R = block_rows (16, or 8 for
// a kernel whose X has at most 8 rows: half the bytes per column); rows ≥ m are zeros; xt is
// ceil(m / R) · R · k floats, 64-byte aligned. Blocks are split over the pool. Throws
// std::bad_alloc (on the calling thread) when xt cannot be allocated.
AlignedArray<float> TransposeToRowBlocks(const float* x, int64_t m, int64_t k, ThreadPool& pool,
                                         int64_t block_rows = kRowBlockRows);

}  // namespace sparq::cpu
