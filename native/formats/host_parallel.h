// native/formats/host_parallel.h: the weight encoders' one form of parallelism — contiguous slices
// of an index range on a few short-lived threads. Weight preparation (sparse.encode, the cpu row
// lists, w4a16.quantize, int8.quantize) runs once per weight on the context's stream worker, where
// the backend's own pool is not available on every backend (cuda, sim have none) and is idle on the
// cpu backend anyway (the stream runs one job at a time). Every slice writes only its own part of the
// output, at offsets fixed before the slices start, so the bytes never depend on the thread count.
#pragma once
#include <algorithm>
#include <cstdint>
#include <functional>

namespace sparq::formats {

// Entries (weights) a slice should hold at least: below about a million a thread costs more than it saves.
inline constexpr int64_t kMinEntriesPerThread = int64_t(1) << 20;

// ForEachSlice's min_slice for items of `entries_per_item` entries each (a row of k, a 64×64 tile).
inline int64_t MinItemsPerSlice(int64_t entries_per_item) {
  return std::max<int64_t>(1, kMinEntriesPerThread / std::max<int64_t>(1, entries_per_item));
}

// Runs fn(begin, end) over contiguous slices of [0, count) that cover it once, on up to `threads`
// threads (the caller's included; < 1 counts as 1), each slice at least `min_slice` items (fewer
// items than that: one slice, on the caller's thread). After every slice has finished, rethrows the
// first exception one threw (std::bad_alloc from an encoder); a thread that cannot be started is
// replaced by running its slice on the caller's thread. Throws std::bad_alloc itself only before
// any thread has started.
void ForEachSlice(int64_t count, int64_t min_slice, int threads, const std::function<void(int64_t, int64_t)>& fn);

// memcpy of `bytes` in slices of at least 8 MiB on up to `threads` threads: a weight-sized copy into
// fresh memory is bound by its page faults and one core's copy rate (117 MB: ~15 ms on one core of
// the CI VM, ~8 on two), and the copy of a caller's array runs on the JS thread, where it stalls the
// event loop. The same bytes for any thread count.
void ParallelCopy(void* dst, const void* src, size_t bytes, int threads);

}  // namespace sparq::formats
