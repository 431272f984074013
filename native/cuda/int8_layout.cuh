// native/cuda/int8_layout.cuh: pure index math of the int8 (LLM.int8()) kernels (kernels/int8.cuh):
// tile constants, where a code lives in the packed weight and in the quantized activations, the
// instance per row slab, shared memory, the detection chunks and the workspace carve. Shared by the
// kernels, their launch plan (cuda/int8_plan.cuh) and the tests. No CUDA header needed.
//
// The packed weight (kGpu) is defined in sparq/int8.h; WeightCodeOffset restates GpuCodeOffset for
// device code (the tests compare the two over whole ranges).
#pragma once
#include <cstdint>

#include "layouts.cuh"

#if defined(__CUDACC__)
#define SPARQ_I8_HD __host__ __device__ __forceinline__
#else
#define SPARQ_I8_HD inline
#endif

namespace sparq::i8 {

// ------------------------------------------------------------------------------ constants
inline constexpr int kWarpLanes = 32;
inline constexpr int kMmaM = 16, kMmaN = 8, kMmaK = 32;  // mma.m16n8k32 s8
inline constexpr int kBlockK = 64;                      // one packed weight block: two k32 steps
inline constexpr int kBlockBytes = 512;                 // one (n8 tile, k64 block) of codes
inline constexpr int kLaneBytes = 16;                   // a lane's share of a block (one 16-B load)
inline constexpr int kSlabM = 64;                       // rows of X one GEMM CTA covers (≤ 4 m16 tiles)
inline constexpr int kMaxMTiles = kSlabM / kMmaM;
// GEMM CTA: kNTiles n8 tiles (32 output columns) × one slab; 8 warps split the k64 blocks.
inline constexpr int kNTiles = 4;
inline constexpr int kCtaCols = kNTiles * kMmaN;
inline constexpr int kGemmWarps = 8;
inline constexpr int kGemmThreads = kGemmWarps * kWarpLanes;
// Outlier columns the GEMM epilogue stages in shared memory; the rest are read from global memory.
inline constexpr int kOutlierCap = 64;
inline constexpr int kXoStride = kOutlierCap + 1;  // staged x rows: +1 float, so 8 rows hit 8 banks
// Detection: one thread per column, a CTA per 256 columns × one chunk of rows.
inline constexpr int kDetectThreads = 256;
inline constexpr int kDetectWarps = kDetectThreads / kWarpLanes;
inline constexpr int64_t kDetectMinRows = 64;
inline constexpr int64_t kMaxRowChunks = 32;
inline constexpr int kCompactThreads = 256;  // one CTA
inline constexpr int kCompactWarps = kCompactThreads / kWarpLanes;
inline constexpr int kQuantThreads = 128;    // one CTA per row of X
inline constexpr int kQuantWarps = kQuantThreads / kWarpLanes;
inline constexpr int kQuantGroupCols = 16;   // a quantize thread's columns: one 16-B store of CA
inline constexpr int64_t kMaxGridY = 65535;
inline constexpr float kScale = 127.0f, kScale2 = 16129.0f;

SPARQ_I8_HD constexpr int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
SPARQ_I8_HD constexpr int64_t RoundUp(int64_t a, int64_t b) { return CeilDiv(a, b) * b; }

// ------------------------------------------------------------------------------ code positions
// Column c of a k64 block, split as in a lane's 16 bytes: c % 64 = 32s + 16h + 4q + e, where s is
// the k32 step, h the fragment register (k 0-15 / 16-31 of the step), q the lane's threadID_in_group
// and e the byte. Both the packed weight and CA put the four words (s, h) of one q side by side, so
// one 16-byte load gives a lane both k32 steps of a k64 block.
SPARQ_I8_HD constexpr int LaneByteOfColumn(int64_t c) {
  const int r = int(c % kBlockK);
  const int s = r / 32, h = (r % 32) / 16, q = (r % 16) / 4, e = r % 4;
  return q * kLaneBytes + (s * 2 + h) * 4 + e;
}
// Byte of CB[j][c] in the packed weight (sparq/int8.h GpuCodeOffset): block (tile j/8, k block
// c/64), lane (g = j%8, q), then the byte above.
SPARQ_I8_HD constexpr int64_t WeightCodeOffset(int64_t j, int64_t c, int64_t k_pad) {
  return ((j / kMmaN) * (k_pad / kBlockK) + c / kBlockK) * kBlockBytes + (j % kMmaN) * 4 * kLaneBytes +
         LaneByteOfColumn(c);
}
// Byte of CA[i][c] in the workspace's quantized activations: rows of k_pad bytes, each k64 block
// permuted as a lane's bytes are, so lane (g, q) reads row g's block b as one 16-B load at
// 64b + 16q (words (s, h) = (0,0), (0,1), (1,0), (1,1)).
SPARQ_I8_HD constexpr int64_t CaOffset(int64_t i, int64_t c, int64_t k_pad) {
  return i * k_pad + (c / kBlockK) * kBlockK + LaneByteOfColumn(c);
}

// ------------------------------------------------------------------------------ instances
// m16 tiles of a slab of m_slab rows: 1, 2 or 4.
SPARQ_I8_HD constexpr int ChooseMTiles(int64_t m_slab) { return m_slab <= 16 ? 1 : m_slab <= 32 ? 2 : 4; }
// Rows of CA (and rowStat): every full slab, then the last slab's rows rounded up to its instance,
// so the GEMM reads whole m16 tiles that the quantize kernel zero-filled.
SPARQ_I8_HD constexpr int64_t CaRows(int64_t m) {
  return m / kSlabM * kSlabM + (m % kSlabM == 0 ? 0 : ChooseMTiles(m % kSlabM) * kMmaM);
}

// ------------------------------------------------------------------------------ shared memory
// GEMM: each warp's int32 partial accumulators, in fragment order [warp][(mt·kNTiles + nt)·4 + e][lane]
// (lane-contiguous: conflict-free stores and reads); with outliers also their dequantized weights
// [kOutlierCap][kCtaCols] and x values [M_TILES·16][kXoStride], fp32.
SPARQ_I8_HD constexpr int SlotInts(int m_tiles) { return kGemmWarps * m_tiles * kNTiles * 4 * kWarpLanes; }
SPARQ_I8_HD constexpr int OutlierWeightFloats() { return kOutlierCap * kCtaCols; }
SPARQ_I8_HD constexpr int OutlierXFloats(int m_tiles) { return m_tiles * kMmaM * kXoStride; }
inline constexpr int kGemmFlagBytes = 16;  // split k's "arrived last" word, first (keeps the rest 16-B aligned)
SPARQ_I8_HD constexpr int GemmSmemBytes(int m_tiles, bool outliers) {
  return kGemmFlagBytes + SlotInts(m_tiles) * 4 + (outliers ? (OutlierWeightFloats() + OutlierXFloats(m_tiles)) * 4 : 0);
}

// ------------------------------------------------------------------------------ detection chunks
// Rows per detection CTA: at least kDetectMinRows, and few enough chunks that the compaction CTA
// reads at most kMaxRowChunks bit words per 32 columns.
SPARQ_I8_HD constexpr int64_t DetectRowsPerChunk(int64_t m) {
  const int64_t even = CeilDiv(m, kMaxRowChunks);
  return even > kDetectMinRows ? even : kDetectMinRows;
}

// ------------------------------------------------------------------------------ workspace
// One block, parts 256-B aligned, no state between launches (every byte read is written first in
// the same call):
//   ca        [ca_rows][k_pad] int8, the CaOffset order; rows ≥ m and columns ≥ k are 0
//   row_stat  [ca_rows] fp32
//   partial   [row_chunks][k_words] u32: bit c%32 of word c/32 = chunk has |x| ≥ t in column c
//   mask      [k_words] u32: the OR over chunks (outlier columns)
// partial and mask exist only with a threshold.
struct Workspace {
  int64_t ca_rows = 0, k_words = 0, rows_per_chunk = 0, row_chunks = 0;
  int64_t ca_offset = 0, row_stat_offset = 0, partial_offset = 0, mask_offset = 0, bytes = 0;
};
SPARQ_I8_HD constexpr Workspace MakeWorkspace(int64_t m, int64_t k, int64_t k_pad, bool detect,
                                              int64_t rows_per_chunk) {
  Workspace w{};
  w.ca_rows = CaRows(m);
  w.k_words = CeilDiv(k, kWarpLanes);
  w.rows_per_chunk = detect ? rows_per_chunk : 0;
  w.row_chunks = detect ? CeilDiv(m, rows_per_chunk) : 0;
  w.ca_offset = 0;
  w.row_stat_offset = RoundUp(w.ca_rows * k_pad, 256);
  w.partial_offset = w.row_stat_offset + RoundUp(w.ca_rows * 4, 256);
  w.mask_offset = w.partial_offset + (detect ? RoundUp(w.row_chunks * w.k_words * 4, 256) : 0);
  w.bytes = w.mask_offset + (detect ? RoundUp(w.k_words * 4, 256) : 0);
  return w;
}

}  // namespace sparq::i8
