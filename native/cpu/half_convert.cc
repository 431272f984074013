// native/cpu/half_convert.cc: fp16/bf16 <-> fp32 dispatch and the scalar reference path.
// Rounding is IEEE round-to-nearest-even; NaN stays NaN and is quieted (top mantissa bit set,
// sign and the payload bits that fit kept); overflow rounds to Inf; subnormals are exact.
#include <cstring>

#include "cpu/isa_kernels.h"
#include "sparq/cpu.h"

namespace sparq::cpu {
namespace scalar {
namespace {

constexpr uint32_t kF32SignMask = 0x80000000u;
constexpr uint32_t kF32AbsMask = 0x7FFFFFFFu;
constexpr uint32_t kF32InfBits = 0x7F800000u;
constexpr uint32_t kF32QuietBit = 0x00400000u;
constexpr int kF32MantBits = 23;
constexpr int kF16MantBits = 10;
constexpr int kMantShift = kF32MantBits - kF16MantBits;    // 13 mantissa bits dropped
constexpr uint32_t kF16InfBits = 0x7C00u;
constexpr uint32_t kF16QuietBit = 0x0200u;
constexpr uint32_t kF16MantMask = 0x03FFu;
constexpr uint32_t kRebiasF32ToF16 = (127u - 15u) << kF32MantBits;  // exponent bias difference
constexpr uint32_t kF32MinNormalF16 = 0x38800000u;  // 2^-14 as fp32: smallest normal fp16
constexpr uint32_t kF32F16Overflow = 0x47800000u;   // 65536: certainly Inf (65520 rounds there too)

uint32_t Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
float FromBits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

}  // namespace

uint16_t F32ToF16One(float f) {
  const uint32_t x = Bits(f);
  const uint32_t sign = (x & kF32SignMask) >> 16;
  const uint32_t ax = x & kF32AbsMask;
  if (ax > kF32InfBits)  // NaN: keep the top payload bits, force quiet
    return static_cast<uint16_t>(sign | kF16InfBits | kF16QuietBit | ((ax >> kMantShift) & kF16MantMask));
  if (ax >= kF32F16Overflow) return static_cast<uint16_t>(sign | kF16InfBits);
  if (ax >= kF32MinNormalF16) {
    // Add just under half an fp16 ulp plus the kept lsb: ties go to even; a mantissa carry bumps
    // the exponent, which is how 65520 becomes Inf.
    const uint32_t lsb = (ax >> kMantShift) & 1u;
    const uint32_t rounded = ax - kRebiasF32ToF16 + ((1u << (kMantShift - 1)) - 1u) + lsb;
    return static_cast<uint16_t>(sign | (rounded >> kMantShift));
  }
  // Subnormal fp16 (units of 2^-24): value = mant * 2^(e - 150) = mant >> (126 - e) units.
  const int e = static_cast<int>(ax >> kF32MantBits);
  const int shift = 126 - e;  // >= 14 here
  if (shift > 24) return static_cast<uint16_t>(sign);  // < 2^-25 (2^-25 itself ties to 0)
  const uint32_t mant = (ax & 0x7FFFFFu) | (e != 0 ? 0x800000u : 0u);
  uint32_t q = mant >> shift;
  const uint32_t rem = mant & ((1u << shift) - 1u), half = 1u << (shift - 1);
  if (rem > half || (rem == half && (q & 1u))) ++q;  // may carry into the smallest normal: right
  return static_cast<uint16_t>(sign | q);
}

float F16ToF32One(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> kF16MantBits) & 0x1Fu;
  uint32_t mant = h & kF16MantMask;
  if (exp == 0x1F)  // Inf or NaN (NaN quieted, payload kept)
    return FromBits(sign | kF32InfBits | (mant << kMantShift) | (mant != 0 ? kF32QuietBit : 0u));
  if (exp != 0) return FromBits(sign | ((exp + 112u) << kF32MantBits) | (mant << kMantShift));
  if (mant == 0) return FromBits(sign);
  // Subnormal: normalize so the leading 1 lands on bit 10.
  int e = 113;
  while ((mant & 0x400u) == 0) {
    mant <<= 1;
    --e;
  }
  return FromBits(sign | (static_cast<uint32_t>(e) << kF32MantBits) | ((mant & kF16MantMask) << kMantShift));
}

uint16_t F32ToBF16One(float f) {
  const uint32_t x = Bits(f);
  if ((x & kF32AbsMask) > kF32InfBits) return static_cast<uint16_t>((x >> 16) | 0x0040u);
  const uint32_t lsb = (x >> 16) & 1u;
  return static_cast<uint16_t>((x + 0x7FFFu + lsb) >> 16);  // carries reach Inf at the top
}

float BF16ToF32One(uint16_t h) {
  uint32_t x = static_cast<uint32_t>(h) << 16;
  if ((x & kF32AbsMask) > kF32InfBits) x |= kF32QuietBit;
  return FromBits(x);
}

void F32ToF16(const float* src, uint16_t* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = F32ToF16One(src[i]);
}
void F16ToF32(const uint16_t* src, float* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = F16ToF32One(src[i]);
}
void F32ToBF16(const float* src, uint16_t* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = F32ToBF16One(src[i]);
}
void BF16ToF32(const uint16_t* src, float* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = BF16ToF32One(src[i]);
}

}  // namespace scalar

// Each public function picks the ISA's body; an unsupported ISA falls back to scalar rather than
// executing instructions the CPU lacks.
#define SPARQ_CONVERT_DISPATCH(Name, ...)                                  \
  if (isa == Isa::kAvx512 && IsaSupported(Isa::kAvx512)) return avx512::Name(__VA_ARGS__); \
  if (isa != Isa::kScalar && IsaSupported(Isa::kAvx2)) return avx2::Name(__VA_ARGS__);     \
  return scalar::Name(__VA_ARGS__)

void F32ToF16(const float* src, uint16_t* dst, size_t n, Isa isa) {
  SPARQ_CONVERT_DISPATCH(F32ToF16, src, dst, n);
}
void F16ToF32(const uint16_t* src, float* dst, size_t n, Isa isa) {
  SPARQ_CONVERT_DISPATCH(F16ToF32, src, dst, n);
}
void F32ToBF16(const float* src, uint16_t* dst, size_t n, Isa isa) {
  SPARQ_CONVERT_DISPATCH(F32ToBF16, src, dst, n);
}
void BF16ToF32(const uint16_t* src, float* dst, size_t n, Isa isa) {
  SPARQ_CONVERT_DISPATCH(BF16ToF32, src, dst, n);
}

#undef SPARQ_CONVERT_DISPATCH

}  // namespace sparq::cpu
