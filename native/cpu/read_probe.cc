// native/cpu/read_probe.cc: the benchmarks' CPU floor — a streaming read of a buffer far larger
// than L3 on the context's own thread pool, each thread summing one contiguous slice, so
// bytes / time is the DRAM read bandwidth those threads can draw (bench/harness/cpuFloor.ts times
// it between two stream marks). CopyProbe is the same for ops that write as much as they read
// (allreduceRmsnorm): each thread copies its slice, so bytes read + written / time is the copy
// bandwidth of the pool, not of one core (the allreduce bench's floor was one memcpy on the stream
// thread until 2026-12-06, and the op's two threads passed it by up to 30%).
// How a thread reads its slice is the caller's choice (ReadProbeShape), because which way reads
// fastest depends on the CPU, and a floor a kernel beats is no floor; the bench tries several and
// keeps the fastest. Measured, 1 GiB on huge pages, 2 threads:
//   - AMD EPYC Zen 4 (CI box, 2026-12-01): one plain stream 31-35 GB/s; 8 streams an eighth of the
//     slice apart with a software prefetch 1 KiB ahead 27-29.
//   - Intel Xeon, Sapphire Rapids flags (CI box, 2026-12-02): one plain stream 13.1 GB/s (and the
//     dense m = 1 gemv read 24 GB/s against it); 4 streams 21, 8 streams with a prefetch 1 KiB
//     ahead 25 — its L2 streamer follows few streams per core no further than a page.
// Built for the baseline ISA: 32-byte loads read no faster than 16-byte ones and 64-byte loads
// ~10% slower, since a core's loads far outrun DRAM, and an ISA file would be one more place for
// a weak symbol (STYLE.md §11).
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "sparq/cpu.h"

namespace sparq::cpu {
namespace {

constexpr size_t kLineBytes = 64;
typedef uint64_t U64x2 __attribute__((vector_size(16)));
constexpr size_t kVectorsPerLine = kLineBytes / sizeof(U64x2);

inline void AddLine(const uint8_t* line, U64x2 (&acc)[kVectorsPerLine]) {
  for (size_t v = 0; v < kVectorsPerLine; ++v) {
    U64x2 x;
    std::memcpy(&x, line + v * sizeof(U64x2), sizeof(U64x2));
    acc[v] += x;
  }
}

// Sum of the slice as u64 words, one accumulator per 16-byte part of a line so the adds never wait
// on each other; the caller returns it, so no load can be dropped. The slice's whole lines are cut
// into `streams` equal runs read a line of each in turn (the lines left over, then the bytes past
// the last whole line, at the end); with PREFETCH each line read first asks for the one
// prefetch_bytes further on (plain address arithmetic: a prefetch may point past the buffer).
template <bool PREFETCH>
uint64_t SumSlice(const uint8_t* p, size_t bytes, size_t streams, size_t prefetch_bytes) {
  U64x2 acc[kVectorsPerLine] = {};
  const size_t lines = bytes / kLineBytes, run = lines / streams;
  for (size_t i = 0; i < run; ++i)
    for (size_t s = 0; s < streams; ++s) {
      const uint8_t* line = p + (s * run + i) * kLineBytes;
      if constexpr (PREFETCH)
        __builtin_prefetch(reinterpret_cast<const void*>(reinterpret_cast<uintptr_t>(line) + prefetch_bytes));
      AddLine(line, acc);
    }
  for (size_t i = streams * run; i < lines; ++i) AddLine(p + i * kLineBytes, acc);
  uint64_t sum = 0;
  for (size_t v = 0; v < kVectorsPerLine; ++v) sum += acc[v][0] + acc[v][1];
  for (size_t i = lines * kLineBytes; i < bytes; ++i) sum += p[i];
  return sum;
}

// Thread t's slice of `bytes` split `threads` ways: whole lines, the remainder on the last, so every
// thread streams from the start.
struct Slice {
  size_t first, last;
};
Slice SliceOf(int64_t t, int64_t threads, size_t bytes) {
  const size_t lines = bytes / kLineBytes;
  const size_t first = lines * size_t(t) / size_t(threads) * kLineBytes;
  const size_t last = t + 1 == threads ? bytes : lines * size_t(t + 1) / size_t(threads) * kLineBytes;
  return {first, last};
}

// A copy whose stores bypass the caches, a line (four 16-byte stores) at a time; memcpy for the
// tail, and for the whole slice where dst is not 16-byte aligned (host buffers are 64-byte aligned
// and slices start on lines, so the bench never meets that). SSE2 is the x86-64 baseline, so no ISA
// file.
void CopyNonTemporal(uint8_t* dst, const uint8_t* src, size_t bytes) {
#if defined(__SSE2__)
  size_t i = 0;
  if (reinterpret_cast<uintptr_t>(dst) % 16 == 0) {
    for (; i + kLineBytes <= bytes; i += kLineBytes) {
      __m128i v[kVectorsPerLine];
      for (size_t j = 0; j < kVectorsPerLine; ++j)
        v[j] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i + 16 * j));
      for (size_t j = 0; j < kVectorsPerLine; ++j) _mm_stream_si128(reinterpret_cast<__m128i*>(dst + i + 16 * j), v[j]);
    }
    _mm_sfence();  // the streamed lines are visible before the stream's next work
  }
  std::memcpy(dst + i, src + i, bytes - i);
#else
  std::memcpy(dst, src, bytes);
#endif
}

}  // namespace

uint64_t ReadProbe(const void* src, size_t bytes, const ReadProbeShape& shape, ThreadPool& pool) {
  const size_t streams = size_t(std::max(shape.streams, 1));
  const size_t prefetch_bytes = size_t(std::max(shape.prefetch_bytes, 0));
  const auto* base = static_cast<const uint8_t*>(src);
  const int64_t threads = pool.size();
  std::vector<uint64_t> sums(size_t(threads), 0);
  pool.ParallelFor(threads, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const Slice s = SliceOf(t, threads, bytes);
      sums[t] = prefetch_bytes > 0 ? SumSlice<true>(base + s.first, s.last - s.first, streams, prefetch_bytes)
                                   : SumSlice<false>(base + s.first, s.last - s.first, streams, 0);
    }
  });
  uint64_t sum = 0;
  for (int64_t t = 0; t < threads; ++t) sum += sums[t];
  return sum;
}

void CopyProbe(void* dst, const void* src, size_t bytes, bool non_temporal, ThreadPool& pool) {
  auto* to = static_cast<uint8_t*>(dst);
  const auto* from = static_cast<const uint8_t*>(src);
  const int64_t threads = pool.size();
  pool.ParallelFor(threads, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const Slice s = SliceOf(t, threads, bytes);
      if (non_temporal) CopyNonTemporal(to + s.first, from + s.first, s.last - s.first);
      else std::memcpy(to + s.first, from + s.first, s.last - s.first);
    }
  });
}

}  // namespace sparq::cpu
