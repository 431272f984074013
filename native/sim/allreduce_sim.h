// native/sim/allreduce_sim.h: test hooks of group.allreduceRmsnorm on the simulator
// (sim/allreduce_sim.cc), beside the op entry sim::AllreduceRmsnorm (sparq/sim.h): the plan's
// choices forced, a rank that never arrives, and ranks run as separate launches on their own host
// threads, as separate processes would run them; and sq.comm's kernel on a staging filled by hand.
#pragma once
#include <vector>

#include "cuda/allreduce_plan.cuh"
#include "sparq/allreduce.h"
#include "sparq/sim.h"

namespace sparq::sim {

struct AllreduceForce {
  int ctas = 0;                // CTAs per rank (0: the plan's)
  int launch_ranks = 0;        // launch only ranks 0..launch_ranks-1 (0: all); the others never arrive
  double spin_timeout_s = 0;   // the kernel's own spin deadline, then a trap (0: none; the
                               // simulator's livelock detector, SimOptions::timeout_s, bounds it)
};

// sim::AllreduceRmsnorm with `force` (one cooperative launch of ranks 0..launch_ranks-1).
Status AllreduceRmsnormForced(const AllreduceRmsnormArgs& args, const AllreduceForce& force,
                              const SimOptions& options, LaunchInfo* info = nullptr);

// calls[0], calls[1], … on one workspace, each rank r its own sequence of launches (grid (C, 1),
// rank r only) on its own host thread, like one process and stream per rank: rank r may start
// call i+1 while a peer still runs call i, so only the kernel's own flags order the ranks. Returns
// the first failure (a rank that fails stops; its peers then fail at their spin-waits).
Status AllreduceRmsnormRankThreads(const std::vector<AllreduceRmsnormArgs>& calls, const AllreduceForce& force,
                                   const SimOptions& options);

// comm.allreduceRmsnorm's kernel alone (sim/comm_sim.cc) on a staging the caller filled as the
// comm's transport would: what sim::AllreduceGathered runs once the ranks have exchanged x.
Status CommGatheredRmsnorm(const ar::GatheredCall& call, const SimOptions& options, LaunchInfo* info = nullptr);

}  // namespace sparq::sim
