// binding/fault_binding.cc: test support. injectFault(ctx, code, message, shape) enqueues an op
// that fails on the stream with the given status, so tests can prove how a failure inside queued
// work surfaces in JS (read() rejects, synchronize() rejects once, a device error loses the context)
// without needing a real device fault. Reached only through src/native.ts, not the public API.
#include "binding/args.h"
#include "binding/context.h"
#include "binding/errors.h"
#include "binding/op_launch.h"
#include "binding/tensor.h"

namespace sparq::binding {

Napi::Value InjectFault(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ContextCore* ctx = ContextWrap::Parse(info[0], "injectFault")->core();
  ctx->ThrowIfLost(env);
  int code = info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 0;
  if (code < 1 || code > 7) ThrowArg(env, StatusCode::kArgument, "injectFault", "code", "1..7", DescribeValue(info[1]));
  std::string message = info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "injected fault";
  Shape shape = ParseShape(info[3], "injectFault", "shape");
  std::shared_ptr<Buffer> out = ctx->Allocate(env, ShapeBytes(env, shape, DType::kF16, "injectFault"));
  Napi::Object out_obj = TensorWrap::Create(env, info[0].As<Napi::Object>(), ctx, out, DType::kF16, shape);
  EnqueueOp(env, ctx, {}, out, [code, message](LaunchInfo*) {
    return Status::Error(static_cast<StatusCode>(code), message);
  });
  return out_obj;
}

// v8ExternalBytes() → V8's external-memory counter as napi_adjust_external_memory returns it: every
// live tensor and weight (ContextOwnedHandle::Attach), with V8's own ArrayBuffers.
// process.memoryUsage().external leaves sparq's part out on Node 20, so the leak test reads this.
Napi::Value V8ExternalBytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), double(Napi::MemoryManagement::AdjustExternalMemory(info.Env(), 0)));
}

}  // namespace sparq::binding
