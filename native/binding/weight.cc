#include "binding/weight.h"

#include <algorithm>
#include <cstring>

#include "binding/addon_data.h"
#include "binding/args.h"
#include "binding/errors.h"
#include "binding/object_tags.h"
#include "formats/host_buffers.h"
#include "sparq/cpu.h"

namespace sparq::binding {

Napi::Function WeightWrap::Define(Napi::Env env) {
  return DefineClass(env, "NativeWeight",
                     {InstanceMethod("read", &WeightWrap::Read), InstanceMethod("dispose", &WeightWrap::Dispose),
                      InstanceMethod("info", &WeightWrap::Info),
                      InstanceAccessor("disposed", &WeightWrap::GetDisposed, nullptr)});
}

WeightWrap::WeightWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<WeightWrap>(info) {}

Napi::Object WeightWrap::Create(Napi::Env env, Napi::Object ctx_object, ContextCore* ctx,
                                std::shared_ptr<const WeightFormat> format, std::vector<std::shared_ptr<Buffer>> parts) {
  Napi::Object obj = GetAddonData(env)->weight_ctor.New({});
  TagNative(env, obj, NativeKind::kWeight);
  WeightWrap* w = Unwrap(obj);
  w->format_ = std::move(format);
  w->parts_ = std::move(parts);
  for (const auto& p : w->parts_) w->bytes_ += p->bytes;
  w->Attach(env, ctx_object, ctx, w->bytes_);
  return obj;
}

void WeightWrap::Finalize(Napi::Env env) { Detach(env); }

// Disposed from its context's close() call on, as tensors are (tensor.cc).
Napi::Value WeightWrap::GetDisposed(const Napi::CallbackInfo& info) {
  RequireReceiver(info, NativeKind::kWeight);
  return Napi::Boolean::New(info.Env(), disposed() || !Usable());
}

Napi::Value WeightWrap::Dispose(const Napi::CallbackInfo& info) {
  Detach(info.Env());
  return info.Env().Undefined();
}

Napi::Value WeightWrap::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  if (!format_) return o;
  o.Set("kind", format_->kind());
  o.Set("n", static_cast<double>(format_->n()));
  o.Set("k", static_cast<double>(format_->k()));
  o.Set("bytes", static_cast<double>(disposed() || !Usable() ? 0 : bytes_));
  o.Set("layout", format_->layout() == PackedLayout::kGpu ? "gpu" : "cpu");
  format_->Describe(env, o);
  return o;
}

namespace {

Napi::Value MakeTypedArray(Napi::Env env, napi_typedarray_type type, size_t elements, Napi::ArrayBuffer ab) {
  napi_value out = nullptr;
  NAPI_THROW_IF_FAILED(env, napi_create_typedarray(env, type, elements, ab, 0, &out), Napi::Value());
  return Napi::Value(env, out);
}

size_t ElementBytes(napi_typedarray_type type) {
  switch (type) {
    case napi_int8_array: case napi_uint8_array: case napi_uint8_clamped_array: return 1;
    case napi_int16_array: case napi_uint16_array: return 2;
    case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: return 8;
    default: return 4;
  }
}

}  // namespace

// read() → {<field>: TypedArray, ...}: host copies of the parts, unpacked on the stream worker
// straight into ArrayBuffers made here (nothing O(size) runs on the JS thread but their allocation).
Napi::Value WeightWrap::Read(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string op = std::string(format_ ? format_->kind() : "weight") + ".read";
  Status usable = CheckUsable(op, "weight");
  if (!usable.ok()) ThrowStatus(env, usable);
  auto deferred = std::make_shared<Napi::Promise::Deferred>(env);
  const std::vector<WeightReadField> fields = format_->ReadFields();
  auto buffers = std::make_shared<std::vector<Napi::Reference<Napi::ArrayBuffer>>>();
  std::vector<void*> dst;
  for (const WeightReadField& f : fields) {
    const size_t bytes = f.elements * ElementBytes(f.type);
    Napi::ArrayBuffer ab = NewResultBuffer(env, bytes, op, "weight", "the weight's " + f.name);
    formats::AdviseHugePages(ab.Data(), bytes);  // the worker writes it whole: fault it in 2 MiB at a time
    dst.push_back(ab.Data());
    buffers->push_back(Napi::Persistent(ab));
  }
  std::vector<std::shared_ptr<Buffer>> parts = parts_;
  std::shared_ptr<const WeightFormat> format = format_;
  std::shared_ptr<Backend> backend = context()->backend_ptr();
  const int threads = WeightPackThreads(*backend);
  context()->Enqueue(
      env,
      [parts, format, backend, dst, threads]() -> Status {
        std::vector<std::vector<uint8_t>> host(parts.size());
        for (size_t i = 0; i < parts.size(); ++i) {
          if (!parts[i]->error.ok()) return parts[i]->error;
          if (!format->ReadsPart(i)) continue;
          if (parts[i]->bytes == 0) continue;  // nothing to copy, and no host pointer to copy to
          formats::ReserveOnHugePages(host[i], parts[i]->bytes);
          host[i].resize(parts[i]->bytes);
          Status s = backend->CopyToHost(host[i].data(), parts[i]->ptr, parts[i]->bytes);
          if (!s.ok()) return s;
        }
        return format->Unpack(host, dst, threads);
      },
      [deferred, buffers, fields](Napi::Env env, const Status& status) {
        if (!status.ok()) {
          deferred->Reject(MakeError(env, status).Value());
        } else {
          Napi::Object o = Napi::Object::New(env);
          for (size_t i = 0; i < fields.size(); ++i)
            o.Set(fields[i].name, MakeTypedArray(env, fields[i].type, fields[i].elements, (*buffers)[i].Value()));
          deferred->Resolve(o);
        }
        for (auto& b : *buffers) b.Reset();
      });
  return deferred->Promise();
}

WeightWrap* ParseWeight(const Napi::Value& v, ContextCore* ctx, const std::string& op, const char* kind,
                        const std::string& expected) {
  Napi::Env env = v.Env();
  if (!IsNative(v, NativeKind::kWeight)) ThrowArg(env, StatusCode::kArgument, op, "weight", expected, DescribeSparqObject(v));
  WeightWrap* w = WeightWrap::Unwrap(v.As<Napi::Object>());
  Status usable = w->CheckUsable(op, "weight");
  if (!usable.ok()) ThrowStatus(env, usable);
  if (std::string(w->format().kind()) != kind)
    ThrowArg(env, StatusCode::kArgument, op, "weight", expected, std::string("a ") + w->format().kind() + " weight");
  if (w->context() != ctx)
    ThrowArg(env, StatusCode::kArgument, op, "weight", "a weight of this context", "a weight of another context");
  return w;
}

int WeightPackThreads(const Backend& backend) {
  constexpr int kMaxPackThreads = 8;  // past this the encoders are bound by memory, not cores
  if (std::strcmp(backend.name(), "cpu") == 0) return backend.threads();
  // Not DefaultThreadCount: its getenv would run beside Node's setenv (BackendOptions::env). open()
  // passed SPARQ_THREADS to the cpu backend; for sim and cuda the cores decide.
  return std::min(kMaxPackThreads, cpu::HardwareThreadCount());
}

Napi::Promise CreateWeightAsync(Napi::Env env, Napi::Object ctx_object, ContextCore* ctx, const std::string& op,
                                WeightPackFn pack) {
  // The op's own name where its arguments' getters closed the context (the enqueue below would
  // say "enqueue: context … was closed").
  ctx->ThrowIfClosed(env, op);
  auto deferred = std::make_shared<Napi::Promise::Deferred>(env);
  auto ctx_ref = std::make_shared<Napi::ObjectReference>(Napi::Persistent(ctx_object));
  std::shared_ptr<Backend> backend = ctx->backend_ptr();
  auto buffers = std::make_shared<std::vector<std::shared_ptr<Buffer>>>();
  auto format = std::make_shared<std::shared_ptr<const WeightFormat>>();
  ctx->Enqueue(
      env,
      [pack = std::move(pack), backend, buffers, format, op]() -> Status {
        std::vector<std::vector<uint8_t>> host;
        Status s = pack(&host, format.get());
        for (size_t i = 0; s.ok() && i < host.size(); ++i) {
          auto buf = std::make_shared<Buffer>();
          buf->backend = backend;
          buf->bytes = host[i].size();
          s = backend->Allocate(buf->bytes, &buf->ptr);
          if (!s.ok()) {
            buf->ptr = nullptr;
            s = Status::Error(s.code,
                              op + ": could not allocate the packed weight (" + std::to_string(buf->bytes) +
                                  " bytes) on backend '" + backend->name() + "': " + s.message,
                              "w");
            break;
          }
          // An empty part (a tiled-CSL weight's bitmaps) has no host data to copy from.
          if (buf->bytes > 0) s = backend->CopyToDevice(buf->ptr, host[i].data(), buf->bytes);
          buffers->push_back(std::move(buf));
          std::vector<uint8_t>().swap(host[i]);  // the host copy is no longer needed
        }
        if (!s.ok()) buffers->clear();
        return s;
      },
      [deferred, ctx_ref, ctx, buffers, format](Napi::Env env, const Status& status) {
        if (!status.ok()) {
          deferred->Reject(MakeError(env, status).Value());
        } else {
          deferred->Resolve(WeightWrap::Create(env, ctx_ref->Value(), ctx, *format, std::move(*buffers)));
        }
        ctx_ref->Reset();
      });
  return deferred->Promise();
}

}  // namespace sparq::binding
