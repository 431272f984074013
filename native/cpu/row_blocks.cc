// native/cpu/row_blocks.cc: see row_blocks.h. Plain C++: m·k copies against the kernels' m·n·k work.
#include "cpu/row_blocks.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace sparq::cpu {
namespace {

// Blocks of R rows of X with G consecutive k per row in a group: out[b][kg][i][g] =
// X[R·b + i][G·kg + g], kg < ceil(k_out / G). row(r, k0, len, dst) writes X[r][k0 .. k0 + len)
// (r < m, k0 + len ≤ k); the rest of a row (to the last group's end, past k_out ≥ k where a layout
// pads k) and rows ≥ m are zeros. G is a template argument so each copy is a fixed move. Rows
// from tail_begin (a multiple of block_rows, or m) are left unwritten: the caller lays them out
// (TailRowsInPlace).
// A block goes kRowBlocksChunk k at a time: its rows' chunk converted into an L1 buffer, then
// written out in order. Whole rows first (until 2026-12-07) wrote every row's values 16 · G · 4
// bytes apart across the block's whole span (256 KiB at k = 4096): 7% of a one-thread W4A16 call
// at m = 128 (perf, W in cache), ~0.75 ns a value.
constexpr int64_t kRowBlocksChunk = 256;  // a multiple of every G
template <int G, class Row>
AlignedArray<float> RowBlocksOf(int64_t m, int64_t k, int64_t k_out, int64_t block_rows, ThreadPool& pool,
                                const Row& row, int64_t tail_begin) {
  static_assert(kRowBlocksChunk % G == 0, "a chunk is whole groups");
  const int64_t blocks = (m + block_rows - 1) / block_rows, groups = (k_out + G - 1) / G;
  const int64_t row_len = groups * G;
  AlignedArray<float> out = AllocAligned<float>(blocks * groups * block_rows * G);
  float* const xt = out.get();
  pool.ParallelFor(tail_begin < m ? tail_begin / block_rows : blocks, [&](int64_t b0, int64_t b1) {
    std::vector<float> chunk(static_cast<size_t>(block_rows * kRowBlocksChunk));
    for (int64_t blk = b0; blk < b1; ++blk) {
      float* dst = xt + blk * groups * block_rows * G;
      for (int64_t c0 = 0; c0 < row_len; c0 += kRowBlocksChunk) {
        const int64_t len = std::min(kRowBlocksChunk, row_len - c0);  // whole groups
        for (int64_t i = 0; i < block_rows; ++i) {
          const int64_t r = blk * block_rows + i;
          float* buf = chunk.data() + i * kRowBlocksChunk;
          const int64_t valid = r < m ? std::clamp<int64_t>(k - c0, 0, len) : 0;
          if (valid > 0) row(r, c0, valid, buf);
          std::fill(buf + valid, buf + len, 0.0f);
        }
        for (int64_t kg = 0; kg < len / G; ++kg, dst += block_rows * G)
          for (int64_t i = 0; i < block_rows; ++i)
            std::memcpy(dst + i * G, chunk.data() + i * kRowBlocksChunk + kg * G, G * sizeof(float));
      }
    }
  });
  return out;
}

// Part of a row of fp32 X, k apart / of fp16 X, converted.
auto F32Rows(const float* x, int64_t k) {
  return [=](int64_t r, int64_t k0, int64_t len, float* dst) {
    std::memcpy(dst, x + r * k + k0, size_t(len) * sizeof(float));
  };
}
auto F16Rows(const uint16_t* x, int64_t k, void (*to_f32)(const uint16_t* src, float* dst, size_t n)) {
  return [=](int64_t r, int64_t k0, int64_t len, float* dst) { to_f32(x + r * k + k0, dst, static_cast<size_t>(len)); };
}

// Rows [tail_begin, m) of a block form (blocks of kRowBlockRows rows, row_floats floats per row of
// the form) written over their block's start row after row, zeros past k: the prefills' tail
// kernels read them so (the block's other floats are then not read).
void TailRowsInPlace(float* blocks, const uint16_t* x, int64_t m, int64_t k, int64_t row_floats, int64_t tail_begin,
                     void (*to_f32)(const uint16_t* src, float* dst, size_t n)) {
  float* const tail_block = blocks + tail_begin / kRowBlockRows * kRowBlockRows * row_floats;
  for (int64_t t = 0; tail_begin + t < m; ++t) {
    float* row = tail_block + t * row_floats;
    to_f32(x + (tail_begin + t) * k, row, static_cast<size_t>(k));
    std::fill(row + k, row + row_floats, 0.0f);
  }
}

}  // namespace

AlignedArray<float> TransposeToRowBlocks(const float* x, int64_t m, int64_t k, ThreadPool& pool, int64_t block_rows) {
  return RowBlocksOf<1>(m, k, k, block_rows, pool, F32Rows(x, k), m);
}

AlignedArray<float> RowBlocksF16(const uint16_t* x, int64_t m, int64_t k, int64_t k_out,
                                 void (*to_f32)(const uint16_t* src, float* dst, size_t n), ThreadPool& pool,
                                 int64_t tail_begin) {
  AlignedArray<float> xt = RowBlocksOf<1>(m, k, k_out, kRowBlockRows, pool, F16Rows(x, k, to_f32), tail_begin);
  TailRowsInPlace(xt.get(), x, m, k, k_out, tail_begin, to_f32);
  return xt;
}

AlignedArray<float> KGroupRowBlocksF16(const uint16_t* x, int64_t m, int64_t k, int64_t k_out, int k_group,
                                       void (*to_f32)(const uint16_t* src, float* dst, size_t n), ThreadPool& pool) {
  const int64_t tail_begin = QuadTailRowsBegin(m);
  const auto rows = F16Rows(x, k, to_f32);
  AlignedArray<float> xg = k_group == 4 ? RowBlocksOf<4>(m, k, k_out, kRowBlockRows, pool, rows, tail_begin)
                                        : RowBlocksOf<2>(m, k, k_out, kRowBlockRows, pool, rows, tail_begin);
  TailRowsInPlace(xg.get(), x, m, k, (k_out + k_group - 1) / k_group * k_group, tail_begin, to_f32);
  return xg;
}

}  // namespace sparq::cpu
