// binding/half_binding.cc: toF16 / fromF16 / toBF16 / fromBF16 — synchronous, SIMD conversions
// (ISA from SPARQ_CPU_ISA as JS sees it at each call, so tests can exercise every path in one process).
#include <cstdlib>

#include "binding/args.h"
#include "binding/errors.h"
#include "sparq/cpu.h"

namespace sparq::binding {
namespace {

// The ISA comes from the caller (src/half.ts passes SPARQ_CPU_ISA as JS sees it).
cpu::Isa IsaForCall(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string forced = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
  cpu::Isa isa;
  Status s = cpu::ResolveIsa(forced.c_str(), &isa);
  if (!s.ok()) ThrowStatus(env, s);
  return isa;
}

template <typename Src, typename Dst, typename Fn>
Napi::Value Convert(const Napi::CallbackInfo& info, const char* op, napi_typedarray_type src_type,
                    const char* src_name, Fn fn) {
  Napi::Env env = info.Env();
  Napi::Value v = info[0];
  if (!v.IsTypedArray()) ThrowArg(env, StatusCode::kArgument, op, "data", std::string("a ") + src_name, DescribeValue(v));
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  if (ta.TypedArrayType() != src_type)
    ThrowArg(env, StatusCode::kDType, op, "data", std::string("a ") + src_name, DescribeValue(v));
  cpu::Isa isa = IsaForCall(info);
  size_t n = ta.ElementLength();
  const Src* src = reinterpret_cast<const Src*>(TypedArrayBytes(ta));
  Napi::ArrayBuffer ab = NewResultBuffer(env, n * sizeof(Dst), op, "data", "the converted array");
  Napi::TypedArrayOf<Dst> out = Napi::TypedArrayOf<Dst>::New(env, n, ab, 0);
  fn(src, out.Data(), n, isa);
  return out;
}

}  // namespace

Napi::Value ToF16(const Napi::CallbackInfo& info) {
  return Convert<float, uint16_t>(info, "toF16", napi_float32_array, "Float32Array", cpu::F32ToF16);
}
Napi::Value FromF16(const Napi::CallbackInfo& info) {
  return Convert<uint16_t, float>(info, "fromF16", napi_uint16_array, "Uint16Array of fp16 bits", cpu::F16ToF32);
}
Napi::Value ToBF16(const Napi::CallbackInfo& info) {
  return Convert<float, uint16_t>(info, "toBF16", napi_float32_array, "Float32Array", cpu::F32ToBF16);
}
Napi::Value FromBF16(const Napi::CallbackInfo& info) {
  return Convert<uint16_t, float>(info, "fromBF16", napi_uint16_array, "Uint16Array of bf16 bits", cpu::BF16ToF32);
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
  o.Set("defaultThreads", cpu::DefaultThreadCount());
  return o;
}

}  // namespace sparq::binding
