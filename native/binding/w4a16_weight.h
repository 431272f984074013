// binding/w4a16_weight.h: NativeW4A16Weight — packed 4-bit weights in the backend's memory (the
// layout of the backend that runs them), with the dims the API reports.
#pragma once
#include <napi.h>

#include <memory>

#include "binding/context_core.h"
#include "sparq/w4a16.h"

namespace sparq::binding {

class W4A16WeightWrap : public Napi::ObjectWrap<W4A16WeightWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  static Napi::Object Create(Napi::Env env, Napi::Object ctx_object, ContextCore* ctx, const W4A16Packed& meta,
                             std::shared_ptr<Buffer> qweight, std::shared_ptr<Buffer> scales);
  explicit W4A16WeightWrap(const Napi::CallbackInfo& info);
  void Finalize(Napi::Env env) override;

  ContextCore* context() const { return ctx_; }
  bool disposed() const { return !qweight_; }
  const W4A16Packed& meta() const { return meta_; }  // dims only; its vectors are empty
  const std::shared_ptr<Buffer>& qweight() const { return qweight_; }
  const std::shared_ptr<Buffer>& scales() const { return scales_; }

 private:
  Napi::Value Read(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
  void Release(Napi::Env env);

  Napi::ObjectReference ctx_object_;
  ContextCore* ctx_ = nullptr;
  W4A16Packed meta_;
  std::shared_ptr<Buffer> qweight_, scales_;
  size_t accounted_bytes_ = 0;
};

}  // namespace sparq::binding
