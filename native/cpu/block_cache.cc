// native/cpu/block_cache.cc: AcquireAlignedBlock / ReleaseAlignedBlock (aligned_array.h).
//
// Why a cache: the drivers allocate their per-call buffers (converted X, int8 codes, partial sums)
// on every call. glibc returns a freed top-of-heap region over its trim threshold to the kernel, so
// the same sizes came back as fresh pages every call: 96 page faults a call for W4A16 at m = 16 on
// 4096², 481 at m = 64 (perf stat), each ~10 µs on the CI VM (an mmap/touch/munmap probe). Kept
// here instead, they stay mapped.
//
// Policy: per thread, at most kMaxBlocks blocks and kMaxBytes bytes; a block larger than kMaxBytes
// is never kept; over either bound the oldest block is freed. A request takes the smallest cached
// block that holds it, if that block is at most twice the request (a tiny request must not pin a
// large block). Everything a thread holds is freed when the thread exits. Memory a thread keeps
// is bounded (docs/decisions.md), not returned between calls.
#include <cstdlib>
#include <cstring>

#include "cpu/aligned_array.h"

namespace sparq::cpu {
namespace {

constexpr int kMaxBlocks = 8;
constexpr size_t kMaxBytes = size_t(16) << 20;
// Each block starts with one cache line holding its capacity; the caller's pointer follows it.
constexpr size_t kHeaderBytes = kCacheLineBytes;

size_t CapacityOf(void* base) {
  size_t cap;
  std::memcpy(&cap, base, sizeof cap);
  return cap;
}

// Set by ~BlockCache. Trivially destructible, so a thread-exit destructor that runs after the
// cache's (another thread_local holding an AlignedArray) can still read it and free directly.
thread_local bool t_cache_destroyed = false;

struct BlockCache {
  void* base[kMaxBlocks] = {};  // oldest first
  int count = 0;
  size_t bytes = 0;

  BlockCache() = default;
  BlockCache(const BlockCache&) = delete;
  BlockCache& operator=(const BlockCache&) = delete;
  ~BlockCache() {
    for (int i = 0; i < count; ++i) std::free(base[i]);
    t_cache_destroyed = true;
  }

  void* Take(size_t cap_needed) {
    int best = -1;
    for (int i = 0; i < count; ++i) {
      const size_t cap = CapacityOf(base[i]);
      if (cap >= cap_needed && cap / 2 <= cap_needed && (best < 0 || cap < CapacityOf(base[best]))) best = i;
    }
    if (best < 0) return nullptr;
    void* b = base[best];
    Remove(best);
    return b;
  }

  void Put(void* b) {
    const size_t cap = CapacityOf(b);
    if (cap > kMaxBytes) {
      std::free(b);
      return;
    }
    while (count > 0 && (count == kMaxBlocks || bytes + cap > kMaxBytes)) {
      void* oldest = base[0];
      Remove(0);
      std::free(oldest);
    }
    base[count++] = b;
    bytes += cap;
  }

  void Remove(int i) {
    bytes -= CapacityOf(base[i]);
    for (int j = i + 1; j < count; ++j) base[j - 1] = base[j];
    --count;
  }
};

// Null once the calling thread's cache is gone (thread exit).
BlockCache* ThisThread() {
  if (t_cache_destroyed) return nullptr;
  thread_local BlockCache cache;
  return &cache;
}

}  // namespace

void* AcquireAlignedBlock(size_t bytes) {
  // Whole cache lines, at least one; the capacity counts the header.
  const size_t lines = bytes / kCacheLineBytes + (bytes % kCacheLineBytes != 0 ? 1 : 0);
  if (lines > (SIZE_MAX - kHeaderBytes) / kCacheLineBytes) throw std::bad_alloc();
  const size_t cap = kHeaderBytes + (lines == 0 ? 1 : lines) * kCacheLineBytes;
  BlockCache* cache = ThisThread();
  void* b = cache != nullptr ? cache->Take(cap) : nullptr;
  if (b == nullptr) {
    b = std::aligned_alloc(kCacheLineBytes, cap);
    if (b == nullptr) throw std::bad_alloc();
    std::memcpy(b, &cap, sizeof cap);
  }
  return static_cast<char*>(b) + kHeaderBytes;
}

void ReleaseAlignedBlock(void* p) noexcept {
  if (p == nullptr) return;
  void* b = static_cast<char*>(p) - kHeaderBytes;
  if (BlockCache* cache = ThisThread()) cache->Put(b);
  else std::free(b);
}

BlockCacheStats ThisThreadBlockCache() {
  const BlockCache* c = ThisThread();
  return c != nullptr ? BlockCacheStats{c->count, c->bytes} : BlockCacheStats{};
}

}  // namespace sparq::cpu
