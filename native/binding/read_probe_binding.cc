// binding/read_probe_binding.cc: the cpu backend's bench probes. fmaProbe(ctx, iterations) — the
// CPU compute peak: every op thread runs `iterations` of independent fp32 FMA chains in registers;
// resolves with {flopsPerIteration (per thread; 0 on the scalar ISA: no probe), checksum}, timed
// by the bench between two sq.mark()s (bench/harness/cpuPeak.ts). readProbe(ctx, src) — bench support, the CPU floor: reads the
// whole of tensor src once on the context's thread pool, in stream order, and resolves with the
// sum of its u64 words (a number; the sum only keeps the loads from being elided). The bench times
// it between two sq.mark()s (bench/harness/cpuFloor.ts). Reached only through src/native.ts, not
// the public API; backends other than cpu reject it with SparqBackendError.
#include <utility>

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

Napi::Value FmaProbe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string op = "fmaProbe";
  ContextCore* ctx = ContextWrap::Parse(info[0], op)->core();
  ctx->ThrowIfLost(env);
  const double iterations = info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : -1;
  if (!(iterations >= 1 && iterations <= 1e12 && iterations == static_cast<double>(static_cast<int64_t>(iterations))))
    ThrowArg(env, StatusCode::kArgument, op, "iterations", "an integer from 1 to 1e12", DescribeValue(info[1]));
  auto deferred = std::make_shared<Napi::Promise::Deferred>(env);
  auto result = std::make_shared<std::pair<double, double>>(0.0, 0.0);
  std::shared_ptr<Backend> backend = ctx->backend_ptr();
  const auto count = static_cast<int64_t>(iterations);
  ctx->Enqueue(
      env, [backend, result, count]() -> Status { return backend->FmaProbe(count, &result->first, &result->second); },
      [deferred, result](Napi::Env env, const Status& status) {
        if (!status.ok()) {
          deferred->Reject(MakeError(env, status).Value());
          return;
        }
        Napi::Object o = Napi::Object::New(env);
        o.Set("flopsPerIteration", result->first);
        o.Set("checksum", result->second);
        deferred->Resolve(o);
      });
  return deferred->Promise();
}

}  // namespace

void RegisterReadProbe(Napi::Env env, Napi::Object exports) {
  exports.Set("readProbe", Napi::Function::New(env, ReadProbe, "readProbe"));
  exports.Set("fmaProbe", Napi::Function::New(env, FmaProbe, "fmaProbe"));
}

SPARQ_REGISTER_BINDING(RegisterReadProbe);

}  // namespace sparq::binding
