// native/cpu/allreduce_cpu_kernels.h: the per-ISA row kernels of the cpu allreduceRmsnorm (driver
// and scalar kernels: allreduce_cpu.cc; contract: sparq/allreduce.h). Plain types only and no
// inline code, so the ISA files may include it (never sparq/allreduce.h or sparq/half.h: STYLE.md §11).
//
// A row of one output rank takes two passes over H, both on L1/L2-resident scratch apart from the
// caller's rows:
//   1. ResidualSquares, per vector of the row: s = x_0 + … + x_{R−1} (fp32, rank order; or s read
//      back from the scratch an earlier rank of the same row stored), res_out = fp16(s + residual),
//      res = fp32(res_out) kept in scratch, and Σ res² in fp64. Returns the sum.
//   2. NormRow: out = fp16((res · rstd) · gamma), from the fp32 res of pass 1.
// The driver computes rstd between them with allreduce::Rstd. Every step is one IEEE operation in
// the contract's order (fp16 conversions by F16C, round-to-nearest-even, the same bits as the
// scalar helpers); the only freedom taken is the grouping of the fp64 sum of squares, which the
// contract allows: each square of an fp16 value is exact in fp64 (so an fma adds it exactly), and
// the sum of a row's squares stays exact while they span fewer than ~31 binades.
#pragma once
#include <cstddef>
#include <cstdint>

namespace sparq::cpu::allreduce_rows {

// Pass 1 of one output rank's row. All pointers point at this row's element 0.
struct ResidualRow {
  // Either x_ranks ≥ 1 rows of x to sum (in this order), or x_ranks == 0 and s holds the fp32 sums
  // that an earlier call stored for this row.
  const uint16_t* const* x = nullptr;  // [x_ranks] fp16 rows
  int x_ranks = 0;
  const float* s = nullptr;            // [hidden] fp32, read when x_ranks == 0
  float* s_out = nullptr;              // [hidden] fp32, written when x_ranks ≥ 1 and not null
  const uint16_t* residual = nullptr;  // [hidden] fp16
  uint16_t* residual_out = nullptr;    // [hidden] fp16; may equal residual (each vector is read first)
  float* res = nullptr;                // [hidden] fp32: fp32(residual_out), for NormRow
  int64_t hidden = 0;
  // When > 0, every plane the pass reads or writes (x, residual, residual_out) is prefetched into
  // L2 this many elements ahead: the driver passes hidden when the thread's next row follows, since
  // the 2 + R planes a row touches are short streams the hardware prefetchers keep losing.
  int64_t prefetch_elems = 0;
  // Write residual_out with non-temporal stores where a vector is aligned for them (outputs larger
  // than the caches: no read-for-ownership of lines that are overwritten whole; see the driver).
  bool stream_out = false;
};
using ResidualSquaresFn = double (*)(const ResidualRow& r);

// Pass 2: out[j] = fp16((res[j] · rstd) · gamma[j]); gamma fp32 [hidden]; out prefetched, or
// written with non-temporal stores, as residual_out in pass 1.
using NormRowFn = void (*)(const float* res, float rstd, const float* gamma, uint16_t* out, int64_t hidden,
                           int64_t prefetch_elems, bool stream_out);

// The unfused baseline's all-reduce: dst_d[j] = fp16(x_0[j] + … + x_{R−1}[j]) for d < dsts; x and
// dst prefetched as above.
using RankSumF16Fn = void (*)(const uint16_t* const* x, int x_ranks, uint16_t* const* dst, int dsts, int64_t hidden,
                              int64_t prefetch_elems);

struct KernelSet {
  const char* name = "";
  ResidualSquaresFn residual_squares = nullptr;
  NormRowFn norm_row = nullptr;
  RankSumF16Fn rank_sum_f16 = nullptr;
};

namespace scalar {
const KernelSet& Kernels();
}  // namespace scalar
namespace avx2 {
const KernelSet& Kernels();  // AVX2 + F16C + FMA (the fma only adds exact fp64 squares)
}  // namespace avx2
namespace avx512 {
const KernelSet& Kernels();  // AVX-512F/DQ
}  // namespace avx512

}  // namespace sparq::cpu::allreduce_rows
