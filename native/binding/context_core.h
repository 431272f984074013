// binding/context_core.h: what a context owns below JS: its backend, its stream (one worker thread,
// strict order), the completion channel back to the JS thread, and the bookkeeping behind
// `pending`, `lost` and `lastLaunch`. Buffers pin the backend, so memory outlives the context object.
#pragma once
#include <napi.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cpu/cpu_switches.h"
#include "runtime/backend.h"
#include "runtime/stream.h"
#include "sparq/dtype.h"

namespace sparq::binding {

// A block of backend memory. `error` is touched only on the stream worker: when the op that was to
// produce this buffer failed, later ops and reads see why.
struct Buffer {
  std::shared_ptr<Backend> backend;
  void* ptr = nullptr;
  size_t bytes = 0;
  Status error;
  ~Buffer() {
    if (ptr) backend->Free(ptr);
  }
};

// State shared between the JS thread and the worker (atomics / mutex only).
struct ContextShared {
  std::atomic<int64_t> pending{0};
  std::atomic<bool> lost{false};
  std::mutex mu;  // guards lost_status, last_launch, first_error
  Status lost_status;
  Status first_error;  // first failure since the last synchronize()
  LaunchInfo last_launch;
  bool has_launch = false;
};

// A JS-visible object that holds a context's memory (a tensor, a packed weight): close() frees
// whatever is still alive through this. Implementations erase themselves from the LiveSet when
// they release their memory (dispose, GC, close).
class ContextOwned {
 public:
  virtual ~ContextOwned() = default;
  // Frees the memory now; afterwards every use names the closed context (`label`).
  virtual void ReleaseOnClose(Napi::Env env, const std::string& label) = 0;

 private:
  friend class LiveSet;
  ContextOwned* live_prev_ = nullptr;
  ContextOwned* live_next_ = nullptr;
  bool in_live_set_ = false;
};

// The objects of one context that still hold memory. Shared by the context and its objects, so
// neither outlives it (finalizers run in any order). JS thread only.
// An intrusive list, not a std::set: every op output enters it and leaves it in whatever order
// dispose() and GC finalizers come, and a std::set node allocation plus an O(log n) walk through
// cold tree nodes cost up to ~2 µs per object at 10^5 live (docs/decisions.md "Per-object cost").
class LiveSet {
 public:
  // `ctx_object` (the context's JS object) is held while the set is not empty: one strong
  // reference for all its objects keeps the context alive as long as any of them is attached, as a
  // reference per object did, without a V8 global handle made and destroyed per tensor.
  void Insert(ContextOwned* o, Napi::Object ctx_object);
  // No-op for an object not in the set; lets go of the context object when the set empties.
  void Erase(ContextOwned* o);
  ContextOwned* first() const { return head_; }

 private:
  ContextOwned* head_ = nullptr;
  Napi::ObjectReference ctx_object_;
};

class ContextCore {
 public:
  ContextCore(Napi::Env env, std::shared_ptr<Backend> backend, std::string fallback_reason, const cpu::CpuSwitches& switches);
  // The CPU kernels' switches, as the environment had them when the context opened (every op
  // carries them to its kernels: op_launch.h).
  const cpu::CpuSwitches& cpu_switches() const { return cpu_switches_; }
  ~ContextCore();

  // "cpu#3": the backend and a per-process serial, so errors can name a closed context.
  const std::string& label() const { return label_; }
  bool closed() const { return closing_; }
  const std::shared_ptr<LiveSet>& live() const { return live_; }

  Backend& backend() { return *backend_; }
  const std::shared_ptr<Backend>& backend_ptr() const { return backend_; }
  const std::string& fallback_reason() const { return fallback_reason_; }
  ContextShared& shared() { return *shared_; }
  const std::shared_ptr<ContextShared>& shared_ptr() const { return shared_; }

  // Allocates `bytes` of backend memory on the calling (JS) thread; throws SparqOutOfMemoryError
  // "<op>: could not allocate <what> (<bytes> bytes) for <argument> on backend ...".
  std::shared_ptr<Buffer> Allocate(Napi::Env env, size_t bytes, const std::string& op = "tensor",
                                   const std::string& argument = "out", const std::string& what = "the output");
  // The same, <what> being "<what_prefix> [shape] <dtype>": built only when the allocation fails
  // (an op's output is allocated on every call).
  std::shared_ptr<Buffer> Allocate(Napi::Env env, size_t bytes, const std::string& op, const std::string& argument,
                                   const char* what_prefix, const std::vector<int64_t>& shape, DType dtype);

  // Enqueues `work` (a Status() callable) on the stream. Throws SparqDeviceError when the context
  // is lost, SparqDisposedError once it is closed. The closure is kept in the stream's slot, not
  // allocated (runtime/task.h): ops come through here.
  // kMayAllocate = false (ops): the build fails if the closure outgrew the Task's room.
  template <bool kMayAllocate = true, class Work>
  void Enqueue(Napi::Env env, Work&& work) {
    auto task = [work = std::forward<Work>(work), shared = shared_]() mutable {
      FinishTask(*shared, RunGuarded(work), false);
    };
    static_assert(kMayAllocate || Task::FitsInline<decltype(task)>(),
                  "an op's closure no longer fits the stream's slot: raise Task::kInlineBytes or shrink the capture");
    Push(env, Task(std::move(task)), false);
  }
  // The same, and `complete` runs on the JS thread afterwards with the work's status, keeping the
  // event loop alive until then.
  void Enqueue(Napi::Env env, std::function<Status()> work, std::function<void(Napi::Env, const Status&)> complete);

  // Stops the stream: `join` waits for the running task (environment teardown); otherwise detaches.
  // `join` first runs the interrupts, so the running task is never a wait on a peer.
  void Shutdown(bool join);
  // A way to end a wait that only another party could end (a comm rendezvous: a peer that never
  // comes). Run at close() and at teardown, so neither waits out a comm's timeout. JS thread only.
  // `owner`: the interrupt is dropped (never run) once it has expired — what it would end is gone.
  void AddInterrupt(std::weak_ptr<void> owner, std::function<void()> interrupt);
  // Drops `keep` on the stream, after the work queued so far (a comm's device slot, whose free on
  // cuda waits for the device: never on the JS thread). Where the stream is gone or closing, here.
  void ReleaseOnStream(std::shared_ptr<void> keep);
  void ThrowIfLost(Napi::Env env);
  // Throws SparqDisposedError "<op>: context cpu#3 was closed" after close().
  void ThrowIfClosed(Napi::Env env, const std::string& op) const;

  // close(): no new work; when the queued work has drained (the device idle), frees every tensor
  // and weight still alive, joins the stream's thread, and drops the backend (its thread pool,
  // cuBLAS handle, workspaces go with the last buffer). Resolves then; a second call returns a
  // promise for the same moment. Works on a lost context too.
  // `self` is the context's JS object, held until the close completes.
  Napi::Promise Close(Napi::Env env, Napi::Object self);

 private:
  // The completion channel: shared with in-flight tasks so completions can be delivered (and the
  // event loop released) even after the context object itself has been collected.
  struct Channel {
    Napi::ThreadSafeFunction tsfn;
    int64_t holds = 0;  // JS thread only: completions still to be delivered
    void Hold(Napi::Env env) { if (holds++ == 0) tsfn.Ref(env); }
    void Drop(Napi::Env env) { if (--holds == 0) tsfn.Unref(env); }
  };

  // Queues a built task: the closed/lost checks, `pending` (and the channel's hold) counted up,
  // and back down when the stream refuses it (closed) or cannot hold it (out of host memory).
  void Push(Napi::Env env, Task task, bool has_completion);
  // On the worker: the work's status, with its exceptions turned into statuses.
  template <class Work>
  static Status RunGuarded(Work& work) {
    try {
      return work();
    } catch (const std::bad_alloc&) {
      return OutOfHostMemory();
    } catch (const std::exception& e) {
      return KernelThrew(e);
    }
  }
  static Status OutOfHostMemory();
  static Status KernelThrew(const std::exception& e);
  // On the worker, after the work: records a failure (first_error, lost) and counts the task done.
  static void FinishTask(ContextShared& shared, const Status& status, bool has_completion);

  template <class Describe>
  std::shared_ptr<Buffer> AllocateOrThrow(Napi::Env env, size_t bytes, const std::string& op, const std::string& argument,
                                          const Describe& what);

  void FinishClose(Napi::Env env);    // the queue drained: frees what is alive, hands the backend to the stream
  void CompleteClose(Napi::Env env);  // the backend is gone: joins the worker, resolves close()

  std::shared_ptr<Backend> backend_;
  std::string fallback_reason_;
  cpu::CpuSwitches cpu_switches_;
  std::string label_;
  bool closing_ = false;
  Napi::ObjectReference self_while_closing_;
  std::vector<std::shared_ptr<Napi::Promise::Deferred>> close_waiters_;
  std::vector<std::pair<std::weak_ptr<void>, std::function<void()>>> interrupts_;
  void RunInterrupts();
  std::shared_ptr<LiveSet> live_ = std::make_shared<LiveSet>();
  std::shared_ptr<ContextShared> shared_;
  std::unique_ptr<Stream> stream_;
  std::shared_ptr<Channel> channel_;
  std::shared_ptr<struct ContextRegistry> registry_;
  bool tsfn_live_ = false;
};

}  // namespace sparq::binding
