// runtime/stream.h: the context's stream on cpu/sim/cuda: one worker thread that runs enqueued
// tasks strictly in order, so ops, copies and frees keep the order the JS code issued them in.
// The JS thread only enqueues; it never waits on a task (StopAndJoin at environment teardown aside).
#pragma once
#include <memory>
#include <thread>

#include "runtime/task.h"

namespace sparq {

class Stream {
 public:
  Stream();
  ~Stream();  // Drain(), and the worker, if still joinable, is let go to finish on its own
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  // Runs task on the worker after every task enqueued before it. Returns false (task not taken)
  // once the stream is closing.
  bool Enqueue(Task task);
  // No new tasks; the worker finishes the queued ones and then exits. It stays joinable
  // (StopAndJoin) by whoever keeps this Stream — environment teardown must not leave a worker
  // running (binding/addon_data.h). Never blocks.
  void Drain();
  // True once the worker has returned (a drained queue, or stopped); joining it then is immediate.
  bool Exited() const;
  // No new tasks; the running task finishes, the rest are dropped (closures destroyed, releasing
  // the buffers they pinned) and the worker is joined. For environment teardown.
  void StopAndJoin();

 private:
  struct State;
  static void Run(std::shared_ptr<State> state);
  std::shared_ptr<State> state_;
  std::thread worker_;
};

}  // namespace sparq
