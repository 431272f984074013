// native/sim/comm_sim.cc: comm.allreduceRmsnorm on the sim backend: the ranks meet in POSIX shared
// memory as on the cpu backend (runtime/shm_comm.h), every rank's slot is copied into this rank's
// staging (what an all-gather over NCCL or CUDA IPC would deliver on a GPU), and the CUDA kernel
// allreduce_gathered_rmsnorm_kernel (cuda/kernels/allreduce_gathered.cuh, through the launch plan
// of cuda/comm_plan.cuh) sums, adds the residual and normalizes on the simulator. Same bits as
// a group and as the cpu comm, so cpu and sim ranks may share one comm.
#include <cstring>
#include <vector>

#include "cuda/comm_plan.cuh"
#include "runtime/shm_comm.h"
#include "sim/allreduce_sim.h"
#include "sim/sim_target.h"
#include "sparq/comm.h"
#include "sparq/sim.h"

namespace sparq::sim {

Status CommAllreduceRmsnorm(const CommAllreduceRmsnormArgs& a, const SimOptions& options, LaunchInfo* info) {
  if (info) *info = LaunchInfo{};
  auto* comm = static_cast<comm::ShmComm*>(a.comm);
  const size_t elements = size_t(a.tokens) * size_t(a.hidden);
  std::vector<uint16_t> staging;
  // Copy the slots out while they are held, then let the peers go on before the kernel runs.
  Status s = comm->Exchange(a.x, elements * 2, a.tokens, a.hidden, [&](const std::vector<const void*>& slots) {
    staging.resize(slots.size() * elements);
    for (size_t q = 0; q < slots.size(); ++q) std::memcpy(staging.data() + q * elements, slots[q], elements * 2);
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return CommGatheredRmsnorm(ar::GatheredFrom(a, staging.data(), comm->rank(), comm->size()), options, info);
}

Status CommGatheredRmsnorm(const ar::GatheredCall& call, const SimOptions& options, LaunchInfo* info) {
  SimTarget target(options);
  return ar::RunGathered(call, target, info);
}

}  // namespace sparq::sim
