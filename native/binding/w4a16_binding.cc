// binding/w4a16_binding.cc: w4a16.quantize / fromCodes (packing runs on the stream worker, off the
// JS thread) and w4a16.matmul.
#include <cstring>

#include "binding/addon_data.h"
#include "binding/args.h"
#include "binding/context.h"
#include "binding/errors.h"
#include "binding/op_launch.h"
#include "binding/tensor.h"
#include "binding/w4a16_weight.h"

namespace sparq::binding {
namespace {

struct WeightSource {
  std::vector<uint16_t> w_f16;   // quantize
  std::vector<uint8_t> codes;    // fromCodes
  std::vector<uint16_t> scales;  // fromCodes
};

template <typename T>
std::vector<T> CopyTypedArray(const Napi::TypedArray& ta) {
  const T* p = reinterpret_cast<const T*>(static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset());
  return std::vector<T>(p, p + ta.ElementLength());
}

int ParseGroupSize(const Napi::Value& v, const std::string& op, int64_t k) {
  if (v.IsUndefined()) return k < 128 ? static_cast<int>(k) : 128;
  double g = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
  if (!(g >= 1 && g == static_cast<int64_t>(g) && W4A16GroupSizeSupported(k, static_cast<int64_t>(g))))
    ThrowArg(v.Env(), StatusCode::kArgument, op, "groupSize", "32, 64, 128 or k (" + std::to_string(k) + ")",
             DescribeValue(v));
  return static_cast<int>(g);
}

// Shared tail of quantize/fromCodes: pack on the worker, upload, resolve with the weight.
Napi::Value CreateWeight(const Napi::CallbackInfo& info, ContextCore* ctx, std::shared_ptr<WeightSource> src,
                         int64_t n, int64_t k, int group_size, bool quantize) {
  Napi::Env env = info.Env();
  auto deferred = std::make_shared<Napi::Promise::Deferred>(env);
  auto ctx_ref = std::make_shared<Napi::ObjectReference>(Napi::Persistent(info[0].As<Napi::Object>()));
  std::shared_ptr<Backend> backend = ctx->backend_ptr();
  W4A16Layout layout = std::strcmp(backend->name(), "cpu") == 0 ? W4A16Layout::kCpu : W4A16Layout::kGpu;
  auto packed = std::make_shared<W4A16Packed>();
  auto qbuf = std::make_shared<Buffer>(), sbuf = std::make_shared<Buffer>();
  qbuf->backend = sbuf->backend = backend;
  ctx->Enqueue(
      env,
      [src, n, k, group_size, quantize, layout, packed, qbuf, sbuf, backend]() -> Status {
        Status s;
        if (quantize) {
          s = W4A16QuantizeRtn(src->w_f16.data(), n, k, group_size, &src->codes, &src->scales);
          if (!s.ok()) return s;
        }
        s = W4A16Pack(src->codes.data(), src->scales.data(), n, k, group_size, packed.get(), layout);
        if (!s.ok()) return s;
        *src = WeightSource{};  // the unpacked copy is no longer needed
        for (auto [buf, bytes] : {std::pair{qbuf.get(), &packed->qweight}, std::pair{sbuf.get(), &packed->scales}}) {
          buf->bytes = bytes->size();
          s = backend->Allocate(buf->bytes, &buf->ptr);
          if (!s.ok()) return s;
          s = backend->CopyToDevice(buf->ptr, bytes->data(), buf->bytes);
          if (!s.ok()) return s;
        }
        return Status::Ok();
      },
      [deferred, ctx_ref, ctx, packed, qbuf, sbuf](Napi::Env env, const Status& status) {
        if (!status.ok()) {
          deferred->Reject(MakeError(env, status).Value());
        } else {
          deferred->Resolve(W4A16WeightWrap::Create(env, ctx_ref->Value(), ctx, *packed, qbuf, sbuf));
        }
        ctx_ref->Reset();
      });
  return deferred->Promise();
}

void ParseWeightShape(const Napi::Value& v, const std::string& op, int64_t* n, int64_t* k) {
  Shape shape = ParseShape(v, op, "shape");
  if (shape.size() != 2) ThrowArg(v.Env(), StatusCode::kShape, op, "shape", "[n, k]", ShapeToString(shape));
  *n = shape[0];
  *k = shape[1];
}

}  // namespace

// w4a16Quantize(ctx, wF16: Uint16Array, [n, k], groupSize?) → Promise<NativeW4A16Weight>
Napi::Value W4A16Quantize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string op = "w4a16.quantize";
  ContextCore* ctx = ContextWrap::Parse(info[0], op)->core();
  ctx->ThrowIfLost(env);
  Napi::TypedArray w = ParseTypedArrayFor(info[1], DType::kF16, op, "w");
  int64_t n, k;
  ParseWeightShape(info[2], op, &n, &k);
  if (static_cast<int64_t>(w.ElementLength()) != n * k)
    ThrowArg(env, StatusCode::kShape, op, "w", std::to_string(n * k) + " elements for shape [" + std::to_string(n) +
             ", " + std::to_string(k) + "]", std::to_string(w.ElementLength()) + " elements");
  int g = ParseGroupSize(info[3], op, k);
  if (k % g != 0)
    ThrowArg(env, StatusCode::kShape, op, "shape", "[n, k] with k a multiple of groupSize " + std::to_string(g),
             "[" + std::to_string(n) + ", " + std::to_string(k) + "]");
  auto src = std::make_shared<WeightSource>();
  src->w_f16 = CopyTypedArray<uint16_t>(w);
  return CreateWeight(info, ctx, src, n, k, g, true);
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
  int64_t n, k;
  ParseWeightShape(info[3], op, &n, &k);
  int g = ParseGroupSize(info[4], op, k);
  if (k % g != 0)
    ThrowArg(env, StatusCode::kShape, op, "shape", "[n, k] with k a multiple of groupSize " + std::to_string(g),
             "[" + std::to_string(n) + ", " + std::to_string(k) + "]");
  if (static_cast<int64_t>(codes.ElementLength()) != n * k)
    ThrowArg(env, StatusCode::kShape, op, "codes", std::to_string(n * k) + " codes ([n, k] = [" + std::to_string(n) +
             ", " + std::to_string(k) + "])", std::to_string(codes.ElementLength()));
  int64_t scale_count = n * (k / g);
  if (static_cast<int64_t>(scales.ElementLength()) != scale_count)
    ThrowArg(env, StatusCode::kShape, op, "scales", std::to_string(scale_count) + " scales ([n, k/groupSize] = [" +
             std::to_string(n) + ", " + std::to_string(k / g) + "])", std::to_string(scales.ElementLength()));
  // Codes are checked here, synchronously, so the caller gets the typed error at the call site.
  const uint8_t* c = static_cast<const uint8_t*>(codes.ArrayBuffer().Data()) + codes.ByteOffset();
  for (int64_t i = 0; i < n * k; ++i)
    if (c[i] > 15)
      ThrowArg(env, StatusCode::kArgument, op, "codes", "values in 0..15",
               std::to_string(c[i]) + " at [" + std::to_string(i / k) + ", " + std::to_string(i % k) + "]");
  auto src = std::make_shared<WeightSource>();
  src->codes.assign(c, c + n * k);
  src->scales = CopyTypedArray<uint16_t>(scales);
  return CreateWeight(info, ctx, src, n, k, g, false);
}

// w4a16Matmul(ctx, weight, x, bias?, out?) → NativeTensor
Napi::Value W4A16Matmul(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string op = "w4a16.matmul";
  ContextCore* ctx = ContextWrap::Parse(info[0], op)->core();
  ctx->ThrowIfLost(env);
  AddonData* data = GetAddonData(env);
  if (!info[1].IsObject() || !info[1].As<Napi::Object>().InstanceOf(data->w4a16_weight_ctor.Value()))
    ThrowArg(env, StatusCode::kArgument, op, "weight", "a W4A16Weight (from w4a16.quantize or fromCodes)",
             DescribeValue(info[1]));
  W4A16WeightWrap* weight = W4A16WeightWrap::Unwrap(info[1].As<Napi::Object>());
  if (weight->disposed()) ThrowStatus(env, Status::Error(StatusCode::kDisposed, op + ": weight was disposed", "weight"));
  if (weight->context() != ctx)
    ThrowArg(env, StatusCode::kArgument, op, "weight", "a weight of this context", "a weight of another context");
  const DType f16 = DType::kF16;
  TensorWrap* x = ParseTensor(info[2], ctx, op, "x", &f16);
  TensorWrap* bias = ParseOptionalTensor(info[3], ctx, op, "bias", &f16);
  TensorWrap* out_t = ParseOptionalTensor(info[4], ctx, op, "out", &f16);
  const W4A16Packed& meta = weight->meta();
  const Shape& xs = x->shape();
  CheckLastDim(env, op, "x", xs, meta.k);
  int64_t m = ShapeElements(xs) / meta.k;
  Shape out_shape(xs.begin(), xs.end() - 1);
  out_shape.push_back(meta.n);
  if (bias && (bias->shape().size() != 1 || bias->shape()[0] != meta.n))
    ThrowArg(env, StatusCode::kShape, op, "bias", "[" + std::to_string(meta.n) + "]", ShapeToString(bias->shape()));
  if (out_t && out_t->shape() != out_shape)
    ThrowArg(env, StatusCode::kShape, op, "out", ShapeToString(out_shape), ShapeToString(out_t->shape()));
  if (out_t && (out_t == x || out_t == bias))
    ThrowArg(env, StatusCode::kArgument, op, "out", "a tensor distinct from the inputs", "one of the inputs");

  Napi::Object out_obj;
  std::shared_ptr<Buffer> out;
  if (out_t) {
    out = out_t->buffer();
    out_obj = info[4].As<Napi::Object>();
  } else {
    out = ctx->Allocate(env, static_cast<size_t>(m * meta.n) * 2);
    out_obj = TensorWrap::Create(env, info[0].As<Napi::Object>(), ctx, out, DType::kF16, out_shape);
  }
  std::shared_ptr<Buffer> qb = weight->qweight(), sb = weight->scales(), xb = x->buffer();
  std::shared_ptr<Buffer> bb = bias ? bias->buffer() : nullptr;
  std::shared_ptr<Backend> backend = ctx->backend_ptr();
  W4A16Packed dims = meta;
  EnqueueOp(env, ctx, {qb, sb, xb, bb}, out, [backend, qb, sb, xb, bb, out, dims, m](LaunchInfo* launch) {
    W4A16WeightView view = dims.view(qb->ptr, sb->ptr);
    return backend->W4A16Matmul(view, static_cast<const uint16_t*>(xb->ptr),
                                bb ? static_cast<const uint16_t*>(bb->ptr) : nullptr,
                                static_cast<uint16_t*>(out->ptr), m, launch);
  });
  return out_obj;
}

void RegisterW4A16(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = W4A16WeightWrap::Define(env);
  GetAddonData(env)->w4a16_weight_ctor = Napi::Persistent(ctor);
  exports.Set("NativeW4A16Weight", ctor);
  exports.Set("w4a16Quantize", Napi::Function::New(env, W4A16Quantize, "w4a16Quantize"));
  exports.Set("w4a16FromCodes", Napi::Function::New(env, W4A16FromCodes, "w4a16FromCodes"));
  exports.Set("w4a16Matmul", Napi::Function::New(env, W4A16Matmul, "w4a16Matmul"));
}

}  // namespace sparq::binding
