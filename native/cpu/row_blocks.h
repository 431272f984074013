// native/cpu/row_blocks.h: X transposed into blocks of 16 rows, one row per SIMD lane: the operand
// of the CPU kernels that put X rows on the lanes (the W4A16 gemm, the sparse zero-skipping
// kernels, dense's AVX2 prefill); and the k-group blocks of the AVX-512 prefills (4 rows × 4 k
// or 8 rows × 2 k per zmm).
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

// The same, R = 16, from fp16 rows k apart, each converted by to_f32 (n values), laid out for
// k_out ≥ k columns (zeros past k: a layout's padded k; k_out = k where there is none): the
// operand of the AVX2 prefills (dense's, W4A16's gemm). The tail rows from tail_begin (a multiple
// of 16; m: none, RowsTailBegin below) are the exception: row tail_begin + t is
// fp32(x[tail_begin + t][kk]) at xt[(tail_begin + t)·k_out + kk], zeros past k.
AlignedArray<float> RowBlocksF16(const uint16_t* x, int64_t m, int64_t k, int64_t k_out,
                                 void (*to_f32)(const uint16_t* src, float* dst, size_t n), ThreadPool& pool,
                                 int64_t tail_begin);

// Where the k-quad form's tail rows begin (m where there are none): from m = 16·b + 1..3 (b ≥ 1) the
// last block's 1–3 rows run the prefill's tail kernel (panel_gemm_avx512.inc TailRowsKernel) and
// lie in their block row after row instead of in quads.
constexpr int64_t QuadTailRowsBegin(int64_t m) {
  const int64_t r = m % 16;
  return m > 16 && r >= 1 && r <= 3 ? m - r : m;
}

// Where the AVX2 prefills' tail rows begin (m where there are none): from m = 16·b + 1..max_rows
// the last block's rows run panel_tail_avx2.inc's kernel and lie in their block row after row
// (RowBlocksF16); at b = 0 that is every row (W4A16's gemm from m = 5; dense's rows form starts at
// 16). max_rows is the op's: up to where the tail costs less than its 16-row kernel.
constexpr int64_t RowsTailBegin(int64_t m, int64_t max_rows) {
  const int64_t r = m % 16;
  return r >= 1 && r <= max_rows ? m - r : m;
}

// The k-group forms (panel_gemm_avx512.inc: k_group 4, the k-quad form; 2, the k-pair form):
// xg[b][kg][i][q] = fp32(x[16·b + i][k_group·kg + q]) from fp16 rows k apart, each converted by
// to_f32 (n values); rows ≥ m and k ≥ the row's end are zeros; ceil(m / 16) · ceil(k_out /
// k_group) · 16 · k_group floats (k_out ≥ k as above), 64-byte aligned. Blocks are split over the
// pool. Throws std::bad_alloc (on the calling thread). The AVX-512 prefills' operand (dense's,
// W4A16's gemm). The tail rows from QuadTailRowsBegin(m) = e are the exception: row e + t (t < 3)
// is fp32(x[e + t][kk]) at xg[(b·g·16 + t·g)·k_group + kk], b its block, g = ceil(k_out /
// k_group), zeros past k.
AlignedArray<float> KGroupRowBlocksF16(const uint16_t* x, int64_t m, int64_t k, int64_t k_out, int k_group,
                                       void (*to_f32)(const uint16_t* src, float* dst, size_t n), ThreadPool& pool);

}  // namespace sparq::cpu
