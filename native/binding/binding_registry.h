// binding/binding_registry.h: how an op's binding file adds its functions to the addon's exports
// without an edit to addon.cc — one line at the end of the file:
//
//   SPARQ_REGISTER_BINDING(RegisterW4A16);   // void RegisterW4A16(Napi::Env, Napi::Object exports)
//
// Binding files are compiled straight into the addon (cmake-js and node-gyp alike, never through
// a static library whose unreferenced objects the linker would drop), so each registrar runs at
// load, before Init calls RegisterAllBindings.
#pragma once
#include <napi.h>

namespace sparq::binding {

using RegisterBindingFn = void (*)(Napi::Env env, Napi::Object exports);

struct BindingRegistrar {
  explicit BindingRegistrar(RegisterBindingFn fn);
};

// Calls every registered function (Init, once per environment).
void RegisterAllBindings(Napi::Env env, Napi::Object exports);

}  // namespace sparq::binding

#define SPARQ_REGISTER_BINDING(fn) \
  static const ::sparq::binding::BindingRegistrar sparq_binding_registrar_##fn(&fn)
