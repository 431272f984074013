// binding/dense_binding.cc: dense.matmul(ctx, w, x, bias?, out?) — the fp16 baseline.
#include "binding/context.h"
#include "binding/errors.h"
#include "binding/op_launch.h"
#include "binding/tensor.h"

namespace sparq::binding {
namespace {

struct DenseArgs {
  TensorWrap* w;
  TensorWrap* x;
  TensorWrap* bias;  // may be null
  TensorWrap* out;   // may be null
  int64_t m, n, k;
  Shape out_shape;
};

DenseArgs ParseDenseMatmulArgs(const Napi::CallbackInfo& info, ContextCore* ctx) {
  Napi::Env env = info.Env();
  const std::string op = "dense.matmul";
  const DType f16 = DType::kF16;
  DenseArgs a{};
  a.w = ParseTensor(info[1], ctx, op, "w", &f16);
  a.x = ParseTensor(info[2], ctx, op, "x", &f16);
  a.bias = ParseOptionalTensor(info[3], ctx, op, "bias", &f16);
  a.out = ParseOptionalTensor(info[4], ctx, op, "out", &f16);
  const Shape& ws = a.w->shape();
  if (ws.size() != 2) ThrowArg(env, StatusCode::kShape, op, "w", "[n, k]", ShapeToString(ws));
  a.n = ws[0];
  a.k = ws[1];
  const Shape& xs = a.x->shape();
  CheckLastDim(env, op, "x", xs, a.k);
  a.m = ShapeElements(xs) / a.k;
  a.out_shape = Shape(xs.begin(), xs.end() - 1);
  a.out_shape.push_back(a.n);
  if (a.bias && (a.bias->shape().size() != 1 || a.bias->shape()[0] != a.n))
    ThrowArg(env, StatusCode::kShape, op, "bias", "[" + std::to_string(a.n) + "]", ShapeToString(a.bias->shape()));
  if (a.out) {
    if (a.out->shape() != a.out_shape)
      ThrowArg(env, StatusCode::kShape, op, "out", ShapeToString(a.out_shape), ShapeToString(a.out->shape()));
    if (a.out == a.w || a.out == a.x || a.out == a.bias)
      ThrowArg(env, StatusCode::kArgument, op, "out", "a tensor distinct from the inputs", "one of the inputs");
  }
  return a;
}

}  // namespace

Napi::Value DenseMatmul(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ContextWrap* cw = ContextWrap::Parse(info[0], "dense.matmul");
  ContextCore* ctx = cw->core();
  ctx->ThrowIfLost(env);
  DenseArgs a = ParseDenseMatmulArgs(info, ctx);
  Napi::Object out_obj;
  std::shared_ptr<Buffer> out;
  if (a.out) {
    out = a.out->buffer();
    out_obj = info[4].As<Napi::Object>();
  } else {
    out = ctx->Allocate(env, static_cast<size_t>(a.m * a.n) * 2);
    out_obj = TensorWrap::Create(env, info[0].As<Napi::Object>(), ctx, out, DType::kF16, a.out_shape);
  }
  std::shared_ptr<Buffer> w = a.w->buffer(), x = a.x->buffer();
  std::shared_ptr<Buffer> bias = a.bias ? a.bias->buffer() : nullptr;
  std::shared_ptr<Backend> backend = ctx->backend_ptr();
  DenseMatmulArgs args;
  args.m = a.m;
  args.n = a.n;
  args.k = a.k;
  EnqueueOp(env, ctx, {w, x, bias}, out, [backend, w, x, bias, out, args](LaunchInfo* launch) mutable {
    args.w = static_cast<const uint16_t*>(w->ptr);
    args.x = static_cast<const uint16_t*>(x->ptr);
    args.bias = bias ? static_cast<const uint16_t*>(bias->ptr) : nullptr;
    args.y = static_cast<uint16_t*>(out->ptr);
    return backend->DenseMatmul(args, launch);
  });
  return out_obj;
}

}  // namespace sparq::binding
