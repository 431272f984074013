// binding/allreduce_args.h: the argument checks group.allreduceRmsnorm and comm.allreduceRmsnorm
// share (one message for one mistake, whichever API made it).
#pragma once
#include <napi.h>

#include <string>

#include "binding/args.h"
#include "binding/errors.h"
#include "sparq/allreduce.h"

namespace sparq::binding {

// The hidden size of x's shape [..., hidden]: a multiple of 8 in [8, kMaxHidden], else SparqShapeError.
inline int64_t AllreduceHidden(Napi::Env env, const std::string& op, const std::string& argument, const Shape& shape) {
  const int64_t hidden = shape.back();
  if (hidden < allreduce::kHiddenAlign || hidden % allreduce::kHiddenAlign != 0 || hidden > allreduce::kMaxHidden)
    ThrowArg(env, StatusCode::kShape, op, argument,
             "[tokens, hidden] with hidden a multiple of 8 in [8, " + std::to_string(allreduce::kMaxHidden) + "]",
             ShapeToString(shape));
  return hidden;
}

// eps: a number in [0, 1], else SparqArgumentError.
inline float AllreduceEps(Napi::Env env, const std::string& op, const Napi::Value& v) {
  const double eps = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1.0;
  if (!(eps >= 0.0 && eps <= 1.0)) ThrowArg(env, StatusCode::kArgument, op, "eps", "a number in [0, 1]", DescribeValue(v));
  return static_cast<float>(eps);
}

// [out, residualOut]: what both return.
inline Napi::Array AllreduceResult(Napi::Env env, const Napi::Value& out, const Napi::Value& residual_out) {
  Napi::Array result = Napi::Array::New(env, 2);
  result.Set(0u, out);
  result.Set(1u, residual_out);
  return result;
}

}  // namespace sparq::binding
