// native/cpu/row_blocks.cc: see row_blocks.h. Plain C++: m·k copies against the kernels' m·n·k work.
#include "cpu/row_blocks.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace sparq::cpu {

AlignedArray<float> TransposeToRowBlocks(const float* x, int64_t m, int64_t k, ThreadPool& pool, int64_t block_rows) {
  const int64_t blocks = (m + block_rows - 1) / block_rows;
  AlignedArray<float> out = AllocAligned<float>(blocks * block_rows * k);
  float* const xt = out.get();
  pool.ParallelFor(blocks, [&](int64_t b0, int64_t b1) {
    for (int64_t blk = b0; blk < b1; ++blk) {
      float* dst = xt + blk * k * block_rows;
      for (int64_t i = 0; i < block_rows; ++i) {
        const int64_t r = blk * block_rows + i;
        const float* src = r < m ? x + r * k : nullptr;
        for (int64_t kk = 0; kk < k; ++kk) dst[kk * block_rows + i] = src != nullptr ? src[kk] : 0.0f;
      }
    }
  });
  return out;
}

namespace {

// The quad blocks of m rows of k values; row(r, dst) writes row r < m as k4 floats (zeros past k).
template <class Row>
AlignedArray<float> QuadRowBlocksOf(int64_t m, int64_t k, ThreadPool& pool, const Row& row) {
  const int64_t blocks = (m + kRowBlockRows - 1) / kRowBlockRows, quads = (k + 3) / 4;
  AlignedArray<float> out = AllocAligned<float>(blocks * quads * kRowBlockRows * 4);
  float* const xq = out.get();
  pool.ParallelFor(blocks, [&](int64_t b0, int64_t b1) {
    std::vector<float> values(static_cast<size_t>(quads * 4));
    for (int64_t blk = b0; blk < b1; ++blk) {
      float* dst = xq + blk * quads * kRowBlockRows * 4;
      for (int64_t i = 0; i < kRowBlockRows; ++i) {
        const int64_t r = blk * kRowBlockRows + i;
        std::fill(values.begin(), values.end(), 0.0f);
        if (r < m) row(r, values.data());
        for (int64_t kq = 0; kq < quads; ++kq)
          std::memcpy(dst + (kq * kRowBlockRows + i) * 4, values.data() + kq * 4, 4 * sizeof(float));
      }
    }
  });
  return out;
}

}  // namespace

AlignedArray<float> QuadRowBlocksF16(const uint16_t* x, int64_t m, int64_t k,
                                     void (*to_f32)(const uint16_t* src, float* dst, size_t n), ThreadPool& pool) {
  return QuadRowBlocksOf(m, k, pool, [&](int64_t r, float* dst) { to_f32(x + r * k, dst, static_cast<size_t>(k)); });
}

AlignedArray<float> QuadRowBlocks(const float* x, int64_t m, int64_t k, ThreadPool& pool) {
  return QuadRowBlocksOf(m, k, pool, [&](int64_t r, float* dst) { std::memcpy(dst, x + r * k, size_t(k) * sizeof(float)); });
}

}  // namespace sparq::cpu
