// native/cpu/dense_cpu.cc: Y[m,n] = fp16(X[m,k] · W[n,k]ᵀ + bias[n]) on the CPU, fp32 accumulation.
// The shared driver: blocking, packing, threading and ISA dispatch; the ISA files hold only the
// micro-kernels (layout in isa_kernels.h).
//
//   m <= gemv_max_m  direct GEMV: each thread walks its W rows once, converting fp16 on the fly
//                    and dotting them with every X row (bandwidth bound: W is read exactly once).
//                    (m = 1–12 on AVX-512, 1–15 on AVX2: rows of X in passes over each group
//                    of W rows, dense_gemv_passes.inc.)
//   otherwise        k on the SIMD lanes ("dot form"; since 2026-12-05 only the scalar ISA's,
//                    the GEMV reaching up to rows_gemm_min_m − 1 on AVX-512 and AVX2). X is converted to fp32 x[m][ld_x] once per
//                    call. Threads own contiguous panels of NR output columns. Per panel and
//                    KC-deep k block, NR rows of W are converted to fp32 (L1 resident) and every
//                    MR-row block of x runs over them: MR+NR vector loads per MR*NR FMAs, no
//                    broadcasts, no transposes. KC is picked so the m x KC block of x stays in
//                    L1 across panels. Per-lane partial sums c[m][NR][lanes] carry over k blocks
//                    in fp32; the writeback sums the lanes (one fixed tree), adds the bias in
//                    fp32 and rounds to fp16 once. k is never split, so every thread count gives
//                    the same bits.
//   m >= rows_gemm_min_m, where the ISA has it (AVX-512, AVX2): rows on the lanes, broadcasts of
//                    W converted to fp32 panels (isa_kernels.h).
//   past gemv_max_m on AVX-512 with SPARQ_DENSE_AMX=1, where the CPU has AMX-BF16 (Sapphire Rapids
//                    and later): every fp16 split into two bf16 exactly, tiles (dense_cpu_amx.cc).
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <vector>

#include "cpu/aligned_array.h"
#include "cpu/cpu_switches.h"
#include "cpu/isa_kernels.h"
#include "cpu/row_blocks.h"
#include "sparq/cpu_ops.h"

namespace sparq::cpu {
namespace {


const DenseKernelSet& KernelsFor(Isa isa) {
  if (isa == Isa::kAvx512 && IsaSupported(Isa::kAvx512)) return avx512::DenseKernels();
  if (isa != Isa::kScalar && IsaSupported(Isa::kAvx2)) return avx2::DenseKernels();
  return scalar::DenseKernels();
}

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

void RunGemv(const DenseMatmulArgs& a, const DenseKernelSet& ks, const float* bias, Isa isa,
             ThreadPool& pool) {
  const int m = static_cast<int>(a.m);
  AlignedArray<float> x = AllocAligned<float>(a.m * a.k);
  ks.f16_to_f32(a.x, x.get(), static_cast<size_t>(a.m * a.k));
  // Chunks of whole cache lines of Y per thread keep threads from sharing output lines.
  constexpr int64_t kRowsPerChunk = 32;
  const int64_t chunks = CeilDiv(a.n, kRowsPerChunk);
  // Small GEMVs stay on the calling thread (PartsForWork; 2026-12-05, Zen 5, m = 1, median µs of
  // awaited calls, 1 / 2 threads: 256² 26 / 75, 512² 24 / 71; 2048² 139 / 109). Which thread
  // computes a row never changes its bits.
  const int64_t parts = std::min<int64_t>({chunks, int64_t(pool.size()), PartsForWork(a.m * a.n * a.k)});
  pool.ParallelFor(parts, [&](int64_t t0, int64_t t1) {
    const int64_t n_begin = std::min(a.n, chunks * t0 / parts * kRowsPerChunk);
    const int64_t n_end = std::min(a.n, chunks * t1 / parts * kRowsPerChunk);
    const int64_t cols = n_end - n_begin;
    if (cols <= 0) return;
    AlignedArray<float> out = AllocAligned<float>(a.m * cols);
    ks.gemv(x.get(), m, a.w, a.k, n_begin, n_end, out.get());
    for (int i = 0; i < m; ++i) {
      float* row = out.get() + i * cols;
      if (bias != nullptr)
        for (int64_t j = 0; j < cols; ++j) row[j] += bias[n_begin + j];
      F32ToF16(row, a.y + i * a.n + n_begin, static_cast<size_t>(cols), isa);
    }
  });
}

// x[i][kk] = fp32(X[i][kk]) for kk < k, 0 for k <= kk < ld_x; threads split the rows.
void ConvertX(const DenseMatmulArgs& a, const DenseKernelSet& ks, int64_t ld_x, float* x, ThreadPool& pool) {
  pool.ParallelFor(a.m, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      ks.f16_to_f32(a.x + i * a.k, x + i * ld_x, static_cast<size_t>(a.k));
      std::fill(x + i * ld_x + a.k, x + (i + 1) * ld_x, 0.0f);
    }
  });
}

void RunGemm(const DenseMatmulArgs& a, const DenseKernelSet& ks, const float* bias, ThreadPool& pool) {
  const int64_t lanes = ks.lanes;
  const int64_t ld_x = CeilDiv(a.k, lanes) * lanes;
  const DenseTile main = ks.main_tile(a.m);
  const int mr_left = static_cast<int>(a.m % main.mr);
  const DenseTile tail = mr_left > 0 ? ks.tail_tile(mr_left, main) : main;
  const int64_t nr = main.nr, kc = main.kc;
  const int64_t c_row_elems = nr * lanes;  // one row of c: NR vectors of partial sums
  const int64_t k_blocks = CeilDiv(a.k, kc);

  AlignedArray<float> x = AllocAligned<float>(a.m * ld_x);
  ConvertX(a, ks, ld_x, x.get(), pool);

  const int64_t panels = CeilDiv(a.n, nr);
  pool.ParallelFor(panels, [&](int64_t p0, int64_t p1) {
    AlignedArray<float> wp = AllocAligned<float>(nr * kDenseWpStrideElems);
    // Rows past n stay zero: they feed c columns that are never written back, and zeros keep
    // them from being NaN or denormal (which would be slow).
    std::memset(wp.get(), 0, sizeof(float) * static_cast<size_t>(nr * kDenseWpStrideElems));
    AlignedArray<float> c = AllocAligned<float>(a.m * c_row_elems);
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t j0 = p * nr, cols = std::min(nr, a.n - j0);
      for (int64_t kb = 0; kb < k_blocks; ++kb) {
        const int64_t k0 = kb * kc, kc_len = std::min(kc, a.k - k0);
        DenseBlockArgs blk;
        blk.ld_x = ld_x;
        blk.wp = wp.get();
        blk.kc_len = kc_len;
        blk.kc_pad = CeilDiv(kc_len, lanes) * lanes;
        blk.accumulate = kb > 0;
        // The first m block converts the panel block on the fly; a panel cut short by n is
        // converted here instead, so the kernels never read W rows past n (those wp rows stay zero).
        const bool convert_in_kernel = cols == nr;
        if (!convert_in_kernel) {
          for (int64_t r = 0; r < cols; ++r) {
            float* row = wp.get() + r * kDenseWpStrideElems;
            ks.f16_to_f32(a.w + (j0 + r) * a.k + k0, row, static_cast<size_t>(kc_len));
            std::fill(row + kc_len, row + blk.kc_pad, 0.0f);
          }
        }
        blk.ld_w = a.k;
        for (int64_t i0 = 0; i0 < a.m; i0 += main.mr) {
          blk.w = convert_in_kernel && i0 == 0 ? a.w + j0 * a.k + k0 : nullptr;
          blk.x = x.get() + i0 * ld_x + k0;
          blk.c = c.get() + i0 * c_row_elems;
          (i0 + main.mr <= a.m ? main : tail).kernel(blk);
        }
      }
      ks.writeback(c.get(), static_cast<int>(nr), a.m, cols, bias != nullptr ? bias + j0 : nullptr, a.y + j0, a.n);
    }
  });
}

// The rows-on-lanes prefill (isa_kernels.h): X transposed to xt (or to k-group blocks) once per
// call, threads own contiguous runs of kDenseRowsCols-column panels.
void RunRowsGemm(const DenseMatmulArgs& a, const DenseKernelSet& ks, const float* bias, ThreadPool& pool) {
  constexpr int64_t kRowBlock = kRowBlockRows;
  const int64_t row_blocks = CeilDiv(a.m, kRowBlock), m_pad = row_blocks * kRowBlock;
  const int k_group = ks.rows_k_group != nullptr ? ks.rows_k_group(a.m) : 0;
  AlignedArray<float> xt = k_group > 0 ? KGroupRowBlocksF16(a.x, a.m, a.k, a.k, k_group, ks.f16_to_f32, pool)
                                       : RowBlocksF16(a.x, a.m, a.k, a.k, ks.f16_to_f32, pool,
                                                      RowsTailBegin(a.m, kDenseRowsTailRowsAvx2));
  DenseRowsArgs ra;
  ra.xt = xt.get();
  ra.k_group = k_group;
  ra.m = a.m;
  ra.m_pad = m_pad;
  ra.w = a.w;
  ra.n = a.n;
  ra.k = a.k;
  ra.bias = bias;
  ra.y = a.y;
  const int64_t c_per_output = k_group > 0 ? k_group : 1;
  const int64_t c_floats = kDenseRowsCols * m_pad * c_per_output * PanelChunk(m_pad, kDenseRowsCols, c_per_output);
  pool.ParallelFor(CeilDiv(a.n, kDenseRowsCols), [&](int64_t s0, int64_t s1) {
    AlignedArray<float> scratch = AllocAligned<float>(kDenseRowsCols * kDenseRowsKc + c_floats);
    ks.rows_gemm(ra, scratch.get(), scratch.get() + kDenseRowsCols * kDenseRowsKc, s0, s1);
  });
}

// X's part of one AMX k chunk (m_blocks · kc_blocks · 2 KiB) is kept to 1 MiB so it stays in L2
// while every n pair of the thread runs over it (1 MiB measured faster than 512 KiB at m = 128).
constexpr int64_t kAmxChunkXBytes = 1024 * 1024;

// SPARQ_DENSE_AMX=1 (or on) runs the prefill on AMX-BF16 where HasAmxBf16(); unset or anything
// else keeps the AVX-512 one. Opt-in: on the one AMX CPU measured (the 2026-12-03 Intel Xeon) it
// ran level with AVX-512, not faster (docs/decisions.md). Read at every call, so one process can
// time both.
bool UseAmx() {
  return CurrentCpuSwitches().dense_amx && amx::Built() && HasAmxBf16();
}

// Every path but AMX's, by m (the dispatch of DenseMatmulF16 without AMX).
void RunWithoutAmx(const DenseMatmulArgs& a, const DenseKernelSet& ks, const float* bias, Isa isa, ThreadPool& pool) {
  if (a.m <= ks.gemv_max_m) RunGemv(a, ks, bias, isa, pool);
  else if (ks.rows_gemm != nullptr && a.m >= ks.rows_gemm_min_m) RunRowsGemm(a, ks, bias, pool);
  else RunGemm(a, ks, bias, pool);
}

bool IsInfOrNanF16(uint16_t h) { return (h & 0x7C00) == 0x7C00; }

// The outputs an inf or NaN input touches, recomputed by the AVX-512 path (whose fp32 products
// follow IEEE as they are): the AMX split pairs an infinity with the other operand's lo part, and
// inf·0 is NaN where the product is an infinity (dense_cpu_amx.cc). A row of X with one: that
// output row; a row of W: that output column, every row. Inputs without them cost one scan of X.
void RecomputeInfNan(const DenseMatmulArgs& a, const DenseKernelSet& ks, const float* bias, Isa isa, ThreadPool& pool,
                     const uint8_t* w_special) {
  for (int64_t i = 0; i < a.m; ++i) {
    const uint16_t* row = a.x + i * a.k;
    if (std::none_of(row, row + a.k, IsInfOrNanF16)) continue;
    DenseMatmulArgs one = a;
    one.x = row;
    one.y = a.y + i * a.n;
    one.m = 1;
    RunWithoutAmx(one, ks, bias, isa, pool);
  }
  std::vector<int64_t> cols;
  for (int64_t j = 0; j < a.n; ++j)
    if (w_special[j] != 0) cols.push_back(j);
  if (cols.empty()) return;
  const int64_t nc = static_cast<int64_t>(cols.size());
  std::vector<uint16_t> w(static_cast<size_t>(nc * a.k)), y(static_cast<size_t>(a.m * nc));
  std::vector<float> b(bias != nullptr ? cols.size() : 0);
  for (int64_t c = 0; c < nc; ++c) {
    std::copy(a.w + cols[c] * a.k, a.w + (cols[c] + 1) * a.k, w.begin() + c * a.k);
    if (bias != nullptr) b[size_t(c)] = bias[cols[c]];
  }
  DenseMatmulArgs sub = a;
  sub.w = w.data();
  sub.n = nc;
  sub.y = y.data();
  RunWithoutAmx(sub, ks, bias != nullptr ? b.data() : nullptr, isa, pool);
  for (int64_t i = 0; i < a.m; ++i)
    for (int64_t c = 0; c < nc; ++c) a.y[i * a.n + cols[c]] = y[size_t(i * nc + c)];
}

// The AMX-BF16 prefill (isa_kernels.h): X packed once (threads split k blocks), then threads own
// contiguous pairs of 16-column n blocks.
void RunAmxGemm(const DenseMatmulArgs& a, const DenseKernelSet& ks, const float* bias, ThreadPool& pool) {
  constexpr int64_t kTileWords = kAmxTile * kAmxTile;
  DenseAmxArgs args;
  args.m = a.m;
  args.m_blocks = CeilDiv(a.m, kAmxTile);
  args.w = a.w;
  args.n = a.n;
  args.k = a.k;
  args.k_blocks = CeilDiv(a.k, kAmxTile);
  args.kc_blocks = std::min(args.k_blocks, std::max<int64_t>(4, kAmxChunkXBytes / (args.m_blocks * 2 * kTileWords * 4)));
  args.bias = bias;
  args.y = a.y;
  std::vector<uint8_t> w_special(static_cast<size_t>(a.n), 0);
  args.w_special = w_special.data();
  AlignedArray<uint32_t> xp = AllocAligned<uint32_t>(args.k_blocks * args.m_blocks * 2 * kTileWords);
  pool.ParallelFor(args.k_blocks, [&](int64_t b0, int64_t b1) {
    amx::PackX(a.x, a.m, a.k, args.m_blocks, xp.get(), b0, b1);
  });
  args.xp = xp.get();
  const bool chunked = args.kc_blocks < args.k_blocks;
  pool.ParallelFor(CeilDiv(a.n, 2 * kAmxTile), [&](int64_t p0, int64_t p1) {
    AlignedArray<uint32_t> panel = AllocAligned<uint32_t>(2 * args.kc_blocks * kTileWords);
    AlignedArray<float> cacc = AllocAligned<float>(chunked ? (p1 - p0) * args.m_blocks * 2 * kTileWords : 0);
    amx::Gemm(args, panel.get(), cacc.get(), p0, p1);
  });
  xp.reset();
  RecomputeInfNan(a, ks, bias, Isa::kAvx512, pool, w_special.data());
}

}  // namespace

void DenseMatmulF16(const DenseMatmulArgs& args, Isa isa, ThreadPool& pool) {
  if (args.m <= 0 || args.n <= 0 || args.k <= 0) return;
  const DenseKernelSet& ks = KernelsFor(isa);
  std::vector<float> bias;
  if (args.bias != nullptr) {
    bias.resize(static_cast<size_t>(args.n));
    ks.f16_to_f32(args.bias, bias.data(), bias.size());
  }
  const float* bias_f32 = args.bias != nullptr ? bias.data() : nullptr;
  if (args.m > ks.gemv_max_m && isa == Isa::kAvx512 && UseAmx()) RunAmxGemm(args, ks, bias_f32, pool);
  else RunWithoutAmx(args, ks, bias_f32, isa, pool);
}

}  // namespace sparq::cpu

namespace sparq::cpu_ops {

Status DenseMatmul(const DenseMatmulArgs& args, const cpu::Exec& exec, LaunchInfo* info) {
  cpu::DenseMatmulF16(args, exec.isa, *exec.pool);
  if (info) *info = LaunchInfo{};
  return Status::Ok();
}

}  // namespace sparq::cpu_ops
