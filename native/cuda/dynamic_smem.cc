// native/cuda/dynamic_smem.cc: the dynamic shared memory opt-in (dynamic_smem.h).
//
// cudaFuncAttributeMaxDynamicSharedMemorySize belongs to the function on the device, shared by
// every context and thread of the process. Set before each launch to that launch's own size, two
// contexts on their worker threads (docs/api.md has each worker open its own) could interleave:
// A raises it to 90 KB, B lowers it to 60 KB, A's launch is refused (cudaErrorInvalidValue, which
// marks A's context lost). Raised once to the function's most, the limit never goes down, and
// launches asking for less are unaffected (it is a ceiling, not a reservation). Found by a review
// of the launch path (2026-12-03), not on a GPU: none has run this code yet.
#include "cuda/dynamic_smem.h"

#include <cuda_runtime_api.h>

#include <map>
#include <mutex>
#include <utility>

#include "cuda/cuda_status.h"

namespace sparq::cuda {

Status RaiseDynamicSmemLimit(const void* fn, size_t bytes, const std::string& kernel) {
  int device = 0;
  Status s = CudaStatus(cudaGetDevice(&device), kernel + ": cudaGetDevice");
  if (!s.ok()) return s;
  // Never destroyed: a stream worker may still launch while exit() runs the static destructors
  // (a process.exit() with an op in flight, a detached thread dropping the last handle).
  static std::mutex& mu = *new std::mutex();
  static auto& raised = *new std::map<std::pair<const void*, int>, size_t>();  // (function, device) → the limit set
  std::lock_guard<std::mutex> lock(mu);
  size_t& limit = raised[{fn, device}];
  if (bytes <= limit) return Status::Ok();
  int optin = 0;
  s = CudaStatus(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device),
                 kernel + ": cudaDeviceGetAttribute(MaxSharedMemoryPerBlockOptin)");
  if (!s.ok()) return s;
  cudaFuncAttributes attr{};
  s = CudaStatus(cudaFuncGetAttributes(&attr, fn), kernel + ": cudaFuncGetAttributes");
  if (!s.ok()) return s;
  const size_t most = size_t(optin) > attr.sharedSizeBytes ? size_t(optin) - attr.sharedSizeBytes : 0;
  // The plans size their launches within the opt-in limit; one past it is refused here, as a
  // backend limit, rather than by the runtime's kDevice (which would mark the context lost).
  if (bytes > most)
    return Status::Error(StatusCode::kBackend, kernel + ": needs " + std::to_string(bytes) +
                                                   " bytes of dynamic shared memory, this device allows " +
                                                   std::to_string(most) + " for it");
  s = CudaStatus(cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, int(most)),
                 kernel + ": cudaFuncSetAttribute(MaxDynamicSharedMemorySize, " + std::to_string(most) + ")");
  if (s.ok()) limit = most;
  return s;
}

}  // namespace sparq::cuda
