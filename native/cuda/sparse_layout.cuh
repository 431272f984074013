// native/cuda/sparse_layout.cuh: pure index math of the sparse matmul kernel (kernels/sparse.cuh):
// tile constants, the shared-memory carve, the split-K ranges and the workspace, shared by the
// kernel, its launch plan (cuda/sparse_plan.cuh) and the tests. No CUDA header needed.
//
// The encoded formats themselves are defined in sparq/sparse.h (kBitmap, kTiledCsl); the constants
// here restate the ones the kernel depends on and the plan static_asserts that they agree.
#pragma once
#include <cstdint>

#include "layouts.cuh"

#ifndef SPARQ_SPMM_HD
#if defined(__CUDACC__)
#define SPARQ_SPMM_HD __host__ __device__ __forceinline__
#else
#define SPARQ_SPMM_HD inline
#endif
#endif

namespace sparq::spmm {

// ------------------------------------------------------------------------------ constants
inline constexpr int kFormatBitmap = 0;    // SparseFormat::kBitmap
inline constexpr int kFormatTiledCsl = 1;  // SparseFormat::kTiledCsl

inline constexpr int kTileN = 64;   // weight rows (output columns n) per tile
inline constexpr int kTileK = 64;   // weight columns (k) per tile
inline constexpr int kMmaM = 16, kMmaN = 8, kMmaK = 16;
inline constexpr int kWarpLanes = 32;
inline constexpr int kWarps = kTileN / kMmaM;        // 4: warp w owns weight rows 16w..16w+15
inline constexpr int kThreads = kWarps * kWarpLanes;  // 128
inline constexpr int kK16Steps = kTileK / kMmaK;     // 4 mma k steps per tile
inline constexpr int kU128Bytes = 16;                // one cp.async
inline constexpr int kHalvesPerU128 = 8;
inline constexpr int kXChunksPerRow = kTileK / kHalvesPerU128;  // 8 chunks of 16 B per x row
inline constexpr int kXRowBytes = kTileK * 2;                   // 128
inline constexpr int kSlabM = 64;                    // x rows per launch (8 n8 mma tiles)
inline constexpr int kBlocksPerTile = 64;            // kBitmap: 8×8 blocks per tile
inline constexpr int kBlocksPerWarp = kBlocksPerTile / kWarps;  // 16, contiguous in block order
inline constexpr int kBitmapBytes = kBlocksPerTile * 8;         // 512
inline constexpr int kDenseTileBytes = kTileN * kTileK * 2;      // kTiledCsl: 8192, the decoded tile
inline constexpr int kDenseBuffers = 2;              // kTiledCsl: scatter tile i while tile i+1's is zeroed
inline constexpr int kLocationMask = kTileN * kTileK - 1;  // kTiledCsl: 12-bit slot of a word
inline constexpr int kOffsetRing = 8;                // per-tile (start, units) ring; needs STAGES < 8
inline constexpr int kMinStages = 3, kMaxStages = 4;
inline constexpr int kMaxSplits = 16;
inline constexpr int kMinKTilesPerSplit = 2;
inline constexpr int kSplitCtasPerSm = 4;            // small CTAs (4 warps): several per SM

SPARQ_SPMM_HD constexpr int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
SPARQ_SPMM_HD constexpr int64_t RoundUp(int64_t a, int64_t b) { return CeilDiv(a, b) * b; }

// ------------------------------------------------------------------------------ instances
// M_TILES = n8 mma tiles of x rows a launch covers: 1, 2, 4 or 8 (the slab's rows rounded up).
SPARQ_SPMM_HD constexpr int ChooseMTiles(int64_t m_slab) {
  return m_slab <= 8 ? 1 : m_slab <= 16 ? 2 : m_slab <= 32 ? 4 : 8;
}
SPARQ_SPMM_HD constexpr int64_t SlabCount(int64_t m) { return CeilDiv(m, kSlabM); }

// ------------------------------------------------------------------------------ shared memory
// x tile in a stage: [M_TILES·8 rows][8 chunks of 16 B], chunk c of row r at c ^ (r % 8), so the
// cp.async writes and the ldmatrix reads (8 rows, one chunk) hit 8 distinct 16-byte bank groups.
SPARQ_SPMM_HD constexpr int XChunk(int row, int chunk) {
  return row * kXChunksPerRow + layout::swizzle_chunk<kXChunksPerRow>(row, chunk);
}
// The decoded kTiledCsl tile [64][64] fp16: the same swizzle, so location = row·64 + (col ^ ((row & 7) << 3))
// is the half index, and the ldmatrix.x4 of warp w, k16 step s reads row 16w + lane % 16, chunk
// 2s + lane / 16.
SPARQ_SPMM_HD constexpr int DenseChunk(int row, int chunk) {
  return row * kXChunksPerRow + layout::swizzle_chunk<kXChunksPerRow>(row, chunk);
}
SPARQ_SPMM_HD constexpr int XStageBytes(int m_tiles) { return m_tiles * kMmaN * kXRowBytes; }
// Weight staging of one stage, sized from the weight's largest padded tile (max_tile_units), so
// a fully dense tile inside a sparse matrix fits: bitmaps + values, or words.
SPARQ_SPMM_HD constexpr int64_t WeightStageBytes(int format, int64_t max_tile_units) {
  return format == kFormatBitmap ? kBitmapBytes + RoundUp(max_tile_units * 2, kU128Bytes)
                                 : RoundUp(max_tile_units * 4, kU128Bytes);
}
SPARQ_SPMM_HD constexpr int64_t StageBytes(int format, int m_tiles, int64_t max_tile_units) {
  return XStageBytes(m_tiles) + WeightStageBytes(format, max_tile_units);
}
// After the stages: the decoded tiles (kTiledCsl), the offsets ring (8 B per entry), the
// last-arrival word (16 B).
SPARQ_SPMM_HD constexpr int64_t FixedSmemBytes(int format) {
  return (format == kFormatTiledCsl ? kDenseBuffers * kDenseTileBytes : 0) + kOffsetRing * 8 + 16;
}
SPARQ_SPMM_HD constexpr int64_t SmemBytes(int format, int m_tiles, int64_t max_tile_units, int stages) {
  return stages * StageBytes(format, m_tiles, max_tile_units) + FixedSmemBytes(format);
}

// ------------------------------------------------------------------------------ split-K
// Split z of `splits` takes k tiles [⌊z·k_tiles/splits⌋, ⌊(z+1)·k_tiles/splits⌋): the splits tile
// [0, k_tiles) in order, each non-empty when splits ≤ k_tiles.
struct KRange {
  int64_t begin, end;
};
SPARQ_SPMM_HD constexpr KRange SplitRange(int64_t k_tiles, int splits, int split) {
  return KRange{split * k_tiles / splits, (split + 1) * k_tiles / splits};
}
// Enough CTAs for kSplitCtasPerSm per SM when the n slabs alone leave SMs idle, never fewer than
// kMinKTilesPerSplit k tiles per split (a partial's store and re-read would outweigh its loads),
// never more than kMaxSplits slots per slab.
SPARQ_SPMM_HD constexpr int ChooseSplits(int64_t n_slabs, int64_t k_tiles, int sm_count) {
  const int64_t want = CeilDiv(int64_t(kSplitCtasPerSm) * (sm_count < 1 ? 1 : sm_count), n_slabs);
  int64_t most = k_tiles / kMinKTilesPerSplit;
  most = most < kMaxSplits ? most : kMaxSplits;
  const int64_t s = want < most ? want : most;
  return int(s < 1 ? 1 : s);
}
// fp32 partial slot of one CTA: element e of thread t at e·kThreads + t (coalesced; the last
// arrival's thread t reads back exactly the elements it holds).
SPARQ_SPMM_HD constexpr int SlotFloats(int m_tiles) { return m_tiles * 4 * kThreads; }

// The caller-owned workspace, two blocks:
//   counters  [n_slabs] u32 arrivals: zero when allocated, zero again after every launch (each
//             slab's last arrival resets its own), so the block holds nothing else.
//   scratch   fp32 partials [n_slabs][splits][SlotFloats(m_tiles)] (none when splits = 1), then
//             x_pad [m][k_pad] fp16 when x needs padding. No state between launches.
struct Workspace {
  int64_t counters_bytes = 0;
  int64_t partials_offset = 0, x_pad_offset = 0, scratch_bytes = 0;
};
SPARQ_SPMM_HD constexpr Workspace MakeWorkspace(int64_t n_slabs, int64_t k_pad, int64_t m, bool pad_x, int splits,
                                                int m_tiles) {
  Workspace w{};
  w.counters_bytes = RoundUp(n_slabs * 4, 256);
  w.partials_offset = 0;
  w.x_pad_offset = splits > 1 ? RoundUp(n_slabs * splits * SlotFloats(m_tiles) * 4, 256) : 0;
  w.scratch_bytes = w.x_pad_offset + (pad_x ? RoundUp(m * k_pad * 2, 256) : 0);
  return w;
}
// x needs a zero-padded copy when its rows are not 16-byte aligned for cp.async.
SPARQ_SPMM_HD constexpr bool NeedsPaddedX(int64_t k, uint64_t x_addr) { return k % 8 != 0 || x_addr % 16 != 0; }

}  // namespace sparq::spmm
