#include "binding/tensor.h"

#include <cstring>

#include "binding/addon_data.h"
#include "binding/errors.h"

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
  Napi::Object obj = GetAddonData(env)->tensor_ctor.New({});
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
  auto deferred = std::make_shared<Napi::Promise::Deferred>(env);
  // The worker copies straight into this ArrayBuffer's store; the reference keeps it alive and
  // unobserved by JS until the promise resolves.
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, buffer_->bytes);
  auto ab_ref = std::make_shared<Napi::Reference<Napi::ArrayBuffer>>(Napi::Persistent(ab));
  void* host = ab.Data();
  std::shared_ptr<Buffer> buffer = buffer_;
  std::shared_ptr<Backend> backend = context()->backend_ptr();
  DType dtype = dtype_;
  size_t elements = static_cast<size_t>(ShapeElements(shape_));
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

Napi::Value TensorWrap::GetShape(const Napi::CallbackInfo& info) {
  Napi::Array a = Napi::Array::New(info.Env(), shape_.size());
  for (size_t i = 0; i < shape_.size(); ++i) a.Set(i, Napi::Number::New(info.Env(), static_cast<double>(shape_[i])));
  return a;
}
Napi::Value TensorWrap::GetDType(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), DTypeName(dtype_));
}
Napi::Value TensorWrap::GetBytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(buffer_ ? buffer_->bytes : 0));
}
Napi::Value TensorWrap::GetDisposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), disposed()); }

}  // namespace sparq::binding
