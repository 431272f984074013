// runtime/nccl_api.h: the part of NCCL's C API the comm's NCCL transport calls (runtime/
// comm_nccl.h), resolved with dlsym from the library nccl::Probe finds (never linked, no nccl.h:
// the types below are the 2.18 ABI, which later versions keep). Loaded once per process.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "sparq/status.h"

namespace sparq::nccl {

using Result = int;  // ncclResult_t
inline constexpr Result kSuccess = 0;
inline constexpr Result kInProgress = 7;  // a non-blocking comm's call that has not finished yet
inline constexpr int kUint8 = 1;          // ncclDataType_t ncclUint8
inline constexpr size_t kUniqueIdBytes = 128;

struct UniqueId {
  char internal[kUniqueIdBytes];
};

// ncclConfig_t as of 2.17/2.18 (ncclConfig_v21700). A newer NCCL reads `size` bytes of it and
// fills what an older `version` lacks with its defaults, so this stays valid.
struct Config {
  size_t size = sizeof(Config);
  unsigned int magic = 0xcafebeef;
  unsigned int version = 21800;    // NCCL_VERSION(2, 18, 0)
  int blocking = INT32_MIN;        // NCCL_CONFIG_UNDEF_INT
  int cga_cluster_size = INT32_MIN;
  int min_ctas = INT32_MIN;
  int max_ctas = INT32_MIN;
  const char* net_name = nullptr;  // NCCL_CONFIG_UNDEF_PTR
  int split_share = INT32_MIN;
};

struct Api {
  std::string path;
  int version = 0;
  // The test double (native/tests/fixtures/nccl_double.cc, which exports sparq_fake_nccl): it copies with
  // memcpy, so only sim ranks (host memory) may use it, and only it.
  bool fake = false;
  Result (*get_unique_id)(UniqueId* id) = nullptr;
  Result (*comm_init_rank_config)(void** comm, int nranks, UniqueId id, int rank, Config* config) = nullptr;
  Result (*comm_get_async_error)(void* comm, Result* async_error) = nullptr;
  Result (*comm_abort)(void* comm) = nullptr;
  Result (*comm_destroy)(void* comm) = nullptr;
  Result (*all_gather)(const void* send, void* recv, size_t count, int datatype, void* comm, void* stream) = nullptr;
  // ncclCommSplit (2.18+): the hierarchical form's per-shard comms. Optional: null where the library
  // lacks it, and then every comm stays flat.
  Result (*comm_split)(void* comm, int color, int key, void** newcomm, Config* config) = nullptr;
  const char* (*get_error_string)(Result r) = nullptr;
  const char* (*get_last_error)(void* comm) = nullptr;

  // "ncclRemoteError: <ncclGetLastError>" for a failed call.
  std::string Describe(Result r, void* comm) const;
};

// Probe (runtime/nccl_probe.h; `forced` as there), then every symbol above; the same Api for the
// process's lifetime. kBackend naming what is missing, or when NCCL is already loaded from another
// path than a non-empty `forced`.
Status Load(const std::string& forced, const Api** out);

}  // namespace sparq::nccl
