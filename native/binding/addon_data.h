// binding/addon_data.h: per-environment state (the addon is context-aware: each worker_thread has
// its own). Holds the JS error classes src/errors.ts registers, the wrapped classes' constructors
// and the live contexts so environment teardown can stop their streams before the module unloads.
#pragma once
#include <napi.h>

#include <memory>
#include <set>
#include <string>

namespace sparq::binding {

class ContextCore;

// Live contexts of one environment; shared by the contexts so it outlives whichever goes first.
struct ContextRegistry {
  std::set<ContextCore*> live;
};

struct AddonData {
  Napi::FunctionReference error_classes[9];  // indexed by StatusCode; empty → plain Error
  Napi::FunctionReference context_ctor;
  Napi::FunctionReference tensor_ctor;
  Napi::FunctionReference weight_ctor;  // NativeWeight: packed weights of every kind
  std::shared_ptr<ContextRegistry> contexts = std::make_shared<ContextRegistry>();
  std::string addon_dir;  // where sparq.node was loaded from (libsparq_cuda.so sits beside it)
};

inline AddonData* GetAddonData(Napi::Env env) { return env.GetInstanceData<AddonData>(); }

}  // namespace sparq::binding
