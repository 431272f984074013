// native/formats/w4a16_rtn.cc: the RTN quantizer of DESIGN.md's w4a16 contract.
//   per row j and group: s = fp16(max(max_w/7, −min_w/8)) in fp32 arithmetic, then
//   q = clamp(rne(w/s) + 8, 0, 15) with fp32 division and round-half-even; s = 0 ⇒ q = 8.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cfenv>
#include <cmath>
#include <string>
#include <vector>

#include "formats/host_buffers.h"
#include "formats/host_parallel.h"
#include "sparq/half.h"  // the shared scalar conversion: header-only, so the quantizer stays pure
#include "sparq/w4a16.h"

namespace sparq {
namespace {

// rne(v) under round-to-nearest-even, as std::nearbyint gives it, in two adds instead of a libm
// call per code (~a third of the quantizer): (v + 1.5·2²³) − 1.5·2²³ is exact for |v| < 2²² with
// ties to even. Here |v| = |w / s| ≤ 11 (s ≥ max|w|/8 up to fp16 rounding; 11 is reached with a
// subnormal s, w = −11·2⁻²⁴, s = 2⁻²⁴) or v is NaN (an Inf in the group), which stays NaN; the sign of a zero result is lost, which
// the + 8 that follows would lose anyway.
float RoundHalfEven(float v) {
  constexpr float kRound = 12582912.0f;  // 1.5·2²³: the sum's ulp is 1
  return (v + kRound) - kRound;
}

// Lowers *first to index when index is smaller (slices finish in any order; the error names the first).
void KeepFirst(std::atomic<int64_t>* first, int64_t index) {
  int64_t seen = first->load(std::memory_order_relaxed);
  while (index < seen && !first->compare_exchange_weak(seen, index, std::memory_order_relaxed)) {
  }
}

// Rows [j0, j1) of the quantizer (contract above W4A16QuantizeRtn in sparq/w4a16.h). A non-finite
// weight (Inf or NaN bits) is reported through *first_non_finite; its row's codes are then moot.
void QuantizeRows(const uint16_t* w_f16, int64_t k, int group_size, int64_t j0, int64_t j1, uint8_t* codes,
                  uint16_t* scales, std::atomic<int64_t>* first_non_finite) {
  const int64_t groups = k / group_size;
  const int saved_round = std::fegetround();  // per thread: the FP environment is thread-local
  std::fesetround(FE_TONEAREST);
  std::vector<float> row(static_cast<size_t>(k));
  for (int64_t j = j0; j < j1; ++j) {
    uint32_t exponent_all_ones = 0;  // any w with exponent bits 11111: Inf or NaN
    for (int64_t i = 0; i < k; ++i) {
      const uint16_t bits = w_f16[j * k + i];
      exponent_all_ones |= uint32_t((bits & 0x7C00u) == 0x7C00u);
      row[size_t(i)] = F16BitsToF32(bits);
    }
    if (exponent_all_ones) {
      for (int64_t i = 0; i < k; ++i)
        if ((w_f16[j * k + i] & 0x7C00u) == 0x7C00u) {
          KeepFirst(first_non_finite, j * k + i);
          break;
        }
      continue;
    }
    for (int64_t grp = 0; grp < groups; ++grp) {
      const float* w = row.data() + grp * group_size;
      float max_w = w[0], min_w = w[0];
      for (int i = 1; i < group_size; ++i) {
        max_w = w[i] > max_w ? w[i] : max_w;
        min_w = w[i] < min_w ? w[i] : min_w;
      }
      const float a = max_w / 7.0f, b = -min_w / 8.0f;
      uint16_t s_bits = F32ToF16Bits(a > b ? a : b);
      if (s_bits == 0x8000u) s_bits = 0;  // all-zero group: +0 (max(0, −0) may pick either zero)
      scales[j * groups + grp] = s_bits;
      const float s = F16BitsToF32(s_bits);
      uint8_t* q = codes + j * k + grp * group_size;
      if (s == 0.0f) continue;  // codes stay 8
      for (int i = 0; i < group_size; ++i) {
        float r = RoundHalfEven(w[i] / s) + 8.0f;
        r = r >= 0.0f ? (r > 15.0f ? 15.0f : r) : (r < 0.0f ? 0.0f : 8.0f);  // NaN → 8
        q[i] = uint8_t(r);
      }
    }
  }
  std::fesetround(saved_round);
}

}  // namespace

Status W4A16QuantizeRtn(const uint16_t* w_f16, int64_t n, int64_t k, int group_size,
                        std::vector<uint8_t>* codes, std::vector<uint16_t>* scales, const char* op, int threads) {
  Status st = W4A16CheckShape(op, n, k, group_size);
  if (!st.ok()) return st;
  const int64_t groups = k / group_size;
  formats::ReserveOnHugePages(*codes, size_t(n * k));
  codes->assign(size_t(n * k), 8);
  scales->assign(size_t(n * groups), 0);
  std::atomic<int64_t> first_non_finite{INT64_MAX};
  formats::ForEachSlice(n, formats::MinItemsPerSlice(k), threads,
                        [&](int64_t j0, int64_t j1) {
                          QuantizeRows(w_f16, k, group_size, j0, j1, codes->data(), scales->data(), &first_non_finite);
                        });
  // As int8.quantize: an Inf would make its group's scale Inf (every weight of the group NaN), a
  // NaN would become code 8 (w = 0) — a silently different weight either way.
  const int64_t bad = first_non_finite.load();
  if (bad != INT64_MAX)
    return Status::Error(StatusCode::kArgument,
                         std::string(op) + ": w must be finite fp16 values, got a non-finite value at index " +
                             std::to_string(bad) + " (row " + std::to_string(bad / k) + ", column " +
                             std::to_string(bad % k) + ")",
                         "w");
  return Status::Ok();
}

}  // namespace sparq
