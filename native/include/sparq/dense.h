// sparq/dense.h: the dense fp16 matmul, the baseline every other op is measured against.
//   Y[m, n] = fp16(X[m, k] · W[n, k]ᵀ + bias[n]), fp32 accumulation. All fp16 bits, row-major.
#pragma once
#include <cstddef>
#include <cstdint>

#include "sparq/ops.h"

namespace sparq {

struct DenseMatmulArgs {
  static constexpr const char* kOpName = "dense.matmul";
  static constexpr int64_t kMaxM = kMaxIndexDim, kMaxN = kMaxIndexDim, kMaxK = kMaxIndexDim;

  const uint16_t* w = nullptr;     // [n][k]
  const uint16_t* x = nullptr;     // [m][k]
  const uint16_t* bias = nullptr;  // [n] or null
  uint16_t* y = nullptr;           // [m][n]
  int64_t m = 0, n = 0, k = 0;
};
SPARQ_ASSERT_ABI_LAYOUT(DenseMatmulArgs, 56);
static_assert(offsetof(DenseMatmulArgs, m) == 32 && offsetof(DenseMatmulArgs, k) == 48, "DenseMatmulArgs layout");

}  // namespace sparq
