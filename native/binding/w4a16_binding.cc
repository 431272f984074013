// binding/w4a16_binding.cc: w4a16.quantize / fromCodes (shape checks here, at the call; quantizing,
// the code scan and packing on the stream worker) and w4a16.matmul. The weight is a NativeWeight
// of kind "w4a16", packed in the layout the context's backend reads (Backend::WeightLayout).
#include <cstring>

#include "binding/args.h"
#include "binding/binding_registry.h"
#include "binding/context.h"
#include "binding/errors.h"
#include "binding/matmul_args.h"
#include "binding/op_launch.h"
#include "binding/weight.h"
#include "sparq/w4a16.h"

namespace sparq::binding {
namespace {

const char* const kWeightExpected = "a W4A16Weight (from w4a16.quantize or w4a16.fromCodes)";

// Dims of the packed weight (its vectors stay empty: the bytes live in the backend's buffers).
class W4A16Format : public WeightFormat {
 public:
  explicit W4A16Format(const W4A16Packed& packed) : dims_(packed) {
    ReleaseStorage(dims_.qweight);
    ReleaseStorage(dims_.scales);
  }
  const char* kind() const override { return "w4a16"; }
  int64_t n() const override { return dims_.n; }
  int64_t k() const override { return dims_.k; }
  PackedLayout layout() const override { return dims_.layout; }
  void Describe(Napi::Env env, Napi::Object info) const override {
    info.Set("groupSize", dims_.group_size);
    Napi::Array padded = Napi::Array::New(env, 2);
    padded.Set(0u, static_cast<double>(dims_.n_pad));
    padded.Set(1u, static_cast<double>(dims_.k_pad));
    info.Set("paddedShape", padded);
  }
  // {codes: Uint8Array [n*k], scales: Uint16Array [n*k/g]} — the exact inverse of packing.
  std::vector<WeightReadField> ReadFields() const override {
    return {{"codes", napi_uint8_array, size_t(dims_.n * dims_.k)},
            {"scales", napi_uint16_array, size_t(dims_.n * (dims_.k / dims_.group_size))}};
  }
  Status Unpack(std::vector<std::vector<uint8_t>>& parts, const std::vector<void*>& fields, int threads) const override {
    W4A16Packed packed = dims_;
    packed.qweight = std::move(parts.at(0));
    packed.scales = std::move(parts.at(1));
    std::vector<uint8_t> codes;
    std::vector<uint16_t> scales;
    Status s = W4A16Unpack(packed, &codes, &scales, threads);
    if (!s.ok()) return s;
    std::memcpy(fields.at(0), codes.data(), codes.size());
    std::memcpy(fields.at(1), scales.data(), scales.size() * 2);
    return Status::Ok();
  }
  W4A16WeightView View(const Buffer& qweight, const Buffer& scales) const { return dims_.view(qweight.ptr, scales.ptr); }
  int64_t group_size_eff() const { return dims_.group_size_eff; }

 private:
  W4A16Packed dims_;
};

// [n, k] and the group size (default 128, or k when k < 128), checked once by W4A16CheckShape.
struct WeightShape {
  int64_t n, k;
  int group_size;
};
WeightShape ParseWeightShape(const Napi::Value& shape_v, const Napi::Value& group_v, const std::string& op) {
  Napi::Env env = shape_v.Env();
  Shape shape = ParseShape(shape_v, op, "shape");
  if (shape.size() != 2) ThrowArg(env, StatusCode::kShape, op, "shape", "[n, k]", ShapeToString(shape));
  WeightShape ws{shape[0], shape[1], 0};
  const bool given = !group_v.IsUndefined();
  if (!given) {
    ws.group_size = W4A16DefaultGroupSize(ws.k);
  } else {
    const double g = group_v.IsNumber() ? group_v.As<Napi::Number>().DoubleValue() : -1;
    if (!(g >= 1 && g <= double(kMaxIndexDim) && g == static_cast<int64_t>(g)))
      ThrowArg(env, StatusCode::kArgument, op, "groupSize", "32, 64, 128 or k (" + std::to_string(ws.k) + ")",
               DescribeValue(group_v));
    ws.group_size = static_cast<int>(g);
  }
  Status s = W4A16CheckShape(op.c_str(), ws.n, ws.k, ws.group_size, given);
  if (!s.ok()) ThrowStatus(env, s);
  return ws;
}

// w4a16Quantize(ctx, wF16: Uint16Array [n*k], [n, k], groupSize?) → Promise<NativeWeight>
Napi::Value W4A16Quantize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string op = "w4a16.quantize";
  ContextCore* ctx = ContextWrap::Parse(info[0], op)->core();
  ctx->ThrowIfLost(env);
  Napi::TypedArray w = ParseTypedArrayFor(info[1], DType::kF16, op, "w");
  const WeightShape ws = ParseWeightShape(info[2], info[3], op);
  CheckLength(env, op, "w", w, ws.n * ws.k, "[n, k] = " + ShapeToString({ws.n, ws.k}));
  const PackedLayout layout = ctx->backend().WeightLayout(OpId::kW4A16Matmul);
  auto w_f16 = CopyTypedArray<uint16_t>(w, *ctx, op, "w");
  const int threads = WeightPackThreads(ctx->backend());
  return CreateWeightAsync(env, info[0].As<Napi::Object>(), ctx, op,
                           [w_f16, ws, layout, threads, op](std::vector<std::vector<uint8_t>>* parts,
                                                   std::shared_ptr<const WeightFormat>* format) -> Status {
                             std::vector<uint8_t> codes;
                             std::vector<uint16_t> scales;
                             Status s = W4A16QuantizeRtn(w_f16->data(), ws.n, ws.k, ws.group_size, &codes, &scales,
                                                         op.c_str(), threads);
                             w_f16->reset();
                             W4A16Packed packed;
                             if (s.ok())
                               s = W4A16Pack(codes.data(), scales.data(), ws.n, ws.k, ws.group_size, &packed, layout,
                                             op.c_str(), threads);
                             if (!s.ok()) return s;
                             parts->push_back(std::move(packed.qweight));
                             parts->push_back(std::move(packed.scales));
                             *format = std::make_shared<W4A16Format>(packed);  // after the moves: dims only, no copy
                             return Status::Ok();
                           });
}

// w4a16FromCodes(ctx, codes: Uint8Array [n*k], scales: Uint16Array [n*k/g], [n, k], groupSize?)
Napi::Value W4A16FromCodes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string op = "w4a16.fromCodes";
  ContextCore* ctx = ContextWrap::Parse(info[0], op)->core();
  ctx->ThrowIfLost(env);
  Napi::TypedArray codes = ParseTypedArrayFor(info[1], DType::kU8, op, "codes");
  if (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint16_array)
    ThrowArg(env, info[2].IsTypedArray() ? StatusCode::kDType : StatusCode::kArgument, op, "scales",
             "a Uint16Array of fp16 bits", DescribeValue(info[2]));
  Napi::TypedArray scales = info[2].As<Napi::TypedArray>();
  if (IsDetached(scales)) ThrowDetached(env, op, "scales", "a detached " + DescribeValue(info[2]));  // not "0 elements"
  const WeightShape ws = ParseWeightShape(info[3], info[4], op);
  CheckLength(env, op, "codes", codes, ws.n * ws.k, "[n, k] = " + ShapeToString({ws.n, ws.k}));
  CheckLength(env, op, "scales", scales, ws.n * (ws.k / ws.group_size),
              "[n, k/groupSize] = " + ShapeToString({ws.n, ws.k / ws.group_size}));
  const PackedLayout layout = ctx->backend().WeightLayout(OpId::kW4A16Matmul);
  // Copied now (the caller may reuse its arrays at once); the 0..15 scan runs with the packing.
  auto c = CopyTypedArray<uint8_t>(codes, *ctx, op, "codes");
  auto s = CopyTypedArray<uint16_t>(scales, *ctx, op, "scales");
  const int threads = WeightPackThreads(ctx->backend());
  return CreateWeightAsync(env, info[0].As<Napi::Object>(), ctx, op,
                           [c, s, ws, layout, threads, op](std::vector<std::vector<uint8_t>>* parts,
                                                  std::shared_ptr<const WeightFormat>* format) -> Status {
                             W4A16Packed packed;
                             Status st = W4A16Pack(c->data(), s->data(), ws.n, ws.k, ws.group_size, &packed, layout,
                                                   op.c_str(), threads);
                             if (!st.ok()) return st;
                             parts->push_back(std::move(packed.qweight));
                             parts->push_back(std::move(packed.scales));
                             *format = std::make_shared<W4A16Format>(packed);  // after the moves: dims only, no copy
                             return Status::Ok();
                           });
}

// accuracy: undefined | 'exact' → the contract's exact function; 'int8' → int8 activations
// (W4A16MatmulInt8Args), refused at the call on a backend without it.
bool ParseInt8Accuracy(const Napi::Value& v, ContextCore* ctx, const std::string& op) {
  Napi::Env env = v.Env();
  if (v.IsUndefined()) return false;
  const std::string s = v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
  if (s != "exact" && s != "int8") ThrowArg(env, StatusCode::kArgument, op, "accuracy", "'exact' or 'int8'", DescribeValue(v));
  if (s == "int8" && !ctx->backend().Has(OpId::kW4A16MatmulInt8))
    ThrowStatus(env, ctx->backend().UnsupportedStatus(OpId::kW4A16MatmulInt8));
  return s == "int8";
}

// w4a16Matmul(ctx, weight, x, bias?, out?, accuracy?) → NativeTensor
Napi::Value W4A16Matmul(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string op = W4A16MatmulArgs::kOpName;
  ContextCore* ctx = ContextWrap::Parse(info[0], op)->core();
  ctx->ThrowIfLost(env);
  const bool int8_accuracy = ParseInt8Accuracy(info[5], ctx, op);
  WeightWrap* weight = ParseWeight(info[1], ctx, op, "w4a16", kWeightExpected);
  const auto& format = static_cast<const W4A16Format&>(weight->format());
  if (int8_accuracy && format.group_size_eff() > W4A16MatmulInt8Args::kMaxGroupK)
    ThrowArg(env, StatusCode::kArgument, op, "accuracy",
             "'exact' for a per-channel weight with k > " + std::to_string(W4A16MatmulInt8Args::kMaxGroupK) +
                 " ('int8' sums a group in int32)",
             "'int8'");
  constexpr MatmulLimits limits = LimitsOf<W4A16MatmulArgs>();
  MatmulOperands a = ParseMatmulOperands(info, ctx, op, 2, format.n(), format.k(), limits);

  // Each part on its own, not the vector: a copy of it was a heap block per op (op_launch.h).
  std::shared_ptr<Buffer> codes = weight->parts()[0], scales = weight->parts()[1];
  std::shared_ptr<Buffer> xb = a.x->buffer(), out = a.out;
  std::shared_ptr<Buffer> bb = a.bias ? a.bias->buffer() : nullptr;
  std::shared_ptr<Backend> backend = ctx->backend_ptr();
  std::shared_ptr<const WeightFormat> keep = weight->format_ptr();
  const int64_t m = a.m;
  EnqueueOp(env, ctx, {codes, scales, xb, bb}, out,
            [backend, codes, scales, keep, xb, bb, out, m, int8_accuracy](LaunchInfo* launch) {
    W4A16MatmulInt8Args args;  // the exact op's args plus a name: one struct fills both
    args.weight = static_cast<const W4A16Format&>(*keep).View(*codes, *scales);
    args.x = static_cast<const uint16_t*>(xb->ptr);
    args.bias = bb ? static_cast<const uint16_t*>(bb->ptr) : nullptr;
    args.y = static_cast<uint16_t*>(out->ptr);
    args.m = m;
    return int8_accuracy ? backend->W4A16MatmulInt8(args, launch) : backend->W4A16Matmul(args, launch);
  });
  return a.out_object;
}

}  // namespace

void RegisterW4A16(Napi::Env env, Napi::Object exports) {
  exports.Set("w4a16Quantize", Napi::Function::New(env, W4A16Quantize, "w4a16Quantize"));
  exports.Set("w4a16FromCodes", Napi::Function::New(env, W4A16FromCodes, "w4a16FromCodes"));
  exports.Set("w4a16Matmul", Napi::Function::New(env, W4A16Matmul, "w4a16Matmul"));
}

SPARQ_REGISTER_BINDING(RegisterW4A16);

}  // namespace sparq::binding
