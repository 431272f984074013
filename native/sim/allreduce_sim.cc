// native/sim/allreduce_sim.cc: group.allreduceRmsnorm's CUDA kernel (cuda/kernels/
// allreduce_rmsnorm.cuh) on the SIMT simulator, through the plan the nvcc launcher uses
// (cuda/allreduce_plan.cuh). The launch is cooperative like the GPU's: the simulator runs every CTA
// of the grid at once (SimOptions raised to R·C SMs and resident CTAs for it), so the ranks' flag
// protocol really executes, under the weak global memory model, across ranks.
#include <algorithm>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "cuda/allreduce_plan.cuh"
#include "sim/allreduce_sim.h"
#include "sim/sim_launch.h"
#include "sim/sim_target.h"
#include "sparq/sim.h"

namespace sparq::sim {

namespace {

// CTAs of this kernel one simulated SM holds (its launch bounds: 2 CTAs of 512 threads): what the
// plan may assume resident, like the occupancy query on a GPU.
constexpr int kSimCtasPerSm = ar::kMinCtasPerSm;

Status Plan(const AllreduceRmsnormArgs& args, const AllreduceForce& force, const SimTarget& target,
            ar::ArPlan* plan) {
  ar::ArOverrides o;
  o.ctas = force.ctas;
  o.spin_timeout_ns = uint64_t(force.spin_timeout_s * 1e9);
  const int sms = std::max(1, target.sm_count());
  return ar::MakePlan(args, sms, sms * kSimCtasPerSm, o, plan);
}

}  // namespace

Status AllreduceRmsnormForced(const AllreduceRmsnormArgs& args, const AllreduceForce& force,
                              const SimOptions& options, LaunchInfo* info) {
  SimTarget target(options);
  ar::ArPlan plan;
  Status s = Plan(args, force, target, &plan);
  if (!s.ok()) return s;
  const int count = force.launch_ranks > 0 ? std::min(force.launch_ranks, args.ranks) : args.ranks;
  return ar::RunPlan(args, plan, target, info, 0, count);
}

Status AllreduceRmsnorm(const AllreduceRmsnormArgs& args, const SimOptions& options, LaunchInfo* info) {
  return AllreduceRmsnormForced(args, AllreduceForce{}, options, info);
}

Status AllreduceRmsnormRankThreads(const std::vector<AllreduceRmsnormArgs>& calls, const AllreduceForce& force,
                                   const SimOptions& options) {
  if (calls.empty()) return Status::Ok();
  const int ranks = calls[0].ranks;
  std::vector<ar::ArPlan> plans(calls.size());
  for (size_t i = 0; i < calls.size(); ++i) {
    if (calls[i].ranks != ranks)
      return Status::Error(StatusCode::kArgument, "allreduce (sim rank threads): every call needs the same ranks");
    SimTarget target(options);
    Status s = Plan(calls[i], force, target, &plans[i]);
    if (!s.ok()) return s;
  }
  const int count = force.launch_ranks > 0 ? std::min(force.launch_ranks, ranks) : ranks;
  std::vector<Status> status(static_cast<size_t>(count));
  std::vector<std::thread> threads;
  for (int r = 0; r < count; ++r)
    threads.emplace_back([&, r] {
      for (size_t i = 0; i < calls.size(); ++i) {
        SimTarget target(options);
        status[size_t(r)] = ar::RunPlan(calls[i], plans[i], target, nullptr, r, 1);
        if (!status[size_t(r)].ok()) return;
      }
    });
  for (auto& t : threads) t.join();
  for (const Status& s : status)
    if (!s.ok()) return s;
  return Status::Ok();
}

}  // namespace sparq::sim
