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
  void* comm = nullptr;               // the comm object (comm::ShmComm*)
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

// The comm's kernel for backends whose comm kernel runs on a device (cuda, sim), after the comm's
// transport has gathered every rank's x, in one of two forms:
// - through host memory (runtime/comm_host.h): `staging`, a HOST buffer [ranks][tokens][hidden]
//   fp16 that the backend copies to the device in stream order before the kernel (it may be freed
//   once the op returns);
// - device to device (runtime/comm_device.h): `staging` null and `peers[q]` (q ≠ rank) rank q's x
//   in its comm slot, readable from this rank's device (the same device, a peer device, or an IPC
//   mapping); the backend copies them into its workspace in stream order. The peers' slots must
//   stay unchanged until this op's work has finished (the transport synchronizes before it lets
//   the peers go on).
// Then this rank's sum in rank order, residual add and RMSNorm — the contract of
// sparq/allreduce.h. The other pointers are the backend's memory.
struct AllreduceGatheredArgs {
  static constexpr const char* kOpName = "comm.allreduceRmsnorm";
  static constexpr int64_t kMaxM = kMaxIndexDim, kMaxN = allreduce::kMaxHidden, kMaxK = kMaxIndexDim;
  const uint16_t* staging = nullptr;  // host: [ranks][tokens][hidden], slot `rank` = this rank's x; or null
  const uint16_t* x = nullptr;
  const uint16_t* residual = nullptr;
  const uint16_t* gamma = nullptr;
  uint16_t* out = nullptr;
  uint16_t* residual_out = nullptr;   // may be residual (in place)
  int64_t tokens = 0, hidden = 0;
  float eps = 0.0f;
  int32_t rank = 0, ranks = 0;
  // 1: the ranks' x are one device array in rank order, peers[q] = peers[0] + q·tokens·hidden for
  // every q (NCCL's all-gather): the kernel reads them where they are. 0: separate slots, copied
  // into one first. (Was a reserved zero: the layout is unchanged.)
  int32_t peers_contiguous = 0;
  const uint16_t* peers[allreduce::kMaxRanks] = {};  // device: rank q's x (when staging is null)
};
SPARQ_ASSERT_ABI_LAYOUT(AllreduceGatheredArgs, 144);
static_assert(offsetof(AllreduceGatheredArgs, tokens) == 48 && offsetof(AllreduceGatheredArgs, eps) == 64 &&
                  offsetof(AllreduceGatheredArgs, ranks) == 72 && offsetof(AllreduceGatheredArgs, peers) == 80,
              "AllreduceGatheredArgs layout");

// The gathered op's args for a comm call of `rank` of `ranks` (staging and peers left for the
// transport to fill).
inline AllreduceGatheredArgs GatheredArgsOf(const CommAllreduceRmsnormArgs& a, int32_t rank, int32_t ranks) {
  AllreduceGatheredArgs g;
  g.x = a.x;
  g.residual = a.residual;
  g.gamma = a.gamma;
  g.out = a.out;
  g.residual_out = a.residual_out;
  g.tokens = a.tokens;
  g.hidden = a.hidden;
  g.eps = a.eps;
  g.rank = rank;
  g.ranks = ranks;
  return g;
}

}  // namespace sparq
