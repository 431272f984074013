// native/cpu/aligned_array.h: the CPU drivers' per-call buffers — heap arrays aligned to a cache
// line (64 bytes, so SIMD loads never split one). Freed blocks go to a small per-thread cache
// (block_cache.cc) and the next call's buffers come from it: fresh pages cost a fault each (~10 µs
// on the CI VM), which at m = 16–64 was a quarter to half of a W4A16 call. For baseline-ISA driver
// files only: ISA files may instantiate no template from a header (STYLE.md §11).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>

namespace sparq::cpu {

inline constexpr size_t kCacheLineBytes = 64;

// At least `bytes` bytes, 64-byte aligned, uninitialised (a reused block holds old data); throws
// std::bad_alloc. Give it back with ReleaseAlignedBlock, from any thread.
void* AcquireAlignedBlock(size_t bytes);
void ReleaseAlignedBlock(void* p) noexcept;

struct AlignedFree {
  void operator()(void* p) const noexcept { ReleaseAlignedBlock(p); }
};
template <typename T>
using AlignedArray = std::unique_ptr<T[], AlignedFree>;

// `count` elements (uninitialised); throws std::bad_alloc (also for a negative count or one whose
// byte size overflows).
template <typename T>
AlignedArray<T> AllocAligned(int64_t count) {
  if (count < 0 || uint64_t(count) > SIZE_MAX / sizeof(T)) throw std::bad_alloc();
  return AlignedArray<T>(static_cast<T*>(AcquireAlignedBlock(size_t(count) * sizeof(T))));
}

// What the calling thread's cache holds now (tests).
struct BlockCacheStats {
  int blocks = 0;
  size_t bytes = 0;
};
BlockCacheStats ThisThreadBlockCache();

}  // namespace sparq::cpu
