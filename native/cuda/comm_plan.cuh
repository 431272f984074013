// native/cuda/comm_plan.cuh: the launch plan of comm.allreduceRmsnorm's kernel (kernels/
// allreduce_gathered.cuh): one rank of ranks that live apart, after the comm's transport has
// gathered every rank's x. Shared by the simulator (sim/comm_sim.cc) and the nvcc launcher
// (cuda/comm.cu); the block size is the group kernel's (allreduce_plan.cuh BlockThreads).
#pragma once
#include <algorithm>
#include <cstdint>
#include <string>

#include "cuda/allreduce_plan.cuh"
#include "cuda/kernels/allreduce_gathered.cuh"
#include "sparq/comm.h"

namespace sparq::ar {

// The kernel's call for the gathered op (sparq/comm.h), with `staging` where the backend put the
// host staging's copy (the simulator: the host buffer itself).
inline GatheredCall GatheredFrom(const AllreduceGatheredArgs& a, const uint16_t* staging) {
  GatheredCall c;
  c.x = a.x;
  c.residual = a.residual;
  c.gamma = a.gamma;
  c.out = a.out;
  c.residual_out = a.residual_out;
  c.staging = staging;
  c.tokens = a.tokens;
  c.hidden = a.hidden;
  c.eps = a.eps;
  c.rank = a.rank;
  c.ranks = a.ranks;
  return c;
}

// Where a contiguous gather (AllreduceGatheredArgs::peers_contiguous) starts: peers[0], after every
// peers[q] has been checked to be its row of that one array (the kernel would otherwise read rows
// that are not the peers'). Else a kArgument naming the first slot out of place.
inline Status ContiguousGather(const AllreduceGatheredArgs& a, const uint16_t** base) {
  const char* op = AllreduceGatheredArgs::kOpName;
  if (a.ranks < 1 || a.ranks > kMaxRanks || a.peers[0] == nullptr)
    return Status::Error(StatusCode::kArgument, std::string(op) + ": a contiguous gather needs peers[0], its start");
  const size_t row = size_t(a.tokens) * size_t(a.hidden);
  for (int q = 1; q < a.ranks; ++q)
    if (a.peers[q] != a.peers[0] + size_t(q) * row)
      return Status::Error(StatusCode::kArgument, std::string(op) + ": peer " + std::to_string(q) +
                                                      "'s row is not at its place in the contiguous gather");
  *base = a.peers[0];
  return Status::Ok();
}

template <class Target>
Status RunGathered(const GatheredCall& c, Target& target, LaunchInfo* info) {
  const char* op = "comm.allreduceRmsnorm";
  if (c.ranks < 1 || c.ranks > kMaxRanks || c.rank < 0 || c.rank >= c.ranks || c.tokens < 1 ||
      c.hidden < kVecHalves || c.hidden % kVecHalves != 0 || c.staging == nullptr)
    return Status::Error(StatusCode::kArgument, std::string(op) + ": rank, ranks, tokens, hidden or staging out of range");
  ArParams p{};
  p.x[c.rank] = c.x;
  p.residual[c.rank] = c.residual;
  p.out[c.rank] = c.out;
  p.residual_out[c.rank] = c.residual_out;
  p.gamma = c.gamma;
  p.staging = const_cast<uint16_t*>(c.staging);  // read only by this kernel
  p.tokens = c.tokens;
  p.hidden = c.hidden;
  p.eps = c.eps;
  p.ranks = c.ranks;
  p.first_rank = c.rank;
  const int ctas = GatheredCtas(c.tokens, target.sm_count()), threads = BlockThreads(c.hidden);
  const size_t rows = size_t(c.tokens * c.hidden * 2);
  const std::string name = "allreduce_gathered_rmsnorm_kernel";
  Status s = target.Launch(name, dim3(unsigned(ctas)), dim3(unsigned(threads)), 0,
                           {BufferNote{"x", c.x, rows}, BufferNote{"residual", c.residual, rows},
                            BufferNote{"residual_out", c.residual_out == c.residual ? nullptr : c.residual_out, rows},
                            BufferNote{"out", c.out, rows}, BufferNote{"gamma", c.gamma, size_t(c.hidden * 2)},
                            BufferNote{"staging", c.staging, rows * size_t(c.ranks)}},
                           &allreduce_gathered_rmsnorm_kernel, p);
  if (!s.ok()) return s;
  ReportLaunch(target, name, "GATHERED R=" + std::to_string(c.ranks) + " C=" + std::to_string(ctas) +
               " THREADS=" + std::to_string(threads), ctas, 1, threads, info);
  return Status::Ok();
}

}  // namespace sparq::ar
