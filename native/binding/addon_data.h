// binding/addon_data.h: per-environment state (the addon is context-aware: each worker_thread has
// its own). Holds the JS error classes src/errors.ts registers, the wrapped classes' constructors
// and the live contexts so environment teardown can stop their streams before the module unloads.
#pragma once
#include <napi.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "runtime/stream.h"

namespace sparq::binding {

class ContextCore;

// The stream of a context that was garbage-collected without close(): its worker still runs what
// was queued, completions included, then exits. The JS thread joins it and only then releases the
// completion channel (Finish), so no worker ever touches the channel after its release.
struct DrainingStream {
  std::unique_ptr<Stream> stream;
  Napi::ThreadSafeFunction tsfn;

  // JS thread. The running task finishes, any left are dropped; completions already posted are
  // still delivered (a release lets the channel drain its queue before it closes).
  void Finish() {
    stream->StopAndJoin();
    tsfn.Release();
  }
};

// Live contexts of one environment, and the draining streams of collected ones; shared by the
// contexts so it outlives whichever goes first. Environment teardown (addon.cc) stops and joins
// both: a worker left running would call into the channel after Node freed it (seen 2026-12-03:
// SIGABRT in napi_release_threadsafe_function on a detached worker while the isolate was deleted,
// 3 exits in 30 of a script that dropped its context without closing it).
struct ContextRegistry {
  std::set<ContextCore*> live;
  std::vector<DrainingStream> draining;
  bool torn_down = false;  // StopDraining ran: a context collected after it stops its stream at once

  // Joins and forgets the draining streams whose worker has returned (JS thread).
  void ReapExited() {
    for (size_t i = 0; i < draining.size();) {
      if (!draining[i].stream->Exited()) {
        ++i;
        continue;
      }
      draining[i].Finish();  // joins at once: the worker is done
      draining[i] = std::move(draining.back());
      draining.pop_back();
    }
  }
  // Environment teardown (JS thread): every draining stream is finished, exited or not.
  void StopDraining() {
    for (DrainingStream& d : draining) d.Finish();
    draining.clear();
    torn_down = true;
  }
};

struct AddonData {
  Napi::FunctionReference error_classes[9];  // indexed by StatusCode; empty → plain Error
  Napi::FunctionReference context_ctor;
  Napi::FunctionReference tensor_ctor;
  Napi::FunctionReference weight_ctor;  // NativeWeight: packed weights of every kind
  std::shared_ptr<ContextRegistry> contexts = std::make_shared<ContextRegistry>();
  std::string addon_dir;  // where sparq.node was loaded from (libsparq_cuda.so sits beside it)
  // The most elements one JS typed array may have in this runtime (src/native.ts passes
  // buffer.constants.MAX_LENGTH: 2^32 on Node 20, more on later V8s); Node 20's until it does.
  double max_typed_array_elements = 4294967296.0;
};

inline AddonData* GetAddonData(Napi::Env env) { return env.GetInstanceData<AddonData>(); }

}  // namespace sparq::binding
