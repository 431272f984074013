// cpu/allreduce_cpu.cc: group.allreduceRmsnorm on the cpu backend. The ranks of a Group are
// buffers of one context, so the all-reduce is a read of every rank's row: the pool's threads take
// token rows (a row is never split, so its norm needs no cross-thread reduction). Each row runs the
// ISA's two row kernels per output rank (allreduce_cpu_kernels.h): pass 1 sums the ranks' x in fp32
// in rank order (once per row: the first output rank stores the sums, the others read them back),
// adds the rank's residual, rounds res_out, keeps fp32(res_out) and its fp64 sum of squares; the
// driver takes rstd = allreduce::Rstd of that sum; pass 2 writes out. Both passes read and write
// the caller's rows once; everything else (the sums and fp32 res in per-thread scratch rows, gamma
// converted to fp32 once per call) stays resident in L1/L2. Each plane is prefetched a row ahead,
// and a call with large outputs writes them with non-temporal stores (StreamOutputs). The scalar
// kernels below are the contract's helpers element by element; the AVX2 and AVX-512 ones give the
// same bits (see the kernels header).
#include <algorithm>
#include <vector>

#include "cpu/allreduce_cpu.h"
#include "cpu/allreduce_cpu_kernels.h"

#include "sparq/allreduce.h"
#include "sparq/cpu.h"
#include "sparq/cpu_ops.h"

namespace sparq::cpu {
namespace allreduce_rows::scalar {
namespace {

float SumRanks(const uint16_t* const* x, int x_ranks, int64_t j) {
  float s = F16BitsToF32(x[0][j]);
  for (int r = 1; r < x_ranks; ++r) s = s + F16BitsToF32(x[r][j]);
  return s;
}

// Eight independent partial sums so the loop is not one long dependency chain (the grouping is
// free: see the kernels header).
double ResidualSquares(const ResidualRow& a) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int64_t j = 0; j < a.hidden; ++j) {
    float s;
    if (a.x_ranks > 0) {
      s = SumRanks(a.x, a.x_ranks, j);
      if (a.s_out != nullptr) a.s_out[j] = s;
    } else {
      s = a.s[j];
    }
    const uint16_t rounded = allreduce::ResidualOut(s, a.residual[j]);  // reads residual[j] first
    a.residual_out[j] = rounded;
    a.res[j] = F16BitsToF32(rounded);
    acc[j % 8] += allreduce::Square(rounded);
  }
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

void NormRow(const float* res, float rstd, const float* gamma, uint16_t* out, int64_t n, int64_t /*prefetch_elems*/,
             bool /*stream_out*/) {
  for (int64_t j = 0; j < n; ++j) out[j] = F32ToF16Bits((res[j] * rstd) * gamma[j]);
}

void RankSumF16(const uint16_t* const* x, int x_ranks, uint16_t* const* dst, int dsts, int64_t n,
                int64_t /*prefetch_elems*/) {
  for (int64_t j = 0; j < n; ++j) {
    const uint16_t h = F32ToF16Bits(SumRanks(x, x_ranks, j));
    for (int d = 0; d < dsts; ++d) dst[d][j] = h;
  }
}

}  // namespace

const KernelSet& Kernels() {
  static const KernelSet set = {"scalar", ResidualSquares, NormRow, RankSumF16};
  return set;
}

}  // namespace allreduce_rows::scalar

namespace {

using allreduce_rows::KernelSet;
using allreduce_rows::ResidualRow;

// An ISA the CPU lacks falls back to the next one down (as the fp16 conversions do).
const KernelSet& KernelsFor(Isa isa) {
  if (isa == Isa::kAvx512 && IsaSupported(Isa::kAvx512)) return allreduce_rows::avx512::Kernels();
  if (isa != Isa::kScalar && IsaSupported(Isa::kAvx2)) return allreduce_rows::avx2::Kernels();
  return allreduce_rows::scalar::Kernels();
}

// This thread's scratch: s and res rows, fp32 [hidden] each. Kept from call to call (the pool's
// threads live as long as the context), so a call allocates nothing after the first of its size.
struct RowScratch {
  float* s;
  float* res;
};
RowScratch ThreadScratch(int64_t h) {
  thread_local std::vector<float> buf;
  if (buf.size() < 2 * size_t(h)) buf.resize(2 * size_t(h));
  return {buf.data(), buf.data() + h};
}

// A call whose outputs (out and residual_out of every rank) pass this size writes them with
// non-temporal stores: they would not stay cached for the next op anyway, and ordinary stores first
// read every output line (read-for-ownership): 6 bytes moved for the 4 a row needs per element.
// Below it (decode and small prefill steps: R=8 T=16 H=8192 writes 4 MiB) the outputs stay cached.
constexpr size_t kStreamOutputBytes = size_t(32) << 20;
bool StreamOutputs(const AllreduceRows& a) {
  return size_t(2) * size_t(a.out_ranks) * size_t(a.tokens) * size_t(a.hidden) * sizeof(uint16_t) >= kStreamOutputBytes;
}

// Rows per pool task: enough work (~64k elements across the ranks) that the pool's hand-off is noise.
int64_t RowsPerTask(int64_t h, int ranks) { return std::max<int64_t>(1, (int64_t(1) << 16) / (h * ranks)); }

// Passes 1 and 2 of one output rank's row; rr has the row's x (or s) and scratch set.
void ResidualNormRow(const KernelSet& k, ResidualRow& rr, const uint16_t* residual, uint16_t* residual_out,
                     uint16_t* out, const float* gamma, float eps) {
  rr.residual = residual;
  rr.residual_out = residual_out;
  const double sumsq = k.residual_squares(rr);
  k.norm_row(rr.res, allreduce::Rstd(sumsq, rr.hidden, eps), gamma, out, rr.hidden, rr.prefetch_elems, rr.stream_out);
}

}  // namespace

Status AllreduceRmsnormRows(const AllreduceRows& a, const Exec& exec) {
  const int64_t h = a.hidden, tokens = a.tokens;
  const int ranks = a.x_ranks;
  if (ranks < 1 || ranks > allreduce::kMaxRanks || a.out_ranks < 1 || a.out_ranks > allreduce::kMaxRanks || h < 1 ||
      tokens < 1 || a.gamma == nullptr)
    return Status::Error(StatusCode::kArgument, std::string(a.op) + ": inconsistent arguments (ranks=" +
                                                    std::to_string(ranks) + ", tokens=" + std::to_string(tokens) +
                                                    ", hidden=" + std::to_string(h) + ")",
                         "xs");
  const KernelSet& k = KernelsFor(exec.isa);
  try {
    std::vector<float> gamma(static_cast<size_t>(h));
    cpu::F16ToF32(a.gamma, gamma.data(), size_t(h), exec.isa);
    const int64_t rows_per_task = RowsPerTask(h, ranks);
    const int64_t tasks = (tokens + rows_per_task - 1) / rows_per_task;
    const bool stream = StreamOutputs(a);
    exec.pool->ParallelFor(tasks, [&](int64_t t0, int64_t t1) {
      const RowScratch scratch = ThreadScratch(h);
      const uint16_t* x[allreduce::kMaxRanks] = {};
      const int64_t row_end = std::min(tokens, t1 * rows_per_task);
      for (int64_t row = t0 * rows_per_task; row < row_end; ++row) {
        const size_t off = size_t(row) * size_t(h);
        for (int r = 0; r < ranks; ++r) x[r] = a.x[r] + off;
        ResidualRow rr;
        rr.prefetch_elems = row + 1 < row_end ? h : 0;  // the next row of every plane
        rr.stream_out = stream;
        rr.x = x;
        rr.x_ranks = ranks;
        rr.s = scratch.s;
        rr.s_out = a.out_ranks > 1 ? scratch.s : nullptr;  // only read back by a second output rank
        rr.res = scratch.res;
        rr.hidden = h;
        for (int r = 0; r < a.out_ranks; ++r) {
          ResidualNormRow(k, rr, a.residual[r] + off, a.residual_out[r] + off, a.out[r] + off, gamma.data(), a.eps);
          rr.x_ranks = 0;  // the next ranks reuse the row's sums
        }
      }
    });
  } catch (const std::bad_alloc&) {
    return Status::Error(StatusCode::kOutOfMemory, std::string(a.op) + ": out of host memory for the row buffers", "xs");
  }
  return Status::Ok();
}

// The baseline is as fair as the fused path: the same ISA kernels, the same thread split. Kernel 1
// is a plain all-reduce (the rank sum rounded to fp16, written to one plane per output rank);
// kernel 2 is a residual-add + RMSNorm reading that plane as its only input. What it costs on top of
// the fused rows is exactly what fusion removes: the R sum planes written and read back, and a
// second pass over the pool.
Status AllreduceThenRmsnorm(const AllreduceRows& a, const Exec& exec) {
  const int64_t h = a.hidden, tokens = a.tokens;
  const int ranks = a.x_ranks;
  const KernelSet& k = KernelsFor(exec.isa);
  const size_t plane = size_t(tokens) * size_t(h);
  try {
    // The all-reduce's output buffers, kept by the stream's thread from call to call (a stack
    // without fusion keeps them too), so the timing holds no page faults.
    thread_local std::vector<uint16_t> reduced;
    if (reduced.size() < plane * size_t(a.out_ranks)) reduced.resize(plane * size_t(a.out_ranks));
    std::vector<float> gamma(static_cast<size_t>(h));
    cpu::F16ToF32(a.gamma, gamma.data(), size_t(h), exec.isa);
    const int64_t rows_per_task = RowsPerTask(h, ranks);
    const int64_t tasks = (tokens + rows_per_task - 1) / rows_per_task;
    uint16_t* red = reduced.data();
    const bool stream = StreamOutputs(a);
    exec.pool->ParallelFor(tasks, [&](int64_t t0, int64_t t1) {  // kernel 1: the all-reduce
      const uint16_t* x[allreduce::kMaxRanks] = {};
      uint16_t* dst[allreduce::kMaxRanks] = {};
      const int64_t row_end = std::min(tokens, t1 * rows_per_task);
      for (int64_t row = t0 * rows_per_task; row < row_end; ++row) {
        const size_t off = size_t(row) * size_t(h);
        for (int r = 0; r < ranks; ++r) x[r] = a.x[r] + off;
        for (int r = 0; r < a.out_ranks; ++r) dst[r] = red + size_t(r) * plane + off;
        k.rank_sum_f16(x, ranks, dst, a.out_ranks, h, row + 1 < row_end ? h : 0);
      }
    });
    exec.pool->ParallelFor(tasks, [&](int64_t t0, int64_t t1) {  // kernel 2: residual add + RMSNorm per rank
      const RowScratch scratch = ThreadScratch(h);
      const int64_t row_end = std::min(tokens, t1 * rows_per_task);
      for (int r = 0; r < a.out_ranks; ++r)
        for (int64_t row = t0 * rows_per_task; row < row_end; ++row) {
          const size_t off = size_t(row) * size_t(h);
          const uint16_t* reduced_row = red + size_t(r) * plane + off;
          ResidualRow rr;
          rr.x = &reduced_row;
          rr.x_ranks = 1;
          rr.res = scratch.res;
          rr.hidden = h;
          rr.prefetch_elems = row + 1 < row_end ? h : 0;
          rr.stream_out = stream;  // the same outputs as the fused op's, written the same way
          ResidualNormRow(k, rr, a.residual[r] + off, a.residual_out[r] + off, a.out[r] + off, gamma.data(), a.eps);
        }
    });
  } catch (const std::bad_alloc&) {
    return Status::Error(StatusCode::kOutOfMemory, std::string(a.op) + ": out of host memory for the all-reduce buffers", "xs");
  }
  return Status::Ok();
}

}  // namespace sparq::cpu

namespace sparq::cpu_ops {

Status AllreduceRmsnorm(const AllreduceRmsnormArgs& a, const cpu::Exec& exec, LaunchInfo* info) {
  if (info) *info = LaunchInfo{};
  cpu::AllreduceRows rows;
  rows.op = AllreduceRmsnormArgs::kOpName;
  rows.x = a.x;
  rows.x_ranks = a.ranks;
  rows.residual = a.residual;
  rows.out = a.out;
  rows.residual_out = a.residual_out;
  rows.out_ranks = a.ranks;
  rows.gamma = a.gamma;
  rows.tokens = a.tokens;
  rows.hidden = a.hidden;
  rows.eps = a.eps;
  if (a.algorithm == allreduce::Algorithm::kUnfused) return cpu::AllreduceThenRmsnorm(rows, exec);
  return cpu::AllreduceRmsnormRows(rows, exec);
}

}  // namespace sparq::cpu_ops
