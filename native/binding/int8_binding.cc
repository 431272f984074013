// binding/int8_binding.cc: int8.quantize / fromCodes (shape checks here, at the call; quantizing,
// the scb scan and packing on the stream worker) and int8.matmul. The weight is a NativeWeight of
// kind "int8" with three parts — codes (the backend's layout), scb, row sums — (sparq/int8.h).
// int8.matmul writes two outputs: Y and the outlier-column list ([count, c0, c1, …], i32 [1 + k]),
// which the JS side reads back in stream order, so nothing waits for the device.
#include <cmath>
#include <cstring>
#include <limits>

#include "binding/args.h"
#include "binding/binding_registry.h"
#include "binding/context.h"
#include "binding/errors.h"
#include "binding/matmul_args.h"
#include "binding/op_launch.h"
#include "binding/tensor.h"
#include "binding/weight.h"
#include "sparq/int8.h"

namespace sparq::binding {
namespace {

const char* const kWeightExpected = "an Int8Weight (from int8.quantize or int8.fromCodes)";

// Dims of the packed weight (its vectors stay empty: the bytes live in the backend's buffers).
class Int8Format : public WeightFormat {
 public:
  explicit Int8Format(const Int8Packed& packed) : dims_(packed) {
    ReleaseStorage(dims_.codes);
    ReleaseStorage(dims_.scb);
    ReleaseStorage(dims_.row_sums);
  }
  const char* kind() const override { return "int8"; }
  int64_t n() const override { return dims_.n; }
  int64_t k() const override { return dims_.k; }
  PackedLayout layout() const override { return dims_.layout; }
  void Describe(Napi::Env env, Napi::Object info) const override {
    Napi::Array padded = Napi::Array::New(env, 2);
    padded.Set(0u, static_cast<double>(dims_.n_pad));
    padded.Set(1u, static_cast<double>(dims_.k_pad));
    info.Set("paddedShape", padded);
  }
  // {codes: Int8Array [n*k], scb: Float32Array [n]} — the exact inverse of packing.
  std::vector<WeightReadField> ReadFields() const override {
    return {{"codes", napi_int8_array, size_t(dims_.n * dims_.k)}, {"scb", napi_float32_array, size_t(dims_.n)}};
  }
  Status Unpack(std::vector<std::vector<uint8_t>>& parts, const std::vector<void*>& fields, int threads) const override {
    Int8Packed packed = dims_;
    formats::ReserveOnHugePages(packed.codes, parts.at(0).size());
    packed.codes.resize(parts.at(0).size());
    std::memcpy(packed.codes.data(), parts[0].data(), parts[0].size());
    std::vector<uint8_t>().swap(parts[0]);  // the weight's size once, not twice
    packed.scb.resize(parts.at(1).size() / sizeof(float));
    std::memcpy(packed.scb.data(), parts[1].data(), packed.scb.size() * sizeof(float));
    std::vector<int8_t> codes;
    std::vector<float> scb;
    Status s = Int8Unpack(packed, &codes, &scb, threads);
    if (!s.ok()) return s;
    std::memcpy(fields.at(0), codes.data(), codes.size());
    std::memcpy(fields.at(1), scb.data(), scb.size() * sizeof(float));
    return Status::Ok();
  }
  Int8WeightView View(const Buffer& codes, const Buffer& scb, const Buffer& row_sums) const {
    return dims_.view(codes.ptr, scb.ptr, row_sums.ptr);
  }

 private:
  Int8Packed dims_;
};

// [n, k], checked once by Int8CheckShape.
struct WeightShape {
  int64_t n, k;
};
WeightShape ParseWeightShape(const Napi::Value& shape_v, const std::string& op) {
  Napi::Env env = shape_v.Env();
  Shape shape = ParseShape(shape_v, op, "shape");
  if (shape.size() != 2) ThrowArg(env, StatusCode::kShape, op, "shape", "[n, k]", ShapeToString(shape));
  Status s = Int8CheckShape(op.c_str(), shape[0], shape[1]);
  if (!s.ok()) ThrowStatus(env, s);
  return {shape[0], shape[1]};
}

// The packed parts in NativeWeight order: codes, scb, row sums.
Status MoveParts(Int8Packed& packed, std::vector<std::vector<uint8_t>>* parts,
                 std::shared_ptr<const WeightFormat>* format) {
  auto bytes_of = [](const void* p, size_t n) {
    const uint8_t* b = static_cast<const uint8_t*>(p);
    std::vector<uint8_t> bytes;
    formats::ReserveOnHugePages(bytes, n);
    bytes.assign(b, b + n);
    return bytes;
  };
  parts->push_back(bytes_of(packed.codes.data(), packed.codes.size()));
  std::vector<int8_t>().swap(packed.codes);  // the weight's size once, not twice, while it uploads
  parts->push_back(bytes_of(packed.scb.data(), packed.scb.size() * sizeof(float)));
  parts->push_back(bytes_of(packed.row_sums.data(), packed.row_sums.size() * sizeof(int32_t)));
  *format = std::make_shared<Int8Format>(packed);  // after codes went: the dims without a copy of the weight
  return Status::Ok();
}

// int8Quantize(ctx, wF16: Uint16Array [n*k], [n, k]) → Promise<NativeWeight>
Napi::Value Int8Quantize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string op = "int8.quantize";
  ContextCore* ctx = ContextWrap::Parse(info[0], op)->core();
  ctx->ThrowIfLost(env);
  Napi::TypedArray w = ParseTypedArrayFor(info[1], DType::kF16, op, "w");
  const WeightShape ws = ParseWeightShape(info[2], op);
  CheckLength(env, op, "w", w, ws.n * ws.k, "[n, k] = " + ShapeToString({ws.n, ws.k}));
  const PackedLayout layout = ctx->backend().WeightLayout(OpId::kInt8Matmul);
  auto w_f16 = CopyTypedArray<uint16_t>(w, *ctx, op, "w");
  const int threads = WeightPackThreads(ctx->backend());
  return CreateWeightAsync(env, info[0].As<Napi::Object>(), ctx, op,
                           [w_f16, ws, layout, threads, op](std::vector<std::vector<uint8_t>>* parts,
                                                   std::shared_ptr<const WeightFormat>* format) -> Status {
                             std::vector<int8_t> codes;
                             std::vector<float> scb;
                             Status s = Int8QuantizeWeights(w_f16->data(), ws.n, ws.k, &codes, &scb, op.c_str(), threads);
                             w_f16->reset();
                             Int8Packed packed;
                             if (s.ok())
                               s = Int8Pack(codes.data(), scb.data(), ws.n, ws.k, layout, &packed, op.c_str(), threads);
                             if (!s.ok()) return s;
                             return MoveParts(packed, parts, format);
                           });
}

// int8FromCodes(ctx, codes: Int8Array [n*k], scb: Float32Array [n], [n, k]) → Promise<NativeWeight>
Napi::Value Int8FromCodes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string op = "int8.fromCodes";
  ContextCore* ctx = ContextWrap::Parse(info[0], op)->core();
  ctx->ThrowIfLost(env);
  Napi::TypedArray codes = ParseTypedArrayFor(info[1], DType::kI8, op, "codes");
  Napi::TypedArray scb = ParseTypedArrayFor(info[2], DType::kF32, op, "scb");
  const WeightShape ws = ParseWeightShape(info[3], op);
  CheckLength(env, op, "codes", codes, ws.n * ws.k, "[n, k] = " + ShapeToString({ws.n, ws.k}));
  CheckLength(env, op, "scb", scb, ws.n, "[n] = [" + std::to_string(ws.n) + "], one absmax per row");
  const PackedLayout layout = ctx->backend().WeightLayout(OpId::kInt8Matmul);
  auto c = CopyTypedArray<int8_t>(codes, *ctx, op, "codes");
  auto s = CopyTypedArray<float>(scb, *ctx, op, "scb");
  const int threads = WeightPackThreads(ctx->backend());
  return CreateWeightAsync(env, info[0].As<Napi::Object>(), ctx, op,
                           [c, s, ws, layout, threads, op](std::vector<std::vector<uint8_t>>* parts,
                                                  std::shared_ptr<const WeightFormat>* format) -> Status {
                             Int8Packed packed;
                             Status st = Int8Pack(c->data(), s->data(), ws.n, ws.k, layout, &packed, op.c_str(), threads);
                             if (!st.ok()) return st;
                             return MoveParts(packed, parts, format);
                           });
}

// int8Matmul(ctx, weight, x, bias?, out?, threshold, wantColumns?) → [y: NativeTensor, outlierColumns:
// NativeTensor i32 [1 + k], or undefined when wantColumns is false (the kernel still writes the list:
// into a buffer the op holds until it has run)
Napi::Value Int8Matmul(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string op = Int8MatmulArgs::kOpName;
  ContextCore* ctx = ContextWrap::Parse(info[0], op)->core();
  ctx->ThrowIfLost(env);
  WeightWrap* weight = ParseWeight(info[1], ctx, op, "int8", kWeightExpected);
  const auto& format = static_cast<const Int8Format&>(weight->format());
  const double threshold = info[5].IsNumber() ? info[5].As<Napi::Number>().DoubleValue() : -1.0;
  // Finite: a typo like -6 or Infinity is an error. Past FLT_MAX only an infinite |x| reaches it,
  // as it reaches FLT_MAX (fp16 x tops out at 65504), so such a number is compared as FLT_MAX below.
  if (!(threshold >= 0.0 && std::isfinite(threshold)))
    ThrowArg(env, StatusCode::kArgument, op, "threshold", "a finite number >= 0 (0 = no outlier columns)", DescribeValue(info[5]));
  constexpr MatmulLimits limits = LimitsOf<Int8MatmulArgs>();
  MatmulOperands a = ParseMatmulOperands(info, ctx, op, 2, format.n(), format.k(), limits);
  const int64_t k = format.k();
  const bool want_cols = !info[6].IsBoolean() || info[6].As<Napi::Boolean>().Value();
  Shape cols_shape{1 + k};
  std::shared_ptr<Buffer> cols = ctx->Allocate(env, size_t(1 + k) * sizeof(int32_t), op, "outlierColumns",
                                               "the outlier-column list", cols_shape, DType::kI32);
  Napi::Value cols_object = want_cols ? Napi::Value(TensorWrap::Create(env, info[0].As<Napi::Object>(), ctx, cols,
                                                                       DType::kI32, std::move(cols_shape)))
                                      : env.Undefined();

  // Each part on its own, not the vector: a copy of it was a heap block per op (op_launch.h).
  std::shared_ptr<Buffer> codes = weight->parts().at(0), scb = weight->parts().at(1), row_sums = weight->parts().at(2);
  std::shared_ptr<Buffer> xb = a.x->buffer(), out = a.out;
  std::shared_ptr<Buffer> bb = a.bias ? a.bias->buffer() : nullptr;
  std::shared_ptr<Backend> backend = ctx->backend_ptr();
  std::shared_ptr<const WeightFormat> keep = weight->format_ptr();
  const int64_t m = a.m;
  // The kernels compare |x| (an fp16 value, exact in fp32) with an fp32 threshold. The smallest
  // fp32 >= the caller's number gives the same set as comparing with the number itself
  // (|x| >= threshold), where rounding to nearest would move the boundary: 6.0000001 would take
  // x = 6, and a positive threshold under 2^-150 would become 0, "no outlier columns".
  constexpr float kMaxFloat = std::numeric_limits<float>::max();
  float t = threshold >= static_cast<double>(kMaxFloat) ? kMaxFloat : static_cast<float>(threshold);
  if (static_cast<double>(t) < threshold && t < kMaxFloat) t = std::nextafter(t, std::numeric_limits<float>::infinity());
  EnqueueOp(env, ctx, {codes, scb, row_sums, xb, bb}, {out, cols},
            [backend, codes, scb, row_sums, keep, xb, bb, out, cols, m, t](LaunchInfo* launch) {
              Int8MatmulArgs args;
              args.weight = static_cast<const Int8Format&>(*keep).View(*codes, *scb, *row_sums);
              args.x = static_cast<const uint16_t*>(xb->ptr);
              args.bias = bb ? static_cast<const uint16_t*>(bb->ptr) : nullptr;
              args.y = static_cast<uint16_t*>(out->ptr);
              args.outlier_cols = static_cast<int32_t*>(cols->ptr);
              args.m = m;
              args.threshold = t;
              return backend->Int8Matmul(args, launch);
            });
  Napi::Array result = Napi::Array::New(env, 2);
  result.Set(0u, a.out_object);
  result.Set(1u, cols_object);
  return result;
}

}  // namespace

void RegisterInt8(Napi::Env env, Napi::Object exports) {
  exports.Set("int8Quantize", Napi::Function::New(env, Int8Quantize, "int8Quantize"));
  exports.Set("int8FromCodes", Napi::Function::New(env, Int8FromCodes, "int8FromCodes"));
  exports.Set("int8Matmul", Napi::Function::New(env, Int8Matmul, "int8Matmul"));
}

SPARQ_REGISTER_BINDING(RegisterInt8);

}  // namespace sparq::binding
