// binding/context.h: NativeContext, the JS handle of a ContextCore (backend + stream), and
// openContext(), which creates the backend off the JS thread (a CUDA probe and init can take a
// while).
#pragma once
#include <napi.h>

#include <memory>

#include "binding/context_core.h"

namespace sparq::binding {

class ContextWrap : public Napi::ObjectWrap<ContextWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit ContextWrap(const Napi::CallbackInfo& info);
  ~ContextWrap() override;

  ContextCore* core() const { return core_.get(); }
  void Attach(Napi::Env env, std::shared_ptr<Backend> backend, std::string fallback_reason, const cpu::CpuSwitches& switches);
  // Environment teardown: stop the stream and wait for the running task.
  void ShutdownForTeardown();

  static ContextWrap* Parse(const Napi::Value& v, const std::string& op);
  ContextCore* RequireCore(Napi::Env env, const std::string& op);

 private:
  Napi::Value Tensor(const Napi::CallbackInfo& info);
  Napi::Value Zeros(const Napi::CallbackInfo& info);
  Napi::Value Synchronize(const Napi::CallbackInfo& info);
  Napi::Value Mark(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value GetPending(const Napi::CallbackInfo& info);
  Napi::Value GetLiveAllocations(const Napi::CallbackInfo& info);
  Napi::Value GetLost(const Napi::CallbackInfo& info);
  Napi::Value GetLastLaunch(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value GetClosed(const Napi::CallbackInfo& info);
  Napi::Value GetLabel(const Napi::CallbackInfo& info);

  std::unique_ptr<ContextCore> core_;
};

Napi::Value OpenContext(const Napi::CallbackInfo& info);

}  // namespace sparq::binding
