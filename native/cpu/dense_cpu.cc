// native/cpu/dense_cpu.cc: Y[m,n] = fp16(X[m,k] · W[n,k]ᵀ + bias[n]) on the CPU, fp32 accumulation.
// The shared driver: blocking, packing, threading and ISA dispatch; the ISA files hold only the
// micro-kernels (layout in isa_kernels.h).
//
//   m <= gemv_max_m  direct GEMV: each thread walks its W rows once, converting fp16 on the fly
//                    and dotting them with every X row (bandwidth bound: W is read exactly once).
//   otherwise        m on the SIMD lanes. X is transposed to fp32 Xt[k][m_pad] once per call.
//                    Threads own contiguous panels of NR output columns. Per panel and KC-deep
//                    k block, NR rows of W are converted to fp32 (L1 resident) and every m block
//                    of Xt runs over them, so each W element is converted once per m block of
//                    up to kMaxXtBytes of Xt; C[NR][m] accumulates in fp32 across k blocks and
//                    is rounded to fp16 once, with the bias added in fp32 first.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <vector>

#include "cpu/isa_kernels.h"
#include "sparq/cpu.h"

namespace sparq::cpu {
namespace {

constexpr size_t kAlignBytes = 64;  // one cache line = one zmm: aligned Xt rows load in one go
// Xt bytes one panel sweep may touch: stays inside the 2 MB L2 next to the W panel and C.
constexpr int64_t kMaxXtBytes = int64_t{1} << 20;
// How far ahead (in k blocks) the W rows of a panel are prefetched.
constexpr int64_t kPrefetchBlocks = 2;
constexpr int64_t kCacheLineBytes = 64;

struct AlignedFree {
  void operator()(float* p) const { std::free(p); }
};
using AlignedFloats = std::unique_ptr<float[], AlignedFree>;

AlignedFloats AllocFloats(int64_t count) {
  const size_t bytes = (static_cast<size_t>(count) * sizeof(float) + kAlignBytes - 1) / kAlignBytes * kAlignBytes;
  void* p = std::aligned_alloc(kAlignBytes, bytes == 0 ? kAlignBytes : bytes);
  if (p == nullptr) throw std::bad_alloc();
  return AlignedFloats(static_cast<float*>(p));
}

const DenseKernelSet& KernelsFor(Isa isa) {
  if (isa == Isa::kAvx512 && IsaSupported(Isa::kAvx512)) return avx512::DenseKernels();
  if (isa != Isa::kScalar && IsaSupported(Isa::kAvx2)) return avx2::DenseKernels();
  return scalar::DenseKernels();
}

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

void RunGemv(const DenseMatmulArgs& a, const DenseKernelSet& ks, const float* bias, Isa isa,
             ThreadPool& pool) {
  const int m = static_cast<int>(a.m);
  AlignedFloats x = AllocFloats(a.m * a.k);
  ks.f16_to_f32(a.x, x.get(), static_cast<size_t>(a.m * a.k));
  // Chunks of whole cache lines of Y per thread keep threads from sharing output lines.
  constexpr int64_t kRowsPerChunk = 32;
  const int64_t chunks = CeilDiv(a.n, kRowsPerChunk);
  pool.ParallelFor(std::min<int64_t>(chunks, pool.size()), [&](int64_t t0, int64_t t1) {
    const int64_t parts = std::min<int64_t>(chunks, pool.size());
    const int64_t n_begin = std::min(a.n, chunks * t0 / parts * kRowsPerChunk);
    const int64_t n_end = std::min(a.n, chunks * t1 / parts * kRowsPerChunk);
    const int64_t cols = n_end - n_begin;
    if (cols <= 0) return;
    AlignedFloats out = AllocFloats(a.m * cols);
    ks.gemv(x.get(), m, a.w, a.k, n_begin, n_end, out.get());
    for (int i = 0; i < m; ++i) {
      float* row = out.get() + i * cols;
      if (bias != nullptr)
        for (int64_t j = 0; j < cols; ++j) row[j] += bias[n_begin + j];
      F32ToF16(row, a.y + i * a.n + n_begin, static_cast<size_t>(cols), isa);
    }
  });
}

// Xt[kk][i] = fp32(X[i][kk]) for i < m, 0 for m <= i < m_pad; threads split k.
void TransposeX(const DenseMatmulArgs& a, const DenseKernelSet& ks, int64_t m_pad, float* xt,
                ThreadPool& pool) {
  constexpr int64_t kBlockK = 64;  // a 64-deep strip of Xt rows stays in L1 while it is filled
  const int64_t blocks = CeilDiv(a.k, kBlockK);
  pool.ParallelFor(blocks, [&](int64_t b0, int64_t b1) {
    float row[kBlockK];
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t k0 = b * kBlockK, len = std::min(kBlockK, a.k - k0);
      for (int64_t i = 0; i < a.m; ++i) {
        ks.f16_to_f32(a.x + i * a.k + k0, row, static_cast<size_t>(len));
        for (int64_t kk = 0; kk < len; ++kk) xt[(k0 + kk) * m_pad + i] = row[kk];
      }
      for (int64_t kk = 0; kk < len; ++kk)
        std::fill(xt + (k0 + kk) * m_pad + a.m, xt + (k0 + kk) * m_pad + m_pad, 0.0f);
    }
  });
}

void PrefetchWBlock(const uint16_t* w, int64_t k, int64_t j0, int64_t cols, int64_t k0) {
  if (k0 >= k) return;
  const int64_t bytes = std::min<int64_t>(kDenseKcElems, k - k0) * static_cast<int64_t>(sizeof(uint16_t));
  for (int64_t r = 0; r < cols; ++r) {
    const char* p = reinterpret_cast<const char*>(w + (j0 + r) * k + k0);
    for (int64_t off = 0; off < bytes; off += kCacheLineBytes) __builtin_prefetch(p + off, 0, 3);
  }
}

void RunGemm(const DenseMatmulArgs& a, const DenseKernelSet& ks, const float* bias, ThreadPool& pool) {
  const int64_t lanes = ks.lanes;
  const int64_t m_vectors = CeilDiv(a.m, lanes);
  const int64_t m_pad = m_vectors * lanes;
  const DenseTile main = ks.main_tile(m_vectors);
  const int64_t nr = main.nr;
  const int64_t block_rows = main.mv * lanes;

  AlignedFloats xt = AllocFloats(a.k * m_pad);
  TransposeX(a, ks, m_pad, xt.get(), pool);

  // Rows of m per sweep over the panels: as many whole m blocks as fit kMaxXtBytes of Xt.
  const int64_t xt_row_bytes = a.k * static_cast<int64_t>(sizeof(float));
  const int64_t mc = std::max<int64_t>(1, kMaxXtBytes / (xt_row_bytes * block_rows)) * block_rows;

  const int64_t panels = CeilDiv(a.n, nr);
  pool.ParallelFor(panels, [&](int64_t p0, int64_t p1) {
    AlignedFloats wp = AllocFloats(nr * kDenseWpStrideElems);
    // Rows past n stay zero: they feed C columns that are never written back, and zeros keep
    // them from being NaN or denormal (which would be slow).
    std::memset(wp.get(), 0, sizeof(float) * static_cast<size_t>(nr * kDenseWpStrideElems));
    AlignedFloats c = AllocFloats(nr * std::min(mc, m_pad));
    for (int64_t m0 = 0; m0 < m_pad; m0 += mc) {
      const int64_t mc_pad = std::min(mc, m_pad - m0);
      const int64_t m_rows = std::min(mc_pad, a.m - m0);
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t j0 = p * nr, cols = std::min(nr, a.n - j0);
        for (int64_t k0 = 0; k0 < a.k; k0 += kDenseKcElems) {
          const int64_t kc_len = std::min<int64_t>(kDenseKcElems, a.k - k0);
          for (int64_t r = 0; r < cols; ++r)
            ks.f16_to_f32(a.w + (j0 + r) * a.k + k0, wp.get() + r * kDenseWpStrideElems, static_cast<size_t>(kc_len));
          PrefetchWBlock(a.w, a.k, j0, cols, k0 + kPrefetchBlocks * kDenseKcElems);
          const float* xt_k = xt.get() + k0 * m_pad + m0;
          for (int64_t mb = 0; mb < mc_pad; mb += block_rows) {
            const int mv = static_cast<int>(std::min(block_rows, mc_pad - mb) / lanes);
            const DenseTile tile = mv == main.mv ? main : ks.tail_tile(mv, main.nr);
            tile.kernel(xt_k + mb, m_pad, wp.get(), c.get() + mb, mc_pad, kc_len, k0 > 0);
          }
        }
        ks.writeback(c.get(), mc_pad, m_rows, cols, bias != nullptr ? bias + j0 : nullptr,
                     a.y + m0 * a.n + j0, a.n);
      }
    }
  });
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
  if (args.m <= ks.gemv_max_m) {
    RunGemv(args, ks, bias_f32, isa, pool);
  } else {
    RunGemm(args, ks, bias_f32, pool);
  }
}

}  // namespace sparq::cpu
