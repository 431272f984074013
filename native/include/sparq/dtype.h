// sparq/dtype.h: element types a tensor can hold. f16/bf16 travel as raw uint16 bits.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace sparq {

enum class DType : int { kF16 = 0, kBF16 = 1, kF32 = 2, kI8 = 3, kU8 = 4, kI32 = 5 };

inline size_t DTypeBytes(DType t) {
  switch (t) {
    case DType::kF16: case DType::kBF16: return 2;
    case DType::kF32: case DType::kI32: return 4;
    case DType::kI8: case DType::kU8: return 1;
  }
  return 1;
}

inline const char* DTypeName(DType t) {
  switch (t) {
    case DType::kF16: return "f16";
    case DType::kBF16: return "bf16";
    case DType::kF32: return "f32";
    case DType::kI8: return "i8";
    case DType::kU8: return "u8";
    case DType::kI32: return "i32";
  }
  return "?";
}

inline bool DTypeFromName(const char* s, DType* out) {
  static const char* names[] = {"f16", "bf16", "f32", "i8", "u8", "i32"};
  for (int i = 0; i < 6; ++i)
    if (std::strcmp(s, names[i]) == 0) { *out = static_cast<DType>(i); return true; }
  return false;
}

}  // namespace sparq
