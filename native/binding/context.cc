#include "binding/context.h"

#include <cstring>
#include <limits>

#include "binding/addon_data.h"
#include "binding/args.h"
#include "binding/errors.h"
#include "binding/object_tags.h"
#include "binding/tensor.h"

namespace sparq::binding {

Napi::Function ContextWrap::Define(Napi::Env env) {
  return DefineClass(env, "NativeContext",
                     {InstanceMethod("tensor", &ContextWrap::Tensor), InstanceMethod("zeros", &ContextWrap::Zeros),
                      InstanceMethod("synchronize", &ContextWrap::Synchronize),
                      InstanceMethod("mark", &ContextWrap::Mark), InstanceMethod("info", &ContextWrap::Info),
                      InstanceMethod("close", &ContextWrap::Close),
                      InstanceAccessor("closed", &ContextWrap::GetClosed, nullptr),
                      InstanceAccessor("label", &ContextWrap::GetLabel, nullptr),
                      InstanceAccessor("pending", &ContextWrap::GetPending, nullptr),
                      InstanceAccessor("liveAllocations", &ContextWrap::GetLiveAllocations, nullptr),
                      InstanceAccessor("lost", &ContextWrap::GetLost, nullptr),
                      InstanceAccessor("lastLaunch", &ContextWrap::GetLastLaunch, nullptr)});
}

ContextWrap::ContextWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ContextWrap>(info) {}
ContextWrap::~ContextWrap() = default;

void ContextWrap::Attach(Napi::Env env, std::shared_ptr<Backend> backend, std::string fallback_reason,
                         const cpu::CpuSwitches& switches) {
  core_ = std::make_unique<ContextCore>(env, std::move(backend), std::move(fallback_reason), switches);
}

void ContextWrap::ShutdownForTeardown() {
  if (core_) core_->Shutdown(true);
}

// A NativeContext constructed from JS without openContext() has no core: say so, never crash.
// After close(), every method but close/closed/pending/lost throws SparqDisposedError naming it.
ContextCore* ContextWrap::RequireCore(Napi::Env env, const std::string& op) {
  if (!core_) ThrowArg(env, StatusCode::kArgument, op, "context", "a context from open()", "an unopened one");
  core_->ThrowIfClosed(env, op);
  return core_.get();
}

ContextWrap* ContextWrap::Parse(const Napi::Value& v, const std::string& op) {
  if (!IsNative(v, NativeKind::kContext))
    ThrowArg(v.Env(), StatusCode::kArgument, op, "context", "a sparq context", DescribeValue(v));
  ContextWrap* c = Unwrap(v.As<Napi::Object>());
  c->RequireCore(v.Env(), op);
  return c;
}

Napi::Value ContextWrap::Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!core_) ThrowArg(env, StatusCode::kArgument, "close", "context", "a context from open()", "an unopened one");
  return core_->Close(env, Value());
}

Napi::Value ContextWrap::GetClosed(const Napi::CallbackInfo& info) {
  RequireReceiver(info, NativeKind::kContext);
  return Napi::Boolean::New(info.Env(), core_ && core_->closed());
}

Napi::Value ContextWrap::GetLabel(const Napi::CallbackInfo& info) {
  RequireReceiver(info, NativeKind::kContext);
  return core_ ? Napi::String::New(info.Env(), core_->label()) : info.Env().Null();
}

// tensor(data, shape, dtype): copies host data now (the caller may reuse its array at once).
Napi::Value ContextWrap::Tensor(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string op = "tensor";
  RequireCore(env, op);
  core_->ThrowIfLost(env);
  DType dtype = ParseDType(info[2], op, "dtype");
  Napi::TypedArray data = ParseTypedArrayFor(info[0], dtype, op, "data", /*name_dtype=*/true);
  Shape shape = ParseShape(info[1], op, "shape");
  int64_t elements = ShapeElements(shape);
  // ShapeElements saturates: a product past int64 is named as such, not as the saturated count.
  const std::string want = elements == std::numeric_limits<int64_t>::max() ? std::string("more than 2^63 - 1")
                                                                            : std::to_string(elements);
  if (static_cast<int64_t>(data.ElementLength()) != elements)
    ThrowArg(env, StatusCode::kShape, op, "data", want + " elements for shape " + ShapeToString(shape),
             std::to_string(data.ElementLength()) + " elements");
  size_t bytes = ShapeBytes(env, shape, dtype, op);
  std::shared_ptr<Buffer> buffer = core_->Allocate(env, bytes, op, "data", "the tensor", shape, dtype);
  const uint8_t* src = TypedArrayBytes(data, op, "data");
  if (core_->backend().host_memory()) {
    formats::ParallelCopy(buffer->ptr, src, bytes, HostCopyThreads(*core_));
  } else {
    // Staging copy now; the upload runs on the stream.
    std::shared_ptr<HostCopy<uint8_t>> staging;
    try {
      staging = std::make_shared<HostCopy<uint8_t>>(bytes);
    } catch (const std::bad_alloc&) {
      ThrowOutOfHostMemory(env, op, "data", bytes, "a staging copy of data");
    }
    formats::AdviseHugePages(staging->data(), bytes);
    formats::ParallelCopy(staging->data(), src, bytes, HostCopyThreads(*core_));
    std::shared_ptr<Backend> backend = core_->backend_ptr();
    core_->Enqueue(env, [buffer, staging, backend]() -> Status {
      Status s = backend->CopyToDevice(buffer->ptr, staging->data(), buffer->bytes);
      if (!s.ok()) buffer->error = s;
      return s;
    });
  }
  return TensorWrap::Create(env, Value(), core_.get(), std::move(buffer), dtype, std::move(shape));
}

Napi::Value ContextWrap::Zeros(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string op = "zeros";
  RequireCore(env, op);
  core_->ThrowIfLost(env);
  Shape shape = ParseShape(info[0], op, "shape");
  DType dtype = ParseDType(info[1], op, "dtype");
  size_t bytes = ShapeBytes(env, shape, dtype, op);
  std::shared_ptr<Buffer> buffer = core_->Allocate(env, bytes, op, "shape", "the tensor", shape, dtype);
  std::shared_ptr<Backend> backend = core_->backend_ptr();
  core_->Enqueue(env, [buffer, backend]() -> Status {
    Status s = backend->Fill(buffer->ptr, buffer->bytes, 0);
    if (!s.ok()) buffer->error = s;
    return s;
  });
  return TensorWrap::Create(env, Value(), core_.get(), std::move(buffer), dtype, std::move(shape));
}

// Resolves when everything enqueued before it has finished; rejects with the first failure since
// the previous synchronize().
Napi::Value ContextWrap::Synchronize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireCore(env, "synchronize");
  auto deferred = std::make_shared<Napi::Promise::Deferred>(env);
  std::shared_ptr<Backend> backend = core_->backend_ptr();
  std::shared_ptr<ContextShared> shared = core_->shared_ptr();
  std::shared_ptr<Status> first = std::make_shared<Status>();
  core_->Enqueue(
      env,
      [backend, shared, first]() -> Status {
        Status s = backend->Synchronize();
        std::lock_guard<std::mutex> lock(shared->mu);
        *first = shared->first_error;
        shared->first_error = Status::Ok();
        return s;
      },
      [deferred, first](Napi::Env env, const Status& status) {
        const Status& s = status.ok() ? *first : status;
        if (s.ok()) deferred->Resolve(env.Undefined());
        else deferred->Reject(MakeError(env, s).Value());
      });
  return deferred->Promise();
}

// Resolves with the stream time (ms) at which the stream reached this point.
Napi::Value ContextWrap::Mark(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireCore(env, "mark");
  auto deferred = std::make_shared<Napi::Promise::Deferred>(env);
  std::shared_ptr<Backend> backend = core_->backend_ptr();
  auto ms = std::make_shared<double>(0);
  core_->Enqueue(
      env, [backend, ms]() -> Status { return backend->StreamTimeMs(ms.get()); },
      [deferred, ms](Napi::Env env, const Status& status) {
        if (status.ok()) deferred->Resolve(Napi::Number::New(env, *ms));
        else deferred->Reject(MakeError(env, status).Value());
      });
  return deferred->Promise();
}

Napi::Value ContextWrap::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireCore(env, "info");
  Backend& b = core_->backend();
  Napi::Object o = Napi::Object::New(env);
  o.Set("backend", b.name());
  o.Set("cpuIsa", b.cpu_isa());
  o.Set("threads", b.threads());
  o.Set("fallbackReason", core_->fallback_reason().empty() ? env.Null()
                                                           : Napi::String::New(env, core_->fallback_reason()));
  if (const DeviceInfo* d = b.device()) {
    Napi::Object dev = Napi::Object::New(env);
    dev.Set("name", d->name);
    dev.Set("sm", d->sm_major * 10 + d->sm_minor);
    dev.Set("smCount", d->sm_count);
    dev.Set("memoryBytes", static_cast<double>(d->memory_bytes));
    dev.Set("driverVersion", d->driver_version);
    dev.Set("runtimeVersion", d->runtime_version);
    dev.Set("cublas", d->cublas.empty() ? env.Null() : Napi::String::New(env, d->cublas));
    dev.Set("cublasNote", d->cublas_note.empty() ? env.Null() : Napi::String::New(env, d->cublas_note));
    o.Set("device", dev);
  } else {
    o.Set("device", env.Null());
  }
  return o;
}

Napi::Value ContextWrap::GetLiveAllocations(const Napi::CallbackInfo& info) {
  RequireReceiver(info, NativeKind::kContext);
  const bool open = core_ && !core_->closed();
  return Napi::Number::New(info.Env(), open ? static_cast<double>(core_->backend().LiveAllocations()) : 0.0);
}

Napi::Value ContextWrap::GetPending(const Napi::CallbackInfo& info) {
  RequireReceiver(info, NativeKind::kContext);
  return Napi::Number::New(info.Env(), static_cast<double>(core_ ? core_->shared().pending.load() : 0));
}
Napi::Value ContextWrap::GetLost(const Napi::CallbackInfo& info) {
  RequireReceiver(info, NativeKind::kContext);
  return Napi::Boolean::New(info.Env(), core_ && core_->shared().lost.load());
}

Napi::Value ContextWrap::GetLastLaunch(const Napi::CallbackInfo& info) {
  RequireReceiver(info, NativeKind::kContext);
  Napi::Env env = info.Env();
  if (!core_) ThrowArg(env, StatusCode::kArgument, "lastLaunch", "context", "a context from open()", "an unopened one");
  ContextShared& shared = core_->shared();
  std::lock_guard<std::mutex> lock(shared.mu);
  if (!shared.has_launch) return env.Null();
  const LaunchInfo& l = shared.last_launch;
  Napi::Object o = Napi::Object::New(env);
  o.Set("kernel", l.kernel);
  o.Set("config", l.config);
  Napi::Array grid = Napi::Array::New(env, 3);
  grid.Set(0u, l.grid_x);
  grid.Set(1u, l.grid_y);
  grid.Set(2u, l.grid_z);
  o.Set("grid", grid);
  o.Set("blockThreads", l.block_threads);
  o.Set("smemBytes", l.smem_bytes);
  Napi::Object bytes = Napi::Object::New(env);
  for (const auto& [name, n] : l.bytes_read) bytes.Set(name, static_cast<double>(n));
  o.Set("bytesRead", bytes);
  return o;
}

// ----------------------------------------------------------------------------- openContext
namespace {

class OpenWorker : public Napi::AsyncWorker {
 public:
  OpenWorker(Napi::Env env, std::string backend, int device, BackendOptions options, std::string addon_dir)
      : Napi::AsyncWorker(env), deferred_(env), requested_(std::move(backend)), device_(device),
        options_(std::move(options)), addon_dir_(std::move(addon_dir)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    // A backend that cannot start its threads (a thread limit) throws std::system_error: a typed
    // rejection of open(), never an exception off a libuv worker.
    try {
      Create();
    } catch (const std::exception& e) {
      backend_.reset();
      status_ = CouldNotStart("its backend", e);
    }
  }
  static Status CouldNotStart(const char* what, const std::exception& e) {
    return Status::Error(StatusCode::kOutOfMemory, std::string("open: could not start ") + what + " (" + e.what() +
                                                       "): the process may be at a thread limit (ulimit -u, a container's "
                                                       "pids limit); open fewer contexts or pass fewer threads");
  }
  void Create() {
    if (requested_ == "cpu") {
      status_ = CreateCpuBackend(options_, &backend_);
    } else if (requested_ == "sim") {
      status_ = CreateSimBackend(options_, &backend_);
    } else if (requested_ == "cuda") {
      status_ = ProbeCudaDriver(device_);
      if (status_.ok()) status_ = CreateCudaBackend(device_, addon_dir_, &backend_);
    } else {  // auto: cuda when a driver, a device and the CUDA library are there, else cpu
      Status cuda = ProbeCudaDriver(device_);
      if (cuda.ok()) cuda = CreateCudaBackend(device_, addon_dir_, &backend_);
      if (!cuda.ok()) {
        fallback_reason_ = cuda.message;
        status_ = CreateCpuBackend(options_, &backend_);
      }
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (!status_.ok()) {
      deferred_.Reject(MakeError(env, status_).Value());
      return;
    }
    Napi::Object obj = GetAddonData(env)->context_ctor.New({});
    TagNative(env, obj, NativeKind::kContext);
    try {
      const cpu::CpuSwitches switches = cpu::CpuSwitchesFrom(
          [](const void* o, const char* name) { return static_cast<const BackendOptions*>(o)->Env(name); }, &options_);
      ContextWrap::Unwrap(obj)->Attach(env, std::move(backend_), fallback_reason_, switches);
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
      return;
    } catch (const std::exception& e) {  // the stream's thread would not start
      deferred_.Reject(MakeError(env, CouldNotStart("the context's stream thread", e)).Value());
      return;
    }
    deferred_.Resolve(obj);
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::string requested_;
  int device_;
  BackendOptions options_;
  std::string addon_dir_;
  Status status_;
  std::shared_ptr<Backend> backend_;
  std::string fallback_reason_;
};

}  // namespace

// openContext(backend: 'auto'|'cpu'|'sim'|'cuda', device: number, {cpuIsa, threads, simSms}) → Promise<NativeContext>
Napi::Value OpenContext(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string backend = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  if (backend != "auto" && backend != "cpu" && backend != "sim" && backend != "cuda")
    ThrowArg(env, StatusCode::kArgument, "open", "backend", "one of 'auto', 'cuda', 'cpu', 'sim'",
             DescribeValue(info[0]));
  double device = info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : -1;
  if (!(device >= 0 && device < 1024 && device == static_cast<int>(device)))
    ThrowArg(env, StatusCode::kArgument, "open", "device", "a CUDA device ordinal, an integer in 0..1023",
             DescribeValue(info[1]));
  BackendOptions options;
  if (info[2].IsObject()) {
    Napi::Object o = info[2].As<Napi::Object>();
    if (o.Get("cpuIsa").IsString()) options.cpu_isa = o.Get("cpuIsa").As<Napi::String>().Utf8Value();
    if (o.Get("cpuIsaSource").IsString())
      options.cpu_isa_source = o.Get("cpuIsaSource").As<Napi::String>().Utf8Value() == "cpuIsa" ? "cpuIsa" : "SPARQ_CPU_ISA";
    if (o.Get("threads").IsNumber()) options.threads = o.Get("threads").As<Napi::Number>().Int32Value();
    if (o.Get("simSms").IsNumber()) options.sim_sms = o.Get("simSms").As<Napi::Number>().Int32Value();
    // The SPARQ_* variables TypeScript read from process.env: every native reader for this context
    // takes them from here (BackendOptions::env says why).
    if (o.Get("env").IsObject()) {
      const Napi::Object e = o.Get("env").As<Napi::Object>();
      const Napi::Array keys = e.GetPropertyNames();
      options.env_given = true;
      for (uint32_t i = 0; i < keys.Length(); ++i) {
        const Napi::Value k = keys.Get(i), v = e.Get(k);
        if (k.IsString() && v.IsString()) options.env.emplace_back(k.As<Napi::String>().Utf8Value(), v.As<Napi::String>().Utf8Value());
      }
    }
    if (o.Get("simMemoryBytes").IsNumber()) {
      const double v = o.Get("simMemoryBytes").As<Napi::Number>().DoubleValue();
      if (v >= 1 && v <= 9007199254740991.0) options.sim_memory_bytes = static_cast<size_t>(v);
    }
  }
  auto* worker = new OpenWorker(env, backend, static_cast<int>(device), std::move(options), GetAddonData(env)->addon_dir);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace sparq::binding
