#include "binding/w4a16_weight.h"

#include <cstring>

#include "binding/addon_data.h"
#include "binding/errors.h"

namespace sparq::binding {

Napi::Function W4A16WeightWrap::Define(Napi::Env env) {
  return DefineClass(env, "NativeW4A16Weight",
                     {InstanceMethod("read", &W4A16WeightWrap::Read),
                      InstanceMethod("dispose", &W4A16WeightWrap::Dispose),
                      InstanceMethod("info", &W4A16WeightWrap::Info)});
}

W4A16WeightWrap::W4A16WeightWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<W4A16WeightWrap>(info) {}

Napi::Object W4A16WeightWrap::Create(Napi::Env env, Napi::Object ctx_object, ContextCore* ctx,
                                     const W4A16Packed& meta, std::shared_ptr<Buffer> qweight,
                                     std::shared_ptr<Buffer> scales) {
  Napi::Object obj = GetAddonData(env)->w4a16_weight_ctor.New({});
  W4A16WeightWrap* w = Unwrap(obj);
  w->ctx_object_ = Napi::Persistent(ctx_object);
  w->ctx_ = ctx;
  w->meta_ = meta;
  w->meta_.qweight.clear();
  w->meta_.scales.clear();
  w->accounted_bytes_ = qweight->bytes + scales->bytes;
  w->qweight_ = std::move(qweight);
  w->scales_ = std::move(scales);
  Napi::MemoryManagement::AdjustExternalMemory(env, static_cast<int64_t>(w->accounted_bytes_));
  return obj;
}

void W4A16WeightWrap::Release(Napi::Env env) {
  if (!qweight_) return;
  qweight_.reset();
  scales_.reset();
  Napi::MemoryManagement::AdjustExternalMemory(env, -static_cast<int64_t>(accounted_bytes_));
  accounted_bytes_ = 0;
  ctx_object_.Reset();
}

void W4A16WeightWrap::Finalize(Napi::Env env) { Release(env); }

Napi::Value W4A16WeightWrap::Dispose(const Napi::CallbackInfo& info) {
  Release(info.Env());
  return info.Env().Undefined();
}

Napi::Value W4A16WeightWrap::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("n", static_cast<double>(meta_.n));
  o.Set("k", static_cast<double>(meta_.k));
  o.Set("groupSize", meta_.group_size);
  o.Set("bytes", static_cast<double>(qweight_ ? qweight_->bytes + scales_->bytes : 0));
  o.Set("layout", meta_.layout == W4A16Layout::kGpu ? "gpu" : "cpu");
  o.Set("paddedShape", [&] {
    Napi::Array a = Napi::Array::New(env, 2);
    a.Set(0u, static_cast<double>(meta_.n_pad));
    a.Set(1u, static_cast<double>(meta_.k_pad));
    return a;
  }());
  return o;
}

// read() → {codes: Uint8Array [n*k], scales: Uint16Array [n*k/g]} — the exact inverse of packing.
Napi::Value W4A16WeightWrap::Read(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (disposed()) ThrowStatus(env, Status::Error(StatusCode::kDisposed, "read: weight was disposed", "weight"));
  auto deferred = std::make_shared<Napi::Promise::Deferred>(env);
  auto packed = std::make_shared<W4A16Packed>(meta_);
  auto codes = std::make_shared<std::vector<uint8_t>>();
  auto scales = std::make_shared<std::vector<uint16_t>>();
  std::shared_ptr<Buffer> qb = qweight_, sb = scales_;
  std::shared_ptr<Backend> backend = ctx_->backend_ptr();
  ctx_->Enqueue(
      env,
      [packed, codes, scales, qb, sb, backend]() -> Status {
        if (!qb->error.ok()) return qb->error;
        packed->qweight.resize(qb->bytes);
        packed->scales.resize(sb->bytes);
        Status s = backend->CopyToHost(packed->qweight.data(), qb->ptr, qb->bytes);
        if (s.ok()) s = backend->CopyToHost(packed->scales.data(), sb->ptr, sb->bytes);
        if (s.ok()) s = W4A16Unpack(*packed, codes.get(), scales.get());
        return s;
      },
      [deferred, codes, scales](Napi::Env env, const Status& status) {
        if (!status.ok()) {
          deferred->Reject(MakeError(env, status).Value());
          return;
        }
        Napi::Object o = Napi::Object::New(env);
        auto c = Napi::Uint8Array::New(env, codes->size());
        std::memcpy(c.Data(), codes->data(), codes->size());
        auto s = Napi::Uint16Array::New(env, scales->size());
        std::memcpy(s.Data(), scales->data(), scales->size() * 2);
        o.Set("codes", c);
        o.Set("scales", s);
        deferred->Resolve(o);
      });
  return deferred->Promise();
}

}  // namespace sparq::binding
