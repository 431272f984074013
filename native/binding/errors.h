// binding/errors.h: turning a sparq::Status into the JS error class of DESIGN.md's table.
#pragma once
#include <napi.h>

#include <string>

#include "sparq/status.h"

namespace sparq::binding {

Napi::Error MakeError(Napi::Env env, const Status& status);
[[noreturn]] void ThrowStatus(Napi::Env env, const Status& status);
// "<op>: <argument> must be <expected>, got <received>"
[[noreturn]] void ThrowArg(Napi::Env env, StatusCode code, const std::string& op, const std::string& argument,
                           const std::string& expected, const std::string& received);
// A short description of a JS value for "got …": `number 3.5`, `Float32Array(12)`, `undefined`.
std::string DescribeValue(const Napi::Value& v);

Napi::Value SetErrorClasses(const Napi::CallbackInfo& info);

}  // namespace sparq::binding
