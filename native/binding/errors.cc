#include "binding/errors.h"


#include "binding/addon_data.h"
#include "sparq/format_number.h"

namespace sparq::binding {

Napi::Error MakeError(Napi::Env env, const Status& status) {
  AddonData* data = GetAddonData(env);
  int index = static_cast<int>(status.code);
  Napi::Object error;
  if (data && index > 0 && index < 9 && !data->error_classes[index].IsEmpty()) {
    error = data->error_classes[index].New({Napi::String::New(env, status.message)});
  } else {
    error = Napi::Error::New(env, status.message).Value();
    error.Set("code", StatusCodeName(status.code));
  }
  if (!status.argument.empty()) error.Set("argument", status.argument);
  return Napi::Error(env, error);
}

void ThrowStatus(Napi::Env env, const Status& status) { throw MakeError(env, status); }

void ThrowArg(Napi::Env env, StatusCode code, const std::string& op, const std::string& argument,
              const std::string& expected, const std::string& received) {
  ThrowStatus(env, Status::Error(code, op + ": " + argument + " must be " + expected + ", got " + received, argument));
}

std::string DescribeValue(const Napi::Value& v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsBoolean()) return std::string("boolean ") + (v.As<Napi::Boolean>().Value() ? "true" : "false");
  if (v.IsNumber()) return "number " + FormatNumber(v.As<Napi::Number>().DoubleValue());
  if (v.IsString()) {
    std::string str = v.As<Napi::String>().Utf8Value();
    if (str.size() > 40) str = str.substr(0, 40) + "…";
    return "string \"" + str + "\"";
  }
  if (v.IsTypedArray()) {
    static const char* names[] = {"Int8Array",    "Uint8Array",   "Uint8ClampedArray", "Int16Array",
                                  "Uint16Array",  "Int32Array",   "Uint32Array",       "Float32Array",
                                  "Float64Array", "BigInt64Array", "BigUint64Array"};
    auto ta = v.As<Napi::TypedArray>();
    int t = static_cast<int>(ta.TypedArrayType());
    std::string name = (t >= 0 && t < 11) ? names[t] : "TypedArray";
    return name + "(" + std::to_string(ta.ElementLength()) + ")";
  }
  // describeValue's words (src/errors.ts): a shape [2n, 2n] said "got value" here.
  if (v.IsBigInt()) return "bigint " + v.ToString().Utf8Value();
  if (v.IsSymbol()) return "symbol";
  if (v.IsArray()) return "array of length " + std::to_string(v.As<Napi::Array>().Length());
  if (v.IsFunction()) return "function";
  if (v.IsPromise()) return "a Promise (missing await?)";
  if (v.IsObject()) {
    // A thenable from another Promise implementation is the same mistake.
    try {
      if (v.As<Napi::Object>().Get("then").IsFunction()) return "a thenable (missing await?)";
    } catch (const Napi::Error&) {
      // a getter that throws: describe it as an object; the caller's error is the one to report
    }
    return "object";
  }
  return "value";
}

Napi::Value SetErrorClasses(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  AddonData* data = GetAddonData(env);
  Napi::Object classes = info[0].As<Napi::Object>();
  for (int i = 1; i < 9; ++i) {
    Napi::Value ctor = classes.Get(StatusCodeName(static_cast<StatusCode>(i)));
    if (ctor.IsFunction()) data->error_classes[i] = Napi::Persistent(ctor.As<Napi::Function>());
  }
  // The runtime's typed array limit comes along (src/native.ts): TensorWrap::Read refuses past it,
  // where creating the array would be a fatal error rather than an exception.
  if (info[1].IsNumber() && info[1].As<Napi::Number>().DoubleValue() >= 1)
    data->max_typed_array_elements = info[1].As<Napi::Number>().DoubleValue();
  return env.Undefined();
}

}  // namespace sparq::binding
