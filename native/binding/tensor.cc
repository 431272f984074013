#include "binding/tensor.h"

#include <cstring>

#include "binding/addon_data.h"
#include "binding/errors.h"
#include "binding/object_tags.h"
#include "sparq/format_number.h"

namespace sparq::binding {

Napi::Function TensorWrap::Define(Napi::Env env) {
  return DefineClass(env, "NativeTensor",
                     {InstanceMethod("read", &TensorWrap::Read), InstanceMethod("dispose", &TensorWrap::Dispose),
                      InstanceAccessor("shape", &TensorWrap::GetShape, nullptr),
                      InstanceAccessor("dtype", &TensorWrap::GetDType, nullptr),
                      InstanceAccessor("bytes", &TensorWrap::GetBytes, nullptr),
                      InstanceAccessor("disposed", &TensorWrap::GetDisposed, nullptr)});
}

Napi::Object TensorWrap::Create(Napi::Env env, Napi::Object ctx_object, ContextCore* ctx,
                                std::shared_ptr<Buffer> buffer, DType dtype, Shape shape) {
  // Value().New, not the reference's New: that one opens an EscapableHandleScope, a heap
  // allocation inside node-api, per tensor; the caller's scope holds this handle already.
  Napi::Object obj = GetAddonData(env)->tensor_ctor.Value().New({});
  TagNative(env, obj, NativeKind::kTensor);
  TensorWrap* t = Unwrap(obj);
  const size_t bytes = buffer->bytes;
  t->buffer_ = std::move(buffer);
  t->dtype_ = dtype;
  t->shape_ = std::move(shape);
  t->Attach(env, ctx_object, ctx, bytes);
  return obj;
}

TensorWrap::TensorWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TensorWrap>(info) {}

TensorWrap::~TensorWrap() { buffer_.reset(); }

void TensorWrap::Finalize(Napi::Env env) { Detach(env); }

Napi::Value TensorWrap::Dispose(const Napi::CallbackInfo& info) {
  Detach(info.Env());
  return info.Env().Undefined();
}

static Napi::Value MakeTypedArray(Napi::Env env, DType dtype, Napi::ArrayBuffer ab, size_t elements) {
  switch (dtype) {
    case DType::kF16: case DType::kBF16: return Napi::Uint16Array::New(env, elements, ab, 0);
    case DType::kF32: return Napi::Float32Array::New(env, elements, ab, 0);
    case DType::kI8: return Napi::Int8Array::New(env, elements, ab, 0);
    case DType::kU8: return Napi::Uint8Array::New(env, elements, ab, 0);
    case DType::kI32: return Napi::Int32Array::New(env, elements, ab, 0);
  }
  return env.Undefined();
}

Napi::Value TensorWrap::Read(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Status usable = CheckUsable("read", "tensor");
  if (!usable.ok()) ThrowStatus(env, usable);
  if (info.Length() > 0 && !info[0].IsUndefined()) return ReadInto(info[0]);
  // A typed array past the runtime's limit (2^32 elements on Node 20) is a fatal error in
  // napi_create_typedarray, in the completion (SIGABRT, 2026-12-05: a [2^32 + 64] u8 tensor), not
  // an exception: refuse before any work is queued.
  const double max_elements = GetAddonData(env)->max_typed_array_elements;
  const size_t elements = static_cast<size_t>(ShapeElements(shape_));
  if (double(elements) > max_elements)
    ThrowArg(env, StatusCode::kShape, "read", "tensor",
             "at most " + FormatNumber(max_elements) + " elements (the most one JavaScript typed array holds here)",
             ShapeToString(shape_) + " (" + std::to_string(elements) + " elements)");
  auto deferred = std::make_shared<Napi::Promise::Deferred>(env);
  // The worker copies straight into this ArrayBuffer's store; the reference keeps it alive and
  // unobserved by JS until the promise resolves.
  Napi::ArrayBuffer ab = NewResultBuffer(env, buffer_->bytes, "read", "tensor", "the tensor's values");
  auto ab_ref = std::make_shared<Napi::Reference<Napi::ArrayBuffer>>(Napi::Persistent(ab));
  void* host = ab.Data();
  std::shared_ptr<Buffer> buffer = buffer_;
  std::shared_ptr<Backend> backend = context()->backend_ptr();
  DType dtype = dtype_;
  context()->Enqueue(
      env,
      [buffer, backend, host]() -> Status {
        if (!buffer->error.ok()) return buffer->error;
        return backend->CopyToHost(host, buffer->ptr, buffer->bytes);
      },
      [deferred, ab_ref, dtype, elements](Napi::Env env, const Status& status) {
        if (status.ok()) {
          deferred->Resolve(MakeTypedArray(env, dtype, ab_ref->Value(), elements));
        } else {
          deferred->Reject(MakeError(env, status).Value());
        }
        ab_ref->Reset();
      });
  return deferred->Promise();
}

// read(out): the worker copies into a staging block of its own, and the completion (JS thread)
// copies that into out and resolves with out. out is therefore never written while JS code can
// run, and a view that was detached (transferred) or shrunk (resizable buffer) meanwhile is seen
// then and rejected, never written through a stale pointer. The staging costs one memcpy on the
// JS thread (~0.1 ms per MiB); in exchange a decode loop allocates and faults in no new array.
Napi::Value TensorWrap::ReadInto(const Napi::Value& out_value) {
  Napi::Env env = out_value.Env();
  constexpr const char* kOp = "read";
  Napi::TypedArray out = ParseTypedArrayFor(out_value, dtype_, kOp, "out", /*name_dtype=*/true);
  const size_t bytes = buffer_->bytes;
  const size_t elements = static_cast<size_t>(ShapeElements(shape_));
  if (out.ElementLength() != elements)
    ThrowArg(env, StatusCode::kShape, kOp, "out", std::to_string(elements) + " elements (the tensor's size)",
             std::to_string(out.ElementLength()) + " elements");
  std::shared_ptr<uint8_t[]> staging;
  try {
    staging.reset(new uint8_t[bytes]);  // uninitialized: the worker's copy writes it all (shapes are positive)
  } catch (const std::bad_alloc&) {
    ThrowStatus(env, Status::Error(StatusCode::kOutOfMemory,
                                   std::string(kOp) + ": out of host memory for a " + std::to_string(bytes) +
                                       "-byte staging copy",
                                   "out"));
  }
  auto deferred = std::make_shared<Napi::Promise::Deferred>(env);
  auto out_ref = std::make_shared<Napi::Reference<Napi::TypedArray>>(Napi::Persistent(out));
  std::shared_ptr<Buffer> buffer = buffer_;
  std::shared_ptr<Backend> backend = context()->backend_ptr();
  context()->Enqueue(
      env,
      [buffer, backend, staging]() -> Status {
        if (!buffer->error.ok()) return buffer->error;
        return backend->CopyToHost(staging.get(), buffer->ptr, buffer->bytes);
      },
      [deferred, out_ref, staging, bytes, elements](Napi::Env env, const Status& status) {
        Napi::TypedArray target = out_ref->Value();
        out_ref->Reset();
        if (!status.ok()) {
          deferred->Reject(MakeError(env, status).Value());
          return;
        }
        if (target.ElementLength() != elements || target.ByteLength() != bytes) {
          deferred->Reject(MakeError(env, Status::Error(StatusCode::kArgument,
                                                        std::string(kOp) + ": out was detached or resized before the "
                                                        "read completed (now " + std::to_string(target.ElementLength()) +
                                                        " elements, expected " + std::to_string(elements) + ")",
                                                        "out")).Value());
          return;
        }
        std::memcpy(const_cast<uint8_t*>(TypedArrayBytes(target, kOp, "out")), staging.get(), bytes);
        deferred->Resolve(target);
      });
  return deferred->Promise();
}

Napi::Value TensorWrap::GetShape(const Napi::CallbackInfo& info) {
  RequireReceiver(info, NativeKind::kTensor);
  Napi::Array a = Napi::Array::New(info.Env(), shape_.size());
  for (size_t i = 0; i < shape_.size(); ++i) a.Set(i, Napi::Number::New(info.Env(), static_cast<double>(shape_[i])));
  return a;
}
Napi::Value TensorWrap::GetDType(const Napi::CallbackInfo& info) {
  RequireReceiver(info, NativeKind::kTensor);
  return Napi::String::New(info.Env(), DTypeName(dtype_));
}
// As JS sees it, a tensor of a closed context is disposed from the close() call on (its memory goes
// when the queued work has drained, but nothing can use it after the call).
Napi::Value TensorWrap::GetBytes(const Napi::CallbackInfo& info) {
  RequireReceiver(info, NativeKind::kTensor);
  return Napi::Number::New(info.Env(), static_cast<double>(buffer_ && Usable() ? buffer_->bytes : 0));
}
Napi::Value TensorWrap::GetDisposed(const Napi::CallbackInfo& info) {
  RequireReceiver(info, NativeKind::kTensor);
  return Napi::Boolean::New(info.Env(), !buffer_ || !Usable());
}

}  // namespace sparq::binding
