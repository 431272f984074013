// native/cpu/half_convert.cc: fp16/bf16 <-> fp32 dispatch and the scalar reference path.
// The fp16 scalar conversion is sparq/half.h's (the one shared with formats/ and sim/); it is
// wrapped out of line here so the ISA files can call it without including the header.
// bf16: round-to-nearest-even; NaN stays NaN and is quieted; overflow rounds to Inf.
#include "cpu/isa_kernels.h"
#include "sparq/cpu.h"
#include "sparq/half.h"

namespace sparq::cpu {
namespace scalar {

using half_bits::Bits;
using half_bits::FromBits;
using half_bits::kF32AbsMask;
using half_bits::kF32InfBits;
using half_bits::kF32QuietBit;

uint16_t F32ToF16One(float f) { return F32ToF16Bits(f); }

float F16ToF32One(uint16_t h) { return F16BitsToF32(h); }

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
