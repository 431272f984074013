#include "runtime/stream.h"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>

#include "runtime/worker_thread.h"

namespace sparq {
namespace {

// After a task the worker looks for the next one for this long, yielding the core between looks,
// before it sleeps; Enqueue wakes it (a futex call) only when it sleeps. JS issues ops a few µs
// apart, and with the worker asleep between them every op cost the JS thread a futex wake and the
// stream a wake-up. Yielding rather than pausing leaves the core to the JS thread (or a pool
// worker) that has work: with 2 pool threads on 2 cores a pausing spin made an awaited op slower.
// Measured 2026-12-03 (Zen 5 CI VM, one context per process, processes alternated; µs, sleeping →
// spinning): a tiny W4A16 op + dispose back to back 1 thread 16–17 → 11–12, 2 threads 24–48 → 15–25;
// one op awaited (enqueue to read() resolved) 1 thread 47–51 → 20–22, 2 threads 61–64 → 51–53;
// 28 back-to-back 2048² W4A16 m = 1 ops then a read, per op, 2 threads 80–88 → 70–80.
constexpr int64_t kStreamSpinNs = 100000;
constexpr int64_t kStreamPauseOnlyNs = 0;  // yield from the first look

}  // namespace

struct Stream::State {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::function<void()>> tasks;
  bool closing = false;   // no new tasks
  bool dropping = false;  // exit without running what is queued
  bool exited = false;    // Run has returned
  bool sleeping = false;  // the worker waits on cv: Enqueue must notify it
  // tasks.size() != 0 || closing, written under mu; read by the worker's spin without it.
  std::atomic<bool> has_work{false};
};

Stream::Stream() : state_(std::make_shared<State>()) { worker_ = std::thread(Run, state_); }

Stream::~Stream() {
  Drain();
  if (worker_.joinable()) worker_.detach();
}

bool Stream::Enqueue(std::function<void()> task) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    if (state_->closing) return false;
    state_->tasks.push_back(std::move(task));
    state_->has_work.store(true, std::memory_order_release);
    wake = state_->sleeping;
  }
  if (wake) state_->cv.notify_one();
  return true;
}

void Stream::Drain() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->closing = true;
    state_->has_work.store(true, std::memory_order_release);
  }
  state_->cv.notify_all();
}

bool Stream::Exited() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->exited;
}

void Stream::StopAndJoin() {
  std::deque<std::function<void()>> dropped;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->closing = true;
    state_->dropping = true;
    state_->has_work.store(true, std::memory_order_release);
    dropped.swap(state_->tasks);
  }
  state_->cv.notify_all();
  if (worker_.joinable()) worker_.join();
  dropped.clear();  // destroy closures outside the lock
}

void Stream::Run(std::shared_ptr<State> state) {
  NameThisThread("sparq-stream");
  for (;;) {
    std::function<void()> task;
    SpinUntil([&] { return state->has_work.load(std::memory_order_acquire); }, kStreamSpinNs, kStreamPauseOnlyNs);
    {
      std::unique_lock<std::mutex> lock(state->mu);
      if (!state->closing && state->tasks.empty()) {
        state->sleeping = true;
        state->cv.wait(lock, [&] { return state->closing || !state->tasks.empty(); });
        state->sleeping = false;
      }
      if (state->dropping || state->tasks.empty()) {  // closing with nothing left to drain
        state->exited = true;
        return;
      }
      task = std::move(state->tasks.front());
      state->tasks.pop_front();
      state->has_work.store(state->closing || !state->tasks.empty(), std::memory_order_relaxed);
    }
    task();
    task = nullptr;  // release captured buffers on the worker, in stream order
  }
}

}  // namespace sparq
