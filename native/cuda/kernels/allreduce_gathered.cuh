// native/cuda/kernels/allreduce_gathered.cuh: sq.comm's kernel, for ranks that live apart (separate
// workers or processes): the comm's transport (runtime/comm_host.cc) has already put every rank's x
// in staging[q], so this rank only sums in rank order, adds
// its residual and normalizes — allreduce_rmsnorm.cuh's one-shot rows (NormRow) without its staging
// pass and barriers, hence the same bits as a group. A non-template __global__, so it lives in its
// own header, included by one translation unit per build (sim/comm_sim.cc, or cuda/comm.cu).
#pragma once
#include "allreduce_rmsnorm.cuh"

namespace sparq::ar {

// grid (C), one rank (first_rank; the flags are unused): no CTA waits on another, so an ordinary
// launch. Row t goes to CTA t mod C, as in the group kernel.
__global__ void __launch_bounds__(kMaxThreads, kMinCtasPerSm) allreduce_gathered_rmsnorm_kernel(const ArParams p) {
  SPARQ_SMEM(double, s_part, 2 * kMaxWarps);  // [row parity][warp]
  const int tid = int(threadIdx.x);
  const int rank = p.first_rank;
  const OwnRank own = SelectRank(p, rank);
  int parity = 0;
  for (int64_t t = blockIdx.x; t < p.tokens; t += gridDim.x, parity ^= 1)
    NormRow<false>(p, own, rank, t, s_part + parity * kMaxWarps, tid);
}

}  // namespace sparq::ar
