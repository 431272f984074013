// native/cpu/thread_pool.cc: persistent worker threads for ParallelFor. The caller thread takes
// chunks too, so a pool of size T runs T-1 workers.
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "sparq/cpu.h"

namespace sparq::cpu {

struct ThreadPool::Impl {
  int size = 1;
  std::vector<std::thread> workers;

  std::mutex mu;
  std::condition_variable wake;  // workers wait here for a new job (or stop)
  std::condition_variable done;  // the caller waits here for busy_workers == 0
  uint64_t job_id = 0;           // bumped per ParallelFor; a worker runs each job once
  bool stop = false;
  int busy_workers = 0;

  // The current job; valid while busy_workers > 0 or the caller is inside ParallelFor.
  const std::function<void(int64_t, int64_t)>* fn = nullptr;
  int64_t n = 0;
  int64_t chunks = 0;
  std::atomic<int64_t> next_chunk{0};
  std::exception_ptr error;  // first exception thrown by any chunk; rethrown on the caller

  // Chunk c covers [n*c/chunks, n*(c+1)/chunks): a fixed split, so results never depend on
  // which thread ran which chunk.
  void RunChunks() {
    for (;;) {
      const int64_t c = next_chunk.fetch_add(1, std::memory_order_relaxed);
      if (c >= chunks) return;
      const int64_t begin = n * c / chunks, end = n * (c + 1) / chunks;
      try {
        (*fn)(begin, end);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!error) error = std::current_exception();
      }
    }
  }

  void WorkerLoop() {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mu);
        wake.wait(lock, [&] { return stop || job_id != seen; });
        if (stop) return;
        seen = job_id;
      }
      RunChunks();
      std::lock_guard<std::mutex> lock(mu);
      if (--busy_workers == 0) done.notify_one();
    }
  }
};

ThreadPool::ThreadPool(int threads) : impl_(std::make_unique<Impl>()) {
  impl_->size = threads < 1 ? 1 : threads;
  impl_->workers.reserve(impl_->size - 1);
  for (int i = 1; i < impl_->size; ++i) impl_->workers.emplace_back([this] { impl_->WorkerLoop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stop = true;
  }
  impl_->wake.notify_all();
  for (std::thread& t : impl_->workers) t.join();
}

int ThreadPool::size() const { return impl_->size; }

void ThreadPool::ParallelFor(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  Impl& p = *impl_;
  if (p.size == 1 || n == 1) {
    fn(0, n);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(p.mu);
    p.fn = &fn;
    p.n = n;
    p.chunks = n < p.size ? n : p.size;
    p.next_chunk.store(0, std::memory_order_relaxed);
    p.error = nullptr;
    p.busy_workers = static_cast<int>(p.workers.size());
    ++p.job_id;
  }
  p.wake.notify_all();
  p.RunChunks();
  std::exception_ptr error;
  {
    std::unique_lock<std::mutex> lock(p.mu);
    p.done.wait(lock, [&] { return p.busy_workers == 0; });
    p.fn = nullptr;
    error = p.error;
    p.error = nullptr;
  }
  if (error) std::rethrow_exception(error);
}

int DefaultThreadCount() {
  constexpr long kMaxThreads = 1024;
  if (const char* env = std::getenv("SPARQ_THREADS")) {
    char* end = nullptr;
    const long v = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && v > 0) return static_cast<int>(v < kMaxThreads ? v : kMaxThreads);
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

}  // namespace sparq::cpu
