// sparq/allreduce.h: fused all-reduce + residual add + RMSNorm across ranks (TokenWeave;
// DESIGN.md "allreduceRmsnorm"). For every token row t and every rank r (R ranks, hidden H):
//
//   s        = x_0[t,:] + x_1[t,:] + … + x_{R−1}[t,:]      fp32, rank order, left to right
//   res_out  = fp16(s + residual_r[t,:])                    one fp32 add, then one rounding
//   sumsq    = Σ_j double(res_out[j])²                      fp64 (each square is exact in fp64)
//   rstd     = fp32( 1 / sqrt(sumsq / H + double(eps)) )    fp64, correctly rounded steps
//   out      = fp16( (fp32(res_out) · rstd) · fp32(gamma[j]) )   two fp32 products, one fp16 rounding
//
// Every rank gets out_r and res_out_r for every row (residuals may differ per rank, so each rank
// adds its own). The sum of squares runs in fp64 so that its order (a SIMD or warp tree on one
// backend, a sequential loop on another) changes nothing in practice: fp16 squares are exact in fp64
// and a row's sum stays exact while its squares span fewer than ~31 binades. So cpu, sim and cuda
// agree bit for bit on ordinary data and within 1 fp16 ulp always (the contract's bound).
// The helpers below are the contract's scalar steps, written once for every host backend; the CUDA
// kernel spells the same steps with __fadd_rn/__fmul_rn and fp64 division and sqrt (IEEE on sm_80+).
//
// Ranks on one context ("virtual ranks": the Group API) are the op's pointer arrays. On sim and
// cuda the kernels synchronize ranks through flags in a workspace the caller owns and keeps from
// call to call (AllreduceWorkspaceBytes; zero-filled once when allocated), with an epoch that grows
// by one per call (never 0), so flags are never reset. The cpu backend needs no workspace.
//
// Like sparq/half.h, never include this from native/cpu/*_avx2.cc / *_avx512.cc (STYLE.md §11).
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "sparq/half.h"
#include "sparq/ops.h"

namespace sparq {
namespace allreduce {

inline constexpr int kMaxRanks = 8;
inline constexpr int64_t kHiddenAlign = 8;       // hidden must be a multiple of this (16-byte rows)
inline constexpr int64_t kMaxHidden = int64_t(1) << 20;
inline constexpr int kMaxCtasPerRank = 64;       // flag slots per rank and phase in the workspace
inline constexpr int kFlagPhases = 3;            // start, middle (two-shot), end

// Which kernel the launcher runs. One-shot: every rank reads every peer's rows (one barrier + the
// exit barrier; moves R× the rows per rank). Two-shot: reduce-scatter by token rows, gather of the
// fp32 sums, then every rank adds its residual and normalizes all rows (one more barrier; moves ~2×).
// kUnfused (cpu only, a benchmark baseline, not the fused contract): a plain all-reduce that
// delivers fp16(s) to every rank, then a separate residual-add + RMSNorm pass over it, as a stack
// without the fusion runs it. Its residual is fp16(fp16(s) + residual): the extra rounding is half
// an ulp of fp16(s), which is many ulps of the residual where s and the residual cancel, and an s
// past fp16's range is Inf there (the row's out then NaN and 0) where the contract stays finite.
enum class Algorithm : int32_t { kAuto = 0, kOneShot = 1, kTwoShot = 2, kUnfused = 3 };

// ---- the contract's scalar steps -----------------------------------------------------------------
inline float ResidualSum(float s, uint16_t residual_bits) { return s + F16BitsToF32(residual_bits); }
inline uint16_t ResidualOut(float s, uint16_t residual_bits) { return F32ToF16Bits(ResidualSum(s, residual_bits)); }
inline double Square(uint16_t res_out_bits) {
  const double v = static_cast<double>(F16BitsToF32(res_out_bits));
  return v * v;
}
inline float Rstd(double sumsq, int64_t hidden, float eps) {
  const double mean = sumsq / static_cast<double>(hidden);
  return static_cast<float>(1.0 / std::sqrt(mean + static_cast<double>(eps)));
}
inline uint16_t NormOut(uint16_t res_out_bits, float rstd, uint16_t gamma_bits) {
  const float a = F16BitsToF32(res_out_bits) * rstd;
  return F32ToF16Bits(a * F16BitsToF32(gamma_bits));
}

// ---- the workspace (sim and cuda) ----------------------------------------------------------------
// [flags: kFlagPhases × R(dest) × kMaxCtasPerRank × R(src) uint32, padded to 256 B]
// [staging: R × tokens × hidden fp16: rank r's copy of x_r, read by its peers]
// [sums: R × tokens × hidden fp32: rank r's gathered row sums (two-shot)]
// Flag (phase p, dest d, cta b, src s) is written by rank s's CTA b and read by rank d's CTA b.
inline int64_t FlagIndex(int ranks, int phase, int dest, int cta, int src) {
  return ((int64_t(phase) * ranks + dest) * kMaxCtasPerRank + cta) * ranks + src;
}
inline int64_t FlagBytes(int ranks) {
  const int64_t b = int64_t(kFlagPhases) * ranks * kMaxCtasPerRank * ranks * 4;
  return (b + 255) / 256 * 256;
}
inline int64_t StagingOffset(int ranks) { return FlagBytes(ranks); }
inline int64_t SumsOffset(int ranks, int64_t tokens, int64_t hidden) {
  return StagingOffset(ranks) + (int64_t(ranks) * tokens * hidden * 2 + 255) / 256 * 256;
}
inline int64_t WorkspaceBytes(int ranks, int64_t tokens, int64_t hidden) {
  return SumsOffset(ranks, tokens, hidden) + int64_t(ranks) * tokens * hidden * 4;
}

}  // namespace allreduce

// out[r] / residual_out[r] = the contract above, for r < ranks. residual_out[r] may be residual[r]
// (in place); no other output aliases an input. Pointers past `ranks` are null.
struct AllreduceRmsnormArgs {
  static constexpr const char* kOpName = "group.allreduceRmsnorm";
  static constexpr int64_t kMaxM = kMaxIndexDim, kMaxN = allreduce::kMaxHidden, kMaxK = kMaxIndexDim;
  const uint16_t* x[allreduce::kMaxRanks] = {};         // [tokens][hidden] fp16 bits per rank
  const uint16_t* residual[allreduce::kMaxRanks] = {};  // [tokens][hidden]
  uint16_t* out[allreduce::kMaxRanks] = {};             // [tokens][hidden]
  uint16_t* residual_out[allreduce::kMaxRanks] = {};    // [tokens][hidden]
  const uint16_t* gamma = nullptr;                      // [hidden], shared by the ranks
  void* workspace = nullptr;        // sim/cuda: WorkspaceBytes(ranks, tokens, hidden) or more; cpu: unused
  int64_t workspace_bytes = 0;
  int64_t tokens = 0;               // ≥ 1
  int64_t hidden = 0;               // ≥ 8, a multiple of kHiddenAlign
  float eps = 0.0f;                 // finite, ≥ 0
  int32_t ranks = 0;                // 1 .. kMaxRanks
  allreduce::Algorithm algorithm = allreduce::Algorithm::kAuto;
  uint32_t epoch = 0;               // the call's number on this workspace: 1, 2, … (skips 0 on wrap)
};
SPARQ_ASSERT_ABI_LAYOUT(AllreduceRmsnormArgs, 312);
static_assert(offsetof(AllreduceRmsnormArgs, gamma) == 256 && offsetof(AllreduceRmsnormArgs, tokens) == 280 &&
                  offsetof(AllreduceRmsnormArgs, eps) == 296 && offsetof(AllreduceRmsnormArgs, epoch) == 308,
              "AllreduceRmsnormArgs layout");

}  // namespace sparq
