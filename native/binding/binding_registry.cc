#include "binding/binding_registry.h"

#include <vector>

namespace sparq::binding {
namespace {

// Function-local: registrars in other files may run before this file's statics are initialized.
std::vector<RegisterBindingFn>& Registered() {
  static std::vector<RegisterBindingFn> fns;
  return fns;
}

}  // namespace

BindingRegistrar::BindingRegistrar(RegisterBindingFn fn) { Registered().push_back(fn); }

void RegisterAllBindings(Napi::Env env, Napi::Object exports) {
  for (RegisterBindingFn fn : Registered()) fn(env, exports);
}

}  // namespace sparq::binding
