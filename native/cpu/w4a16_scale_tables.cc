// native/cpu/w4a16_scale_tables.cc: the dequantisation tables of the CPU W4A16 kernels
// (w4a16_cpu.h, ScaleTables). Compiled for the baseline ISA: the ISA files may define no static
// data with a dynamic initialiser (it would run under their #pragma GCC target).
//
// Why tables: for a scale s = ±2^E·(1 + f/1024) with exponent field e = E + 15 in [1, 27],
// fp16((q − 8)·s) = ±2^E · fp16((q − 8)·(1 + f/1024)) — RNE to 11 significant bits does not depend
// on the binade while every product is a finite normal fp16 (at e = 27 the largest, 8·|s| < 65536,
// is exact; the others round to at most 65504), and scaling by 2^E is exact. So the contract's 16
// dequantised values of a (column, group) are row f of a fraction table with ±2^E applied, and
// that is an integer add to the sign and exponent bits (the zero entry takes the sign only): a
// load and one vpaddd (AVX-512, fp32) or vpaddb (AVX2, the high bytes of fp16) per table, where
// building it from s took a conversion, a multiply and an fp16 round trip.
#include <cstdint>
#include <cstdlib>
#include <new>

#include "cpu/isa_kernels.h"
#include "cpu/w4a16_cpu.h"

namespace sparq::cpu::w4a16 {
namespace {

template <typename T>
T* AllocRows(size_t rows, size_t row_elems) {
  auto* t = static_cast<T*>(std::aligned_alloc(64, rows * row_elems * sizeof(T)));  // 64-byte rows
  if (t == nullptr) throw std::bad_alloc();
  return t;
}

ScaleTables Build() {
  ScaleTables t;
  auto* fraction = AllocRows<float>(kScaleFractions, 16);
  auto* fraction_f16 = AllocRows<uint8_t>(kScaleFractions, 32);
  auto* sign_exponent = AllocRows<uint32_t>(kScaleSignExponents, 16);
  auto* sign_exponent_f16 = AllocRows<uint8_t>(kScaleSignExponents, 16);
  constexpr uint16_t kExponentOfOne = 15 << 10;  // fp16 bits of 1.0 without the fraction
  for (int f = 0; f < kScaleFractions; ++f) {
    const float s = cpu::scalar::F16ToF32One(uint16_t(kExponentOfOne | f));
    for (int q = 0; q < 16; ++q) {
      const uint16_t w = cpu::scalar::F32ToF16One(float(q - 8) * s);
      fraction[f * 16 + q] = cpu::scalar::F16ToF32One(w);
      fraction_f16[f * 32 + q] = uint8_t(w & 0xff);
      fraction_f16[f * 32 + 16 + q] = uint8_t(w >> 8);
    }
  }
  for (int se = 0; se < kScaleSignExponents; ++se) {
    const bool negative = (se & 32) != 0;  // + 2^31 (fp32) or + 0x80 (fp16 high byte) flips the sign bit
    const int e = se & 31;
    for (int q = 0; q < 16; ++q) {
      const bool zero = q == 8;  // the zero entry keeps its zero exponent
      sign_exponent[se * 16 + q] = (negative ? 0x80000000u : 0u) + (zero ? 0u : uint32_t(e - 15) << 23);
      sign_exponent_f16[se * 16 + q] = uint8_t((negative ? 0x80 : 0) + (zero ? 0 : (e - 15) * 4));
    }
  }
  t.fraction = fraction;
  t.fraction_f16 = fraction_f16;
  t.sign_exponent = sign_exponent;
  t.sign_exponent_f16 = sign_exponent_f16;
  return t;  // process lifetime, like the other kernel constants
}

}  // namespace

const ScaleTables& GetScaleTables() {
  static const ScaleTables tables = Build();
  return tables;
}

}  // namespace sparq::cpu::w4a16
