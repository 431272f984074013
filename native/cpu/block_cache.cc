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
//
// A block freed on another thread than the one that took it goes to one process-wide cache
// instead (same policy, under a mutex), where a thread looks after a miss in its own. The case it
// serves: an op's output is allocated on the JS thread and freed on the context's stream worker
// (dispose() and finalizers release on the stream), so the JS thread's own cache never saw its
// outputs again and every op without `{ out }` faulted its output in afresh (256 faults for a
// [128, 4096] fp16 output, docs/decisions.md).
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "cpu/aligned_array.h"
#include "formats/host_buffers.h"

// Under ASan a cached block is poisoned while it waits and a reused one is unpoisoned only for the
// bytes asked for, so a use after release or a read past the request is still reported.
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define SPARQ_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define SPARQ_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define SPARQ_POISON(p, n) ((void)(p), (void)(n))
#define SPARQ_UNPOISON(p, n) ((void)(p), (void)(n))
#endif
// Under valgrind a reused block's bytes are marked undefined again, so memcheck still reports a
// read of a buffer before it is written (the client request is a no-op outside valgrind; the
// header is optional: without it there is no mark).
#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define SPARQ_MARK_UNDEFINED(p, n) VALGRIND_MAKE_MEM_UNDEFINED(p, n)
#endif
#endif
#ifndef SPARQ_MARK_UNDEFINED
#define SPARQ_MARK_UNDEFINED(p, n) ((void)(p), (void)(n))
#endif

namespace sparq::cpu {
namespace {

constexpr int kMaxBlocks = 8;
constexpr size_t kMaxBytes = size_t(16) << 20;
// Each block starts with one cache line holding its capacity and the token of the thread that took
// it last; the caller's pointer follows it.
constexpr size_t kHeaderBytes = kCacheLineBytes;
constexpr size_t kOwnerOffset = sizeof(size_t);

size_t CapacityOf(void* base) {
  size_t cap;
  std::memcpy(&cap, base, sizeof cap);
  return cap;
}

// A value no other live thread has: the address of a thread_local.
thread_local char t_owner_token;
uintptr_t ThisThreadToken() { return reinterpret_cast<uintptr_t>(&t_owner_token); }
uintptr_t OwnerOf(void* base) {
  uintptr_t owner;
  std::memcpy(&owner, static_cast<char*>(base) + kOwnerOffset, sizeof owner);
  return owner;
}
void SetOwner(void* base, uintptr_t owner) { std::memcpy(static_cast<char*>(base) + kOwnerOffset, &owner, sizeof owner); }

// A block that may be poisoned (it sat in a cache): unpoisoned first, as ASan's free expects.
void FreeBlock(void* b) {
  SPARQ_UNPOISON(static_cast<char*>(b) + kHeaderBytes, CapacityOf(b) - kHeaderBytes);
  std::free(b);
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
    for (int i = 0; i < count; ++i) FreeBlock(base[i]);
  }

  void* Take(size_t cap_needed) {
    int best = -1;
    size_t best_cap = 0;
    for (int i = 0; i < count; ++i) {
      const size_t cap = CapacityOf(base[i]);
      if (cap >= cap_needed && cap / 2 <= cap_needed && (best < 0 || cap < best_cap)) {
        best = i;
        best_cap = cap;
      }
    }
    if (best < 0) return nullptr;
    void* b = base[best];
    Remove(best);
    return b;
  }

  void Put(void* b) {
    const size_t cap = CapacityOf(b);
    if (cap > kMaxBytes) {
      FreeBlock(b);
      return;
    }
    while (count > 0 && (count == kMaxBlocks || bytes + cap > kMaxBytes)) {
      void* oldest = base[0];
      Remove(0);
      FreeBlock(oldest);
    }
    SPARQ_POISON(static_cast<char*>(b) + kHeaderBytes, cap - kHeaderBytes);
    base[count++] = b;
    bytes += cap;
  }

  void Remove(int i) {
    bytes -= CapacityOf(base[i]);
    for (int j = i + 1; j < count; ++j) base[j - 1] = base[j];
    --count;
  }
};

// A fresh block of at least `cap` bytes, its capacity in its header. From 4 MiB (a call's X at
// prefill sizes: 8 MiB at m = 128, k = 16384) the block starts on a 2 MiB boundary, its length is
// whole 2 MiB pages, and it is offered to transparent huge pages before anything touches it
// (formats/host_buffers.h), as the backend's big tensors are: a block over the cache's bound is
// allocated afresh on every call, and on 4 KiB pages each page of it was a fault (~8–10 µs on the
// CI VM: 2048 faults, ~16 ms, per 8 MiB), where a huge page is one.
void* NewBlock(size_t cap) {
  size_t align = kCacheLineBytes;
  if (cap >= formats::kHugeBufferMinBytes) {
    if (cap > SIZE_MAX - formats::kHugePageBytes) throw std::bad_alloc();
    cap = (cap + formats::kHugePageBytes - 1) & ~(formats::kHugePageBytes - 1);
    align = formats::kHugePageBytes;
  }
  void* b = std::aligned_alloc(align, cap);
  if (b == nullptr) throw std::bad_alloc();
  if (align == formats::kHugePageBytes) formats::AdviseHugePages(b, cap);
  std::memcpy(b, &cap, sizeof cap);
  return b;
}

struct ThreadBlockCache : BlockCache {
  ~ThreadBlockCache() { t_cache_destroyed = true; }  // then ~BlockCache frees the blocks
};

// Null once the calling thread's cache is gone (thread exit).
BlockCache* ThisThread() {
  if (t_cache_destroyed) return nullptr;
  thread_local ThreadBlockCache cache;
  return &cache;
}

// The blocks freed away from the thread that took them. Never destroyed (a thread may free into it
// while the process exits); what it holds is still reachable then, not a leak.
struct SharedBlockCache {
  void* Take(size_t cap_needed) {
    std::lock_guard<std::mutex> lock(mu);
    return cache.Take(cap_needed);
  }
  void Put(void* b) {
    std::lock_guard<std::mutex> lock(mu);
    cache.Put(b);
  }

 private:
  std::mutex mu;
  BlockCache cache;
};
SharedBlockCache& Shared() {
  static SharedBlockCache* const shared = new SharedBlockCache;
  return *shared;
}

}  // namespace

void* AcquireAlignedBlock(size_t bytes) {
  // Whole cache lines, at least one; the capacity counts the header.
  const size_t lines = bytes / kCacheLineBytes + (bytes % kCacheLineBytes != 0 ? 1 : 0);
  if (lines > (SIZE_MAX - kHeaderBytes) / kCacheLineBytes) throw std::bad_alloc();
  const size_t cap = kHeaderBytes + (lines == 0 ? 1 : lines) * kCacheLineBytes;
  BlockCache* cache = ThisThread();
  void* b = cache != nullptr ? cache->Take(cap) : nullptr;
  if (b == nullptr) b = Shared().Take(cap);
  if (b == nullptr) b = NewBlock(cap);
  SetOwner(b, ThisThreadToken());
  char* p = static_cast<char*>(b) + kHeaderBytes;
  SPARQ_UNPOISON(p, bytes);
  SPARQ_POISON(p + bytes, CapacityOf(b) - kHeaderBytes - bytes);
  SPARQ_MARK_UNDEFINED(p, bytes);
  return p;
}

void ReleaseAlignedBlock(void* p) noexcept {
  if (p == nullptr) return;
  void* b = static_cast<char*>(p) - kHeaderBytes;
  BlockCache* cache = ThisThread();
  if (cache == nullptr) FreeBlock(b);  // this thread is exiting
  else if (OwnerOf(b) == ThisThreadToken()) cache->Put(b);
  else Shared().Put(b);  // another thread's block: where that thread (or any) looks next
}

BlockCacheStats ThisThreadBlockCache() {
  const BlockCache* c = ThisThread();
  return c != nullptr ? BlockCacheStats{c->count, c->bytes} : BlockCacheStats{};
}

}  // namespace sparq::cpu
