// native/sim/comm_sim.cc: comm.allreduceRmsnorm's kernel on the sim backend (the AllreduceGathered
// op): once the comm's transport (runtime/comm_host.h or comm_device.h — the same code as on cuda)
// has gathered every rank's x (a host staging, or the peers' slots copied into one), the CUDA
// kernel allreduce_gathered_rmsnorm_kernel (cuda/kernels/allreduce_gathered.cuh, through the launch
// plan of cuda/comm_plan.cuh) sums, adds the residual and normalizes on the simulator. Same bits as a group and as the cpu comm, so cpu, sim and cuda
// ranks may share one comm.
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "cuda/comm_plan.cuh"
#include "sim/allreduce_sim.h"
#include "sim/sim_target.h"
#include "sparq/comm.h"
#include "sparq/sim.h"

namespace sparq::sim {

Status AllreduceGathered(const AllreduceGatheredArgs& a, const SimOptions& options, LaunchInfo* info) {
  if (info) *info = LaunchInfo{};
  // Simulated device memory is host memory: the kernel reads the host transport's staging in place.
  if (a.staging != nullptr) return CommGatheredRmsnorm(ar::GatheredFrom(a, a.staging), options, info);
  if (a.peers_contiguous != 0) {  // one array in rank order (NCCL's all-gather): read in place, as on cuda
    const uint16_t* gathered = nullptr;
    Status s = ar::ContiguousGather(a, &gathered);
    return s.ok() ? CommGatheredRmsnorm(ar::GatheredFrom(a, gathered), options, info) : s;
  }
  // The device transport: the peers' slots copied into a staging first, as the cuda op copies them
  // into its workspace (so the kernel reads each peer row once, from staging, on both).
  if (a.ranks < 1 || a.ranks > allreduce::kMaxRanks || a.rank < 0 || a.rank >= a.ranks || a.tokens < 1 || a.hidden < 1)
    return Status::Error(StatusCode::kArgument, std::string(AllreduceGatheredArgs::kOpName) +
                                                    ": rank, ranks, tokens or hidden out of range");
  const size_t row = size_t(a.tokens) * size_t(a.hidden);
  std::vector<uint16_t> staging;
  try {
    staging.resize(size_t(a.ranks) * row);
  } catch (const std::bad_alloc&) {
    return Status::Error(StatusCode::kOutOfMemory, std::string(AllreduceGatheredArgs::kOpName) + ": the staging of " +
                                                       std::to_string(size_t(a.ranks) * row * 2) + " bytes");
  }
  for (int q = 0; q < a.ranks; ++q) {
    if (q == a.rank) continue;  // the kernel reads this rank's row from x
    if (a.peers[q] == nullptr)
      return Status::Error(StatusCode::kArgument, std::string(AllreduceGatheredArgs::kOpName) + ": peer " +
                                                      std::to_string(q) + "'s slot is missing");
    std::memcpy(staging.data() + size_t(q) * row, a.peers[q], row * 2);
  }
  return CommGatheredRmsnorm(ar::GatheredFrom(a, staging.data()), options, info);
}

Status CommGatheredRmsnorm(const ar::GatheredCall& call, const SimOptions& options, LaunchInfo* info) {
  SimTarget target(options);
  return ar::RunGathered(call, target, info);
}

}  // namespace sparq::sim
