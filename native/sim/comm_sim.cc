// native/sim/comm_sim.cc: comm.allreduceRmsnorm's kernel on the sim backend (the AllreduceGathered
// op): once the comm's transport (runtime/comm_host.h — the same code as on cuda) has gathered every
// rank's x into a staging, the CUDA kernel allreduce_gathered_rmsnorm_kernel (cuda/kernels/
// allreduce_gathered.cuh, through the launch plan of cuda/comm_plan.cuh) sums, adds the residual
// and normalizes on the simulator. Same bits as a group and as the cpu comm, so cpu, sim and cuda
// ranks may share one comm.
#include "cuda/comm_plan.cuh"
#include "sim/allreduce_sim.h"
#include "sim/sim_target.h"
#include "sparq/comm.h"
#include "sparq/sim.h"

namespace sparq::sim {

Status AllreduceGathered(const AllreduceGatheredArgs& a, const SimOptions& options, LaunchInfo* info) {
  if (info) *info = LaunchInfo{};
  // Simulated device memory is host memory: the kernel reads the transport's staging in place.
  return CommGatheredRmsnorm(ar::GatheredFrom(a, a.staging), options, info);
}

Status CommGatheredRmsnorm(const ar::GatheredCall& call, const SimOptions& options, LaunchInfo* info) {
  SimTarget target(options);
  return ar::RunGathered(call, target, info);
}

}  // namespace sparq::sim
