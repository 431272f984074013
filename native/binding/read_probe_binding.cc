// binding/read_probe_binding.cc: readProbe(ctx, src) — bench support, the CPU floor: reads the
// whole of tensor src once on the context's thread pool, in stream order, and resolves with the
// sum of its u64 words (a number; the sum only keeps the loads from being elided). The bench times
// it between two sq.mark()s (bench/harness/cpuFloor.ts). Reached only through src/native.ts, not
// the public API; backends other than cpu reject it with SparqBackendError.
#include "binding/args.h"
#include "binding/binding_registry.h"
#include "binding/context.h"
#include "binding/errors.h"
#include "binding/tensor.h"

namespace sparq::binding {
namespace {

Napi::Value ReadProbe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string op = "readProbe";
  ContextCore* ctx = ContextWrap::Parse(info[0], op)->core();
  ctx->ThrowIfLost(env);
  std::shared_ptr<Buffer> src = ParseTensor(info[1], ctx, op, "src", nullptr)->buffer();
  auto deferred = std::make_shared<Napi::Promise::Deferred>(env);
  auto sum = std::make_shared<uint64_t>(0);
  std::shared_ptr<Backend> backend = ctx->backend_ptr();
  ctx->Enqueue(
      env, [backend, src, sum]() -> Status { return backend->ReadProbe(src->ptr, src->bytes, sum.get()); },
      [deferred, sum](Napi::Env env, const Status& status) {
        if (status.ok()) deferred->Resolve(Napi::Number::New(env, static_cast<double>(*sum)));
        else deferred->Reject(MakeError(env, status).Value());
      });
  return deferred->Promise();
}

}  // namespace

void RegisterReadProbe(Napi::Env env, Napi::Object exports) {
  exports.Set("readProbe", Napi::Function::New(env, ReadProbe, "readProbe"));
}

SPARQ_REGISTER_BINDING(RegisterReadProbe);

}  // namespace sparq::binding
