// cpu/allreduce_cpu.cc: group.allreduceRmsnorm on the cpu backend. The ranks of a Group are
// buffers of one context, so the all-reduce is a read of every rank's row: the pool's threads take
// token rows (a row is never split, so its norm needs no cross-thread reduction), sum the ranks in
// fp32 in rank order once per row, then for each rank add that rank's residual, round, and normalize
// — the contract's steps of sparq/allreduce.h, element for element. fp16 <-> fp32 conversion runs
// through the context's SIMD path (bit-identical to the scalar one); the fp32 adds and products
// are plain IEEE operations the compiler vectorizes without reordering (no fast-math, no FMA
// contraction), so every ISA gives the same bits.
#include <algorithm>
#include <cstring>
#include <vector>

#include "cpu/allreduce_cpu.h"

#include "sparq/allreduce.h"
#include "sparq/cpu.h"
#include "sparq/cpu_ops.h"

namespace sparq::cpu {
namespace {

// Σ_j v[j]² in fp64. Eight independent partial sums so the loop is not one long dependency chain;
// the squares of fp16 values are exact in fp64, so the grouping changes nothing on ordinary rows.
double SumOfSquares(const float* v, int64_t n) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int l = 0; l < 8; ++l) {
      const double d = static_cast<double>(v[j + l]);
      acc[l] += d * d;
    }
  for (; j < n; ++j) {
    const double d = static_cast<double>(v[j]);
    acc[0] += d * d;
  }
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// sum[j] = x_0[j] + … + x_{ranks−1}[j] (fp32, rank order) for one row at element offset `off`.
void RankSumRow(const uint16_t* const* x, int ranks, size_t off, int64_t h, Isa isa, float* sum, float* tmp) {
  F16ToF32(x[0] + off, sum, size_t(h), isa);
  for (int r = 1; r < ranks; ++r) {
    F16ToF32(x[r] + off, tmp, size_t(h), isa);
    for (int64_t j = 0; j < h; ++j) sum[j] = sum[j] + tmp[j];
  }
}

// One rank's row from its all-reduced row s: res_out = fp16(s + residual), out = its RMSNorm.
void ResidualNormRow(const float* s, const uint16_t* residual, const float* gamma, int64_t h, float eps, Isa isa,
                     uint16_t* res_out, uint16_t* out, float* tmp) {
  F16ToF32(residual, tmp, size_t(h), isa);  // read before res_out is written: they may be one buffer
  for (int64_t j = 0; j < h; ++j) tmp[j] = s[j] + tmp[j];
  F32ToF16(tmp, res_out, size_t(h), isa);
  F16ToF32(res_out, tmp, size_t(h), isa);  // the norm sees the rounded values
  const float rstd = allreduce::Rstd(SumOfSquares(tmp, h), h, eps);
  for (int64_t j = 0; j < h; ++j) tmp[j] = (tmp[j] * rstd) * gamma[j];
  F32ToF16(tmp, out, size_t(h), isa);
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
  const cpu::Isa isa = exec.isa;
  try {
    std::vector<float> gamma(static_cast<size_t>(h));
    cpu::F16ToF32(a.gamma, gamma.data(), size_t(h), isa);
    // Rows per task: enough work (~64k elements across the ranks) that the pool's hand-off is noise.
    const int64_t rows_per_task = std::max<int64_t>(1, (int64_t(1) << 16) / (h * ranks));
    const int64_t tasks = (tokens + rows_per_task - 1) / rows_per_task;
    exec.pool->ParallelFor(tasks, [&](int64_t t0, int64_t t1) {
      std::vector<float> sum(static_cast<size_t>(h)), tmp(static_cast<size_t>(h));
      for (int64_t row = t0 * rows_per_task; row < std::min(tokens, t1 * rows_per_task); ++row) {
        const size_t off = size_t(row) * size_t(h);
        RankSumRow(a.x, ranks, off, h, isa, sum.data(), tmp.data());
        for (int r = 0; r < a.out_ranks; ++r)
          ResidualNormRow(sum.data(), a.residual[r] + off, gamma.data(), h, a.eps, isa, a.residual_out[r] + off,
                          a.out[r] + off, tmp.data());
      }
    });
  } catch (const std::bad_alloc&) {
    return Status::Error(StatusCode::kOutOfMemory, std::string(a.op) + ": out of host memory for the row buffers", "xs");
  }
  return Status::Ok();
}

Status AllreduceThenRmsnorm(const AllreduceRows& a, const Exec& exec) {
  const int64_t h = a.hidden, tokens = a.tokens;
  const int ranks = a.x_ranks;
  const cpu::Isa isa = exec.isa;
  const size_t plane = size_t(tokens) * size_t(h);
  try {
    // The all-reduce's output buffers, kept by the stream's thread from call to call (a stack
    // without fusion keeps them too), so the timing holds no page faults.
    thread_local std::vector<uint16_t> reduced;
    if (reduced.size() < plane * size_t(a.out_ranks)) reduced.resize(plane * size_t(a.out_ranks));
    std::vector<float> gamma(static_cast<size_t>(h));
    cpu::F16ToF32(a.gamma, gamma.data(), size_t(h), isa);
    const int64_t rows_per_task = std::max<int64_t>(1, (int64_t(1) << 16) / (h * ranks));
    const int64_t tasks = (tokens + rows_per_task - 1) / rows_per_task;
    uint16_t* red = reduced.data();
    exec.pool->ParallelFor(tasks, [&](int64_t t0, int64_t t1) {  // kernel 1: the all-reduce
      std::vector<float> sum(static_cast<size_t>(h)), tmp(static_cast<size_t>(h));
      for (int64_t row = t0 * rows_per_task; row < std::min(tokens, t1 * rows_per_task); ++row) {
        const size_t off = size_t(row) * size_t(h);
        RankSumRow(a.x, ranks, off, h, isa, sum.data(), tmp.data());
        for (int r = 0; r < a.out_ranks; ++r) cpu::F32ToF16(sum.data(), red + size_t(r) * plane + off, size_t(h), isa);
      }
    });
    exec.pool->ParallelFor(tasks, [&](int64_t t0, int64_t t1) {  // kernel 2: residual add + RMSNorm per rank
      std::vector<float> s(static_cast<size_t>(h)), tmp(static_cast<size_t>(h));
      for (int r = 0; r < a.out_ranks; ++r)
        for (int64_t row = t0 * rows_per_task; row < std::min(tokens, t1 * rows_per_task); ++row) {
          const size_t off = size_t(row) * size_t(h);
          F16ToF32(red + size_t(r) * plane + off, s.data(), size_t(h), isa);
          ResidualNormRow(s.data(), a.residual[r] + off, gamma.data(), h, a.eps, isa, a.residual_out[r] + off,
                          a.out[r] + off, tmp.data());
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
