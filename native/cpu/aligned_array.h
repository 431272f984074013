// native/cpu/aligned_array.h: the CPU drivers' per-call buffers — heap arrays aligned to a cache
// line (64 bytes, so SIMD loads never split one), freed with std::free. For baseline-ISA driver
// files only: ISA files may instantiate no template from a header (STYLE.md §11).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>

namespace sparq::cpu {

inline constexpr size_t kCacheLineBytes = 64;

struct AlignedFree {
  void operator()(void* p) const { std::free(p); }
};
template <typename T>
using AlignedArray = std::unique_ptr<T[], AlignedFree>;

// `count` elements (uninitialised), rounded up to whole cache lines; throws std::bad_alloc.
template <typename T>
AlignedArray<T> AllocAligned(int64_t count) {
  const size_t bytes = (size_t(count) * sizeof(T) + kCacheLineBytes - 1) / kCacheLineBytes * kCacheLineBytes;
  void* p = std::aligned_alloc(kCacheLineBytes, bytes == 0 ? kCacheLineBytes : bytes);
  if (p == nullptr) throw std::bad_alloc();
  return AlignedArray<T>(static_cast<T*>(p));
}

}  // namespace sparq::cpu
