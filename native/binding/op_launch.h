// binding/op_launch.h: enqueueing a kernel launch the same way for every op: inputs whose producer
// failed poison the output with that failure; a failure marks the output; the launch record
// becomes the context's lastLaunch.
#pragma once
#include <napi.h>

#include <functional>
#include <memory>
#include <vector>

#include "binding/context_core.h"

namespace sparq::binding {

// outs: every buffer the op writes (each is marked with the failure, or cleared on success).
// skipped: run instead of `run` when an input carries an earlier failure (a collective must tell
// its peers it will not take part, or they wait for it and pair its next call with this one).
inline void EnqueueOp(Napi::Env env, ContextCore* ctx, std::vector<std::shared_ptr<Buffer>> inputs,
                      std::vector<std::shared_ptr<Buffer>> outs, std::function<Status(LaunchInfo*)> run,
                      std::function<void(const Status&)> skipped = nullptr) {
  std::shared_ptr<ContextShared> shared = ctx->shared_ptr();
  ctx->Enqueue(env, [inputs = std::move(inputs), outs = std::move(outs), run = std::move(run), skipped = std::move(skipped),
                     shared]() -> Status {
    auto mark = [&outs](const Status& s) {
      for (const auto& out : outs) out->error = s;
    };
    for (const auto& in : inputs) {
      if (in && !in->error.ok()) {
        mark(in->error);
        if (skipped) skipped(in->error);
        return Status::Ok();  // reported once, by the op that failed
      }
    }
    LaunchInfo info;
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

inline void EnqueueOp(Napi::Env env, ContextCore* ctx, std::vector<std::shared_ptr<Buffer>> inputs,
                      std::shared_ptr<Buffer> out, std::function<Status(LaunchInfo*)> run) {
  EnqueueOp(env, ctx, std::move(inputs), std::vector<std::shared_ptr<Buffer>>{std::move(out)}, std::move(run));
}

}  // namespace sparq::binding
