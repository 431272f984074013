// binding/args.h: the argument checks every Parse<Op>Args uses, each throwing the typed error of
// DESIGN.md's table with "<op>: <argument> must be <expected>, got <received>".
#pragma once
#include <napi.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "formats/host_buffers.h"
#include "formats/host_parallel.h"
#include "sparq/dtype.h"

namespace sparq::binding {

class TensorWrap;
class ContextCore;

using Shape = std::vector<int64_t>;
std::string ShapeToString(const Shape& shape);
int64_t ShapeElements(const Shape& shape);

// An array of 1..8 positive safe integers.
Shape ParseShape(const Napi::Value& v, const std::string& op, const std::string& argument);
DType ParseDType(const Napi::Value& v, const std::string& op, const std::string& argument);
// A typed array whose kind matches dtype (f16/bf16 ← Uint16Array, f32 ← Float32Array, i8 ← Int8Array,
// u8 ← Uint8Array, i32 ← Int32Array). name_dtype: the caller chose the dtype (tensor, read), so the
// error says "for dtype 'u8'"; a weight preparation's arrays have fixed kinds, and it does not.
Napi::TypedArray ParseTypedArrayFor(const Napi::Value& v, DType dtype, const std::string& op, const std::string& argument,
                                    bool name_dtype = false);
// "a Uint16Array (fp16 bits)", "an Int8Array" …: f16's names Float16Array too where this runtime has one.
std::string ArrayExpectation(Napi::Env env, DType dtype);
// DescribeValue, but a sparq weight reads "a w4a16 weight" and a tensor "a Tensor" (both are
// plain objects to DescribeValue): what a caller who passed the wrong kind of sparq object sees.
std::string DescribeSparqObject(const Napi::Value& v);
// "a"/"an" + noun, by how it is read out: "an Int8Array", "an f32 tensor", "a Uint8Array", "a bf16 tensor".
std::string WithArticle(const std::string& noun);
// A live tensor of `ctx`; `allowed` null means any dtype.
TensorWrap* ParseTensor(const Napi::Value& v, ContextCore* ctx, const std::string& op, const std::string& argument,
                        const DType* required_dtype);
// undefined/null → nullptr, else ParseTensor.
TensorWrap* ParseOptionalTensor(const Napi::Value& v, ContextCore* ctx, const std::string& op,
                                const std::string& argument, const DType* required_dtype);
// The first byte of ta's elements (its byte offset applied), for any backing store: ta.ArrayBuffer()
// throws a plain "Invalid argument" Error on a SharedArrayBuffer. Asked of the engine now, with the
// array's length: ta.ElementLength() is the length node-addon-api stored when ta was made, and user
// code run since (a getter on a later argument, e.g. in a shape array) may have transferred or shrunk
// the buffer — then SparqArgumentError naming `argument`, never a read past its end (2026-12-05: a
// SIGSEGV, or a tensor built from bytes past a shrunk array). Null when ta has no elements.
const uint8_t* TypedArrayBytes(const Napi::TypedArray& ta, const std::string& op, const std::string& argument);
// True when ta's buffer was detached (transferred with postMessage / structuredClone).
bool IsDetached(const Napi::TypedArray& ta);
// SparqArgumentError "<op>: <argument> must be an array whose buffer is not detached …, got <received>".
[[noreturn]] void ThrowDetached(Napi::Env env, const std::string& op, const std::string& argument, const std::string& received);
// SparqOutOfMemoryError "<op>: out of host memory for <what> (<bytes> bytes)", naming `argument`.
[[noreturn]] void ThrowOutOfHostMemory(Napi::Env env, const std::string& op, const std::string& argument, size_t bytes,
                                       const std::string& what);
// A result's ArrayBuffer; where the host has no room for it, SparqOutOfMemoryError as above (not
// V8's fatal out-of-memory abort). Large ones only are checked first (see args.cc).
Napi::ArrayBuffer NewResultBuffer(Napi::Env env, size_t bytes, const std::string& op, const std::string& argument,
                                  const std::string& what);
// Elements copied for the stream worker to own: plain storage the copy fills, on several threads
// (formats::ParallelCopy), where a std::vector's range constructor or assign copies on one.
template <typename T>
class HostCopy {
 public:
  explicit HostCopy(size_t count) : data_(count ? new T[count] : nullptr), size_(count) {}
  T* data() { return data_.get(); }
  size_t size() const { return size_; }
  void reset() {  // frees the copy once its consumer is done with it
    data_.reset();
    size_ = 0;
  }

 private:
  std::unique_ptr<T[]> data_;
  size_t size_;
};

// Threads for a copy on the JS thread: the context's weight-preparation threads (its `threads` on
// cpu), at most 4 — past that a copy is bound by memory, not cores.
int HostCopyThreads(ContextCore& ctx);

// The elements of `ta` as T (its kind was checked by the caller): a copy the stream worker can own
// while the caller reuses its array at once. Out of host memory: SparqOutOfMemoryError naming
// `op` and `argument` (the process and context stay usable).
template <typename T>
std::shared_ptr<HostCopy<T>> CopyTypedArray(const Napi::TypedArray& ta, ContextCore& ctx, const std::string& op,
                                            const std::string& argument) {
  const T* p = reinterpret_cast<const T*>(TypedArrayBytes(ta, op, argument));
  const size_t count = p == nullptr ? 0 : ta.ElementLength();
  std::shared_ptr<HostCopy<T>> copy;
  try {
    copy = std::make_shared<HostCopy<T>>(count);
  } catch (const std::bad_alloc&) {
    ThrowOutOfHostMemory(ta.Env(), op, argument, count * sizeof(T), "a copy of " + argument);
  }
  formats::AdviseHugePages(copy->data(), count * sizeof(T));  // a weight's 4 KiB faults were most of the copy
  formats::ParallelCopy(copy->data(), p, count * sizeof(T), HostCopyThreads(ctx));
  return copy;
}
// ta must hold `want` elements: SparqShapeError "<op>: <argument> must be <want> elements (<what>)".
void CheckLength(Napi::Env env, const std::string& op, const std::string& argument, const Napi::TypedArray& ta,
                 int64_t want, const std::string& what);
// Bytes for shape × dtype, or SparqOutOfMemoryError if it cannot even be represented.
size_t ShapeBytes(const Napi::Env& env, const Shape& shape, DType dtype, const std::string& op);

}  // namespace sparq::binding
