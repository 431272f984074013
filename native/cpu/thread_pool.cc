// native/cpu/thread_pool.cc: persistent worker threads for ParallelFor. The caller thread takes
// chunks too, so a pool of size T runs T-1 workers.
//
// Workers (and the caller, waiting for them) spin for a bounded time before they sleep on a
// condition variable. A decode-size matmul is 0.3–1 ms, and waking a sleeping thread on the CI
// VM took long enough that the worker started its half late and the caller slept at the end:
// two threads ran a 4096² sparse m = 1 call only 1.5–1.8× faster than one (docs/decisions.md).
// Back-to-back calls (a model's layers) now find the worker still spinning. The spin is bounded
// (kSpinNs), so an idle pool costs nothing after it, and after its first 20 µs it yields the core
// between looks (SpinUntil), so an oversubscribed pool stays level with sleeping.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "runtime/worker_thread.h"
#include "sparq/cpu.h"

namespace sparq::cpu {
namespace {

constexpr int64_t kSpinNs = 200000;  // 0.2 ms: longer than the gap between two calls from JS
constexpr int64_t kPauseOnlyNs = 20000;  // then yield between looks (runtime/worker_thread.h)

// Pausing (not yielding) for the first 20 µs is what lets the worker pick up the next call's half
// at once: yielding from the start made 28 back-to-back 2048² W4A16 m = 1 calls 1.5× slower
// (70 → 110 µs a call, 2 threads, Zen 5, 2026-12-03), the worker's half starting late.
template <typename Ready>
bool SpinUntil(Ready&& ready) {
  return sparq::SpinUntil(std::forward<Ready>(ready), kSpinNs, kPauseOnlyNs);
}

}  // namespace

struct ThreadPool::Impl {
  int size = 1;
  std::vector<std::thread> workers;

  std::mutex mu;
  std::condition_variable wake;  // workers wait here for a new job (or stop)
  std::condition_variable done;  // the caller waits here for busy_workers == 0
  // Written under mu (the condition variables' predicates read them under it); atomic because
  // the spins (SpinUntil) read them without it.
  std::atomic<uint64_t> job_id{0};    // bumped per ParallelFor; a worker looks at each job once
  std::atomic<bool> stop{false};
  std::atomic<int> busy_workers{0};   // workers that took a seat in the current job and are still in it
  // Guarded by mu. A job of c chunks offers c - 1 seats (the caller runs chunks too); a worker that
  // finds none left goes back to waiting without touching the job, and the caller closes the
  // remaining seats once it has run out of chunks itself. Before (2026-12-05) every job woke every
  // worker and the caller waited for all of them to check in, so a 2-chunk job on a 64-thread
  // pool waited for 63 wake-ups.
  int seats = 0;
  int sleeping = 0;  // workers inside wake.wait: how many a new job's seats may need to wake

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
      SpinUntil([&] { return stop.load(std::memory_order_acquire) || job_id.load(std::memory_order_acquire) != seen; });
      {
        std::unique_lock<std::mutex> lock(mu);
        ++sleeping;
        wake.wait(lock, [&] { return stop.load(std::memory_order_relaxed) || job_id.load(std::memory_order_relaxed) != seen; });
        --sleeping;
        if (stop.load(std::memory_order_relaxed)) return;
        seen = job_id.load(std::memory_order_relaxed);
        if (seats == 0) continue;  // the job has the workers it asked for, or its caller ran it all
        --seats;
        busy_workers.fetch_add(1, std::memory_order_relaxed);
      }
      RunChunks();
      std::lock_guard<std::mutex> lock(mu);
      // acq_rel: the caller's acquire of 0 then sees every worker's chunk results (an RMW chain).
      if (busy_workers.fetch_sub(1, std::memory_order_acq_rel) == 1) done.notify_one();
    }
  }
};

ThreadPool::ThreadPool(int threads) : impl_(std::make_unique<Impl>()) {
  impl_->size = threads < 1 ? 1 : threads;
  impl_->workers.reserve(impl_->size - 1);
  try {
    for (int i = 1; i < impl_->size; ++i) {
      impl_->workers.emplace_back([this] { impl_->WorkerLoop(); });
      NameThread(impl_->workers.back(), "sparq-cpu");
    }
  } catch (...) {
    // A thread the system would not start (a thread limit: ulimit -u, a container's pids cap):
    // the ones already started are stopped and joined before the exception leaves, or they would
    // wait forever on the condition variable being destroyed (open() hung, 2026-12-06).
    StopWorkers();
    throw;
  }
}

void ThreadPool::StopWorkers() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stop.store(true, std::memory_order_release);
  }
  impl_->wake.notify_all();
  for (std::thread& t : impl_->workers) t.join();
  impl_->workers.clear();
}

ThreadPool::~ThreadPool() { StopWorkers(); }

int ThreadPool::size() const { return impl_->size; }

void ThreadPool::ParallelFor(int64_t n, const std::function<void(int64_t, int64_t)>& fn, int64_t max_chunks) {
  if (n <= 0) return;
  Impl& p = *impl_;
  if (p.size == 1 || n == 1 || max_chunks <= 1) {
    fn(0, n);
    return;
  }
  int to_wake = 0;
  {
    std::lock_guard<std::mutex> lock(p.mu);
    p.fn = &fn;
    p.n = n;
    p.chunks = std::min<int64_t>({n, int64_t(p.size), max_chunks});
    p.next_chunk.store(0, std::memory_order_relaxed);
    p.error = nullptr;
    p.seats = static_cast<int>(p.chunks) - 1;
    // Spinning workers see the new job_id by themselves; only the seats they cannot fill need a
    // sleeper woken. A spinner that goes to sleep meanwhile checks job_id before it waits.
    const int spinning = static_cast<int>(p.workers.size()) - p.sleeping;
    to_wake = std::min(p.seats - std::min(p.seats, spinning), p.sleeping);
    p.job_id.fetch_add(1, std::memory_order_release);
  }
  if (to_wake == static_cast<int>(p.workers.size())) p.wake.notify_all();
  else for (int i = 0; i < to_wake; ++i) p.wake.notify_one();
  p.RunChunks();
  {
    // Out of chunks: a worker that has not taken its seat by now would find nothing to do, so the
    // caller stops waiting for it. busy_workers only falls from here.
    std::lock_guard<std::mutex> lock(p.mu);
    p.seats = 0;
  }
  SpinUntil([&] { return p.busy_workers.load(std::memory_order_acquire) == 0; });
  std::exception_ptr error;
  {
    std::unique_lock<std::mutex> lock(p.mu);
    p.done.wait(lock, [&] { return p.busy_workers.load(std::memory_order_relaxed) == 0; });
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
  return HardwareThreadCount();
}

int HardwareThreadCount() {
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

}  // namespace sparq::cpu
