#include "runtime/stream.h"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <vector>

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

// The queued tasks, oldest first, in a ring that grows by doubling: a queue that holds its slots
// allocates nothing per task (task.h says why that matters). It shrinks back once a deep queue
// drains.
class TaskRing {
 public:
  bool empty() const { return count_ == 0; }
  void push_back(Task task) {
    if (count_ == slots_.size()) Grow();
    slots_[(head_ + count_) % slots_.size()] = std::move(task);
    ++count_;
  }
  Task pop_front() {
    Task t = std::move(slots_[head_]);
    head_ = (head_ + 1) % slots_.size();
    if (--count_ == 0 && slots_.size() > kKeptSlots) {
      slots_ = std::vector<Task>();  // a burst of queued ops does not keep its slots for good
      head_ = 0;
    }
    return t;
  }

 private:
  static constexpr size_t kFirstSlots = 64;
  static constexpr size_t kKeptSlots = 4096;  // ~1.9 MB of slots kept once the queue drains
  void Grow() {
    std::vector<Task> bigger(slots_.empty() ? kFirstSlots : slots_.size() * 2);
    for (size_t i = 0; i < count_; ++i) bigger[i] = std::move(slots_[(head_ + i) % slots_.size()]);
    slots_.swap(bigger);
    head_ = 0;
  }
  std::vector<Task> slots_;
  size_t head_ = 0, count_ = 0;
};

}  // namespace

struct Stream::State {
  std::mutex mu;
  std::condition_variable cv;
  TaskRing tasks;
  bool closing = false;   // no new tasks
  bool dropping = false;  // exit without running what is queued
  bool exited = false;    // Run has returned
  bool sleeping = false;  // the worker waits on cv: Enqueue must notify it
  // tasks.size() != 0 || closing, written under mu; read by the worker's spin without it.
  std::atomic<bool> has_work{false};
};

Stream::Stream() : state_(std::make_shared<State>()) {
  worker_ = std::thread(Run, state_);
  NameThread(worker_, "sparq-stream");  // named before it runs (worker_thread.h says why)
}

Stream::~Stream() {
  Drain();
  if (worker_.joinable()) worker_.detach();
}

bool Stream::Enqueue(Task task) {
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
  TaskRing dropped;  // swapped out, not copied: teardown must not allocate (or throw)
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->closing = true;
    state_->dropping = true;
    state_->has_work.store(true, std::memory_order_release);
    std::swap(dropped, state_->tasks);
  }
  state_->cv.notify_all();
  if (worker_.joinable()) worker_.join();
  dropped = TaskRing();  // destroy closures outside the lock
}

void Stream::Run(std::shared_ptr<State> state) {
  for (;;) {
    Task task;
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
      task = state->tasks.pop_front();
      state->has_work.store(state->closing || !state->tasks.empty(), std::memory_order_relaxed);
    }
    task();
    task.Reset();  // release captured buffers on the worker, in stream order
  }
}

}  // namespace sparq
