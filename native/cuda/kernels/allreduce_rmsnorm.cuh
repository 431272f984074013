// native/cuda/kernels/allreduce_rmsnorm.cuh: all-reduce + residual add + RMSNorm across R ranks in
// one kernel, bit for bit the contract of sparq/allreduce.h (every fp32 step one __f*_rn, the norm's
// sum of squares and rstd in fp64 steps). Virtual ranks: the ranks' CTAs run in ONE cooperative
// launch, grid (C, R), rank = first_rank + blockIdx.y (first_rank > 0 only when a test launches
// ranks separately, as separate processes would); block = min(512, ⌈H/8⌉ rounded up to a warp).
//
// Layout (T tokens, H hidden, a "vector" = 8 fp16 = 16 B; sparq/allreduce.h has the workspace map):
//   rows     CTA b of every rank owns rows t ≡ b (mod C): the same C everywhere, so CTA b only ever
//            synchronizes with CTA b of its peers (the flags are per (phase, dest, cta, src)).
//   threads  thread tid handles vectors tid, tid + blockDim, … of each of its rows, the same in
//            every pass, so pass 2 rereads residual_out that the same thread stored in pass 1.
//   x_r      gmem [T][H] fp16 -> staging[r] [T][H] (workspace), copied by (rank r, CTA b).
//   flags    u32 [3 phases][R dest][64 cta][R src] = epoch of the call that last passed there.
//   sums     two-shot: f32 [R][T][H]: the row sums of rank q's shard rows, written by rank q into
//            every rank's sums[p]; rank p reads sums[p] only.
//   s_part   smem double [2][16]: one fp64 partial sum of squares per warp, alternating by row.
// Phases of (rank r, CTA b):
//   1 stage    x_r rows t ≡ b -> staging[r]; START barrier (thread 0 releases my flag at every
//              peer, thread q acquires peer q's flag at mine, bar.sync around it).
//   2 one-shot for rows t ≡ b: s = Σ_q x_q (staging, q = 0..R−1 in order, own from x_r) ...
//     two-shot rows t ≡ b of my shard [r·T/R, (r+1)·T/R): s as above -> sums[q][t] for every q;
//              MID barrier; then for rows t ≡ b: s = sums[r][t] ...
//     ... res = fp16(s + residual_r) -> residual_out_r; fp64 Σ res² (thread, warp butterfly, warps in
//              order); rstd; pass 2 rereads residual_out_r -> out_r = fp16((res·rstd)·gamma).
//   3 END barrier: no rank's next call overwrites staging or sums while a peer still reads them
//              (between launches on one stream the stream orders this too; separate processes need it).
// allreduce_gathered_rmsnorm_kernel (sq.comm, allreduce_gathered.cuh): phase 2 one-shot alone, on a staging
// its transport filled.
// Flags are compared for EQUALITY with the call's epoch (1, 2, …, never 0), never reset: a stale
// flag from any earlier call never matches (until 2^32 − 1 calls later). A spin that passes its
// deadline (spin_timeout_ns from %globaltimer; 0 = none: the simulator's livelock detector bounds
// it) traps: a peer that never arrives is a device error, not a hang.
#pragma once
#include <cstdint>

#include "../fp32_rn.cuh"
#include "../ptx_prims.cuh"
#include "sparq/allreduce.h"

// Full unrolling keeps the 8 sums of a vector in registers; g++ (simulator) ignores it.
#if defined(__CUDACC__)
#define SPARQ_AR_UNROLL _Pragma("unroll")
#else
#define SPARQ_AR_UNROLL
#endif

namespace sparq::ar {

// ------------------------------------------------------------------------------ tile constants
constexpr int kVecHalves = 8;                           // fp16 per 16-byte vector
constexpr int kVecWords = kVecHalves / 2;               // u32 (f16x2) per vector
constexpr int kWarpLanes = 32;
constexpr int kMaxThreads = 512;                        // per CTA; fewer when H/8 is smaller
constexpr int kMaxWarps = kMaxThreads / kWarpLanes;
// Two 512-thread CTAs per SM (≤ 64 registers): the ranks' CTAs fit twice over. Without a minimum,
// ptxas 13 aimed at 4 CTAs per SM (32 registers) and spilled.
constexpr int kMinCtasPerSm = 2;
constexpr int kMaxRanks = allreduce::kMaxRanks;
enum FlagPhase : int { kStart = 0, kMid = 1, kEnd = 2 };
static_assert(allreduce::kFlagPhases == 3, "start, middle, end");
static_assert(allreduce::kHiddenAlign == kVecHalves, "a row is whole vectors");
static_assert(kMaxRanks <= kWarpLanes, "the flag threads are lanes of warp 0");

// A vector of 8 fp16 travels as U32x4 (ptx_prims.cuh): element 2i in the low half of x[i].
static_assert(sizeof(U32x4) == kVecWords * 4, "one vector = 4 f16x2 words");
struct alignas(16) Vec4F {
  float x[4];
};

struct ArParams {
  const uint16_t* x[kMaxRanks];         // [T][H] per rank
  const uint16_t* residual[kMaxRanks];  // [T][H]
  uint16_t* out[kMaxRanks];             // [T][H]
  uint16_t* residual_out[kMaxRanks];    // [T][H], may be residual[r]
  const uint16_t* gamma;                // [H]
  uint32_t* flags;                      // workspace: FlagBytes(R)
  uint16_t* staging;                    // workspace: [R][T][H]
  float* sums;                          // workspace: [R][T][H] (two-shot)
  int64_t tokens, hidden;
  float eps;
  int ranks;
  int first_rank;                       // rank of blockIdx.y = 0
  uint32_t epoch;
  uint64_t spin_timeout_ns;             // 0: no deadline
};

// ------------------------------------------------------------------------------ device helpers
// Flag (phase, dest, cta, src): written by rank src's CTA cta, read by rank dest's (sparq/allreduce.h
// FlagIndex, which the host tests compare with this).
SPARQ_HOST_DEVICE int64_t FlagSlot(int ranks, int phase, int dest, int cta, int src) {
  return ((int64_t(phase) * ranks + dest) * allreduce::kMaxCtasPerRank + cta) * ranks + src;
}

// The smallest t ≥ lo with t ≡ b (mod c).
SPARQ_HOST_DEVICE int64_t FirstRow(int64_t lo, int64_t b, int64_t c) { return lo + ((b - lo % c) % c + c) % c; }

// This rank's own operands, picked without indexing the parameter arrays at run time (which would
// copy them to local memory).
struct OwnRank {
  const uint16_t* x;
  const uint16_t* residual;
  uint16_t* out;
  uint16_t* residual_out;
};
SPARQ_DEVICE OwnRank SelectRank(const ArParams& p, int rank) {
  OwnRank o{p.x[0], p.residual[0], p.out[0], p.residual_out[0]};
SPARQ_AR_UNROLL
  for (int q = 1; q < kMaxRanks; ++q)
    if (q == rank) o = OwnRank{p.x[q], p.residual[q], p.out[q], p.residual_out[q]};
  return o;
}

// Spin until the flag holds `epoch`; past the deadline, trap (a peer that never arrives).
SPARQ_DEVICE void WaitFlag(const uint32_t* g_flag, uint32_t epoch, uint64_t timeout_ns) {
  if (ld_acquire_sys_u32(g_flag) == epoch) return;
  const uint64_t start = globaltimer_ns();
  while (ld_acquire_sys_u32(g_flag) != epoch)
    if (timeout_ns != 0 && globaltimer_ns() - start > timeout_ns)
      trap_with_reason("allreduce: spin-wait deadline passed: the peer rank (this thread's index) never arrived");
}

// CTA b of every rank meets here: the CTA's stores so far are published to every peer, and every
// peer's stores before its arrival are visible to this CTA after it. Thread 0 signals the peers
// (one thread: its first release carries all of the CTA's stores, and the simulator's model of
// concurrent releases by several threads of one CTA can order their publication wrongly), thread
// q < R waits for peer q.
SPARQ_DEVICE void RankBarrier(const ArParams& p, int phase, int rank, int tid) {
  const int b = int(blockIdx.x);
  syncthreads();  // the CTA's stores (and reads) are done before thread 0 releases
  if (tid == 0)
    for (int q = 0; q < p.ranks; ++q) st_release_sys_u32(p.flags + FlagSlot(p.ranks, phase, q, b, rank), p.epoch);
  if (tid < p.ranks) WaitFlag(p.flags + FlagSlot(p.ranks, phase, rank, b, tid), p.epoch, p.spin_timeout_ns);
  syncthreads();  // what thread q acquired is the CTA's
}

// Phase 1: x_r's rows t ≡ b into staging[r].
SPARQ_DEVICE void StageRows(const ArParams& p, const OwnRank& own, int rank, int tid) {
  const int64_t vecs = p.hidden / kVecHalves;
  for (int64_t t = blockIdx.x; t < p.tokens; t += gridDim.x)
    for (int64_t v = tid; v < vecs; v += blockDim.x) {
      const int64_t off = t * p.hidden + v * kVecHalves;
      st_global_v4_u32(p.staging + int64_t(rank) * p.tokens * p.hidden + off, ld_global_nc_v4_u32(own.x + off));
    }
}

// s = x_0 + x_1 + … + x_{R−1} of vector v of row t, fp32, left to right (own x from x_r itself).
SPARQ_DEVICE void SumRanks(const ArParams& p, const OwnRank& own, int rank, int64_t t, int64_t v,
                           float (&s)[kVecHalves]) {
  const int64_t off = t * p.hidden + v * kVecHalves;
  for (int q = 0; q < p.ranks; ++q) {
    const U32x4 xq = q == rank ? ld_global_nc_v4_u32(own.x + off)
                               : ld_global_v4_u32(p.staging + int64_t(q) * p.tokens * p.hidden + off);
SPARQ_AR_UNROLL
    for (int w = 0; w < kVecWords; ++w) {
      float lo, hi;
      unpack_f16x2_f32(xq.x[w], lo, hi);
      s[2 * w] = q == 0 ? lo : add_rn_f32(s[2 * w], lo);
      s[2 * w + 1] = q == 0 ? hi : add_rn_f32(s[2 * w + 1], hi);
    }
  }
}

// Two-shot, phase 2a: the sums of my shard's rows t ≡ b, into every rank's sums.
SPARQ_DEVICE void ReduceShard(const ArParams& p, const OwnRank& own, int rank, int tid) {
  const int64_t vecs = p.hidden / kVecHalves;
  const int64_t lo = int64_t(rank) * p.tokens / p.ranks, hi = int64_t(rank + 1) * p.tokens / p.ranks;
  for (int64_t t = FirstRow(lo, blockIdx.x, gridDim.x); t < hi; t += gridDim.x)
    for (int64_t v = tid; v < vecs; v += blockDim.x) {
      float s[kVecHalves];
      SumRanks(p, own, rank, t, v, s);
      const Vec4F s0{{s[0], s[1], s[2], s[3]}}, s1{{s[4], s[5], s[6], s[7]}};
      float* g_dst = p.sums + t * p.hidden + v * kVecHalves;
      const int64_t rank_stride = p.tokens * p.hidden;
      for (int q = 0; q < p.ranks; ++q, g_dst += rank_stride) {
        g_store(reinterpret_cast<Vec4F*>(g_dst), s0);
        g_store(reinterpret_cast<Vec4F*>(g_dst) + 1, s1);
      }
    }
}

// Σ of v over the CTA: butterfly within each warp, then the warps' partials in warp order (one
// order on every run). s_part: this row's [kMaxWarps] slots (rows alternate two sets, so a warp
// running ahead into the next row never overwrites slots still being read).
SPARQ_DEVICE double BlockSumF64(double v, double* s_part, int warp, int lane) {
SPARQ_AR_UNROLL
  for (int d = kWarpLanes / 2; d > 0; d /= 2) v = add_rn_f64(v, shfl_sync_bfly_f64(0xffffffffu, v, d));
  if (lane == 0) s_part[warp] = v;
  syncthreads();
  double all = 0.0;
  for (int w = 0; w < int(blockDim.x) / kWarpLanes; ++w) all = add_rn_f64(all, s_part[w]);
  return all;
}

// fp64 square of an fp16 (exact).
SPARQ_DEVICE double SquareF16(uint16_t h) {
  const double d = double(cvt_f32_f16(h));
  return mul_rn_f64(d, d);
}

// One row: res = fp16(s + residual) -> residual_out (pass 1), rstd, out (pass 2).
template <bool TWO_SHOT>
SPARQ_DEVICE void NormRow(const ArParams& p, const OwnRank& own, int rank, int64_t t, double* s_part, int tid) {
  const int64_t vecs = p.hidden / kVecHalves;
  double sumsq = 0.0;
  for (int64_t v = tid; v < vecs; v += blockDim.x) {
    const int64_t off = t * p.hidden + v * kVecHalves;
    float s[kVecHalves];
    if (TWO_SHOT) {
      const Vec4F* g_s = reinterpret_cast<const Vec4F*>(p.sums + int64_t(rank) * p.tokens * p.hidden + off);
      const Vec4F s0 = g_load(g_s), s1 = g_load(g_s + 1);
SPARQ_AR_UNROLL
      for (int i = 0; i < 4; ++i) s[i] = s0.x[i], s[4 + i] = s1.x[i];
    } else {
      SumRanks(p, own, rank, t, v, s);
    }
    const U32x4 res = ld_global_v4_u32(own.residual + off);
    U32x4 ro;
SPARQ_AR_UNROLL
    for (int w = 0; w < kVecWords; ++w) {
      float lo, hi;
      unpack_f16x2_f32(res.x[w], lo, hi);
      const uint16_t h0 = cvt_rn_f16_f32(add_rn_f32(s[2 * w], lo)), h1 = cvt_rn_f16_f32(add_rn_f32(s[2 * w + 1], hi));
      ro.x[w] = uint32_t(h0) | uint32_t(h1) << 16;
      sumsq = add_rn_f64(add_rn_f64(sumsq, SquareF16(h0)), SquareF16(h1));
    }
    st_global_v4_u32(own.residual_out + off, ro);
  }
  const double total = BlockSumF64(sumsq, s_part, tid / kWarpLanes, tid % kWarpLanes);
  const double mean = div_rn_f64(total, double(p.hidden));
  const float rstd = cvt_rn_f32_f64(div_rn_f64(1.0, sqrt_rn_f64(add_rn_f64(mean, double(p.eps)))));
  for (int64_t v = tid; v < vecs; v += blockDim.x) {
    const int64_t off = t * p.hidden + v * kVecHalves;
    const U32x4 ro = ld_global_v4_u32(own.residual_out + off);
    const U32x4 g = ld_global_nc_v4_u32(p.gamma + v * kVecHalves);
    U32x4 o;
SPARQ_AR_UNROLL
    for (int w = 0; w < kVecWords; ++w) {
      float r0, r1, g0, g1;
      unpack_f16x2_f32(ro.x[w], r0, r1);
      unpack_f16x2_f32(g.x[w], g0, g1);
      o.x[w] = cvt_rn_f16x2_f32(mul_rn_f32(mul_rn_f32(r0, rstd), g0), mul_rn_f32(mul_rn_f32(r1, rstd), g1));
    }
    st_global_v4_u32(own.out + off, o);
  }
}

// ------------------------------------------------------------------------------ kernel
// grid (C, ranks launched), block a multiple of 32 up to kMaxThreads; cooperative (all CTAs resident).
template <bool TWO_SHOT>
__global__ void __launch_bounds__(kMaxThreads, kMinCtasPerSm) allreduce_rmsnorm_kernel(const ArParams p) {
  SPARQ_SMEM(double, s_part, 2 * kMaxWarps);  // [row parity][warp]
  const int tid = int(threadIdx.x);
  const int rank = p.first_rank + int(blockIdx.y);
  const OwnRank own = SelectRank(p, rank);
  if (p.ranks > 1) StageRows(p, own, rank, tid);
  RankBarrier(p, kStart, rank, tid);
  if (TWO_SHOT) {
    ReduceShard(p, own, rank, tid);
    RankBarrier(p, kMid, rank, tid);
  }
  int parity = 0;
  for (int64_t t = blockIdx.x; t < p.tokens; t += gridDim.x, parity ^= 1)
    NormRow<TWO_SHOT>(p, own, rank, t, s_part + parity * kMaxWarps, tid);
  RankBarrier(p, kEnd, rank, tid);
}

}  // namespace sparq::ar
