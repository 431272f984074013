// native/formats/host_parallel.cc: ForEachSlice (contract in host_parallel.h).
#include "formats/host_parallel.h"

#include <algorithm>
#include <exception>
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

}  // namespace sparq::formats
