// binding/op_launch.h: enqueueing a kernel launch the same way for every op: inputs whose producer
// failed poison the output with that failure; a failure marks the output; the launch record
// becomes the context's lastLaunch.
#pragma once
#include <napi.h>

#include <array>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <type_traits>
#include <utility>
#include <vector>

#include "binding/context_core.h"
#include "cpu/cpu_switches.h"

namespace sparq::binding {

// An op's input or output buffers (null entries allowed: an absent bias). Up to N are held in
// place, so the op's closure stays inside the stream's slot (runtime/task.h); more (a group's
// ranks) go to a vector.
template <size_t N>
class OpBuffers {
 public:
  OpBuffers() = default;
  OpBuffers(std::shared_ptr<Buffer> one) : count_(1) { inline_[0] = std::move(one); }  // NOLINT: one output
  OpBuffers(std::initializer_list<std::shared_ptr<Buffer>> list) {
    if (list.size() > N) {
      more_.assign(list.begin(), list.end());
      return;
    }
    for (const auto& b : list) inline_[count_++] = b;
  }
  OpBuffers(std::vector<std::shared_ptr<Buffer>> list) : more_(std::move(list)) {}  // NOLINT
  template <class F>
  void ForEach(F&& f) const {
    for (size_t i = 0; i < count_; ++i) f(inline_[i]);
    for (const auto& b : more_) f(b);
  }

 private:
  std::array<std::shared_ptr<Buffer>, N> inline_;
  size_t count_ = 0;
  std::vector<std::shared_ptr<Buffer>> more_;
};
using OpInputs = OpBuffers<6>;   // a weight's parts (sparse: 4), x, bias
using OpOutputs = OpBuffers<2>;  // the output (and an op's second result)

// outs: every buffer the op writes (each is marked with the failure, or cleared on success).
// run: Status(LaunchInfo*), on the stream worker.
// skipped: void(const Status&), run instead of `run` when an input carries an earlier failure (a
// collective must tell its peers it will not take part, or they wait for it and pair its next call
// with this one); nullptr for none.
// kMayAllocate: whether the closure may outgrow the stream slot's room (runtime/task.h) and take
// the heap; only a group's all-reduce, whose arguments hold a pointer per rank, does.
template <bool kMayAllocate = false, class Run, class Skipped = std::nullptr_t>
inline void EnqueueOp(Napi::Env env, ContextCore* ctx, OpInputs inputs, OpOutputs outs, Run&& run,
                      Skipped&& skipped = nullptr) {
  // The CPU kernels' switches go with the op: the context's, read at open() (cpu/cpu_switches.h).
  ctx->Enqueue<kMayAllocate>(env, [inputs = std::move(inputs), outs = std::move(outs), run = std::forward<Run>(run),
                     skipped = std::forward<Skipped>(skipped), shared = ctx->shared_ptr(),
                     switches = ctx->cpu_switches()]() mutable -> Status {
    auto mark = [&outs](const Status& s) {
      outs.ForEach([&s](const std::shared_ptr<Buffer>& out) { out->error = s; });
    };
    const Status* failed = nullptr;
    inputs.ForEach([&failed](const std::shared_ptr<Buffer>& in) {
      if (failed == nullptr && in && !in->error.ok()) failed = &in->error;
    });
    if (failed != nullptr) {
      const Status why = *failed;
      mark(why);
      if constexpr (!std::is_same_v<std::decay_t<Skipped>, std::nullptr_t>) skipped(why);
      return Status::Ok();  // reported once, by the op that failed
    }
    LaunchInfo info;
    const cpu::ScopedCpuSwitches installed(switches);
    Status s = run(&info);
    mark(s);
    if (!s.ok()) return s;
    if (!info.kernel.empty()) {
      std::lock_guard<std::mutex> lock(shared->mu);
      shared->last_launch = std::move(info);
      shared->has_launch = true;
    }
    return s;
  });
}

}  // namespace sparq::binding
