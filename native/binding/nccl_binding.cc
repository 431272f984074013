// binding/nccl_binding.cc: ncclProbe() → { path, version } of the NCCL library sparq would use, or a
// SparqBackendError naming every candidate and why. src/nccl.ts calls it in a child process first.
#include "binding/binding_registry.h"
#include "binding/errors.h"
#include "runtime/nccl_probe.h"

namespace sparq::binding {
namespace {

Napi::Value NcclProbe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  nccl::ProbeResult r;
  Status s = nccl::Probe(&r);
  if (!s.ok()) ThrowStatus(env, s);
  Napi::Object o = Napi::Object::New(env);
  o.Set("path", r.path);
  o.Set("version", r.version);
  return o;
}

}  // namespace

void RegisterNccl(Napi::Env env, Napi::Object exports) {
  exports.Set("ncclProbe", Napi::Function::New(env, NcclProbe, "ncclProbe"));
}

SPARQ_REGISTER_BINDING(RegisterNccl);

}  // namespace sparq::binding
