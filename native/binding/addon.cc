// binding/addon.cc: registers the exports; nothing else lives here.
#include <dlfcn.h>
#include <napi.h>

#include <string>

#include "binding/addon_data.h"
#include "binding/binding_registry.h"
#include "binding/context.h"
#include "binding/errors.h"
#include "binding/tensor.h"
#include "binding/weight.h"
#include "runtime/backend.h"

namespace sparq::binding {

Napi::Value ToF16(const Napi::CallbackInfo& info);
Napi::Value FromF16(const Napi::CallbackInfo& info);
Napi::Value ToBF16(const Napi::CallbackInfo& info);
Napi::Value FromBF16(const Napi::CallbackInfo& info);
Napi::Value CpuIsaInfo(const Napi::CallbackInfo& info);
Napi::Value FragmentDump(const Napi::CallbackInfo& info);
Napi::Value Copy(const Napi::CallbackInfo& info);
Napi::Value InjectFault(const Napi::CallbackInfo& info);
Napi::Value V8ExternalBytes(const Napi::CallbackInfo& info);


namespace {

std::string AddonDirectory() {
  Dl_info dl{};
  if (dladdr(reinterpret_cast<void*>(&AddonDirectory), &dl) == 0 || dl.dli_fname == nullptr) return ".";
  std::string path = dl.dli_fname;
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

// probeCuda(device) → null when a driver and the device are there, else the reason (one line).
Napi::Value ProbeCuda(const Napi::CallbackInfo& info) {
  int device = info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 0;
  Status s = ProbeCudaDriver(device);
  return s.ok() ? info.Env().Null() : Napi::String::New(info.Env(), s.message);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  env.SetInstanceData(data);
  data->addon_dir = AddonDirectory();
  Napi::Function context_ctor = ContextWrap::Define(env);
  Napi::Function tensor_ctor = TensorWrap::Define(env);
  Napi::Function weight_ctor = WeightWrap::Define(env);
  data->context_ctor = Napi::Persistent(context_ctor);
  data->tensor_ctor = Napi::Persistent(tensor_ctor);
  data->weight_ctor = Napi::Persistent(weight_ctor);

  // Environment teardown (process exit, worker exit): stop every stream before the module unloads,
  // so no worker thread runs kernel code into a dying process.
  std::shared_ptr<ContextRegistry> registry = data->contexts;
  env.AddCleanupHook([registry]() {
    for (ContextCore* ctx : registry->live) ctx->Shutdown(true);
    registry->StopDraining();
  });

  exports.Set("NativeContext", context_ctor);
  exports.Set("NativeTensor", tensor_ctor);
  exports.Set("NativeWeight", weight_ctor);
  exports.Set("openContext", Napi::Function::New(env, OpenContext, "openContext"));
  exports.Set("setErrorClasses", Napi::Function::New(env, SetErrorClasses, "setErrorClasses"));
  exports.Set("toF16", Napi::Function::New(env, ToF16, "toF16"));
  exports.Set("fromF16", Napi::Function::New(env, FromF16, "fromF16"));
  exports.Set("toBF16", Napi::Function::New(env, ToBF16, "toBF16"));
  exports.Set("fromBF16", Napi::Function::New(env, FromBF16, "fromBF16"));
  exports.Set("injectFault", Napi::Function::New(env, InjectFault, "injectFault"));
  exports.Set("v8ExternalBytes", Napi::Function::New(env, V8ExternalBytes, "v8ExternalBytes"));
  exports.Set("copy", Napi::Function::New(env, Copy, "copy"));
  exports.Set("fragmentDump", Napi::Function::New(env, FragmentDump, "fragmentDump"));
  exports.Set("probeCuda", Napi::Function::New(env, ProbeCuda, "probeCuda"));
  exports.Set("cpuIsa", Napi::Function::New(env, CpuIsaInfo, "cpuIsa"));
#if defined(SPARQ_HAVE_SIM)
  exports.Set("hasSim", true);
#else
  exports.Set("hasSim", false);
#endif
  RegisterAllBindings(env, exports);  // each op's binding file (SPARQ_REGISTER_BINDING)
  return exports;
}

}  // namespace
}  // namespace sparq::binding

static Napi::Object InitSparq(Napi::Env env, Napi::Object exports) { return sparq::binding::Init(env, exports); }

NODE_API_MODULE(sparq, InitSparq)
