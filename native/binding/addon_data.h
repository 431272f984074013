// binding/addon_data.h: per-environment state (the addon is context-aware: each worker_thread has
// its own). Holds the JS error classes src/errors.ts registers, the wrapped classes' constructors
// and the live contexts so environment teardown can stop their streams before the module unloads.
#pragma once
#include <napi.h>

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "runtime/stream.h"

namespace sparq::binding {

class ContextCore;

// The stream of a context that was garbage-collected without close(): its worker still runs what
// was queued, completions included, then releases the completion channel (`released`).
struct DrainingStream {
  std::unique_ptr<Stream> stream;
  Napi::ThreadSafeFunction tsfn;
  std::shared_ptr<std::atomic<bool>> released;
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
      draining[i].stream->StopAndJoin();  // returns at once: the worker is done
      draining[i] = std::move(draining.back());
      draining.pop_back();
    }
  }
  // Environment teardown (JS thread): the running task of each draining stream finishes, the
  // rest are dropped, and a channel its worker did not get to release is released here.
  void StopDraining() {
    for (DrainingStream& d : draining) {
      d.stream->StopAndJoin();
      if (!d.released->load(std::memory_order_acquire)) d.tsfn.Release();
    }
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
};

inline AddonData* GetAddonData(Napi::Env env) { return env.GetInstanceData<AddonData>(); }

}  // namespace sparq::binding
