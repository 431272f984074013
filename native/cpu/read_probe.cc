// native/cpu/read_probe.cc: the benchmarks' CPU floor — a streaming read of a buffer far larger
// than L3 on the context's own thread pool, each thread summing one contiguous slice (as 8
// interleaved streams with software prefetch, see kStreams), so bytes /
// time is the DRAM read bandwidth those threads can draw (bench/harness/cpuFloor.ts times it
// between two stream marks). Built for the baseline ISA: two 16-byte loads a cycle per core are
// several times what DRAM delivers, so wider loads would not move the figure, and an ISA file
// is one more place for a weak symbol (STYLE.md §11).
#include <cstdint>
#include <cstring>
#include <vector>

#include "sparq/cpu.h"

namespace sparq::cpu {
namespace {

constexpr size_t kLineBytes = 64;
// Each thread reads its slice as kStreams equal parts, one line of each in turn, with a software
// prefetch kPrefetchBytes ahead in each: one sequential stream per core draws about half of what
// the memory system gives a core on this class of machine (the kernels stream several rows or
// blocks at once), and the floor is what the threads can draw, not what one naive loop does.
constexpr size_t kStreams = 8;
constexpr size_t kPrefetchBytes = 1024;
typedef uint64_t U64x2 __attribute__((vector_size(16)));

// Sum of the slice as u64 words, four independent vector sums so the adds never wait on each
// other; the caller returns it, so no load can be dropped.
uint64_t SumSlice(const uint8_t* p, size_t bytes) {
  U64x2 acc[4] = {};
  const size_t lines_per_stream = bytes / kLineBytes / kStreams;
  for (size_t i = 0; i < lines_per_stream; ++i) {
    for (size_t s = 0; s < kStreams; ++s) {
      const uint8_t* line = p + (s * lines_per_stream + i) * kLineBytes;
      __builtin_prefetch(line + kPrefetchBytes, 0, 3);
      for (int v = 0; v < 4; ++v) {
        U64x2 x;
        std::memcpy(&x, line + v * sizeof(U64x2), sizeof(U64x2));
        acc[v] += x;
      }
    }
  }
  uint64_t sum = 0;
  for (int v = 0; v < 4; ++v) sum += acc[v][0] + acc[v][1];
  for (size_t i = lines_per_stream * kStreams * kLineBytes; i < bytes; ++i) sum += p[i];
  return sum;
}

}  // namespace

uint64_t ReadProbe(const void* src, size_t bytes, ThreadPool& pool) {
  const auto* base = static_cast<const uint8_t*>(src);
  const int64_t threads = pool.size();
  const size_t lines = bytes / kLineBytes;
  std::vector<uint64_t> sums(size_t(threads), 0);
  // One slice per thread, whole lines, the remainder on the last: every thread streams from the start.
  pool.ParallelFor(threads, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const size_t first = lines * size_t(t) / size_t(threads) * kLineBytes;
      const size_t last = t + 1 == threads ? bytes : lines * size_t(t + 1) / size_t(threads) * kLineBytes;
      sums[t] = SumSlice(base + first, last - first);
    }
  });
  uint64_t sum = 0;
  for (int64_t t = 0; t < threads; ++t) sum += sums[t];
  return sum;
}

}  // namespace sparq::cpu
