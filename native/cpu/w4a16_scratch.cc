// native/cpu/w4a16_scratch.cc: the W4A16 gemm path's per-thread scratch (w4a16_cpu.h). It lives
// here, compiled for the baseline ISA, because the ISA files may define no inline or template code
// (STYLE.md §11): a std::vector in them was a weak instance built under their #pragma GCC target.
#include <cstdlib>
#include <cstring>
#include <new>

#include "cpu/w4a16_cpu.h"

namespace sparq::cpu::w4a16 {
namespace {

constexpr size_t kScratchAlignBytes = 64;

struct ThreadScratch {
  float* data = nullptr;
  size_t floats = 0;
  ThreadScratch() = default;
  ThreadScratch(const ThreadScratch&) = delete;
  ThreadScratch& operator=(const ThreadScratch&) = delete;
  ~ThreadScratch() { std::free(data); }
};

}  // namespace

float* GemmScratch(size_t floats) {
  thread_local ThreadScratch scratch;
  if (scratch.floats < floats) {
    const size_t bytes = (floats * sizeof(float) + kScratchAlignBytes - 1) / kScratchAlignBytes * kScratchAlignBytes;
    void* p = std::aligned_alloc(kScratchAlignBytes, bytes);
    if (p == nullptr) throw std::bad_alloc();
    std::memset(p, 0, bytes);
    std::free(scratch.data);
    scratch.data = static_cast<float*>(p);
    scratch.floats = floats;
  }
  return scratch.data;
}

}  // namespace sparq::cpu::w4a16
