// binding/weight.h: NativeWeight, the one native wrapper of packed weights of every kind (w4a16
// now; sparse and int8 next). A weight is a few backend buffers ("parts") in the layout the
// context's backend reads (Backend::WeightLayout) plus a WeightFormat that knows the kind: its
// dims for info(), what read() returns, and how to unpack host copies of the parts into it.
// Each op's binding defines its format and packs with CreateWeightAsync; matmuls take the weight
// with ParseWeight. The JS class family (src/weight.ts) mirrors this: PackedWeight + one subclass.
#pragma once
#include <napi.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "binding/context_core.h"
#include "binding/context_owned.h"

namespace sparq::binding {

// A host array read() returns: allocated on the JS thread, filled on the stream worker.
struct WeightReadField {
  std::string name;            // property of the object read() resolves with, e.g. "codes"
  napi_typedarray_type type;   // napi_uint8_array, napi_uint16_array, ...
  size_t elements;
};

// For a WeightFormat that copies its kind's packed struct for the dims: frees a vector's storage.
// clear() keeps the capacity, and a format lives as long as the JS wrapper (past dispose(), until
// a GC finalizes it), so the packed bytes' copy would stay, unseen by V8's external-memory count.
template <typename V>
void ReleaseStorage(V& v) {
  V().swap(v);
}

class WeightFormat {
 public:
  virtual ~WeightFormat() = default;
  virtual const char* kind() const = 0;  // "w4a16": the op namespace; src/weight.ts picks the class by it
  virtual int64_t n() const = 0;
  virtual int64_t k() const = 0;
  virtual PackedLayout layout() const = 0;
  // Kind-specific properties for info() beyond kind, n, k, bytes, layout.
  virtual void Describe(Napi::Env env, Napi::Object info) const = 0;
  virtual std::vector<WeightReadField> ReadFields() const = 0;
  // On the stream worker: parts are host copies of the weight's buffers (in order; the format may
  // take them over), empty where ReadsPart said no; write each field's elements to fields[i]
  // (sized per ReadFields), on up to `threads` threads (WeightPackThreads).
  virtual Status Unpack(std::vector<std::vector<uint8_t>>& parts, const std::vector<void*>& fields, int threads) const = 0;
  // Whether Unpack needs part `index` (a part kept only for the kernels, such as the cpu row lists
  // of a sparse weight, is not copied back to the host for a read).
  virtual bool ReadsPart(size_t index) const {
    (void)index;
    return true;
  }
};

class WeightWrap : public Napi::ObjectWrap<WeightWrap>, public ContextOwnedHandle {
 public:
  static Napi::Function Define(Napi::Env env);
  static Napi::Object Create(Napi::Env env, Napi::Object ctx_object, ContextCore* ctx,
                             std::shared_ptr<const WeightFormat> format, std::vector<std::shared_ptr<Buffer>> parts);
  explicit WeightWrap(const Napi::CallbackInfo& info);
  void Finalize(Napi::Env env) override;

  bool disposed() const { return parts_.empty(); }
  const WeightFormat& format() const { return *format_; }
  const std::shared_ptr<const WeightFormat>& format_ptr() const { return format_; }
  const std::vector<std::shared_ptr<Buffer>>& parts() const { return parts_; }

 private:
  Napi::Value Read(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value GetDisposed(const Napi::CallbackInfo& info);
  void FreeMemory() override { parts_.clear(); }

  std::shared_ptr<const WeightFormat> format_;
  std::vector<std::shared_ptr<Buffer>> parts_;
  size_t bytes_ = 0;
};

// The weight argument of `op`: a live NativeWeight of `kind` from this context; otherwise the
// typed error (a Promise gets "missing await?"). `expected` describes it, e.g. "a W4A16Weight
// (from w4a16.quantize or w4a16.fromCodes)".
WeightWrap* ParseWeight(const Napi::Value& v, ContextCore* ctx, const std::string& op, const char* kind,
                        const std::string& expected);

// Threads a weight's `pack` may use (formats/host_parallel.h): the op threads on the cpu backend
// (what `open({ threads })` asked for); on cuda and sim, whose op threads are not the CPU's, the
// host's cores (SPARQ_THREADS when set), up to 8.
int WeightPackThreads(const Backend& backend);

// Runs `pack` on the stream worker (off the JS thread), uploads each host part it made into
// backend memory, and resolves with a NativeWeight (rejects with pack's typed error).
using WeightPackFn =
    std::function<Status(std::vector<std::vector<uint8_t>>* parts, std::shared_ptr<const WeightFormat>* format)>;
Napi::Promise CreateWeightAsync(Napi::Env env, Napi::Object ctx_object, ContextCore* ctx, const std::string& op,
                                WeightPackFn pack);

}  // namespace sparq::binding
