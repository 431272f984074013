// binding/fragment_dump_binding.cc: fragmentDump(ctx) → Promise<{ldmatrixX4, ldmatrixX2Trans, mmaF16,
// mmaS8, w4a16Dequant}> — what each lane of one warp holds after ldmatrix, mma and the W4A16
// dequant for fixed inputs, on sim or cuda (sparq/sim_ops.h). The device check compares the GPU's dump with the simulator's (the guard against a
// misreading of the PTX ISA fragment layouts that the simulator and the kernels would share).
#include <cstring>
#include <memory>

#include "binding/context.h"
#include "binding/errors.h"
#include "sparq/sim_ops.h"

namespace sparq::binding {

Napi::Value FragmentDump(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ContextCore* ctx = ContextWrap::Parse(info[0], "fragmentDump")->core();
  auto deferred = std::make_shared<Napi::Promise::Deferred>(env);
  auto data = std::make_shared<sim::FragmentDumpData>();
  std::shared_ptr<Backend> backend = ctx->backend_ptr();
  ctx->Enqueue(
      env,
      [backend, data]() -> Status {
        FragmentDumpArgs args;
        args.out = data.get();
        return backend->FragmentDump(args, nullptr);
      },
      [deferred, data](Napi::Env env, const Status& status) {
        if (!status.ok()) {
          deferred->Reject(MakeError(env, status).Value());
          return;
        }
        auto copy = [&](auto typed, const void* src) {
          std::memcpy(typed.Data(), src, typed.ByteLength());
          return typed;
        };
        Napi::Object o = Napi::Object::New(env);
        o.Set("ldmatrixX4", copy(Napi::Uint32Array::New(env, 32 * 4), data->ldmatrix_x4));
        o.Set("ldmatrixX2Trans", copy(Napi::Uint32Array::New(env, 32 * 2), data->ldmatrix_x2_trans));
        o.Set("mmaF16", copy(Napi::Float32Array::New(env, 32 * 4), data->mma_f16));
        o.Set("mmaS8", copy(Napi::Int32Array::New(env, 32 * 4), data->mma_s8));
        o.Set("w4a16Dequant", copy(Napi::Uint32Array::New(env, 32 * 16), data->w4a16_dequant));
        deferred->Resolve(o);
      });
  return deferred->Promise();
}

}  // namespace sparq::binding
