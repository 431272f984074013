// sparq/comm.h: allreduceRmsnorm across ranks that live in other worker_threads or processes of
// this machine (`sq.comm`): each rank runs this op on its own context with its own x and residual
// and gets its own out and residual_out; the ranks meet through the comm (runtime/shm_comm.h on
// the cpu backend: a POSIX shared-memory segment). Same contract as sparq/allreduce.h.
#pragma once
#include <cstddef>
#include <cstdint>

#include "sparq/allreduce.h"
#include "sparq/ops.h"

namespace sparq {

struct CommAllreduceRmsnormArgs {
  static constexpr const char* kOpName = "comm.allreduceRmsnorm";
  static constexpr int64_t kMaxM = kMaxIndexDim, kMaxN = allreduce::kMaxHidden, kMaxK = kMaxIndexDim;
  void* comm = nullptr;               // the backend's comm object (cpu: comm::ShmComm*)
  const uint16_t* x = nullptr;        // [tokens][hidden], this rank's partial
  const uint16_t* residual = nullptr;
  const uint16_t* gamma = nullptr;    // [hidden]
  uint16_t* out = nullptr;
  uint16_t* residual_out = nullptr;   // may be residual (in place)
  int64_t tokens = 0, hidden = 0;
  float eps = 0.0f;
  int32_t reserved = 0;
};
SPARQ_ASSERT_ABI_LAYOUT(CommAllreduceRmsnormArgs, 72);
static_assert(offsetof(CommAllreduceRmsnormArgs, tokens) == 48 && offsetof(CommAllreduceRmsnormArgs, eps) == 64,
              "CommAllreduceRmsnormArgs layout");

}  // namespace sparq
