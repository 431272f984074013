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

inline void EnqueueOp(Napi::Env env, ContextCore* ctx, std::vector<std::shared_ptr<Buffer>> inputs,
                      std::shared_ptr<Buffer> out, std::function<Status(LaunchInfo*)> run) {
  std::shared_ptr<ContextShared> shared = ctx->shared_ptr();
  ctx->Enqueue(env, [inputs = std::move(inputs), out, run = std::move(run), shared]() -> Status {
    for (const auto& in : inputs) {
      if (in && !in->error.ok()) {
        out->error = in->error;
        return Status::Ok();  // reported once, by the op that failed
      }
    }
    LaunchInfo info;
    Status s = run(&info);
    if (!s.ok()) {
      out->error = s;
      return s;
    }
    out->error = Status::Ok();
    if (!info.kernel.empty()) {
      std::lock_guard<std::mutex> lock(shared->mu);
      shared->last_launch = std::move(info);
      shared->has_launch = true;
    }
    return s;
  });
}

}  // namespace sparq::binding
