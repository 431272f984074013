#include "binding/context_core.h"

#include "binding/addon_data.h"
#include "binding/args.h"
#include "binding/errors.h"

#include <algorithm>
#include <new>
#include <stdexcept>

namespace sparq::binding {
namespace {

using Completion = std::function<void(Napi::Env)>;

// Runs a posted completion on the JS thread. env is null while the environment tears down: then the
// completion is only destroyed (its promise can no longer be observed).
void CallCompletion(Napi::Env env, Napi::Function, Completion* fn) {
  if (env != nullptr && *fn) (*fn)(env);
  delete fn;
}

int64_t NextSerial() {
  static std::atomic<int64_t> serial{0};
  return ++serial;
}

}  // namespace

void LiveSet::Insert(ContextOwned* o, Napi::Object ctx_object) {
  if (o->in_live_set_) return;
  if (head_ == nullptr) ctx_object_ = Napi::Persistent(ctx_object);
  o->live_prev_ = nullptr;
  o->live_next_ = head_;
  if (head_ != nullptr) head_->live_prev_ = o;
  head_ = o;
  o->in_live_set_ = true;
}

void LiveSet::Erase(ContextOwned* o) {
  if (!o->in_live_set_) return;
  if (o->live_prev_ != nullptr) o->live_prev_->live_next_ = o->live_next_;
  else head_ = o->live_next_;
  if (o->live_next_ != nullptr) o->live_next_->live_prev_ = o->live_prev_;
  o->live_prev_ = o->live_next_ = nullptr;
  o->in_live_set_ = false;
  // Last: from here the context object may be collected (the caller no longer needs it).
  if (head_ == nullptr) ctx_object_.Reset();
}

ContextCore::ContextCore(Napi::Env env, std::shared_ptr<Backend> backend, std::string fallback_reason,
                         const cpu::CpuSwitches& switches)
    : backend_(std::move(backend)),
      fallback_reason_(std::move(fallback_reason)),
      cpu_switches_(switches),
      label_(std::string(backend_->name()) + "#" + std::to_string(NextSerial())),
      shared_(std::make_shared<ContextShared>()),
      stream_(std::make_unique<Stream>()) {
  Napi::Function noop = Napi::Function::New(env, [](const Napi::CallbackInfo&) {});
  channel_ = std::make_shared<Channel>();
  channel_->tsfn = Napi::ThreadSafeFunction::New(env, noop, "sparq.stream", 0, 1);
  channel_->tsfn.Unref(env);  // an idle context must not keep the process alive
  tsfn_live_ = true;
  registry_ = GetAddonData(env)->contexts;
  registry_->live.insert(this);
}

ContextCore::~ContextCore() {
  registry_->live.erase(this);
  // Collected without close(): the backend goes on the stream too, after what is queued (as in
  // FinishClose), not in this finalizer on the JS thread — a cuda backend's teardown synchronizes
  // its stream and cudaFree()s. At teardown (or refused) it goes here, as before.
  if (backend_ && stream_ && tsfn_live_ && !registry_->torn_down)
    stream_->Enqueue([backend = std::move(backend_)]() mutable { backend.reset(); });
  Shutdown(false);
}

void ContextCore::ReleaseOnStream(std::shared_ptr<void> keep) {
  if (!keep || !stream_) return;
  // The task owns the only reference this function had; refused, it is destroyed inside Enqueue.
  stream_->Enqueue([held = std::move(keep)]() mutable { held.reset(); });
}

void ContextCore::AddInterrupt(std::weak_ptr<void> owner, std::function<void()> interrupt) {
  // a context that joins comm after comm keeps only the interrupts of those still alive
  interrupts_.erase(std::remove_if(interrupts_.begin(), interrupts_.end(), [](const auto& i) { return i.first.expired(); }),
                    interrupts_.end());
  interrupts_.emplace_back(std::move(owner), std::move(interrupt));
}

void ContextCore::RunInterrupts() {
  std::vector<std::pair<std::weak_ptr<void>, std::function<void()>>> run;
  run.swap(interrupts_);
  for (auto& i : run)
    if (!i.first.expired()) i.second();
}

void ContextCore::Shutdown(bool join) {
  if (!stream_) return;
  if (join || registry_->torn_down) {
    RunInterrupts();
    stream_->StopAndJoin();
    if (tsfn_live_) channel_->tsfn.Release();
  } else if (tsfn_live_) {
    // Queued work still completes (its promises settle). The stream goes to the registry, not
    // detached: the JS thread joins it and releases the channel (addon_data.h DrainingStream).
    stream_->Drain();
    registry_->ReapExited();
    registry_->draining.push_back({std::move(stream_), channel_->tsfn});
  }
  tsfn_live_ = false;
  stream_.reset();
}

template <class Describe>
std::shared_ptr<Buffer> ContextCore::AllocateOrThrow(Napi::Env env, size_t bytes, const std::string& op,
                                                     const std::string& argument, const Describe& what) {
  ThrowIfClosed(env, op);
  auto buffer = std::make_shared<Buffer>();
  buffer->backend = backend_;
  buffer->bytes = bytes;
  Status s = backend_->Allocate(bytes, &buffer->ptr);
  if (!s.ok()) {
    buffer->ptr = nullptr;
    ThrowStatus(env, Status::Error(s.code,
                                   op + ": could not allocate " + what() + " (" + std::to_string(bytes) +
                                       " bytes) for " + argument + " on backend '" + backend_->name() + "': " + s.message,
                                   argument));
  }
  return buffer;
}

std::shared_ptr<Buffer> ContextCore::Allocate(Napi::Env env, size_t bytes, const std::string& op,
                                              const std::string& argument, const std::string& what) {
  return AllocateOrThrow(env, bytes, op, argument, [&what] { return what; });
}

std::shared_ptr<Buffer> ContextCore::Allocate(Napi::Env env, size_t bytes, const std::string& op,
                                              const std::string& argument, const char* what_prefix,
                                              const std::vector<int64_t>& shape, DType dtype) {
  return AllocateOrThrow(env, bytes, op, argument,
                         [&] { return std::string(what_prefix) + " " + ShapeToString(shape) + " " + DTypeName(dtype); });
}

void ContextCore::ThrowIfClosed(Napi::Env env, const std::string& op) const {
  if (closing_)
    ThrowStatus(env, Status::Error(StatusCode::kDisposed, op + ": context " + label_ + " was closed", "context"));
}

Napi::Promise ContextCore::Close(Napi::Env env, Napi::Object self) {
  auto deferred = std::make_shared<Napi::Promise::Deferred>(env);
  if (closing_ && !stream_) {
    deferred->Resolve(env.Undefined());  // already closed
    return deferred->Promise();
  }
  close_waiters_.push_back(deferred);
  if (closing_) return deferred->Promise();  // a close is under way: settle with it
  closing_ = true;
  RunInterrupts();  // a comm op waiting for a peer fails now instead of holding the drain for its timeout
  self_while_closing_ = Napi::Persistent(self);  // FinishClose runs on this object
  std::shared_ptr<Backend> backend = backend_;
  channel_->Hold(env);  // the event loop stays alive until the close completes
  std::shared_ptr<Channel> channel = channel_;
  // The drain marker: runs after everything queued before close(); then the device is idle.
  bool taken = stream_->Enqueue([backend, channel, this_core = this]() mutable {
    backend->Synchronize();  // a failure here was already reported by the op that caused it
    backend.reset();
    auto* boxed = new Completion([channel, this_core](Napi::Env env) {
      channel->Drop(env);
      this_core->FinishClose(env);
    });
    if (channel->tsfn.NonBlockingCall(boxed, CallCompletion) != napi_ok) delete boxed;
  });
  if (!taken) {
    channel_->Drop(env);
    FinishClose(env);
  }
  return deferred->Promise();
}

void ContextCore::FinishClose(Napi::Env env) {
  // Each object erases itself from the set when it lets go of its memory; the Erase after is a
  // no-op then, and only guards this loop against an implementation that did not.
  while (ContextOwned* o = live_->first()) {
    o->ReleaseOnClose(env, label_);
    live_->Erase(o);
  }
  // With the last buffer gone, the backend (threads, handles) goes now — on the stream worker, as
  // its last task, not here: a cuda backend's teardown synchronizes its stream, destroys cuBLAS and
  // cudaFree()s its workspaces, and cudaFree waits for the whole device, other contexts' queued
  // kernels included (a worker_thread's context beside this one); the JS thread must not wait for
  // that. close() resolves when it has run (CompleteClose).
  std::shared_ptr<Backend> backend = std::move(backend_);
  std::shared_ptr<Channel> channel = channel_;
  bool taken = false;
  if (stream_ && tsfn_live_) {
    channel->Hold(env);
    // Refused (cannot happen: only this close stops the stream), the task and its reference are
    // destroyed inside Enqueue: the backend then goes here, as it did before.
    taken = stream_->Enqueue([backend = std::move(backend), channel, this_core = this]() mutable {
      backend.reset();
      auto* boxed = new Completion([channel, this_core](Napi::Env env) {
        channel->Drop(env);
        this_core->CompleteClose(env);
      });
      if (channel->tsfn.NonBlockingCall(boxed, CallCompletion) != napi_ok) delete boxed;
    });
    if (!taken) channel->Drop(env);
  }
  if (!taken) CompleteClose(env);
}

void ContextCore::CompleteClose(Napi::Env env) {
  // Still in the registry until now: environment teardown in between stops (and joins) the stream.
  registry_->live.erase(this);
  Shutdown(true);  // the queue is empty: joins the idle worker, releases the completion channel
  backend_.reset();
  std::vector<std::shared_ptr<Napi::Promise::Deferred>> waiters;
  waiters.swap(close_waiters_);
  for (auto& d : waiters) d->Resolve(env.Undefined());
  self_while_closing_.Reset();
}

void ContextCore::ThrowIfLost(Napi::Env env) {
  if (!shared_->lost.load()) return;
  std::lock_guard<std::mutex> lock(shared_->mu);
  ThrowStatus(env, Status::Error(StatusCode::kDevice,
                                 "context is lost after a device error (" + shared_->lost_status.message +
                                     "); open a new context" +
                                     // A kernel fault (illegal address, launch failure, trap) is sticky
                                     // for every CUDA context of the process (docs/api.md "Ordering").
                                     (label_.rfind("cuda", 0) == 0
                                          ? " — or, after a kernel fault, a new process: CUDA faults are sticky for the whole process"
                                          : "")));
}

void ContextCore::Push(Napi::Env env, Task task, bool has_completion) {
  ThrowIfClosed(env, "enqueue");
  ThrowIfLost(env);
  if (!stream_) ThrowStatus(env, Status::Error(StatusCode::kDisposed, "context " + label_ + " was closed", "context"));
  shared_->pending.fetch_add(1);
  if (has_completion) channel_->Hold(env);
  Status refused;
  try {
    if (stream_->Enqueue(std::move(task))) return;
    refused = Status::Error(StatusCode::kDisposed, "context " + label_ + " was closed", "context");
  } catch (const std::bad_alloc&) {  // the stream's queue could not grow
    refused = Status::Error(StatusCode::kOutOfMemory, "out of host memory for the context's queue of work");
  }
  shared_->pending.fetch_sub(1);
  if (has_completion) channel_->Drop(env);
  ThrowStatus(env, refused);
}

Status ContextCore::OutOfHostMemory() {
  return Status::Error(StatusCode::kOutOfMemory, "out of host memory for a kernel's scratch space");
}

Status ContextCore::KernelThrew(const std::exception& e) {
  return Status::Error(StatusCode::kDevice, std::string("kernel failed: ") + e.what());
}

void ContextCore::FinishTask(ContextShared& shared, const Status& status, bool has_completion) {
  if (!status.ok()) {
    std::lock_guard<std::mutex> lock(shared.mu);
    // A task with its own promise reports its failure there; synchronize() reports the rest.
    if (!has_completion && shared.first_error.ok()) shared.first_error = status;
    if (status.code == StatusCode::kDevice && !shared.lost.load()) {
      shared.lost_status = status;
      shared.lost.store(true);
    }
  }
  shared.pending.fetch_sub(1);
}

void ContextCore::Enqueue(Napi::Env env, std::function<Status()> work,
                          std::function<void(Napi::Env, const Status&)> complete) {
  if (!complete) return Enqueue(env, std::move(work));
  Task task([work = std::move(work), complete = std::move(complete), shared = shared_, channel = channel_]() mutable {
    const Status status = RunGuarded(work);
    FinishTask(*shared, status, true);
    auto* boxed = new Completion([complete = std::move(complete), status, channel](Napi::Env env) {
      channel->Drop(env);
      complete(env, status);
    });
    if (channel->tsfn.NonBlockingCall(boxed, CallCompletion) != napi_ok) delete boxed;
  });
  Push(env, std::move(task), true);
}

}  // namespace sparq::binding
