// binding/read_probe_binding.cc: the cpu backend's bench probes. fmaProbe(ctx, iterations) — the
// CPU compute peak: every op thread runs `iterations` of independent fp32 FMA chains in registers;
// resolves with {flopsPerIteration (per thread; 0 on the scalar ISA: no probe), checksum}, timed
// by the bench between two sq.mark()s (bench/harness/cpuPeak.ts). readProbe(ctx, src, streams = 1, prefetchBytes = 0) — bench support, the CPU floor: reads
// the whole of tensor src once on the context's thread pool, in stream order, each thread its slice
// in `streams` runs with a software prefetch prefetchBytes ahead (sparq/cpu.h ReadProbeShape), and
// resolves with the sum of its u64 words (a number; the sum only keeps the loads from being elided). The bench times
// it between two sq.mark()s (bench/harness/cpuFloor.ts). copyProbe(ctx, dst, src, nonTemporal =
// false) — the floor of ops that write as much as they read: copies tensor src into dst (the same
// byte size) once on the pool, each thread its slice, with memcpy or streaming stores (sparq/cpu.h
// CopyProbe); resolves with undefined once done, timed the same way (bench/harness/cpuCopyFloor.ts).
// Reached only through src/native.ts, not the public API; backends other than cpu reject them with
// SparqBackendError.
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "binding/args.h"
#include "binding/binding_registry.h"
#include "binding/context.h"
#include "binding/errors.h"
#include "binding/tensor.h"
#include "sparq/cpu.h"

namespace sparq::binding {
namespace {

// v as an integer in [lo, hi], else a typed error naming `argument` and `expected` (both probes'
// counts: readProbe's optional shape, fmaProbe's iterations).
int64_t ParseProbeInteger(Napi::Env env, const Napi::Value& v, const std::string& op, const char* argument, double lo,
                          double hi, const std::string& expected) {
  const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1.0;
  if (!(d >= lo && d <= hi && d == static_cast<double>(static_cast<int64_t>(d))))
    ThrowArg(env, StatusCode::kArgument, op, argument, expected, DescribeValue(v));
  return static_cast<int64_t>(d);
}

// readProbe's optional shape arguments: `fallback` when absent (undefined).
int ParseProbeShapeArg(const Napi::CallbackInfo& info, size_t index, const std::string& op, const char* argument, int lo,
                       int hi, int fallback) {
  if (info[index].IsUndefined()) return fallback;
  return static_cast<int>(ParseProbeInteger(info.Env(), info[index], op, argument, lo, hi,
                                            "an integer from " + std::to_string(lo) + " to " + std::to_string(hi)));
}

// The probes' Promise: `work` runs on ctx's stream; the Promise resolves with `value()` (built on the
// JS thread once the work is done) or rejects with the work's error.
Napi::Value OnStream(Napi::Env env, ContextCore* ctx, std::function<Status()> work,
                     std::function<Napi::Value(Napi::Env)> value) {
  auto deferred = std::make_shared<Napi::Promise::Deferred>(env);
  ctx->Enqueue(env, std::move(work), [deferred, value = std::move(value)](Napi::Env env, const Status& status) {
    if (status.ok()) deferred->Resolve(value(env));
    else deferred->Reject(MakeError(env, status).Value());
  });
  return deferred->Promise();
}

Napi::Value ReadProbe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string op = "readProbe";
  ContextCore* ctx = ContextWrap::Parse(info[0], op)->core();
  ctx->ThrowIfLost(env);
  std::shared_ptr<Buffer> src = ParseTensor(info[1], ctx, op, "src", nullptr)->buffer();
  const int streams = ParseProbeShapeArg(info, 2, op, "streams", 1, cpu::ReadProbeShape::kMaxStreams, 1);
  const int prefetch_bytes = ParseProbeShapeArg(info, 3, op, "prefetchBytes", 0, cpu::ReadProbeShape::kMaxPrefetchBytes, 0);
  auto sum = std::make_shared<uint64_t>(0);
  std::shared_ptr<Backend> backend = ctx->backend_ptr();
  return OnStream(
      env, ctx, [backend, src, streams, prefetch_bytes, sum]() -> Status {
        return backend->ReadProbe(src->ptr, src->bytes, streams, prefetch_bytes, sum.get());
      },
      [sum](Napi::Env env) -> Napi::Value { return Napi::Number::New(env, static_cast<double>(*sum)); });
}

Napi::Value CopyProbe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string op = "copyProbe";
  ContextCore* ctx = ContextWrap::Parse(info[0], op)->core();
  ctx->ThrowIfLost(env);
  std::shared_ptr<Buffer> dst = ParseTensor(info[1], ctx, op, "dst", nullptr)->buffer();
  std::shared_ptr<Buffer> src = ParseTensor(info[2], ctx, op, "src", nullptr)->buffer();
  if (dst->bytes != src->bytes)
    ThrowArg(env, StatusCode::kShape, op, "dst", "a tensor of src's " + std::to_string(src->bytes) + " bytes",
             std::to_string(dst->bytes) + " bytes");
  if (!info[3].IsUndefined() && !info[3].IsBoolean())
    ThrowArg(env, StatusCode::kArgument, op, "nonTemporal", "a boolean", DescribeValue(info[3]));
  const bool non_temporal = info[3].IsBoolean() && info[3].As<Napi::Boolean>().Value();
  std::shared_ptr<Backend> backend = ctx->backend_ptr();
  return OnStream(
      env, ctx, [backend, dst, src, non_temporal]() -> Status {
        return backend->CopyProbe(dst->ptr, src->ptr, src->bytes, non_temporal);
      },
      [](Napi::Env env) -> Napi::Value { return env.Undefined(); });
}

Napi::Value FmaProbe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string op = "fmaProbe";
  ContextCore* ctx = ContextWrap::Parse(info[0], op)->core();
  ctx->ThrowIfLost(env);
  const int64_t count = ParseProbeInteger(env, info[1], op, "iterations", 1, 1e12, "an integer from 1 to 1e12");
  auto result = std::make_shared<std::pair<double, double>>(0.0, 0.0);
  std::shared_ptr<Backend> backend = ctx->backend_ptr();
  return OnStream(
      env, ctx, [backend, result, count]() -> Status { return backend->FmaProbe(count, &result->first, &result->second); },
      [result](Napi::Env env) -> Napi::Value {
        Napi::Object o = Napi::Object::New(env);
        o.Set("flopsPerIteration", result->first);
        o.Set("checksum", result->second);
        return o;
      });
}

}  // namespace

void RegisterReadProbe(Napi::Env env, Napi::Object exports) {
  exports.Set("readProbe", Napi::Function::New(env, ReadProbe, "readProbe"));
  exports.Set("copyProbe", Napi::Function::New(env, CopyProbe, "copyProbe"));
  exports.Set("fmaProbe", Napi::Function::New(env, FmaProbe, "fmaProbe"));
}

SPARQ_REGISTER_BINDING(RegisterReadProbe);

}  // namespace sparq::binding
