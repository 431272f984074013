// native/tests/pool_policy_test.cc: SPARQ_CUDA_POOL_RELEASE_BYTES as the cuda backend reads it
// (native/cuda/pool_policy.h) — unset keeps every freed byte without overriding anyone, a byte
// count overrides, and anything else fails the open with an error naming the variable.
#include <cstdint>
#include <limits>
#include <string>

#include "cuda/pool_policy.h"
#include "sim_test_util.h"

using sparq_test::Check;
using sparq::cuda::PoolPolicy;
using sparq::cuda::PoolPolicyFrom;

namespace {

constexpr uint64_t kAll = std::numeric_limits<uint64_t>::max();

void Accepts(const char* value, uint64_t threshold, bool from_env) {
  PoolPolicy p;
  p.release_threshold = 12345;  // poisoned: the parse must set both fields
  p.from_env = !from_env;
  const sparq::Status s = PoolPolicyFrom(value, &p);
  const std::string name = std::string("PoolPolicyFrom(") + (value ? "'" + std::string(value) + "'" : "unset") + ")";
  Check(s.ok() && p.release_threshold == threshold && p.from_env == from_env,
        name + ": threshold " + std::to_string(threshold) + (from_env ? ", from the env" : ", the default"),
        "status '%s', threshold %llu, from_env %d", s.message.c_str(), (unsigned long long)p.release_threshold,
        int(p.from_env));
}

void Refuses(const char* value) {
  PoolPolicy p;
  const sparq::Status s = PoolPolicyFrom(value, &p);
  const std::string want = std::string("SPARQ_CUDA_POOL_RELEASE_BYTES must be a byte count (an integer from 0 to 2^64 - 1), got '") +
                           value + "'";
  Check(s.code == sparq::StatusCode::kArgument && s.argument == "SPARQ_CUDA_POOL_RELEASE_BYTES" && s.message == want,
        std::string("PoolPolicyFrom('") + value + "'): SparqArgumentError naming the variable", "got code %d '%s'",
        int(s.code), s.message.c_str());
}

}  // namespace

int main() {
  Accepts(nullptr, kAll, false);
  Accepts("", kAll, false);
  Accepts("0", 0, true);
  Accepts("1048576", 1048576, true);
  Accepts("007", 7, true);
  Accepts("18446744073709551615", kAll, true);
  for (const char* bad : {"-1", "1e9", "1 GiB", " 5", "5 ", "0x10", "18446744073709551616", "99999999999999999999",
                          "123456789012345678901", "all"})
    Refuses(bad);
  return sparq_test::Summary();
}
