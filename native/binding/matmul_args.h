// binding/matmul_args.h: the operands every matmul op shares — x [..., k] f16, bias [n] f16, out
// [..., n] f16 — parsed and checked in one place against the op's limits (Args::kMaxM/N/K of its
// args struct), so each op's binding only parses its weight. Limits are checked here, before a
// struct is built, so a too-large dim is the same SparqShapeError on every backend.
#pragma once
#include <napi.h>

#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "binding/args.h"
#include "binding/context_core.h"
#include "binding/errors.h"
#include "binding/tensor.h"

namespace sparq::binding {

struct MatmulLimits {
  int64_t max_m, max_n, max_k;
};
template <class Args>
constexpr MatmulLimits LimitsOf() {
  return {Args::kMaxM, Args::kMaxN, Args::kMaxK};
}

struct MatmulOperands {
  TensorWrap* x = nullptr;
  TensorWrap* bias = nullptr;  // may be null
  int64_t m = 0, n = 0, k = 0;
  Shape out_shape;
  // The output: the caller's `out`, or a new tensor of out_shape.
  Napi::Object out_object;
  std::shared_ptr<Buffer> out;
};

// Checks a weight's [n, k] against the limits (SparqShapeError on `argument`).
void CheckWeightDims(Napi::Env env, const std::string& op, const std::string& argument, int64_t n, int64_t k,
                     const MatmulLimits& limits);

// info[x_at], info[x_at + 1] (bias), info[x_at + 2] (out); `inputs` are the op's other tensors
// (out may alias none of them). Allocates the output when out is not given.
MatmulOperands ParseMatmulOperands(const Napi::CallbackInfo& info, ContextCore* ctx, const std::string& op,
                                   size_t x_at, int64_t n, int64_t k, const MatmulLimits& limits,
                                   std::initializer_list<TensorWrap*> inputs = {});

}  // namespace sparq::binding
