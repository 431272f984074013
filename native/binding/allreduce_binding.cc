// binding/allreduce_binding.cc: group.allreduceRmsnorm over the ranks of one context (the Group
// API: virtual ranks / CPU threads), and the size of the workspace its sim/cuda kernels keep.
#include <cmath>
#include <set>

#include "binding/allreduce_args.h"
#include "binding/binding_registry.h"
#include "binding/context.h"
#include "binding/errors.h"
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
std::vector<TensorWrap*> ParseTensorList(Napi::Env env, const Napi::Value& v, ContextCore* ctx, const std::string& name,
                                         int ranks, bool optional) {
  std::vector<TensorWrap*> list;
  if (optional && v.IsUndefined()) return list;
  if (!v.IsArray())
    ThrowArg(env, StatusCode::kArgument, kOp, name, "an array of " + std::to_string(ranks) + " f16 tensors (one per rank)",
             DescribeValue(v));
  Napi::Array a = v.As<Napi::Array>();
  if (int64_t(a.Length()) != ranks)
    ThrowArg(env, StatusCode::kArgument, kOp, name, "an array of " + std::to_string(ranks) + " f16 tensors (one per rank)",
             "an array of " + std::to_string(a.Length()));
  const DType f16 = DType::kF16;
  for (uint32_t r = 0; r < a.Length(); ++r)
    list.push_back(ParseTensor(a.Get(r), ctx, kOp, name + "[" + std::to_string(r) + "]", &f16));
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
  const int ranks = info[1].As<Napi::Number>().Int32Value();
  std::vector<TensorWrap*> xs = ParseTensorList(env, info[2], ctx, "xs", ranks, false);
  std::vector<TensorWrap*> residuals = ParseTensorList(env, info[3], ctx, "residuals", ranks, false);
  const DType f16 = DType::kF16;
  TensorWrap* gamma = ParseTensor(info[4], ctx, kOp, "gamma", &f16);
  std::vector<TensorWrap*> outs = ParseTensorList(env, info[5], ctx, "out", ranks, true);
  std::vector<TensorWrap*> res_outs = ParseTensorList(env, info[6], ctx, "residualOut", ranks, true);

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
  // see it half updated.)
  std::multiset<const Buffer*> inputs;
  for (TensorWrap* t : xs) inputs.insert(t->buffer().get());
  for (TensorWrap* t : residuals) inputs.insert(t->buffer().get());
  inputs.insert(gamma->buffer().get());
  std::set<const Buffer*> written;
  auto check_out = [&](TensorWrap* t, const std::string& name, const Buffer* allowed) {
    const Buffer* b = t->buffer().get();
    const size_t uses = inputs.count(b);
    if ((uses > 0 && !(b == allowed && uses == 1)) || written.count(b))
      ThrowArg(env, StatusCode::kArgument, kOp, name,
               "a tensor distinct from the inputs and the other outputs (only residualOut[r] may be residuals[r], when no other argument uses it)",
               "a tensor used elsewhere in this call");
    written.insert(b);
  };
  for (size_t r = 0; r < outs.size(); ++r) check_out(outs[r], "out[" + std::to_string(r) + "]", nullptr);
  for (size_t r = 0; r < res_outs.size(); ++r)
    check_out(res_outs[r], "residualOut[" + std::to_string(r) + "]", residuals[r]->buffer().get());

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

  // Outputs not given are allocated here (same shape as xs[0]).
  Napi::Object ctx_object = info[0].As<Napi::Object>();
  const size_t bytes = size_t(tokens) * size_t(hidden) * 2;
  auto make_outputs = [&](const std::vector<TensorWrap*>& given, const Napi::Value& given_array, const char* name,
                          std::vector<std::shared_ptr<Buffer>>* buffers) {
    Napi::Array objects = Napi::Array::New(env, size_t(ranks));
    for (int r = 0; r < ranks; ++r) {
      if (!given.empty()) {
        buffers->push_back(given[r]->buffer());
        objects.Set(uint32_t(r), given_array.As<Napi::Array>().Get(uint32_t(r)));
      } else {
        std::shared_ptr<Buffer> b = ctx->Allocate(env, bytes, kOp, std::string(name) + "[" + std::to_string(r) + "]",
                                                  "an output " + ShapeToString(shape) + " f16");
        buffers->push_back(b);
        objects.Set(uint32_t(r), TensorWrap::Create(env, ctx_object, ctx, b, DType::kF16, shape));
      }
    }
    return objects;
  };
  std::vector<std::shared_ptr<Buffer>> out_buffers, res_buffers;
  Napi::Array out_objects = make_outputs(outs, info[5], "out", &out_buffers);
  Napi::Array res_objects = make_outputs(res_outs, info[6], "residualOut", &res_buffers);

  std::vector<std::shared_ptr<Buffer>> in_buffers;
  for (TensorWrap* t : xs) in_buffers.push_back(t->buffer());
  for (TensorWrap* t : residuals) in_buffers.push_back(t->buffer());
  in_buffers.push_back(gamma->buffer());
  std::vector<std::shared_ptr<Buffer>> all_outs = out_buffers;
  all_outs.insert(all_outs.end(), res_buffers.begin(), res_buffers.end());
  std::shared_ptr<Backend> backend = ctx->backend_ptr();
  std::vector<std::shared_ptr<Buffer>> keep = in_buffers;
  keep.insert(keep.end(), all_outs.begin(), all_outs.end());
  if (workspace) keep.push_back(workspace);
  EnqueueOp(env, ctx, in_buffers, all_outs,
            [backend, keep, ranks, tokens, hidden, eps_f, algorithm, epoch, workspace](LaunchInfo* launch) {
              AllreduceRmsnormArgs args;
              for (int r = 0; r < ranks; ++r) {
                args.x[r] = static_cast<const uint16_t*>(keep[size_t(r)]->ptr);
                args.residual[r] = static_cast<const uint16_t*>(keep[size_t(ranks + r)]->ptr);
                args.out[r] = static_cast<uint16_t*>(keep[size_t(2 * ranks + 1 + r)]->ptr);
                args.residual_out[r] = static_cast<uint16_t*>(keep[size_t(3 * ranks + 1 + r)]->ptr);
              }
              args.gamma = static_cast<const uint16_t*>(keep[size_t(2 * ranks)]->ptr);
              args.workspace = workspace ? workspace->ptr : nullptr;
              args.workspace_bytes = workspace ? int64_t(workspace->bytes) : 0;
              args.tokens = tokens;
              args.hidden = hidden;
              args.eps = eps_f;
              args.ranks = ranks;
              args.algorithm = static_cast<allreduce::Algorithm>(algorithm);
              args.epoch = epoch;
              return backend->AllreduceRmsnorm(args, launch);
            });
  return AllreduceResult(env, out_objects, res_objects);
}

}  // namespace

void RegisterAllreduce(Napi::Env env, Napi::Object exports) {
  exports.Set("allreduceRmsnorm", Napi::Function::New(env, AllreduceRmsnorm, "allreduceRmsnorm"));
  exports.Set("allreduceWorkspaceBytes", Napi::Function::New(env, AllreduceWorkspaceBytes, "allreduceWorkspaceBytes"));
}

SPARQ_REGISTER_BINDING(RegisterAllreduce);

}  // namespace sparq::binding
