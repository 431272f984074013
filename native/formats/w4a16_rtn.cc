// native/formats/w4a16_rtn.cc: the RTN quantizer of DESIGN.md's w4a16 contract.
//   per row j and group: s = fp16(max(max_w/7, −min_w/8)) in fp32 arithmetic, then
//   q = clamp(rne(w/s) + 8, 0, 15) with fp32 division and round-half-even; s = 0 ⇒ q = 8.
#include <cfenv>
#include <cmath>
#include <cstring>
#include <string>

#include "sparq/w4a16.h"

namespace sparq {
namespace {

// Scalar IEEE conversions (RNE), independent of the cpu/ kernels so the quantizer is pure.
float HalfBitsToFloat(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (man << 13) | (man ? 0x400000u : 0u);
  } else if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do { man <<= 1; ++e; } while ((man & 0x400u) == 0);
      bits = sign | uint32_t(127 - 15 - e) << 23 | ((man & 0x3ffu) << 13);
    }
  } else {
    bits = sign | (exp + 112u) << 23 | (man << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t FloatToHalfBits(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint16_t sign = uint16_t((x >> 16) & 0x8000u);
  const uint32_t ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u) return sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u : 0u);
  if (ax >= 0x477ff000u) return sign | 0x7c00u;  // rounds to ≥ 65520 → inf
  if (ax < 0x38800000u) {                          // below 2^-14: subnormal half (or zero)
    // value / 2^-24 rounded half-even: use the FPU (exact power-of-two scaling).
    const float scaled = std::fabs(f) * 16777216.0f;  // 2^24, exact
    const float r = std::nearbyint(scaled);
    return sign | uint16_t(r);
  }
  const uint32_t mant_rounded = ax + 0x0fffu + ((ax >> 13) & 1u);  // RNE on 13 dropped bits
  return sign | uint16_t((mant_rounded - 0x38000000u) >> 13);
}

}  // namespace

bool W4A16GroupSizeSupported(int64_t k, int64_t group_size) {
  return group_size == 32 || group_size == 64 || group_size == 128 || (group_size == k && k >= 1);
}

Status W4A16QuantizeRtn(const uint16_t* w_f16, int64_t n, int64_t k, int group_size,
                        std::vector<uint8_t>* codes, std::vector<uint16_t>* scales) {
  const char* op = "w4a16.quantize";
  if (n < 1 || k < 1)
    return Status::Error(StatusCode::kShape, std::string(op) + ": shape must be [n >= 1, k >= 1], got [" +
                                                 std::to_string(n) + ", " + std::to_string(k) + "]",
                         "shape");
  if (!W4A16GroupSizeSupported(k, group_size))
    return Status::Error(StatusCode::kArgument,
                         std::string(op) + ": groupSize must be 32, 64, 128 or k (" + std::to_string(k) +
                             "), got " + std::to_string(group_size),
                         "groupSize");
  if (k % group_size != 0)
    return Status::Error(StatusCode::kShape,
                         std::string(op) + ": k must be a multiple of groupSize (" +
                             std::to_string(group_size) + "), got " + std::to_string(k),
                         "k");
  const int64_t groups = k / group_size;
  codes->assign(size_t(n * k), 8);
  scales->assign(size_t(n * groups), 0);
  const int saved_round = std::fegetround();
  std::fesetround(FE_TONEAREST);
  std::vector<float> row(static_cast<size_t>(k));
  for (int64_t j = 0; j < n; ++j) {
    for (int64_t i = 0; i < k; ++i) row[size_t(i)] = HalfBitsToFloat(w_f16[j * k + i]);
    for (int64_t grp = 0; grp < groups; ++grp) {
      const float* w = row.data() + grp * group_size;
      float max_w = w[0], min_w = w[0];
      for (int i = 1; i < group_size; ++i) {
        max_w = w[i] > max_w ? w[i] : max_w;
        min_w = w[i] < min_w ? w[i] : min_w;
      }
      const float a = max_w / 7.0f, b = -min_w / 8.0f;
      // + 0.0f: an all-zero group (max(+0, -0)) stores the scale as +0, never -0.
      uint16_t s_bits = FloatToHalfBits(a > b ? a : b);
      if (s_bits == 0x8000u) s_bits = 0;  // all-zero group: +0 (max(0, −0) may pick either zero)
      (*scales)[size_t(j * groups + grp)] = s_bits;
      const float s = HalfBitsToFloat(s_bits);
      uint8_t* q = codes->data() + j * k + grp * group_size;
      if (s == 0.0f) continue;  // codes stay 8
      for (int i = 0; i < group_size; ++i) {
        float r = std::nearbyint(w[i] / s) + 8.0f;
        r = r >= 0.0f ? (r > 15.0f ? 15.0f : r) : (r < 0.0f ? 0.0f : 8.0f);  // NaN → 8
        q[i] = uint8_t(r);
      }
    }
  }
  std::fesetround(saved_round);
  return Status::Ok();
}

}  // namespace sparq
