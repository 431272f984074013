// native/cpu/read_probe.cc: the benchmarks' CPU floor — a streaming read of a buffer far larger
// than L3 on the context's own thread pool, each thread summing one contiguous slice front to back
// as one sequential stream, so bytes / time is the DRAM read bandwidth those threads can draw
// (bench/harness/cpuFloor.ts times it between two stream marks).
// Why one plain stream: it is what read fastest, and a floor a kernel beats is no floor. Measured
// on the CI box (AMD EPYC Zen 4, 2 cores, 2026-12-01, 1 GiB on huge pages): this probe draws
// 29-32 GB/s on 1 thread and 31-35 on 2; the 8 streams an eighth of the slice apart with a
// software prefetch 1 KiB ahead that it used before drew 13-14 and 27-29, and the dense m = 1
// gemv ran at up to 1.9x that. In a standalone loop on 1 thread, 8 streams 8-28 KiB apart (the
// gemv's rows) drew ~25, and a software prefetch (T0 or NTA, 256 B-1 KiB ahead) gained nothing.
// Built for the baseline ISA: 32-byte loads read no faster than 16-byte ones and 64-byte loads
// ~10% slower, since a core's loads far outrun DRAM, and an ISA file would be one more place for
// a weak symbol (STYLE.md §11).
#include <cstdint>
#include <cstring>
#include <vector>

#include "sparq/cpu.h"

namespace sparq::cpu {
namespace {

constexpr size_t kLineBytes = 64;
typedef uint64_t U64x2 __attribute__((vector_size(16)));
constexpr size_t kVectorsPerLine = kLineBytes / sizeof(U64x2);

// Sum of the slice as u64 words, one accumulator per 16-byte part of a line so the adds never wait
// on each other; the caller returns it, so no load can be dropped.
uint64_t SumSlice(const uint8_t* p, size_t bytes) {
  U64x2 acc[kVectorsPerLine] = {};
  const size_t lines = bytes / kLineBytes;
  for (size_t i = 0; i < lines; ++i) {
    const uint8_t* line = p + i * kLineBytes;
    for (size_t v = 0; v < kVectorsPerLine; ++v) {
      U64x2 x;
      std::memcpy(&x, line + v * sizeof(U64x2), sizeof(U64x2));
      acc[v] += x;
    }
  }
  uint64_t sum = 0;
  for (size_t v = 0; v < kVectorsPerLine; ++v) sum += acc[v][0] + acc[v][1];
  for (size_t i = lines * kLineBytes; i < bytes; ++i) sum += p[i];
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
