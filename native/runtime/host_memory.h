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
#include <string>

#include "runtime/backend.h"
#include "sparq/status.h"

namespace sparq {

inline Status HostAllocate(size_t bytes, void** ptr) {
  constexpr size_t kAlignBytes = 64;  // one cache line / one zmm load
  void* p = nullptr;
  if (posix_memalign(&p, kAlignBytes, bytes == 0 ? kAlignBytes : bytes) != 0 || p == nullptr)
    return Status::Error(StatusCode::kOutOfMemory,
                         "allocation of " + std::to_string(bytes) + " bytes of host memory failed");
  *ptr = p;
  return Status::Ok();
}

class HostMemoryBackend : public Backend {
 public:
  bool host_memory() const override { return true; }
  Status Allocate(size_t bytes, void** ptr) override {
    Status s = HostAllocate(bytes, ptr);
    if (s.ok()) live_.fetch_add(1, std::memory_order_relaxed);
    return s;
  }
  void Free(void* ptr) override {
    if (ptr) live_.fetch_sub(1, std::memory_order_relaxed);
    std::free(ptr);
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
  static Status Copy(void* dst, const void* src, size_t bytes) {
    std::memcpy(dst, src, bytes);
    return Status::Ok();
  }
};

}  // namespace sparq
