// native/cuda/pool_policy.h: how much freed memory the cuda backend's allocations keep.
//
// Every cuda tensor and workspace comes from cudaMallocAsync, i.e. from the device's default
// stream-ordered pool, whose release threshold is 0 by default: at every stream, event or device
// synchronize (each read(), each synchronize()) the pool hands all its free memory back to the OS,
// and the next op's cudaMallocAsync maps it again. A decode loop (allocate outputs, read, repeat)
// paid that on every token. So a context raises the threshold to "keep everything" when it opens —
// as PyTorch's cudaMallocAsync backend does — and trims the pool when it closes, so what it freed
// goes back to the OS then. Only a threshold still at CUDA's default (0) is raised: one that another
// library in the process chose is left alone.
// SPARQ_CUDA_POOL_RELEASE_BYTES overrides it: a byte count, applied whatever was set before (0 is
// CUDA's own behaviour). Header-only and free of CUDA, so the native tests check the parsing.
#pragma once
#include <cstdint>
#include <limits>
#include <string>

#include "sparq/status.h"

namespace sparq::cuda {

inline constexpr const char* kPoolReleaseEnv = "SPARQ_CUDA_POOL_RELEASE_BYTES";

struct PoolPolicy {
  uint64_t release_threshold = std::numeric_limits<uint64_t>::max();  // keep every freed byte
  bool from_env = false;  // set by SPARQ_CUDA_POOL_RELEASE_BYTES: overrides a threshold set by others
};

// `value`: the variable's value, or null when unset. Empty counts as unset.
inline Status PoolPolicyFrom(const char* value, PoolPolicy* out) {
  *out = PoolPolicy{};
  const std::string s = value ? value : "";
  if (s.empty()) return Status::Ok();
  uint64_t bytes = 0;
  bool ok = s.size() <= 20;  // 2^64 - 1 has 20 digits
  for (char ch : s) ok = ok && ch >= '0' && ch <= '9';
  for (size_t i = 0; ok && i < s.size(); ++i) {
    const uint64_t digit = uint64_t(s[i] - '0');
    ok = bytes <= (std::numeric_limits<uint64_t>::max() - digit) / 10;
    bytes = bytes * 10 + digit;
  }
  if (!ok)
    return Status::Error(StatusCode::kArgument,
                         std::string(kPoolReleaseEnv) + " must be a byte count (an integer from 0 to 2^64 - 1), got '" +
                             s + "'",
                         kPoolReleaseEnv);
  out->release_threshold = bytes;
  out->from_env = true;
  return Status::Ok();
}

}  // namespace sparq::cuda
