// binding/allreduce_binding.cc: group.allreduceRmsnorm over the ranks of one context (the Group
// API: virtual ranks / CPU threads), and the size of the workspace its sim/cuda kernels keep.
#include <algorithm>
#include <cmath>
#include <string>

#include "binding/allreduce_args.h"
#include "binding/binding_registry.h"
#include "binding/context.h"
#include "binding/errors.h"
#include "binding/object_tags.h"
#include "binding/op_launch.h"
#include "binding/tensor.h"
#include "sparq/allreduce.h"

namespace sparq::binding {
namespace {

constexpr const char* kOp = AllreduceRmsnormArgs::kOpName;

// Bytes of workspace the context's backend needs for this call (0 on cpu, which needs none).
int64_t WorkspaceBytesFor(const ContextCore* ctx, int ranks, int64_t tokens, int64_t hidden) {
  if (std::string(const_cast<ContextCore*>(ctx)->backend().name()) == "cpu") return 0;
  return allreduce::WorkspaceBytes(ranks, tokens, hidden);
}

// A JS array of exactly `ranks` f16 tensors of ctx; `name` is the argument ("xs", "residuals", ...).
// A decode step passes 2..8 ranks × 4 lists of tiny tensors, so the JS thread's cost per tensor is
// the op's cost: the checks run first without building an argument name, and only a tensor that
// fails one goes through ParseTensor again, for the error that names it ("xs[3]").
std::vector<TensorWrap*> ParseTensorList(Napi::Env env, const Napi::Value& v, ContextCore* ctx, const char* name,
                                         int ranks, bool optional) {
  std::vector<TensorWrap*> list;
  if (optional && v.IsUndefined()) return list;
  if (!v.IsArray())
    ThrowArg(env, StatusCode::kArgument, kOp, name, "an array of " + std::to_string(ranks) + " f16 tensors (one per rank)",
             DescribeValue(v));
  Napi::Array a = v.As<Napi::Array>();
  const uint32_t length = a.Length();
  if (int64_t(length) != ranks)
    ThrowArg(env, StatusCode::kArgument, kOp, name, "an array of " + std::to_string(ranks) + " f16 tensors (one per rank)",
             "an array of " + std::to_string(length));
  const DType f16 = DType::kF16;
  list.reserve(length);
  for (uint32_t r = 0; r < length; ++r) {
    const Napi::Value item = a.Get(r);
    TensorWrap* t = nullptr;
    if (IsNative(item, NativeKind::kTensor)) {
      t = TensorWrap::Unwrap(item.As<Napi::Object>());
      if (!t->Usable() || t->context() != ctx || t->dtype() != f16) t = nullptr;
    }
    list.push_back(t != nullptr ? t : ParseTensor(item, ctx, kOp, std::string(name) + "[" + std::to_string(r) + "]", &f16));
  }
  return list;
}

// allreduceWorkspaceBytes(ctx, ranks, tokens, hidden) → number
Napi::Value AllreduceWorkspaceBytes(const Napi::CallbackInfo& info) {
  ContextCore* ctx = ContextWrap::Parse(info[0], kOp)->core();
  const int ranks = info[1].As<Napi::Number>().Int32Value();
  const int64_t tokens = info[2].As<Napi::Number>().Int64Value(), hidden = info[3].As<Napi::Number>().Int64Value();
  return Napi::Number::New(info.Env(), double(WorkspaceBytesFor(ctx, ranks, tokens, hidden)));
}

// allreduceRmsnorm(ctx, ranks, xs, residuals, gamma, outs?, residualOuts?, workspace?, eps, algorithm, epoch)
//   → [outs: NativeTensor[], residualOuts: NativeTensor[]]
// `ranks`, `algorithm` (0 auto, 1 one-shot, 2 two-shot) and `epoch` come from the TS Group (trusted
// numbers); everything a user passes is checked here.
Napi::Value AllreduceRmsnorm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ContextCore* ctx = ContextWrap::Parse(info[0], kOp)->core();
  ctx->ThrowIfLost(env);
  const int ranks = info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 0;
  if (ranks < 1 || ranks > allreduce::kMaxRanks)  // the Group's own count: never a user's value
    ThrowArg(env, StatusCode::kArgument, kOp, "ranks", "the group's rank count, 1.." + std::to_string(allreduce::kMaxRanks),
             DescribeValue(info[1]));
  std::vector<TensorWrap*> xs = ParseTensorList(env, info[2], ctx, "xs", ranks, false);
  std::vector<TensorWrap*> residuals = ParseTensorList(env, info[3], ctx, "residuals", ranks, false);
  const DType f16 = DType::kF16;
  TensorWrap* gamma = ParseTensor(info[4], ctx, kOp, "gamma", &f16);
  std::vector<TensorWrap*> outs = ParseTensorList(env, info[5], ctx, "out", ranks, true);
  std::vector<TensorWrap*> res_outs = ParseTensorList(env, info[6], ctx, "residualOut", ranks, true);
  // Reading a later list may have run user code (a getter) that disposed a tensor an earlier one
  // gave: every tensor is checked again once nothing user-written can run any more.
  auto still_usable = [&](const std::vector<TensorWrap*>& list, const char* name) {
    for (size_t r = 0; r < list.size(); ++r)
      if (!list[r]->Usable() || !list[r]->buffer())
        ThrowStatus(env, list[r]->DisposedStatus(kOp, std::string(name) + "[" + std::to_string(r) + "]"));
  };
  still_usable(xs, "xs");
  still_usable(residuals, "residuals");
  still_usable(outs, "out");
  still_usable(res_outs, "residualOut");
  if (!gamma->Usable() || !gamma->buffer()) ThrowStatus(env, gamma->DisposedStatus(kOp, "gamma"));

  const Shape shape = xs[0]->shape();
  const int64_t hidden = AllreduceHidden(env, kOp, "xs[0]", shape);
  const int64_t tokens = ShapeElements(shape) / hidden;
  if (tokens > AllreduceRmsnormArgs::kMaxM)
    ThrowArg(env, StatusCode::kShape, kOp, "xs[0]",
             "[tokens, hidden] with tokens <= " + std::to_string(AllreduceRmsnormArgs::kMaxM), ShapeToString(shape));
  auto same_shape = [&](const std::vector<TensorWrap*>& list, const std::string& name) {
    for (size_t r = 0; r < list.size(); ++r)
      if (list[r]->shape() != shape)
        ThrowArg(env, StatusCode::kShape, kOp, name + "[" + std::to_string(r) + "]",
                 ShapeToString(shape) + " (the shape of xs[0])", ShapeToString(list[r]->shape()));
  };
  same_shape(xs, "xs");
  same_shape(residuals, "residuals");
  same_shape(outs, "out");
  same_shape(res_outs, "residualOut");
  if (gamma->shape() != Shape{hidden})
    ThrowArg(env, StatusCode::kShape, kOp, "gamma", "[" + std::to_string(hidden) + "]", ShapeToString(gamma->shape()));

  // Outputs: distinct from each other and from every input, except residualOut[r] === residuals[r].
  // (in place only where that residual is used once: a rank reading another rank's residual must not
  // see it half updated.) At most 17 inputs and 16 outputs: plain vectors, no per-call tree nodes.
  std::vector<const Buffer*> inputs, written;
  inputs.reserve(2 * xs.size() + 1);
  written.reserve(outs.size() + res_outs.size());
  for (TensorWrap* t : xs) inputs.push_back(t->buffer().get());
  for (TensorWrap* t : residuals) inputs.push_back(t->buffer().get());
  inputs.push_back(gamma->buffer().get());
  auto check_out = [&](TensorWrap* t, const char* name, size_t r, const Buffer* allowed) {
    const Buffer* b = t->buffer().get();
    const auto uses = std::count(inputs.begin(), inputs.end(), b);
    if ((uses > 0 && !(b == allowed && uses == 1)) || std::find(written.begin(), written.end(), b) != written.end())
      ThrowArg(env, StatusCode::kArgument, kOp, std::string(name) + "[" + std::to_string(r) + "]",
               "a tensor distinct from the inputs and the other outputs (only residualOut[r] may be residuals[r], when no other argument uses it)",
               "a tensor used elsewhere in this call");
    written.push_back(b);
  };
  for (size_t r = 0; r < outs.size(); ++r) check_out(outs[r], "out", r, nullptr);
  for (size_t r = 0; r < res_outs.size(); ++r) check_out(res_outs[r], "residualOut", r, residuals[r]->buffer().get());

  const float eps_f = AllreduceEps(env, kOp, info[8]);
  const int algorithm = info[9].As<Napi::Number>().Int32Value();
  if (algorithm == int(allreduce::Algorithm::kUnfused) && std::string(ctx->backend().name()) != "cpu")
    ThrowArg(env, StatusCode::kArgument, kOp, "algorithm", "'auto' | 'one-shot' | 'two-shot' ('unfused' is a cpu benchmark baseline)",
             "'unfused'");
  const uint32_t epoch = info[10].As<Napi::Number>().Uint32Value();

  const int64_t need = WorkspaceBytesFor(ctx, ranks, tokens, hidden);
  std::shared_ptr<Buffer> workspace;
  if (need > 0) {
    TensorWrap* ws = ParseTensor(info[7], ctx, kOp, "workspace", nullptr);
    if (int64_t(ShapeElements(ws->shape())) * int64_t(DTypeBytes(ws->dtype())) < need)
      ThrowArg(env, StatusCode::kArgument, kOp, "workspace", "at least " + std::to_string(need) + " bytes",
               ShapeToString(ws->shape()));
    workspace = ws->buffer();
  }

  // Outputs not given are allocated here (same shape as xs[0]); given ones go back as the caller's
  // own array.
  Napi::Object ctx_object = info[0].As<Napi::Object>();
  const size_t bytes = size_t(tokens) * size_t(hidden) * 2;
  auto make_outputs = [&](const std::vector<TensorWrap*>& given, const Napi::Value& given_array, const char* name,
                          std::vector<std::shared_ptr<Buffer>>* buffers) -> Napi::Value {
    if (!given.empty()) {
      for (TensorWrap* t : given) buffers->push_back(t->buffer());
      return given_array;
    }
    Napi::Array objects = Napi::Array::New(env, size_t(ranks));
    for (int r = 0; r < ranks; ++r) {
      std::shared_ptr<Buffer> b = ctx->Allocate(env, bytes, kOp, std::string(name) + "[" + std::to_string(r) + "]",
                                                "an output " + ShapeToString(shape) + " f16");
      buffers->push_back(b);
      objects.Set(uint32_t(r), TensorWrap::Create(env, ctx_object, ctx, b, DType::kF16, shape));
    }
    return objects;
  };
  std::vector<std::shared_ptr<Buffer>> all_outs;
  all_outs.reserve(size_t(2 * ranks));
  Napi::Value out_objects = make_outputs(outs, info[5], "out", &all_outs);
  Napi::Value res_objects = make_outputs(res_outs, info[6], "residualOut", &all_outs);

  // The kernel's arguments are plain pointers: the buffers stay alive in EnqueueOp's lists (the
  // workspace among the inputs) until the op has run.
  AllreduceRmsnormArgs args;
  std::vector<std::shared_ptr<Buffer>> in_buffers;
  in_buffers.reserve(2 * xs.size() + 2);
  for (int r = 0; r < ranks; ++r) {
    args.x[r] = static_cast<const uint16_t*>(xs[size_t(r)]->buffer()->ptr);
    args.residual[r] = static_cast<const uint16_t*>(residuals[size_t(r)]->buffer()->ptr);
    args.out[r] = static_cast<uint16_t*>(all_outs[size_t(r)]->ptr);
    args.residual_out[r] = static_cast<uint16_t*>(all_outs[size_t(ranks + r)]->ptr);
    in_buffers.push_back(xs[size_t(r)]->buffer());
    in_buffers.push_back(residuals[size_t(r)]->buffer());
  }
  args.gamma = static_cast<const uint16_t*>(gamma->buffer()->ptr);
  in_buffers.push_back(gamma->buffer());
  if (workspace) in_buffers.push_back(workspace);
  args.workspace = workspace ? workspace->ptr : nullptr;
  args.workspace_bytes = workspace ? int64_t(workspace->bytes) : 0;
  args.tokens = tokens;
  args.hidden = hidden;
  args.eps = eps_f;
  args.ranks = ranks;
  args.algorithm = static_cast<allreduce::Algorithm>(algorithm);
  args.epoch = epoch;
  std::shared_ptr<Backend> backend = ctx->backend_ptr();
  EnqueueOp</*kMayAllocate=*/true>(env, ctx, std::move(in_buffers), std::move(all_outs),
            [backend = std::move(backend), args](LaunchInfo* launch) { return backend->AllreduceRmsnorm(args, launch); });
  return AllreduceResult(env, out_objects, res_objects);
}

}  // namespace

void RegisterAllreduce(Napi::Env env, Napi::Object exports) {
  exports.Set("allreduceRmsnorm", Napi::Function::New(env, AllreduceRmsnorm, "allreduceRmsnorm"));
  exports.Set("allreduceWorkspaceBytes", Napi::Function::New(env, AllreduceWorkspaceBytes, "allreduceWorkspaceBytes"));
}

SPARQ_REGISTER_BINDING(RegisterAllreduce);

}  // namespace sparq::binding
