// binding/dense_binding.cc: dense.matmul(ctx, w, x, bias?, out?) — the fp16 baseline.
#include "binding/binding_registry.h"
#include "binding/context.h"
#include "binding/matmul_args.h"
#include "binding/op_launch.h"
#include "sparq/dense.h"

namespace sparq::binding {
namespace {

Napi::Value DenseMatmul(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string op = DenseMatmulArgs::kOpName;
  ContextCore* ctx = ContextWrap::Parse(info[0], op)->core();
  ctx->ThrowIfLost(env);
  const DType f16 = DType::kF16;
  TensorWrap* w = ParseTensor(info[1], ctx, op, "w", &f16);
  const Shape& ws = w->shape();
  if (ws.size() != 2) ThrowArg(env, StatusCode::kShape, op, "w", "[n, k]", ShapeToString(ws));
  constexpr MatmulLimits limits = LimitsOf<DenseMatmulArgs>();
  CheckWeightDims(env, op, "w", ws[0], ws[1], limits);
  MatmulOperands a = ParseMatmulOperands(info, ctx, op, 2, ws[0], ws[1], limits, {w});

  std::shared_ptr<Buffer> wb = w->buffer(), xb = a.x->buffer(), out = a.out;
  std::shared_ptr<Buffer> bb = a.bias ? a.bias->buffer() : nullptr;
  std::shared_ptr<Backend> backend = ctx->backend_ptr();
  DenseMatmulArgs args;
  args.m = a.m;
  args.n = a.n;
  args.k = a.k;
  EnqueueOp(env, ctx, {wb, xb, bb}, out, [backend, wb, xb, bb, out, args](LaunchInfo* launch) mutable {
    args.w = static_cast<const uint16_t*>(wb->ptr);
    args.x = static_cast<const uint16_t*>(xb->ptr);
    args.bias = bb ? static_cast<const uint16_t*>(bb->ptr) : nullptr;
    args.y = static_cast<uint16_t*>(out->ptr);
    return backend->DenseMatmul(args, launch);
  });
  return a.out_object;
}

}  // namespace

void RegisterDense(Napi::Env env, Napi::Object exports) {
  exports.Set("denseMatmul", Napi::Function::New(env, DenseMatmul, "denseMatmul"));
}

SPARQ_REGISTER_BINDING(RegisterDense);

}  // namespace sparq::binding
