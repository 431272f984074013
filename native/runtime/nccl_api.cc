// runtime/nccl_api.cc: see nccl_api.h.
#include "runtime/nccl_api.h"

#include <dlfcn.h>

#include <mutex>
#include <type_traits>

#include "runtime/nccl_probe.h"

namespace sparq::nccl {

std::string Api::Describe(Result r, void* comm) const {
  std::string s = get_error_string ? get_error_string(r) : "NCCL error " + std::to_string(r);
  const char* last = comm && get_last_error ? get_last_error(comm) : nullptr;
  if (last && *last) s += std::string(": ") + last;
  return s;
}

Status Load(const std::string& forced, const Api** out) {
  static std::mutex mu;
  static Api api;
  static bool loaded = false;
  std::lock_guard<std::mutex> lk(mu);
  if (loaded) {
    if (!forced.empty() && forced != api.path)
      return Status::Error(StatusCode::kBackend, "nccl: this process already uses " + api.path + ", not SPARQ_NCCL_PATH=" + forced +
                                                     " (one NCCL per process)");
    *out = &api;
    return Status::Ok();
  }
  ProbeResult probe;
  Status s = Probe(&probe, forced.empty() ? nullptr : forced.c_str());
  if (!s.ok()) return s;
  void* lib = dlopen(probe.path.c_str(), RTLD_NOW | RTLD_LOCAL);  // the probe's handle, counted again
  if (!lib) return Status::Error(StatusCode::kBackend, "nccl: " + probe.path + " no longer loads");
  Api a;
  a.path = probe.path;
  a.version = probe.version;
  a.fake = dlsym(lib, "sparq_fake_nccl") != nullptr;
  std::string missing;
  auto resolve = [&](auto** fn, const char* name) {
    *fn = reinterpret_cast<std::remove_pointer_t<decltype(fn)>>(dlsym(lib, name));
    if (*fn == nullptr) missing += (missing.empty() ? "" : ", ") + std::string(name);
  };
  resolve(&a.get_unique_id, "ncclGetUniqueId");
  resolve(&a.comm_init_rank_config, "ncclCommInitRankConfig");
  resolve(&a.comm_get_async_error, "ncclCommGetAsyncError");
  resolve(&a.comm_abort, "ncclCommAbort");
  resolve(&a.comm_destroy, "ncclCommDestroy");
  resolve(&a.all_gather, "ncclAllGather");
  resolve(&a.get_error_string, "ncclGetErrorString");
  resolve(&a.get_last_error, "ncclGetLastError");
  a.comm_split = reinterpret_cast<decltype(a.comm_split)>(dlsym(lib, "ncclCommSplit"));  // optional
  if (!missing.empty())
    return Status::Error(StatusCode::kBackend, "nccl: " + probe.path + " lacks " + missing + " (NCCL >= 2.18 has them)");
  api = a;
  loaded = true;
  *out = &api;
  return Status::Ok();
}

}  // namespace sparq::nccl
