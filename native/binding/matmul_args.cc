#include "binding/matmul_args.h"

namespace sparq::binding {

void CheckWeightDims(Napi::Env env, const std::string& op, const std::string& argument, int64_t n, int64_t k,
                     const MatmulLimits& limits) {
  if (n > limits.max_n || k > limits.max_k)
    ThrowArg(env, StatusCode::kShape, op, argument,
             "[n, k] with n <= " + std::to_string(limits.max_n) + " and k <= " + std::to_string(limits.max_k),
             "[" + std::to_string(n) + ", " + std::to_string(k) + "]");
}

MatmulOperands ParseMatmulOperands(const Napi::CallbackInfo& info, ContextCore* ctx, const std::string& op,
                                   size_t x_at, int64_t n, int64_t k, const MatmulLimits& limits,
                                   std::initializer_list<TensorWrap*> inputs) {
  Napi::Env env = info.Env();
  const DType f16 = DType::kF16;
  MatmulOperands a;
  a.n = n;
  a.k = k;
  a.x = ParseTensor(info[x_at], ctx, op, "x", &f16);
  a.bias = ParseOptionalTensor(info[x_at + 1], ctx, op, "bias", &f16);
  TensorWrap* out = ParseOptionalTensor(info[x_at + 2], ctx, op, "out", &f16);
  const Shape& xs = a.x->shape();
  if (xs.back() != k)  // names w's shape too: a weight given in the other layout shows up here
    ThrowArg(env, StatusCode::kShape, op, "x",
             std::string(xs.size() > 2 ? "[..., " : "[m, ") + std::to_string(k) + "] to match w [n, k] = [" + std::to_string(n) + ", " +
                 std::to_string(k) + "]",
             ShapeToString(xs));
  a.m = ShapeElements(xs) / k;
  if (a.m > limits.max_m)
    ThrowArg(env, StatusCode::kShape, op, "x",
             "[m, " + std::to_string(k) + "] with m (the product of the leading dims) <= " + std::to_string(limits.max_m),
             ShapeToString(xs));
  a.out_shape.reserve(xs.size());
  a.out_shape.assign(xs.begin(), xs.end() - 1);
  a.out_shape.push_back(n);
  if (a.bias && (a.bias->shape().size() != 1 || a.bias->shape()[0] != n))
    ThrowArg(env, StatusCode::kShape, op, "bias", "[" + std::to_string(n) + "]", ShapeToString(a.bias->shape()));
  if (out) {
    if (out->shape() != a.out_shape)
      ThrowArg(env, StatusCode::kShape, op, "out", ShapeToString(a.out_shape), ShapeToString(out->shape()));
    bool aliases = out == a.x || out == a.bias;
    for (TensorWrap* t : inputs) aliases = aliases || out == t;
    if (aliases) ThrowArg(env, StatusCode::kArgument, op, "out", "a tensor distinct from the inputs", "one of the inputs");
    a.out = out->buffer();
    a.out_object = info[x_at + 2].As<Napi::Object>();
  } else {
    a.out = ctx->Allocate(env, size_t(a.m) * size_t(n) * 2, op, "out", "the output", a.out_shape, DType::kF16);
    a.out_object = TensorWrap::Create(env, info[0].As<Napi::Object>(), ctx, a.out, DType::kF16, a.out_shape);
  }
  return a;
}

}  // namespace sparq::binding
