// runtime/host_memory.h: what the cpu and sim backends share: their "device" memory is plain,
// 64-byte aligned host memory, copies are memcpy, and stream time is the worker's monotonic clock
// (tasks run one after another on it, so a timestamp taken by a task is the stream time).
#pragma once
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <unordered_set>

#include "cpu/aligned_array.h"
#include "formats/host_buffers.h"
#include "runtime/backend.h"
#include "sparq/status.h"

namespace sparq {

// Buffers of 4 MiB and more (weights, activations of a batch) start on a 2 MiB boundary and are
// offered to transparent huge pages (MADV_HUGEPAGE: honoured where THP is "always" or "madvise",
// ignored where it is "never"). The cpu kernels stream weights once per call: with 4 KiB pages
// every 4 KiB of a weight is a TLB miss, and measured on the CI box (2026-11-30, one thread
// streaming 1 GiB) the read rate went from ~8 to ~12.5 GB/s with huge pages.
// Smaller ones (an op's output, a per-call activation) come from the CPU backend's per-thread block
// cache (cpu/aligned_array.h): an output allocated fresh each call faulted its pages in each call
// (32 faults for a [16, 4096] fp16 output, ~10 µs each on the CI VM). A freed one goes to the cache
// of the thread that frees it, or, freed away from the thread that took it (an output: taken on the
// JS thread, freed on the stream), to the shared one that thread looks in next (docs/decisions.md
// "CPU per-call buffers").
class HostMemoryBackend : public Backend {
 public:
  bool host_memory() const override { return true; }
  Status Allocate(size_t bytes, void** ptr) override {
    void* p = nullptr;
    if (bytes >= formats::kHugeBufferMinBytes) {
      if (posix_memalign(&p, formats::kHugePageBytes, bytes) != 0 || p == nullptr) return OutOfMemory(bytes);
      formats::AdviseHugePages(p, bytes);
      std::lock_guard<std::mutex> lock(huge_mu_);
      try {
        huge_.insert(p);
      } catch (const std::bad_alloc&) {
        std::free(p);
        return OutOfMemory(bytes);
      }
    } else {
      try {
        p = cpu::AcquireAlignedBlock(bytes);  // 64-byte aligned: one cache line / one zmm load
      } catch (const std::bad_alloc&) {
        return OutOfMemory(bytes);
      }
    }
    live_.fetch_add(1, std::memory_order_relaxed);
    *ptr = p;
    return Status::Ok();
  }
  void Free(void* ptr) override {
    if (ptr == nullptr) return;
    live_.fetch_sub(1, std::memory_order_relaxed);
    // Huge blocks start on a 2 MiB boundary: a pointer off one is a block-cache block, freed with
    // no lock or lookup (an op's output is one; the lookup was ~17% of a finalizer's free).
    if (reinterpret_cast<uintptr_t>(ptr) % formats::kHugePageBytes == 0) {
      std::lock_guard<std::mutex> lock(huge_mu_);
      if (huge_.erase(ptr) != 0) {
        std::free(ptr);
        return;
      }
    }
    cpu::ReleaseAlignedBlock(ptr);
  }
  int64_t LiveAllocations() const override { return live_.load(std::memory_order_relaxed); }
  Status CopyToDevice(void* dst, const void* src, size_t bytes) override { return Copy(dst, src, bytes); }
  Status CopyToHost(void* dst, const void* src, size_t bytes) override { return Copy(dst, src, bytes); }
  Status CopyOnDevice(void* dst, const void* src, size_t bytes) override { return Copy(dst, src, bytes); }
  Status Fill(void* dst, size_t bytes, uint8_t value) override {
    std::memset(dst, value, bytes);
    return Status::Ok();
  }
  Status Synchronize() override { return Status::Ok(); }
  Status StreamTimeMs(double* ms) override {
    using namespace std::chrono;
    *ms = duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
    return Status::Ok();
  }

 private:
  std::atomic<int64_t> live_{0};  // Allocate runs on the JS thread, Free wherever the last owner lets go
  std::mutex huge_mu_;
  std::unordered_set<void*> huge_;  // the posix_memalign'd (huge-page) blocks; the rest are block-cache blocks
  static Status OutOfMemory(size_t bytes) {
    return Status::Error(StatusCode::kOutOfMemory, "allocation of " + std::to_string(bytes) + " bytes of host memory failed");
  }
  static Status Copy(void* dst, const void* src, size_t bytes) {
    std::memcpy(dst, src, bytes);
    return Status::Ok();
  }
};

}  // namespace sparq
