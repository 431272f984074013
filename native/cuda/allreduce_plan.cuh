// native/cuda/allreduce_plan.cuh: the launch plan of group.allreduceRmsnorm (kernels/
// allreduce_rmsnorm.cuh), shared by the nvcc launcher (cuda/allreduce.cu) and the simulator's
// (sim/allreduce_sim.cc): the algorithm, the CTAs per rank, the block and the workspace carve exist
// only here. Its targets differ from cuda/launch_target.h in two ways: Launch takes the buffer list
// as a vector (the number of rank buffers varies) and launches COOPERATIVELY: every CTA of the grid
// resident at once (the ranks' CTAs wait on each other), or a kDevice failure, never a hang.
//   template <class P> Status Launch(const std::string& kernel, dim3 grid, dim3 block,
//                                    const std::vector<BufferNote>& buffers, void (*fn)(P), const P& params);
//   void ReportBytes(LaunchInfo* info) const;
#pragma once
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "cuda/kernels/allreduce_rmsnorm.cuh"
#include "cuda/launch_target.h"
#include "sparq/allreduce.h"
#include "sparq/status.h"

namespace sparq::ar {

// Auto algorithm: one-shot (every rank reads every peer's rows: R× the traffic, one barrier fewer)
// for R ≤ 2, where it moves no more than two-shot, and for a message (one rank's x) of at most this
// many bytes, where the extra barrier costs more than the extra reads; two-shot above. vLLM's
// custom all-reduce switches at 256-512 KB for 4-8 ranks (research/allreduce-rmsnorm.md §3.3).
constexpr int64_t kOneShotMaxBytes = 256 * 1024;
// Deadline of a spin-wait on the GPU: far above any wait of a healthy call (peers of one
// cooperative launch arrive within microseconds; a compute-sanitizer run within milliseconds).
constexpr uint64_t kGpuSpinTimeoutNs = 10ull * 1000 * 1000 * 1000;

// What a launcher or test sets beyond the arguments (0 = none / the plan's choice).
struct ArOverrides {
  int ctas = 0;                  // CTAs per rank (tests)
  uint64_t spin_timeout_ns = 0;  // the spin-waits' deadline: kGpuSpinTimeoutNs from the nvcc launcher;
                                 // the simulator's none (its livelock detector) unless a test sets one
};

using KernelFn = void (*)(ArParams);

struct ArPlan {
  bool two_shot = false;
  int ranks = 0, ctas = 0, threads = 0;
  uint64_t spin_timeout_ns = 0;
};

inline bool ChooseTwoShot(const AllreduceRmsnormArgs& a) {
  switch (a.algorithm) {
    case allreduce::Algorithm::kOneShot: return false;
    case allreduce::Algorithm::kTwoShot: return true;
    case allreduce::Algorithm::kAuto: break;
    case allreduce::Algorithm::kUnfused: break;  // cpu only: the binding refuses it on sim and cuda
  }
  return a.ranks > 2 && a.tokens * a.hidden * 2 > kOneShotMaxBytes;
}

// Threads per CTA: one per vector of a row, whole warps, at most kMaxThreads.
inline int BlockThreads(int64_t hidden) {
  const int64_t vecs = hidden / kVecHalves;
  return int(std::min<int64_t>(kMaxThreads, (vecs + kWarpLanes - 1) / kWarpLanes * kWarpLanes));
}

inline KernelFn PickKernel(bool two_shot) {
  return two_shot ? &allreduce_rmsnorm_kernel<true> : &allreduce_rmsnorm_kernel<false>;
}

// sm_count: the SMs the grid is sized for; max_resident_ctas: how many CTAs of this kernel and
// block fit on the device at once (occupancy × SMs; the cooperative launch needs all R·C of them).
inline Status MakePlan(const AllreduceRmsnormArgs& a, int sm_count, int max_resident_ctas, const ArOverrides& force,
                       ArPlan* plan) {
  const char* op = AllreduceRmsnormArgs::kOpName;
  if (a.ranks < 1 || a.ranks > allreduce::kMaxRanks || a.tokens < 1 || a.hidden < kVecHalves ||
      a.hidden % kVecHalves != 0 || a.epoch == 0)
    return Status::Error(StatusCode::kArgument, std::string(op) + ": ranks, tokens, hidden or epoch out of range");
  if (a.workspace == nullptr || a.workspace_bytes < allreduce::WorkspaceBytes(a.ranks, a.tokens, a.hidden))
    return Status::Error(StatusCode::kArgument,
                         std::string(op) + ": workspace must be at least " +
                             std::to_string(allreduce::WorkspaceBytes(a.ranks, a.tokens, a.hidden)) + " bytes, got " +
                             std::to_string(a.workspace_bytes),
                         "workspace");
  plan->ranks = a.ranks;
  plan->two_shot = ChooseTwoShot(a);
  plan->threads = BlockThreads(a.hidden);
  int64_t c = std::min<int64_t>({a.tokens, allreduce::kMaxCtasPerRank, std::max(1, sm_count / a.ranks)});
  if (force.ctas > 0) c = std::min<int64_t>(force.ctas, allreduce::kMaxCtasPerRank);
  c = std::min<int64_t>(c, max_resident_ctas / a.ranks);
  if (c < 1)
    return Status::Error(StatusCode::kDevice, std::string(op) + ": the device holds " +
                                                  std::to_string(max_resident_ctas) + " resident CTAs of " +
                                                  std::to_string(plan->threads) + " threads, fewer than the " +
                                                  std::to_string(a.ranks) + " ranks need at once");
  plan->ctas = int(c);
  plan->spin_timeout_ns = force.spin_timeout_ns;
  return Status::Ok();
}

inline std::string ConfigString(const ArPlan& plan) {
  return std::string(plan.two_shot ? "TWO_SHOT" : "ONE_SHOT") + " R=" + std::to_string(plan.ranks) +
         " C=" + std::to_string(plan.ctas) + " THREADS=" + std::to_string(plan.threads);
}

inline ArParams MakeParams(const AllreduceRmsnormArgs& a, const ArPlan& plan, int first_rank) {
  ArParams p{};
  for (int r = 0; r < kMaxRanks; ++r) {
    p.x[r] = a.x[r];
    p.residual[r] = a.residual[r];
    p.out[r] = a.out[r];
    p.residual_out[r] = a.residual_out[r];
  }
  unsigned char* ws = static_cast<unsigned char*>(a.workspace);
  p.gamma = a.gamma;
  p.flags = reinterpret_cast<uint32_t*>(ws);
  p.staging = reinterpret_cast<uint16_t*>(ws + allreduce::StagingOffset(a.ranks));
  p.sums = reinterpret_cast<float*>(ws + allreduce::SumsOffset(a.ranks, a.tokens, a.hidden));
  p.tokens = a.tokens;
  p.hidden = a.hidden;
  p.eps = a.eps;
  p.ranks = a.ranks;
  p.first_rank = first_rank;
  p.epoch = a.epoch;
  p.spin_timeout_ns = plan.spin_timeout_ns;
  return p;
}

// The buffers ranks first_rank..first_rank+count-1 touch (the workspace's parts named apart, each
// distinct base once: residual_out may be residual).
inline std::vector<BufferNote> Buffers(const AllreduceRmsnormArgs& a, int first_rank, int count) {
  const size_t rows = size_t(a.tokens * a.hidden * 2);
  std::vector<BufferNote> b;
  auto add = [&](const char* name, const void* base, size_t bytes) {
    for (const BufferNote& n : b)
      if (n.base == base) return;
    b.push_back(BufferNote{name, base, bytes});
  };
  static const char* const kX[] = {"x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7"};
  static const char* const kRes[] = {"residual0", "residual1", "residual2", "residual3",
                                     "residual4", "residual5", "residual6", "residual7"};
  static const char* const kOut[] = {"out0", "out1", "out2", "out3", "out4", "out5", "out6", "out7"};
  static const char* const kResOut[] = {"residual_out0", "residual_out1", "residual_out2", "residual_out3",
                                        "residual_out4", "residual_out5", "residual_out6", "residual_out7"};
  for (int r = first_rank; r < first_rank + count; ++r) {
    add(kX[r], a.x[r], rows);
    add(kRes[r], a.residual[r], rows);
    add(kResOut[r], a.residual_out[r], rows);
    add(kOut[r], a.out[r], rows);
  }
  add("gamma", a.gamma, size_t(a.hidden * 2));
  unsigned char* ws = static_cast<unsigned char*>(a.workspace);
  const int64_t staging = allreduce::StagingOffset(a.ranks), sums = allreduce::SumsOffset(a.ranks, a.tokens, a.hidden);
  add("flags", ws, size_t(staging));
  add("staging", ws + staging, size_t(sums - staging));
  add("sums", ws + sums, size_t(a.workspace_bytes - sums));
  return b;
}

// What a launch of either allreduce kernel reports (grid (ctas, ranks launched); both kernels' only
// shared memory is the two sets of fp64 warp partials).
template <class Target>
void ReportLaunch(const Target& target, const std::string& name, const std::string& config, int ctas, int grid_y,
                  int threads, LaunchInfo* info) {
  if (info == nullptr) return;
  info->kernel = name;
  info->config = config;
  info->grid_x = ctas;
  info->grid_y = grid_y;
  info->grid_z = 1;
  info->block_threads = threads;
  info->smem_bytes = int(2 * kMaxWarps * sizeof(double));
  target.ReportBytes(info);
}

// Ranks first_rank..first_rank+count-1 of the call on `target` (all of them: 0, ranks), one
// cooperative launch.
template <class Target>
Status RunPlan(const AllreduceRmsnormArgs& a, const ArPlan& plan, Target& target, LaunchInfo* info, int first_rank,
               int count) {
  const ArParams p = MakeParams(a, plan, first_rank);
  const dim3 grid(unsigned(plan.ctas), unsigned(count)), block(unsigned(plan.threads));
  const std::string name = plan.two_shot ? "allreduce_rmsnorm_kernel<TWO_SHOT>" : "allreduce_rmsnorm_kernel<ONE_SHOT>";
  Status s = target.LaunchCooperative(name, grid, block, Buffers(a, first_rank, count), PickKernel(plan.two_shot), p);
  if (!s.ok()) return s;
  ReportLaunch(target, name, ConfigString(plan), plan.ctas, count, plan.threads, info);
  return Status::Ok();
}

// ---- sq.comm (the kernel and its launch: kernels/allreduce_gathered.cuh, cuda/comm_plan.cuh) ------
// What allreduce_gathered_rmsnorm_kernel needs: this rank's tensors and a staging [ranks][tokens]
// [hidden] fp16 that the comm's transport has filled with every rank's x (its own included).
struct GatheredCall {
  const uint16_t* x = nullptr;  // this rank's (also staging[rank])
  const uint16_t* residual = nullptr;
  const uint16_t* gamma = nullptr;
  uint16_t* out = nullptr;
  uint16_t* residual_out = nullptr;  // may be residual
  const uint16_t* staging = nullptr;
  int64_t tokens = 0, hidden = 0;
  float eps = 0.0f;
  int rank = 0, ranks = 0;
};

// CTAs of the gathered kernel: a row each, up to what the device holds at once (no waits, so more
// would only queue).
inline int GatheredCtas(int64_t tokens, int sm_count) {
  return int(std::min<int64_t>(tokens, int64_t(std::max(1, sm_count)) * kMinCtasPerSm));
}

}  // namespace sparq::ar
