// native/formats/host_parallel.cc: ForEachSlice (contract in host_parallel.h).
#include "formats/host_parallel.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <new>
#include <mutex>
#include <thread>
#include <vector>

namespace sparq::formats {

void ForEachSlice(int64_t count, int64_t min_slice, int threads, const std::function<void(int64_t, int64_t)>& fn) {
  if (count <= 0) return;
  const int64_t by_size = std::max<int64_t>(1, count / std::max<int64_t>(1, min_slice));
  const int slices = int(std::min<int64_t>(std::max(threads, 1), by_size));
  if (slices == 1) {
    fn(0, count);
    return;
  }
  std::mutex mu;
  std::exception_ptr first;
  const auto run = [&](int s) {
    try {
      fn(count * s / slices, count * (s + 1) / slices);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu);
      if (!first) first = std::current_exception();
    }
  };
  // Both reserved before any thread starts, so nothing below can throw while a helper is joinable
  // (a joinable std::thread destroyed by an unwinding exception terminates the process).
  std::vector<std::thread> helpers;
  helpers.reserve(size_t(slices - 1));
  std::vector<int> unstarted;
  unstarted.reserve(size_t(slices - 1));
  for (int s = 1; s < slices; ++s) {
    try {
      helpers.emplace_back(run, s);
    } catch (...) {  // no thread to be had (std::system_error at a process limit, std::bad_alloc): do it here
      unstarted.push_back(s);
    }
  }
  run(0);
  for (int s : unstarted) run(s);
  for (std::thread& t : helpers) t.join();
  if (first) std::rethrow_exception(first);
}

void ParallelCopy(void* dst, const void* src, size_t bytes, int threads) {
  constexpr int64_t kChunkBytes = int64_t(64) << 10, kMinSliceBytes = int64_t(8) << 20;
  if (bytes == 0) return;
  const int64_t chunks = int64_t((bytes + size_t(kChunkBytes) - 1) / size_t(kChunkBytes));
  try {
    ForEachSlice(chunks, kMinSliceBytes / kChunkBytes, threads, [&](int64_t begin, int64_t end) {
      const size_t from = size_t(begin * kChunkBytes), to = std::min(bytes, size_t(end * kChunkBytes));
      std::memcpy(static_cast<uint8_t*>(dst) + from, static_cast<const uint8_t*>(src) + from, to - from);
    });
  } catch (const std::bad_alloc&) {  // ForEachSlice's own bookkeeping, before any slice ran: copy here
    std::memcpy(dst, src, bytes);
  }
}

}  // namespace sparq::formats
