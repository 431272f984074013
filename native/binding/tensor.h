// binding/tensor.h: NativeTensor, the JS handle of a block of backend memory with a dtype and shape.
// dispose() only drops this handle's reference; queued work that uses the buffer still holds it,
// so the memory is freed in stream order, never while a kernel reads it.
#pragma once
#include <napi.h>

#include <memory>

#include "binding/args.h"
#include "binding/context_core.h"
#include "binding/context_owned.h"

namespace sparq::binding {

class TensorWrap : public Napi::ObjectWrap<TensorWrap>, public ContextOwnedHandle {
 public:
  static Napi::Function Define(Napi::Env env);
  // Wraps a new buffer as a NativeTensor owned by ctx (ctx_object keeps the context alive).
  static Napi::Object Create(Napi::Env env, Napi::Object ctx_object, ContextCore* ctx, std::shared_ptr<Buffer> buffer,
                             DType dtype, Shape shape);
  explicit TensorWrap(const Napi::CallbackInfo& info);
  ~TensorWrap() override;
  void Finalize(Napi::Env env) override;  // GC backstop: same as dispose()

  const std::shared_ptr<Buffer>& buffer() const { return buffer_; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  bool disposed() const { return !buffer_; }

 private:
  Napi::Value Read(const Napi::CallbackInfo& info);
  Napi::Value ReadInto(const Napi::Value& out);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value GetShape(const Napi::CallbackInfo& info);
  Napi::Value GetDType(const Napi::CallbackInfo& info);
  Napi::Value GetBytes(const Napi::CallbackInfo& info);
  Napi::Value GetDisposed(const Napi::CallbackInfo& info);
  void FreeMemory() override { buffer_.reset(); }

  std::shared_ptr<Buffer> buffer_;
  DType dtype_ = DType::kF16;
  Shape shape_;
};

}  // namespace sparq::binding
