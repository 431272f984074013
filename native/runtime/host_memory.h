// runtime/host_memory.h: 64-byte aligned host allocations for the cpu and sim backends.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "sparq/status.h"

namespace sparq {

inline Status HostAllocate(size_t bytes, void** ptr) {
  constexpr size_t kAlignBytes = 64;  // one cache line / one zmm load
  void* p = nullptr;
  if (posix_memalign(&p, kAlignBytes, bytes == 0 ? kAlignBytes : bytes) != 0 || p == nullptr)
    return Status::Error(StatusCode::kOutOfMemory,
                         "allocation of " + std::to_string(bytes) + " bytes of host memory failed");
  *ptr = p;
  return Status::Ok();
}

}  // namespace sparq
