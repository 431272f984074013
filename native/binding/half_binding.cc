// binding/half_binding.cc: toF16 / fromF16 / toBF16 / fromBF16 — synchronous, SIMD conversions
// (ISA from SPARQ_CPU_ISA as JS sees it at each call, so tests can exercise every path in one process).
#include <cstdlib>

#include "binding/args.h"
#include "binding/errors.h"
#include "sparq/cpu.h"

namespace sparq::binding {
namespace {

// The ISA comes from the caller (src/half.ts passes SPARQ_CPU_ISA as JS sees it). A bad value is the
// call's error, so it names the call as every other error does ("toF16: SPARQ_CPU_ISA must be …").
cpu::Isa IsaForCall(const Napi::CallbackInfo& info, const char* op) {
  Napi::Env env = info.Env();
  std::string forced = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
  cpu::Isa isa;
  Status s = cpu::ResolveIsa(forced.c_str(), &isa);
  if (!s.ok()) {
    s.message = std::string(op) + ": " + s.message;
    ThrowStatus(env, s);
  }
  return isa;
}

// `argument` is the parameter's name in src/half.ts (values, bits), so errors name what the caller passed.
template <typename Src, typename Dst, typename Fn>
Napi::Value Convert(const Napi::CallbackInfo& info, const char* op, const char* argument, napi_typedarray_type src_type,
                    const char* src_name, Fn fn) {
  Napi::Env env = info.Env();
  Napi::Value v = info[0];
  if (!v.IsTypedArray()) ThrowArg(env, StatusCode::kArgument, op, argument, WithArticle(src_name), DescribeValue(v));
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  if (ta.TypedArrayType() != src_type)
    ThrowArg(env, StatusCode::kDType, op, argument, WithArticle(src_name), DescribeValue(v));
  if (IsDetached(ta)) ThrowDetached(env, op, argument, "a detached " + DescribeValue(v));
  cpu::Isa isa = IsaForCall(info, op);
  size_t n = ta.ElementLength();
  const Src* src = reinterpret_cast<const Src*>(TypedArrayBytes(ta, op, argument));
  Napi::ArrayBuffer ab = NewResultBuffer(env, n * sizeof(Dst), op, argument, "the converted array");
  Napi::TypedArrayOf<Dst> out = Napi::TypedArrayOf<Dst>::New(env, n, ab, 0);
  fn(src, out.Data(), n, isa);
  return out;
}

}  // namespace

// A Float64Array (JS numbers, which src/half.ts gathers into one) rounds once from each double.
bool IsFloat64Array(const Napi::Value& v) {
  return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_float64_array;
}

Napi::Value ToF16(const Napi::CallbackInfo& info) {
  if (IsFloat64Array(info[0]))
    return Convert<double, uint16_t>(info, "toF16", "values", napi_float64_array, "Float64Array",
                                     [](const double* src, uint16_t* dst, size_t n, cpu::Isa) { cpu::F64ToF16(src, dst, n); });
  return Convert<float, uint16_t>(info, "toF16", "values", napi_float32_array, "Float32Array", cpu::F32ToF16);
}
Napi::Value FromF16(const Napi::CallbackInfo& info) {
  return Convert<uint16_t, float>(info, "fromF16", "bits", napi_uint16_array, "Uint16Array of fp16 bits", cpu::F16ToF32);
}
Napi::Value ToBF16(const Napi::CallbackInfo& info) {
  if (IsFloat64Array(info[0]))
    return Convert<double, uint16_t>(info, "toBF16", "values", napi_float64_array, "Float64Array",
                                     [](const double* src, uint16_t* dst, size_t n, cpu::Isa) { cpu::F64ToBF16(src, dst, n); });
  return Convert<float, uint16_t>(info, "toBF16", "values", napi_float32_array, "Float32Array", cpu::F32ToBF16);
}
Napi::Value FromBF16(const Napi::CallbackInfo& info) {
  return Convert<uint16_t, float>(info, "fromBF16", "bits", napi_uint16_array, "Uint16Array of bf16 bits", cpu::BF16ToF32);
}

// cpuIsa(): {best, forced} — what this CPU supports and what SPARQ_CPU_ISA asks for now.
Napi::Value CpuIsaInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("best", cpu::IsaName(cpu::BestSupportedIsa()));
  Napi::Array supported = Napi::Array::New(env);
  uint32_t i = 0;
  for (cpu::Isa isa : {cpu::Isa::kScalar, cpu::Isa::kAvx2, cpu::Isa::kAvx512})
    if (cpu::IsaSupported(isa)) supported.Set(i++, cpu::IsaName(isa));
  o.Set("supported", supported);
  // Not DefaultThreadCount: its getenv could run beside Node's setenv (a worker's JS thread), and a
  // worker's process.env need not be environ. cpuFeatures() (src/cpuFeatures.ts) adds SPARQ_THREADS.
  o.Set("hardwareThreads", cpu::HardwareThreadCount());
  return o;
}

}  // namespace sparq::binding
