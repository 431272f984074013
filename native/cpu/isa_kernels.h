// native/cpu/isa_kernels.h: per-ISA entry points behind the dispatch in half_convert.cc and
// dense_cpu.cc. Each ISA file defines its namespace's functions under a #pragma GCC target, so only
// the dispatchers call them, and only after IsaSupported() said yes.
#pragma once
#include <cstddef>
#include <cstdint>

namespace sparq::cpu {

// ------------------------------------------------------------------ dense fp16 GEMM layout
// The GEMM puts m on the SIMD lanes ("m-lanes"), so W never needs a transpose:
//   xt  fp32 [k][ld_xt]   X transposed once per call, m padded with zeros to a multiple of lanes.
//   wp  fp32 [NR][kDenseWpStrideElems]  one W panel: NR rows of W (output columns), KC of k, converted from fp16;
//                         rows past n are zeros. Every W element is broadcast against MV vectors of X.
//   c   fp32 [NR][ld_c]   accumulators of one panel, C[j][i] = Y[i][j] (m contiguous).
// A micro-kernel does C[0..NR)[0..MV*lanes) (+)= Σ_{kk<kc_len} wp[j][kk] · xt[kk][i].
constexpr int kDenseKcElems = 256;  // KC: W panel depth; a 24-row panel is 24 KB of fp32 (fits L1)
// Panel row stride: one extra cache line per row, so the NR rows read at the same kk fall into
// different L1 sets (a 1 KB stride would pile them into 4 of the 64 sets).
constexpr int kDenseWpStrideElems = kDenseKcElems + 16;

using DenseMicroKernelFn = void (*)(const float* xt, int64_t ld_xt, const float* wp, float* c,
                                    int64_t ld_c, int64_t kc_len, bool accumulate);
// Small-m path: out[i][j - n_begin] = Σ_k x[i][k]·W[j][k] for j in [n_begin, n_end), i < m.
// x fp32 [m][k]; w fp16 [n][k]; out fp32 [m][n_end - n_begin].
using DenseGemvFn = void (*)(const float* x, int m, const uint16_t* w, int64_t k, int64_t n_begin,
                             int64_t n_end, float* out);
// Y[i][j] = fp16(c[j][i] + bias[j]) for i < m, j < cols; bias fp32 [cols] or null.
using DenseWritebackFn = void (*)(const float* c, int64_t ld_c, int64_t m, int64_t cols,
                                  const float* bias, uint16_t* y, int64_t ld_y);

// One tile shape: MV vectors of X lanes by NR output columns (MV*NR accumulators in registers).
struct DenseTile {
  int mv = 1;
  int nr = 1;
  DenseMicroKernelFn kernel = nullptr;
};

// What the driver needs from one ISA.
struct DenseKernelSet {
  int lanes = 1;          // fp32 lanes per vector register (m rows per vector)
  int gemv_max_m = 0;     // m <= this uses gemv
  void (*f16_to_f32)(const uint16_t* src, float* dst, size_t n) = nullptr;  // W panel conversion
  DenseGemvFn gemv = nullptr;
  DenseWritebackFn writeback = nullptr;
  // ChooseTiles: the main tile for a block of m and the tiles for the leftover vectors, all with
  // the same nr so one W panel serves every m block.
  DenseTile (*main_tile)(int64_t m_vectors) = nullptr;
  DenseTile (*tail_tile)(int mv, int nr) = nullptr;  // mv < main.mv, same nr
};

namespace scalar {
uint16_t F32ToF16One(float f);
float F16ToF32One(uint16_t h);
uint16_t F32ToBF16One(float f);
float BF16ToF32One(uint16_t h);
void F32ToF16(const float* src, uint16_t* dst, size_t n);
void F16ToF32(const uint16_t* src, float* dst, size_t n);
void F32ToBF16(const float* src, uint16_t* dst, size_t n);
void BF16ToF32(const uint16_t* src, float* dst, size_t n);
const DenseKernelSet& DenseKernels();
}  // namespace scalar

namespace avx2 {
void F32ToF16(const float* src, uint16_t* dst, size_t n);
void F16ToF32(const uint16_t* src, float* dst, size_t n);
void F32ToBF16(const float* src, uint16_t* dst, size_t n);
void BF16ToF32(const uint16_t* src, float* dst, size_t n);
const DenseKernelSet& DenseKernels();
}  // namespace avx2

namespace avx512 {
void F32ToF16(const float* src, uint16_t* dst, size_t n);
void F16ToF32(const uint16_t* src, float* dst, size_t n);
void F32ToBF16(const float* src, uint16_t* dst, size_t n);
void BF16ToF32(const uint16_t* src, float* dst, size_t n);
const DenseKernelSet& DenseKernels();
}  // namespace avx512

}  // namespace sparq::cpu
