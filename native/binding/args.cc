#include "binding/args.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "binding/addon_data.h"
#include "binding/context_core.h"
#include "binding/errors.h"
#include "binding/object_tags.h"
#include "binding/tensor.h"
#include "binding/weight.h"
#include "sparq/cpu.h"

namespace sparq::binding {

std::string ShapeToString(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Saturates at INT64_MAX: dims up to 2^53 each would overflow (UB), and wrap to a small product.
int64_t ShapeElements(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    if (__builtin_mul_overflow(n, d, &n)) return std::numeric_limits<int64_t>::max();
  return n;
}

Shape ParseShape(const Napi::Value& v, const std::string& op, const std::string& argument) {
  Napi::Env env = v.Env();
  const std::string expected = "an array of 1 to 8 positive integers";
  if (!v.IsArray()) ThrowArg(env, StatusCode::kArgument, op, argument, expected, DescribeValue(v));
  Napi::Array a = v.As<Napi::Array>();
  // The length once: a getter at an index (user code) may grow the array while it is read.
  const uint32_t length = a.Length();
  if (length < 1 || length > 8)
    ThrowArg(env, StatusCode::kShape, op, argument, expected, "an array of length " + std::to_string(length));
  Shape shape;
  constexpr double kMaxSafeInteger = 9007199254740991.0;
  for (uint32_t i = 0; i < length; ++i) {
    Napi::Value d = a.Get(i);
    if (!d.IsNumber())
      ThrowArg(env, StatusCode::kShape, op, argument, expected, DescribeValue(d) + " at index " + std::to_string(i));
    double x = d.As<Napi::Number>().DoubleValue();
    if (!(x >= 1) || std::floor(x) != x || x > kMaxSafeInteger) {
      std::string got = std::isnan(x) ? "NaN" : DescribeValue(d);
      ThrowArg(env, StatusCode::kShape, op, argument, expected, got + " at index " + std::to_string(i));
    }
    shape.push_back(static_cast<int64_t>(x));
  }
  return shape;
}

DType ParseDType(const Napi::Value& v, const std::string& op, const std::string& argument) {
  DType t;
  if (!v.IsString() || !DTypeFromName(v.As<Napi::String>().Utf8Value().c_str(), &t))
    ThrowArg(v.Env(), StatusCode::kDType, op, argument, "one of 'f16', 'bf16', 'f32', 'i8', 'u8', 'i32'",
             DescribeValue(v));
  return t;
}

std::string DescribeSparqObject(const Napi::Value& v) {
  if (v.IsObject()) {
    if (IsNative(v, NativeKind::kTensor)) return "a Tensor";
    if (IsNative(v, NativeKind::kWeight)) {
      void* raw = nullptr;
      const auto* w = napi_unwrap(v.Env(), v, &raw) == napi_ok ? static_cast<WeightWrap*>(raw) : nullptr;
      if (w != nullptr && w->format_ptr()) return std::string("a ") + w->format().kind() + " weight";
    }
    // Not made by the library: one made with a native class's own constructor, an object inheriting
    // from one, a Proxy of one (an error path: instanceof may run a trap now, nothing is used after).
    AddonData* data = GetAddonData(v.Env());
    const Napi::Object o = v.As<Napi::Object>();
    if (o.InstanceOf(data->tensor_ctor.Value())) return "a Tensor sparq did not make";
    if (o.InstanceOf(data->weight_ctor.Value())) return "a sparq weight";
    // int8.matmul's result ({ y, outlierColumns }) where its tensor was meant: .y is a public
    // Tensor, whose native tensor is its `handle` (an error path: reading them may run a getter).
    try {
      const Napi::Value y = o.Get("y");
      if (y.IsObject() && IsNative(y.As<Napi::Object>().Get("handle"), NativeKind::kTensor))
        return "an object with a Tensor in .y (an int8.matmul result? pass its .y)";
    } catch (const Napi::Error&) {
      // a getter that throws: describe it as an object, as DescribeValue does
    }
  }
  return DescribeValue(v);
}

std::string WithArticle(const std::string& noun) {
  // Vowel-initial words (Int8Array) and dtype names read letter by letter from "ef" or "i" (f16,
  // i32); "u8" and "Uint…" are read "you…", so they take "a".
  const char c = noun.empty() ? 'x' : noun[0];
  const bool an = c == 'A' || c == 'E' || c == 'I' || c == 'O' || c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'f';
  return (an ? "an " : "a ") + noun;
}

std::string ArrayExpectation(Napi::Env env, DType dtype) {
  switch (dtype) {
    case DType::kF16: {
      // Float16Array is worth naming only where the caller can make one (Node ≥ 24; not Node 20).
      const bool has_f16_array = env.Global().Has("Float16Array");
      return has_f16_array ? "a Uint16Array (fp16 bits) or a Float16Array" : "a Uint16Array (fp16 bits)";
    }
    case DType::kBF16: return "a Uint16Array (bf16 bits)";
    case DType::kF32: return "a Float32Array";
    case DType::kI8: return "an Int8Array";
    case DType::kU8: return "a Uint8Array";
    case DType::kI32: return "an Int32Array";
  }
  return "a typed array";
}

static napi_typedarray_type ArrayTypeFor(DType dtype) {
  switch (dtype) {
    case DType::kF16: case DType::kBF16: return napi_uint16_array;
    case DType::kF32: return napi_float32_array;
    case DType::kI8: return napi_int8_array;
    case DType::kU8: return napi_uint8_array;
    case DType::kI32: return napi_int32_array;
  }
  return napi_uint8_array;
}

// fp16 or bf16 data given as numbers (a Float32Array, a plain array) is the commonest first mistake:
// the message names the conversion.
static std::string NumbersHint(const Napi::Value& v, DType dtype) {
  if (dtype != DType::kF16 && dtype != DType::kBF16) return "";
  const bool numbers = v.IsArray() || (v.IsTypedArray() && (v.As<Napi::TypedArray>().TypedArrayType() == napi_float32_array ||
                                                              v.As<Napi::TypedArray>().TypedArrayType() == napi_float64_array));
  if (!numbers) return "";
  return dtype == DType::kF16 ? " (toF16() turns numbers into fp16 bits)" : " (toBF16() turns numbers into bf16 bits)";
}

Napi::TypedArray ParseTypedArrayFor(const Napi::Value& v, DType dtype, const std::string& op, const std::string& argument,
                                    bool name_dtype) {
  std::string expected = ArrayExpectation(v.Env(), dtype);
  if (name_dtype) expected += std::string(" for dtype '") + DTypeName(dtype) + "'";
  if (!v.IsTypedArray()) ThrowArg(v.Env(), StatusCode::kArgument, op, argument, expected, DescribeValue(v) + NumbersHint(v, dtype));
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  if (ta.TypedArrayType() != ArrayTypeFor(dtype))
    ThrowArg(v.Env(), StatusCode::kDType, op, argument, expected, DescribeValue(v) + NumbersHint(v, dtype));
  // A transferred (postMessage) or detached array reads as 0 elements: say that, not "got 0 elements".
  if (IsDetached(ta)) ThrowDetached(v.Env(), op, argument, "a detached " + DescribeValue(v));
  return ta;
}

void ThrowDetached(Napi::Env env, const std::string& op, const std::string& argument, const std::string& received) {
  ThrowArg(env, StatusCode::kArgument, op, argument, "an array whose buffer is not detached (transferred)", received);
}

bool IsDetached(const Napi::TypedArray& ta) {
  napi_value buffer = nullptr;
  bool detached = false;
  return napi_get_typedarray_info(ta.Env(), ta, nullptr, nullptr, nullptr, &buffer, nullptr) == napi_ok &&
         buffer != nullptr && napi_is_detached_arraybuffer(ta.Env(), buffer, &detached) == napi_ok && detached;
}

const uint8_t* TypedArrayBytes(const Napi::TypedArray& ta, const std::string& op, const std::string& argument) {
  Napi::Env env = ta.Env();
  void* data = nullptr;
  size_t length = 0;
  NAPI_THROW_IF_FAILED(env, napi_get_typedarray_info(env, ta, nullptr, &length, &data, nullptr, nullptr), nullptr);
  const std::string during = " while the call read its other arguments";
  if (IsDetached(ta) && ta.ElementLength() != 0) ThrowDetached(env, op, argument, "one detached" + during);
  if (length != ta.ElementLength())
    ThrowArg(env, StatusCode::kArgument, op, argument, "an array that keeps its length while the call reads it",
             "one resized from " + std::to_string(ta.ElementLength()) + " to " + std::to_string(length) + " elements" + during);
  return length == 0 ? nullptr : static_cast<const uint8_t*>(data);
}

void ThrowOutOfHostMemory(Napi::Env env, const std::string& op, const std::string& argument, size_t bytes,
                          const std::string& what) {
  ThrowStatus(env, Status::Error(StatusCode::kOutOfMemory,
                                 op + ": out of host memory for " + what + " (" + std::to_string(bytes) + " bytes)", argument));
}

Napi::ArrayBuffer NewResultBuffer(Napi::Env env, size_t bytes, const std::string& op, const std::string& argument,
                                  const std::string& what) {
  // V8 takes an ArrayBuffer it cannot allocate as a fatal out-of-memory (napi_create_arraybuffer:
  // "FATAL ERROR: v8::ArrayBuffer::New Allocation failed", the process aborts), so the allocator is
  // asked first: where it cannot give `bytes` now, V8's allocation would have failed the same way.
  // Only from 32 MiB: below, a failure is implausible, and freeing a probe would raise glibc's
  // dynamic mmap threshold, moving V8's own allocation off a fresh mapping into the heap.
  constexpr size_t kProbeFromBytes = size_t(32) << 20;
  if (bytes >= kProbeFromBytes) {
    void* probe = std::malloc(bytes);
    if (probe == nullptr) ThrowOutOfHostMemory(env, op, argument, bytes, what);
    std::free(probe);
  }
  return Napi::ArrayBuffer::New(env, bytes);
}

int HostCopyThreads(ContextCore& ctx) {
  constexpr int kMaxCopyThreads = 4;
  return std::min(kMaxCopyThreads, WeightPackThreads(ctx.backend()));
}

TensorWrap* ParseTensor(const Napi::Value& v, ContextCore* ctx, const std::string& op, const std::string& argument,
                        const DType* required_dtype) {
  Napi::Env env = v.Env();
  if (!IsNative(v, NativeKind::kTensor))
    ThrowArg(env, StatusCode::kArgument, op, argument, "a sparq Tensor", DescribeSparqObject(v));
  TensorWrap* t = TensorWrap::Unwrap(v.As<Napi::Object>());
  Status usable = t->CheckUsable(op, argument);
  if (!usable.ok()) ThrowStatus(env, usable);
  if (t->context() != ctx)
    ThrowArg(env, StatusCode::kArgument, op, argument, "a tensor of this context", "a tensor of another context");
  if (required_dtype && t->dtype() != *required_dtype)
    ThrowArg(env, StatusCode::kDType, op, argument, WithArticle(std::string(DTypeName(*required_dtype)) + " tensor"),
             WithArticle(std::string(DTypeName(t->dtype())) + " tensor"));
  return t;
}

TensorWrap* ParseOptionalTensor(const Napi::Value& v, ContextCore* ctx, const std::string& op,
                                const std::string& argument, const DType* required_dtype) {
  if (v.IsUndefined() || v.IsNull()) return nullptr;
  return ParseTensor(v, ctx, op, argument, required_dtype);
}

size_t ShapeBytes(const Napi::Env& env, const Shape& shape, DType dtype, const std::string& op) {
  long double bytes = DTypeBytes(dtype);
  for (int64_t d : shape) bytes *= static_cast<long double>(d);
  if (bytes > static_cast<long double>(std::numeric_limits<int64_t>::max() / 2))
    ThrowStatus(env, Status::Error(StatusCode::kOutOfMemory,
                                   op + ": shape " + ShapeToString(shape) + " of " + DTypeName(dtype) +
                                       " needs more memory than can be addressed",
                                   "shape"));
  return static_cast<size_t>(bytes);
}

void CheckLength(Napi::Env env, const std::string& op, const std::string& argument, const Napi::TypedArray& ta,
                 int64_t want, const std::string& what) {
  if (static_cast<int64_t>(ta.ElementLength()) != want)
    ThrowArg(env, StatusCode::kShape, op, argument, std::to_string(want) + " elements (" + what + ")",
             std::to_string(ta.ElementLength()) + " elements");
}

}  // namespace sparq::binding
