#include "runtime/stream.h"

#include <condition_variable>
#include <deque>
#include <mutex>

namespace sparq {

struct Stream::State {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::function<void()>> tasks;
  bool closing = false;   // no new tasks
  bool dropping = false;  // exit without running what is queued
  bool exited = false;    // Run has returned
};

Stream::Stream() : state_(std::make_shared<State>()) { worker_ = std::thread(Run, state_); }

Stream::~Stream() {
  Drain();
  if (worker_.joinable()) worker_.detach();
}

bool Stream::Enqueue(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    if (state_->closing) return false;
    state_->tasks.push_back(std::move(task));
  }
  state_->cv.notify_one();
  return true;
}

void Stream::Drain() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->closing = true;
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
    dropped.swap(state_->tasks);
  }
  state_->cv.notify_all();
  if (worker_.joinable()) worker_.join();
  dropped.clear();  // destroy closures outside the lock
}

void Stream::Run(std::shared_ptr<State> state) {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock(state->mu);
      state->cv.wait(lock, [&] { return state->closing || !state->tasks.empty(); });
      if (state->dropping || state->tasks.empty()) {  // closing with nothing left to drain
        state->exited = true;
        return;
      }
      task = std::move(state->tasks.front());
      state->tasks.pop_front();
    }
    task();
    task = nullptr;  // release captured buffers on the worker, in stream order
  }
}

}  // namespace sparq
