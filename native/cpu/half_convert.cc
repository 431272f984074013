// native/cpu/half_convert.cc: fp16/bf16 <-> fp32 dispatch and the scalar reference path.
// The fp16 scalar conversion is sparq/half.h's (the one shared with formats/ and sim/); it is
// wrapped out of line here so the ISA files can call it without including the header.
// bf16: round-to-nearest-even; NaN stays NaN and is quieted; overflow rounds to Inf.
#include <cstring>

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
static Isa BodyIsa(Isa isa) {
  if (isa == Isa::kAvx512 && IsaSupported(Isa::kAvx512)) return Isa::kAvx512;
  if (isa != Isa::kScalar && IsaSupported(Isa::kAvx2)) return Isa::kAvx2;
  return Isa::kScalar;
}
#define SPARQ_CONVERT_DISPATCH(Name, ...)                    \
  switch (BodyIsa(isa)) {                                    \
    case Isa::kAvx512: return avx512::Name(__VA_ARGS__);     \
    case Isa::kAvx2: return avx2::Name(__VA_ARGS__);         \
    default: return scalar::Name(__VA_ARGS__);               \
  }

void F32ToF16(const float* src, uint16_t* dst, size_t n, Isa isa) {
  SPARQ_CONVERT_DISPATCH(F32ToF16, src, dst, n);
}
void F16ToF32(const uint16_t* src, float* dst, size_t n, Isa isa) {
  F16ToF32For(isa)(src, dst, n);
}
void F32ToBF16(const float* src, uint16_t* dst, size_t n, Isa isa) {
  SPARQ_CONVERT_DISPATCH(F32ToBF16, src, dst, n);
}
void BF16ToF32(const uint16_t* src, float* dst, size_t n, Isa isa) {
  SPARQ_CONVERT_DISPATCH(BF16ToF32, src, dst, n);
}

F16ToF32Fn F16ToF32For(Isa isa) {
  switch (BodyIsa(isa)) {
    case Isa::kAvx512: return &avx512::F16ToF32;
    case Isa::kAvx2: return &avx2::F16ToF32;
    default: return &scalar::F16ToF32;
  }
}

#undef SPARQ_CONVERT_DISPATCH

namespace {

// A double's bits → a 16-bit float with kMant mantissa bits and exponent bias kBias (fp16: 10, 15;
// bf16: 7, 127), round-to-nearest-even on the double's 53-bit significand.
template <int kMant, int kBias>
uint16_t F64ToHalfOne(double v) {
  uint64_t x;
  std::memcpy(&x, &v, sizeof x);
  const uint16_t sign = uint16_t((x >> 48) & 0x8000u);
  const int biased = int((x >> 52) & 0x7ffu);
  const uint64_t frac = x & ((uint64_t(1) << 52) - 1);
  constexpr uint16_t kInf = uint16_t(((2 * kBias + 1) << kMant));
  if (biased == 0x7ff)  // Inf, or NaN: quiet, the payload's top bits kept
    return frac == 0 ? uint16_t(sign | kInf) : uint16_t(sign | kInf | (1u << (kMant - 1)) | (frac >> (52 - kMant)));
  if (biased == 0) return sign;  // zero, or a double subnormal: far below half the smallest subnormal here
  const int e = biased - 1023;
  const int emin = 1 - kBias;
  // Significand bits dropped: 52 − kMant for a normal result, more below emin (the subnormals).
  const int shift = (52 - kMant) + (e < emin ? emin - e : 0);
  if (shift > 53) return sign;  // below half the smallest subnormal
  const uint64_t m = (uint64_t(1) << 52) | frac;
  uint64_t keep = m >> shift;
  const uint64_t rest = m & ((uint64_t(1) << shift) - 1), half = uint64_t(1) << (shift - 1);
  keep += (rest > half || (rest == half && (keep & 1u))) ? 1u : 0u;
  if (e < emin) return uint16_t(sign | keep);  // a subnormal, or (keep = 2^kMant) the smallest normal
  int exponent = e;
  if (keep == (uint64_t(1) << (kMant + 1))) {  // rounded up into the next binade
    keep >>= 1;
    ++exponent;
  }
  if (exponent > kBias) return uint16_t(sign | kInf);
  return uint16_t(sign | ((exponent + kBias) << kMant) | (keep & ((1u << kMant) - 1)));
}

}  // namespace

void F64ToF16(const double* src, uint16_t* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = F64ToHalfOne<10, 15>(src[i]);
}
void F64ToBF16(const double* src, uint16_t* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = F64ToHalfOne<7, 127>(src[i]);
}

}  // namespace sparq::cpu
