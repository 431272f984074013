// native/cuda/fp32_rn.cuh: single-rounding IEEE fp32 steps (round to nearest even) for kernels whose
// contract is bit-exact across backends (int8: sparq/int8.h spells every step). nvcc: the __f*_rn
// intrinsics, which nvcc never contracts into an FMA and --use_fast_math never approximates.
// Simulator: one C++ operator per function, in a project built with -ffp-contract=off
// (CMakeLists.txt), so g++ does not fuse a product into a following sum either; std::fma where the
// contract says fma. The conversions follow the GPU's cvt semantics (NaN → 0, saturation), not
// C++'s undefined behaviour, so a non-finite input cannot differ between sim and cuda.
#pragma once
#include <cmath>
#include <cstdint>

#include "ptx_prims.cuh"  // SPARQ_SIM, SPARQ_DEVICE

namespace sparq {

SPARQ_DEVICE float mul_rn_f32(float a, float b) {
#if defined(SPARQ_SIM)
  return a * b;
#else
  return __fmul_rn(a, b);
#endif
}
SPARQ_DEVICE float div_rn_f32(float a, float b) {
#if defined(SPARQ_SIM)
  return a / b;
#else
  return __fdiv_rn(a, b);
#endif
}
SPARQ_DEVICE float add_rn_f32(float a, float b) {
#if defined(SPARQ_SIM)
  return a + b;
#else
  return __fadd_rn(a, b);
#endif
}
// a·b + c with one rounding.
SPARQ_DEVICE float fma_rn_f32(float a, float b, float c) {
#if defined(SPARQ_SIM)
  return std::fma(a, b, c);
#else
  return __fmaf_rn(a, b, c);
#endif
}
// cvt.rni.s32.f32: nearest even; NaN → 0; saturates at the int range.
SPARQ_DEVICE int32_t cvt_rni_s32_f32(float v) {
#if defined(SPARQ_SIM)
  if (v != v) return 0;
  if (v >= 2147483648.0f) return INT32_MAX;
  if (v <= -2147483648.0f) return INT32_MIN;
  return static_cast<int32_t>(std::nearbyint(v));
#else
  return __float2int_rn(v);
#endif
}
// cvt.rn.f32.s32: nearest even (exact for |v| ≤ 2^24).
SPARQ_DEVICE float cvt_rn_f32_s32(int32_t v) {
#if defined(SPARQ_SIM)
  return static_cast<float>(v);
#else
  return __int2float_rn(v);
#endif
}

}  // namespace sparq
