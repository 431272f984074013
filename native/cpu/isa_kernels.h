// native/cpu/isa_kernels.h: per-ISA entry points behind the dispatch in half_convert.cc and
// dense_cpu.cc. Each ISA file defines its namespace's functions under a #pragma GCC target, so only
// the dispatchers call them, and only after IsaSupported() said yes.
#pragma once
#include <cstddef>
#include <cstdint>

namespace sparq::cpu {

// ------------------------------------------------------------------ dense fp16 GEMM layout
// The GEMM puts k on the SIMD lanes ("dot form"), so neither X nor W is ever transposed:
//   x   fp32 [m][ld_x]    X converted once per call, ld_x = k rounded up to lanes, zero padded.
//   wp  fp32 [NR][kDenseWpStrideElems]  one W panel: NR rows of W (output columns), one KC block
//                         of k converted from fp16, zero padded to a multiple of lanes; rows past
//                         n are zeros.
//   c   fp32 [m][NR][lanes]  per-lane partial sums of one panel: lane l of c[i][j] holds
//                         Σ_{kk ≡ l mod lanes} x[i][kk]·W[j][kk], accumulated in order over all k.
// A micro-kernel does c[0..MR)[0..NR) (+)= x[i][kk..kk+lanes) · wp[j][kk..kk+lanes) for the
// kc_pad (multiple of lanes) k of one block: per step MR + NR vector loads feed MR*NR FMAs.
// The writeback sums the lanes of each c[i][j] with one fixed tree (the same for every output,
// whatever the tile or thread), adds the bias in fp32 and rounds to fp16 once.
constexpr int kDenseKcMaxElems = 512;  // largest KC the driver picks (see DenseTile::kc)
// Panel row stride: one extra cache line per row, so the NR rows read at the same kk fall into
// different L1 sets (a 2 KB stride would pile them into few of the 64 sets).
constexpr int kDenseWpStrideElems = kDenseKcMaxElems + 16;

// One micro-kernel call: c (+)= x·wpᵀ for one MR x NR tile over one KC block of k.
struct DenseBlockArgs {
  const float* x = nullptr;  // x[i0][k0]
  int64_t ld_x = 0;
  float* wp = nullptr;       // the panel: read, or written first when w is set
  // When set, W[j0][k0] fp16 (rows ld_w apart): the kernel converts the panel block on the fly,
  // stores it to wp for the later m blocks, and prefetches the rows further along k.
  const uint16_t* w = nullptr;
  int64_t ld_w = 0;
  int64_t kc_len = 0;        // valid k in the block; w past it reads as zero
  int64_t kc_pad = 0;        // kc_len rounded up to lanes: the k the FMAs run over
  float* c = nullptr;        // c[i0][0][0], rows NR*lanes floats apart
  bool accumulate = false;   // add to c (false: the first k block overwrites it)
};
using DenseMicroKernelFn = void (*)(const DenseBlockArgs& b);
// Small-m path: out[i][j - n_begin] = Σ_k x[i][k]·W[j][k] for j in [n_begin, n_end), i < m.
// x fp32 [m][k]; w fp16 [n][k]; out fp32 [m][n_end - n_begin].
using DenseGemvFn = void (*)(const float* x, int m, const uint16_t* w, int64_t k, int64_t n_begin,
                             int64_t n_end, float* out);
// Y[i][j] = fp16(Σ_lanes c[i][j] + bias[j]) for i < m, j < cols <= nr; c as above with NR = nr;
// bias fp32 [cols] or null.
using DenseWritebackFn = void (*)(const float* c, int nr, int64_t m, int64_t cols, const float* bias,
                                  uint16_t* y, int64_t ld_y);

// One tile shape: MR rows of X by NR output columns (MR*NR accumulators in registers), run over
// KC-deep blocks of k (KC chosen with the shape so the X block stays in L1).
struct DenseTile {
  int mr = 1;
  int nr = 1;
  int kc = kDenseKcMaxElems;  // multiple of every ISA's lanes, <= kDenseKcMaxElems
  DenseMicroKernelFn kernel = nullptr;
};

// ------------------------------------------------------------------ dense rows-on-lanes prefill
// Where an ISA has it (AVX2; AVX-512 in the k-quad form below), m >= rows_gemm_min_m runs the
// broadcast form:
//   xt     fp32 [m_pad / 16][k][16]: xt[blk][kk][i] = fp32(X[16·blk + i][kk]), rows past m zero
//   panel  fp32 [kDenseRowsCols][kDenseRowsKc]: kDenseRowsCols W rows, one k block, converted
//   c      fp32 [kDenseRowsCols][m_pad]
// Each output is one fp32 FMA chain in k order (the dot form sums 16 lane chains in a tree: a
// different rounding, both within the contract). The dot form's X block streams from L3 for every
// panel once m·k·4 bytes pass L2 (2 MiB at m = 128, k = 4096); here X crosses L2 once per panel
// of 12 columns too, but as 2 zmm per 24 FMAs against the dot form's 4 per 24.
// AVX-512 runs the k-quad form of it instead (panel_gemm_avx512.inc, shared with W4A16's gemm,
// whose panels are looked up rather than converted): each zmm of X
// holds 4 rows × 4 consecutive k, so one 128-bit broadcast of the panel (4 k of one column) feeds
// 4 FMAs for 16 rows — a 16-row block needs no second block beside it to reuse its broadcasts,
// which held m = 16 near half the FMA peak:
//   xt     fp32 [m_pad / 16][k4 / 4][16][4]: xt[blk][kq][i][q] = fp32(X[16·blk + i][4·kq + q]),
//          k4 = k rounded up to 4, zero past m and k
//   c      fp32 [kDenseRowsCols][m_pad][4] per panel of a chunk (PanelChunk): 4 partial
//          sums per output (k mod 4), added (c0 + c1) + (c2 + c3) by the writeback
// — where it reads W in place (m ≤ 32); over filled panels (m > 32) mostly the k-pair form, the
// same with 8 rows × 2 k per zmm and 2 partial sums per output (DenseKernelSet::rows_k_group).
inline constexpr int kDenseRowsCols = 12;
inline constexpr int kDenseRowsKc = 256;
// AVX2: a last row block of up to this many rows past m = 16 runs the tail kernel
// (panel_tail_avx2.inc), past it the 2-ymm 16-row kernel. Against that kernel (2026-12-07, Zen 5,
// the avx2 ISA forced, time / m = 32's in the same process, two rounds): 9–12 rows 0.85–0.94
// against 0.97–1.07, 13 level (0.98–0.99 / 1.00), 15 slower (1.01–1.03 / 0.94–0.99).
inline constexpr int64_t kDenseRowsTailRowsAvx2 = 12;
// The prefills' panels (dense's rows forms, W4A16's AVX-512 gemm) run a chunk at a time, the k
// block outermost within it (dense_rows_body.inc says why): as many panels of `columns`
// columns as keep the chunk's C (c_per_output floats per output) within 256 KiB of L2, at most
// 16 — for the k-quad form's 12 columns, 16 up to m = 80, 10 at m = 128, 1 past m = 672; 8–16
// measured alike at m = 64 and 128, 2 and 4 slower at m = 128 (AVX2's one float per output:
// 16 up to m = 336).
inline int64_t PanelChunk(int64_t m_pad, int64_t columns, int64_t c_per_output) {
  const int64_t fit = (256 * 1024) / (columns * m_pad * c_per_output * int64_t(sizeof(float)));
  return fit < 1 ? 1 : (fit > 16 ? 16 : fit);
}
// In that order, the panel and k block the fill after (panel, k0) reads: the chunk's next panel,
// else its first one a block (kc) on, else the next chunk's first at k = 0 (past the last panel:
// an address the kernels only prefetch).
struct PanelAt {
  int64_t panel, k0;
};
inline PanelAt NextFill(int64_t panel, int64_t k0, int64_t chunk_begin, int64_t chunk_end, int64_t k, int64_t kc) {
  if (panel + 1 < chunk_end) return {panel + 1, k0};
  if (k0 + kc < k) return {chunk_begin, k0 + kc};
  return {chunk_end, 0};
}
struct DenseRowsArgs {
  const float* xt = nullptr;
  int k_group = 0;  // xt's k group (DenseKernelSet::rows_k_group), 0 for one row per lane
  int64_t m = 0, m_pad = 0;
  const uint16_t* w = nullptr;  // fp16 [n][k]
  int64_t n = 0, k = 0;
  const float* bias = nullptr;  // fp32 [n] or null
  uint16_t* y = nullptr;        // fp16 [m][n]
};
// The panels [super_begin, super_end) of kDenseRowsCols output columns; panel and c are the calling
// thread's scratch (kDenseRowsCols·kDenseRowsKc floats, and kDenseRowsCols·m_pad floats — in the
// chunked forms PanelChunk(m_pad, kDenseRowsCols, c floats per output) times that, 4 floats per
// output in the k-quad form —, 64-byte aligned).
using DenseRowsGemmFn = void (*)(const DenseRowsArgs& a, float* panel, float* c, int64_t super_begin,
                                 int64_t super_end);

// ------------------------------------------------------------------ dense AMX-BF16 prefill
// Where HasAmxBf16() (dense_cpu_amx.cc says why this is exact): C tiles are 16 W rows × 16 X rows,
// fp32; A tiles 16 W rows × 16 k as (w_hi, w_lo) bf16 pairs; B tiles 16 k × 16 X rows as
// (x_hi, x_hi) or (x_lo, x_lo) pairs. All operands are zero-padded to whole tiles.
//   xp     u32 [k_blocks][m_blocks][2][16 k][16 m]: X packed once per call (B_hi, then B_lo)
//   panel  u32 [2][kc_blocks][16 n][16 k] per thread: the A tiles of one pair of n blocks, one k chunk
//   cacc   fp32 [pairs][m_blocks][2][16 n][16 m] per thread: C between k chunks (when k_blocks > kc_blocks)
// Each thread owns contiguous pairs of n blocks (32 outputs columns); k is never split across
// threads, so every thread count gives the same bits.
inline constexpr int kAmxTile = 16;
struct DenseAmxArgs {
  const uint32_t* xp = nullptr;
  int64_t m = 0, m_blocks = 0;
  const uint16_t* w = nullptr;  // fp16 [n][k]
  int64_t n = 0, k = 0, k_blocks = 0;
  int64_t kc_blocks = 0;        // k blocks per chunk: X's chunk (m_blocks·kc_blocks·2 KiB) stays in L2
  const float* bias = nullptr;  // fp32 [n] or null
  uint16_t* y = nullptr;        // fp16 [m][n]
  uint8_t* w_special = nullptr;  // [n], zeroed by the caller: Gemm sets 1 for W rows with an inf or NaN
};
namespace amx {
// Whether this build has the kernels (the compiler knew AMX); the CPU is HasAmxBf16()'s question.
bool Built();
// X (fp16 [m][k]) → xp, k blocks [kb_begin, kb_end).
void PackX(const uint16_t* x, int64_t m, int64_t k, int64_t m_blocks, uint32_t* xp, int64_t kb_begin, int64_t kb_end);
// Y for the n-block pairs [p_begin, p_end), every k chunk and m; panel (2·kc_blocks·256 words) and
// cacc ((p_end − p_begin)·m_blocks·512 floats; unused with one k chunk) are the thread's scratch.
void Gemm(const DenseAmxArgs& a, uint32_t* panel, float* cacc, int64_t p_begin, int64_t p_end);
}  // namespace amx

// What the driver needs from one ISA.
struct DenseKernelSet {
  int lanes = 1;          // fp32 lanes per vector register (k per FMA step)
  int gemv_max_m = 0;     // m <= this uses gemv
  void (*f16_to_f32)(const uint16_t* src, float* dst, size_t n) = nullptr;  // X and W conversion
  DenseGemvFn gemv = nullptr;
  DenseWritebackFn writeback = nullptr;
  // The main tile for the whole of m, and the tile for the mr_left < main.mr rows left over
  // (same nr and kc, so one W panel serves every m block).
  DenseTile (*main_tile)(int64_t m) = nullptr;
  DenseTile (*tail_tile)(int mr_left, const DenseTile& main) = nullptr;
  DenseRowsGemmFn rows_gemm = nullptr;  // null: the dot form serves every m past gemv_max_m
  int rows_gemm_min_m = 0;
  // The AVX-512 rows forms: for m rows, the k group of X's blocks (row_blocks.h
  // KGroupRowBlocksF16) and floats of c per output that rows_gemm reads; null: one row per lane.
  int (*rows_k_group)(int64_t m) = nullptr;
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
