// binding/copy_binding.cc: copy(ctx, src, out?) — a device-to-device copy in stream order (also what
// the benchmarks time to measure the copy bandwidth that defines a layer's floor).
#include "binding/context.h"
#include "binding/errors.h"
#include "binding/op_launch.h"
#include "binding/tensor.h"

namespace sparq::binding {

Napi::Value Copy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string op = "copy";
  ContextCore* ctx = ContextWrap::Parse(info[0], op)->core();
  ctx->ThrowIfLost(env);
  TensorWrap* src = ParseTensor(info[1], ctx, op, "src", nullptr);
  TensorWrap* out_t = ParseOptionalTensor(info[2], ctx, op, "out", nullptr);
  if (out_t) {
    if (out_t->dtype() != src->dtype())
      ThrowArg(env, StatusCode::kDType, op, "out", WithArticle(std::string(DTypeName(src->dtype())) + " tensor"),
               WithArticle(std::string(DTypeName(out_t->dtype())) + " tensor"));
    if (out_t->shape() != src->shape())
      ThrowArg(env, StatusCode::kShape, op, "out", ShapeToString(src->shape()), ShapeToString(out_t->shape()));
    if (out_t == src) ThrowArg(env, StatusCode::kArgument, op, "out", "a tensor distinct from src", "src itself");
  }
  std::shared_ptr<Buffer> in = src->buffer();
  std::shared_ptr<Buffer> out;
  Napi::Object out_obj;
  if (out_t) {
    out = out_t->buffer();
    out_obj = info[2].As<Napi::Object>();
  } else {
    out = ctx->Allocate(env, in->bytes, op, "out", "the copy");
    out_obj = TensorWrap::Create(env, info[0].As<Napi::Object>(), ctx, out, src->dtype(), src->shape());
  }
  std::shared_ptr<Backend> backend = ctx->backend_ptr();
  EnqueueOp(env, ctx, {in}, out, [backend, in, out](LaunchInfo*) { return backend->CopyOnDevice(out->ptr, in->ptr, in->bytes); });
  return out_obj;
}

}  // namespace sparq::binding
