// native/cpu/w4a16_cpu.h: per-ISA entry points of the W4A16 CPU matmul (driver: w4a16_cpu.cc).
// Weights are in the kCpu layout (cuda/w4a16_layout.cuh): column blocks of 4; per block and 32 k,
// 64 bytes = 4 columns × 16 B, byte i = code(k0+i) | code(k0+16+i) << 4. Dequantisation is exact:
// per (column, group) a 16-entry table lut[q] = fp32(fp16((q−8)·s)) (the fp32 product is exact,
// one RNE to fp16), then each weight is one table lookup (vpermps) — the contract's w. The AVX-512
// gemv's multi-row passes take that table from ScaleTables wherever that is exact; its single-row
// passes and the gemm's panel fill compute it (docs/kernels.md says which is faster where).
//
//   gemv (m <= gemv_max_m): k on the SIMD lanes; each 32-k chunk of a column is looked up once
//        and met by every X row of the pass (rows in passes of up to 4).
//   gemm (otherwise): m on the SIMD lanes, as in dense_cpu.cc: per panel of NR columns and KC of
//        k, the weights are looked up once into an fp32 panel (L1) and every 16-row block of
//        Xt (X transposed, zero-padded) runs over it; C[NR][m] accumulates in fp32 across k.
//        AVX-512 runs dense's k-pair form and chunks of panels (isa_kernels.h, panel_gemm_avx512.inc).
#pragma once
#include <cstddef>
#include <cstdint>

namespace sparq {
struct W4A16WeightView;
}

namespace sparq::cpu::w4a16 {

inline constexpr int kGemmKc = 256;       // panel depth in k (multiple of 32)
inline constexpr int kRowBlock = 16;      // Xt row block (m rows per block)
inline constexpr int kColsPerSuper = 12;  // gemm panel width in columns (3 column blocks)
// AVX2 gemm: a last row block of up to this many rows (at m < 16 every row) runs the tail kernel
// (panel_tail_avx2.inc) instead of a whole 16-row block: at m = 15 in passes of 3 it measured
// 1.2× the block's time, at 14 level, at 9–12 0.66–0.86× (2026-12-07, Zen 5, avx2 forced).
inline constexpr int64_t kGemmTailRowsAvx2 = 13;

inline constexpr int kScaleFractions = 1024;   // fp16 fraction patterns (10 bits)
inline constexpr int kScaleSignExponents = 64;  // fp16 sign + exponent patterns (6 bits)
// Exponent fields 1..kTableExponentFields take their tables from ScaleTables (below); a scale with
// field e uses them iff e − 1 < kTableExponentFields, as unsigned (so field 0 does not).
inline constexpr uint32_t kTableExponentFields = 27;

// The dequantisation tables (w4a16_scale_tables.cc says why they are exact). For a scale with
// exponent field e = (s >> 10) & 31 in [1, kTableExponentFields], fp16((q − 8)·s), q = 0..15, is:
//   fp32: row (s & 0x3ff) of `fraction` plus, as uint32 mod 2^32, row (s >> 10) of `sign_exponent`;
//   fp16: low bytes = bytes 0..15 of row (s & 0x3ff) of `fraction_f16`, high bytes = its bytes
//         16..31 plus, as bytes mod 256, row (s >> 10) of `sign_exponent_f16`.
// Zero, subnormal and larger scales (e = 0 or ≥ 28) are built from s directly. 64-byte rows.
struct ScaleTables {
  const float* fraction = nullptr;             // [kScaleFractions][16]: fp32(fp16((q − 8)·(1 + f/1024)))
  const uint8_t* fraction_f16 = nullptr;       // [kScaleFractions][32]: those as fp16, low | high bytes
  const uint32_t* sign_exponent = nullptr;     // [kScaleSignExponents][16]: sign bit + (e − 15) << 23
  const uint8_t* sign_exponent_f16 = nullptr;  // [kScaleSignExponents][16]: 0x80·sign + 4·(e − 15)
};
// Built on first call (~102 KiB); throws std::bad_alloc.
const ScaleTables& GetScaleTables();

struct Problem {
  const uint8_t* qw = nullptr;       // kCpu codes
  const uint16_t* scales = nullptr;  // [n_pad][groups_pad] fp16 bits
  int64_t n = 0, n_pad = 0, k_pad = 0, group_eff = 0, groups_pad = 0;
  int64_t m = 0;
  const float* x = nullptr;     // gemv: fp32 [m][k_pad], zero-padded
  const float* xt = nullptr;    // gemm: fp32 [ceil(m/16)][k_pad][16], zero-padded (or k-group blocks)
  int xt_k_group = 0;           // gemm: xt's k group (KernelSet::gemm_k_group), 0 for the 16-row blocks
  const float* bias = nullptr;  // fp32 [n] or null
  uint16_t* y = nullptr;        // [m][n] fp16 bits
  const ScaleTables* tables = nullptr;  // GetScaleTables() (the driver sets it)
};

// A Problem for `m` rows of a kCpu weight: its codes, scales, sizes and the scale tables (x, xt,
// bias and y left for the caller).
Problem ProblemFor(const sparq::W4A16WeightView& w, int64_t m);


// Compute the output columns of units [u_begin, u_end) for every row: gemv units are column
// blocks (4 columns); gemm units are panels of kColsPerSuper columns.
using ColumnsFn = void (*)(const Problem& p, int64_t u_begin, int64_t u_end);

struct KernelSet {
  int gemv_max_m = 0;  // m <= this uses gemv
  ColumnsFn gemv = nullptr;
  ColumnsFn gemm = nullptr;  // null: gemv for every m
  // The gemv reads X in lane order (GemvLaneOrder): the driver permutes each 32-k chunk of X.
  bool gemv_x_lane_order = false;
  // The gemm reads X as k-group blocks of gemm_k_group(m) k (row_blocks.h KGroupRowBlocksF16;
  // AVX-512: pairs or quads by m), or (null) as 16-row blocks (RowBlocksF16).
  int (*gemm_k_group)(int64_t m) = nullptr;
};

// The k that lane j (0..15) of each 16-float half of a 32-k chunk holds in lane order: the AVX-512
// gemv broadcasts a column's 16 code bytes to the four 128-bit lanes and shifts lane L by 8·L, so
// dword j ends up with byte 4·(j % 4) + j / 4 in its low bits (w4a16_cpu_avx512.cc).
constexpr int GemvLaneOrder(int j) { return 4 * (j % 4) + j / 4; }

// The gemm path's per-thread scratch (the panel and C): at least `floats` floats, 64-byte aligned,
// zeroed when it grows, the same buffer until the next call on this thread. Defined in
// w4a16_scratch.cc, outside the ISA files: a std::vector there would be a weak template instance
// compiled under that file's target (STYLE.md §11).
float* GemmScratch(size_t floats);

namespace scalar { const KernelSet& Kernels(); }
namespace avx2 {
const KernelSet& Kernels();
// Tests: the fp16 bits of the 4 tables (16 per scale) the AVX2 kernels build for scales[0..3].
void GroupTablesForTest(const uint16_t scales[4], uint16_t* out);
}
namespace avx512 {
const KernelSet& Kernels();
// Tests: the 4 dequantisation tables (4 × 16 fp32, 16 per scale) the AVX-512 kernels build for
// scales[0..3] (one group, as the gemv's table route does).
void GroupTablesForTest(const uint16_t scales[4], float* out);
// Tests: the tables the gemv builds by conversion (single-row passes, 4-row passes at groups of
// 32), for `count` (≤ 256) consecutive scales of one row: out[16·i + q] for scale i.
void ConvertedTablesForTest(const uint16_t* scales, int64_t count, float* out);
// Tests: the 4 tables (4 × 16 fp32) the gemm's panel fill builds (BuildLut) for scales[0..3].
void PanelTablesForTest(const uint16_t scales[4], float* out);
// Tests: the gemv with every group's tables from BuildGroupLuts (the route of its other passes).
ColumnsFn TableGemvForTest();
}
// The avx512 gemv with each column's codes spread by one vpermb (AVX512_VBMI) instead of a
// broadcast and a variable shift; X in the same lane order, so the same bits as avx512's gemv.
namespace avx512vbmi { ColumnsFn DecodeGemv(); }
// The avx512 gemv with its tables built in fp16 math (AVX512-FP16 CPUs), or null when the compiler
// had no AVX512-FP16; the driver pairs it with avx512's gemm. Same bits as avx512's gemv.
namespace avx512fp16 { ColumnsFn DecodeGemv(); }

}  // namespace sparq::cpu::w4a16
