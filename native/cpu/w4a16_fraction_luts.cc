// native/cpu/w4a16_fraction_luts.cc: the per-fraction dequantisation tables of the CPU W4A16
// kernels (w4a16_cpu.h, ScaleFractionLuts). Compiled for the baseline ISA: the ISA files may
// define no static data with a dynamic initialiser (it would run under their #pragma GCC target).
//
// Why a table: for a scale s = ±2^E·(1 + f/1024) with a normal exponent, fp16((q − 8)·s) =
// ±2^E · fp16((q − 8)·(1 + f/1024)) as long as every product stays in fp16's normal range — RNE
// to 11 significant bits does not depend on the binade, and multiplying by 2^E is exact in fp32.
// So the contract's 16 dequantised values of a (column, group) are row f of this table times one
// power of two. The power of two is applied as an integer add to the fp32 bits (ScaleSignExponentAdds):
// one vpaddd instead of a conversion to fp32, a multiply and two fp16 round trips.
#include <cstdint>
#include <cstdlib>
#include <new>

#include "cpu/isa_kernels.h"
#include "cpu/w4a16_cpu.h"

namespace sparq::cpu::w4a16 {

const float* ScaleFractionLuts() {
  static const float* const luts = [] {
    constexpr size_t kBytes = size_t(kScaleFractions) * 16 * sizeof(float);
    auto* t = static_cast<float*>(std::aligned_alloc(64, kBytes));  // one 64-byte line per row
    if (t == nullptr) throw std::bad_alloc();
    constexpr uint16_t kExponentOfOne = 15 << 10;  // fp16 bits of 1.0 without the fraction
    for (int f = 0; f < kScaleFractions; ++f) {
      const float s = cpu::scalar::F16ToF32One(uint16_t(kExponentOfOne | f));
      for (int q = 0; q < 16; ++q) t[f * 16 + q] = cpu::scalar::F16ToF32One(cpu::scalar::F32ToF16One(float(q - 8) * s));
    }
    return t;  // process lifetime, like the other kernel constants
  }();
  return luts;
}

const uint32_t* ScaleSignExponentAdds() {
  static const uint32_t* const adds = [] {
    constexpr size_t kBytes = size_t(kScaleSignExponents) * 16 * sizeof(uint32_t);
    auto* t = static_cast<uint32_t*>(std::aligned_alloc(64, kBytes));
    if (t == nullptr) throw std::bad_alloc();
    for (int se = 0; se < kScaleSignExponents; ++se) {
      const uint32_t sign = se & 32 ? 0x80000000u : 0u;  // + 2^31 mod 2^32 flips the sign bit
      const int32_t e = se & 31;
      for (int q = 0; q < 16; ++q)
        t[se * 16 + q] = sign + (q == 8 ? 0u : uint32_t(e - 15) << 23);  // the zero entry keeps its zero exponent
    }
    return t;
  }();
  return adds;
}

}  // namespace sparq::cpu::w4a16
