// sparq/half.h: the one scalar fp16 <-> fp32 conversion, shared by the CPU scalar path
// (cpu/half_convert.cc), the RTN quantizer (formats/w4a16_rtn.cc) and the simulator's number
// formats (sim/sim_warp.cc). Bit arithmetic only, so the result never depends on the FPU
// rounding mode: IEEE round-to-nearest-even; NaN stays NaN and is quieted (top mantissa bit set,
// sign and the payload bits that fit kept); overflow rounds to Inf; subnormals are exact.
//
// Never include this from native/cpu/*_avx2.cc or *_avx512.cc (nor from a header they include):
// these inline functions would be compiled there for that ISA, and the linker keeps whichever
// weak copy it sees first, so an older CPU could die with SIGILL in scalar code (STYLE.md §11).
// ISA files call cpu::scalar::F16ToF32One / F32ToF16One, defined out of line on top of this.
#pragma once
#include <cstdint>
#include <cstring>

namespace sparq {
namespace half_bits {

constexpr uint32_t kF32SignMask = 0x80000000u;
constexpr uint32_t kF32AbsMask = 0x7FFFFFFFu;
constexpr uint32_t kF32InfBits = 0x7F800000u;
constexpr uint32_t kF32QuietBit = 0x00400000u;
constexpr uint32_t kF32MantMask = 0x007FFFFFu;
constexpr uint32_t kF32ImplicitOne = 0x00800000u;
constexpr int kF32MantBits = 23;
constexpr int kF16MantBits = 10;
constexpr int kMantShift = kF32MantBits - kF16MantBits;  // 13 mantissa bits dropped
constexpr uint32_t kF16SignMask = 0x8000u;
constexpr uint32_t kF16ExpMask = 0x1Fu;                   // after >> kF16MantBits
constexpr uint32_t kF16InfBits = 0x7C00u;
constexpr uint32_t kF16QuietBit = 0x0200u;
constexpr uint32_t kF16MantMask = 0x03FFu;
constexpr uint32_t kF16ImplicitOne = 0x0400u;
constexpr uint32_t kRebiasExp = 127u - 15u;                          // fp32 bias − fp16 bias
constexpr uint32_t kRebiasF32ToF16 = kRebiasExp << kF32MantBits;  // the same, in fp32 bit position
constexpr uint32_t kF32MinNormalF16 = 0x38800000u;  // 2^-14 as fp32: smallest normal fp16
constexpr uint32_t kF32F16Overflow = 0x47800000u;   // 65536: certainly Inf (65520 rounds there too)

inline uint32_t Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
inline float FromBits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

}  // namespace half_bits

/** fp32 -> fp16 bits, round-to-nearest-even. */
inline uint16_t F32ToF16Bits(float f) {
  using namespace half_bits;
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
  const uint32_t mant = (ax & kF32MantMask) | (e != 0 ? kF32ImplicitOne : 0u);
  uint32_t q = mant >> shift;
  const uint32_t rem = mant & ((1u << shift) - 1u), half = 1u << (shift - 1);
  if (rem > half || (rem == half && (q & 1u))) ++q;  // may carry into the smallest normal: right
  return static_cast<uint16_t>(sign | q);
}

/** fp16 bits -> fp32 (exact). */
inline float F16BitsToF32(uint16_t h) {
  using namespace half_bits;
  const uint32_t sign = static_cast<uint32_t>(h & kF16SignMask) << 16;
  const uint32_t exp = (h >> kF16MantBits) & kF16ExpMask;
  uint32_t mant = h & kF16MantMask;
  if (exp == kF16ExpMask)  // Inf or NaN (NaN quieted, payload kept)
    return FromBits(sign | kF32InfBits | (mant << kMantShift) | (mant != 0 ? kF32QuietBit : 0u));
  if (exp != 0) return FromBits(sign | ((exp + kRebiasExp) << kF32MantBits) | (mant << kMantShift));
  if (mant == 0) return FromBits(sign);
  // Subnormal: normalize so the leading 1 lands on the implicit-one bit.
  uint32_t e = kRebiasExp + 1;
  while ((mant & kF16ImplicitOne) == 0) {
    mant <<= 1;
    --e;
  }
  return FromBits(sign | (e << kF32MantBits) | ((mant & kF16MantMask) << kMantShift));
}

}  // namespace sparq
