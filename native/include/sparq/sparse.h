// sparq/sparse.h: unstructured-sparse fp16 weights × fp16 activations (DESIGN.md "sparse").
//
//   Y[m][n] = fp16(Σ_k X[m][k]·W[n][k] + bias[n]) over the stored entries, fp32 accumulation.
//
// A stored entry is any weight whose fp16 bits are not 0x0000 (so −0, subnormals and NaN are kept
// and read() returns the exact bits it was given). Both formats tile the padded weight into 64×64
// tiles (n_pad = ⌈n/64⌉·64 rows, k_pad = ⌈k/64⌉·64 columns; padding is zero and never stored).
// Tiles are numbered n-slab major, t = (row / 64)·k_tiles + (col / 64), so the tiles one 64-row slab
// needs along k are contiguous. Every backend reads the same encoded bytes (docs/formats.md "Sparse").
//
// kBitmap (SpInfer's idea, our layout): per tile 64 blocks of 8×8, one uint64 bitmap each, and
//   the stored values with no index.
//   - Block b = (w·4 + s)·4 + f of a tile covers rows 16w + 8·(f & 1) + 0..7 and columns
//     16s + 8·(f >> 1) + 0..7 (w = 16-row group 0..3, s = k16 step 0..3, f = the mma.m16n8k16 A
//     register a0..a3 that block feeds). Bit r·8 + c is set iff element (r, c) of the block is stored.
//   - values: fp16 bits; a tile's values are its blocks' in block order, each block's in bit order;
//     each tile's run is padded with 0x0000 to a multiple of 8 halves (16 bytes).
//   - tile_offsets[t] = first value of tile t, in halves; tile_offsets[tiles] = values length.
//   Bytes ≈ 2(1−s) + 0.125 per weight (+ 4 B per tile and ≤ 14 B padding per tile).
//
// kTiledCsl (Flash-LLM's): per tile, one uint32 word per stored entry: low 16 bits the fp16 value,
//   high 16 bits the location row·64 + (col ^ ((row & 7) << 3)) in the tile — the position in a
//   64×64 fp16 shared-memory tile of 128-byte rows whose 16-byte chunks are XOR-swizzled by row & 7
//   (sparse::TileSwizzledCol below), so a kernel scatters each value straight to its swizzled slot.
//   - Order inside a tile: word i belongs to store wave (i / 128, i % 4) — 128-word rounds, each a
//     16-byte load per lane of one warp (lane (i % 128) / 4, element i % 4). The encoder fills each
//     wave from distinct shared-memory banks (bank = (location / 2) % 32), fullest bank first, one
//     entry per bank while enough banks are non-empty: conflict-free until the tile's bank counts
//     run unevenly dry (measured: within 6% of the max(waves, fullest bank) bound, 2.5× fewer
//     cycles than row-major order; native/tests/sparse_format_test.cc).
//   - Each tile's words are padded to a multiple of 4 (16 bytes) with value 0x0000 at a location
//     that holds no stored entry (such a location exists whenever padding is needed).
//   - tile_offsets[t] = first word of tile t; tile_offsets[tiles] = words length.
//   Bytes ≈ 4(1−s) per weight (+ 4 B per tile and ≤ 12 B padding per tile).
//
// max_tile_units: the largest tile's padded length (halves for kBitmap, words for kTiledCsl). Kernels
// size their staging from it, so no density is too high (Flash-LLM drops entries below 50% sparsity).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "sparq/cpu.h"
#include "sparq/ops.h"
#include "sparq/status.h"

namespace sparq {

enum class SparseFormat : int32_t { kBitmap = 0, kTiledCsl = 1, kAuto = 2 };

namespace sparse {
constexpr int kTileRows = 64;         // weight rows (n) per tile
constexpr int kTileCols = 64;         // weight columns (k) per tile
constexpr int kTileElems = kTileRows * kTileCols;
constexpr int kBlocksPerTile = 64;    // 8×8 bitmap blocks per tile
constexpr int kValueAlignHalves = 8;  // bitmap: each tile's values start 16-byte aligned
constexpr int kWordAlign = 4;         // tiled-csl: each tile's words start 16-byte aligned
constexpr int kWaveWords = 128;       // tiled-csl: one warp's round of 16-byte loads

// Bitmap block b of a tile: its first row and column inside the tile.
constexpr inline int BitmapBlockRow(int b) { return 16 * (b >> 4) + 8 * (b & 1); }
constexpr inline int BitmapBlockCol(int b) { return 16 * ((b >> 2) & 3) + 8 * ((b >> 1) & 1); }
// The block holding in-tile element (row, col), and that element's bit in the block.
constexpr inline int BitmapBlockOf(int row, int col) {
  return ((row >> 4) * 4 + (col >> 4)) * 4 + ((col >> 3) & 1) * 2 + ((row >> 3) & 1);
}
constexpr inline int BitmapBitOf(int row, int col) { return (row & 7) * 8 + (col & 7); }

// Tiled-CSL location of in-tile element (row, col), and back.
constexpr inline int TileSwizzledCol(int row, int col) { return col ^ ((row & 7) << 3); }
constexpr inline uint32_t TiledCslLocation(int row, int col) { return uint32_t(row * kTileCols + TileSwizzledCol(row, col)); }
constexpr inline int TiledCslRow(uint32_t location) { return int(location) / kTileCols; }
constexpr inline int TiledCslCol(uint32_t location) {
  return TileSwizzledCol(TiledCslRow(location), int(location) % kTileCols);
}
constexpr inline int TiledCslBank(uint32_t location) { return int(location / 2) % 32; }
}  // namespace sparse

// Pointers + dims a kernel needs, in the backend's memory space (host for cpu/sim, device for
// cuda). Trivially copyable: the CUDA launcher passes it to kernels by value.
struct SparseWeightView {
  const uint64_t* bitmaps = nullptr;       // kBitmap: [tiles][64]; kTiledCsl: null
  const void* values = nullptr;            // kBitmap: uint16 values; kTiledCsl: uint32 words (16-byte aligned)
  const uint32_t* tile_offsets = nullptr;  // [tiles + 1], in halves (kBitmap) or words (kTiledCsl)
  int64_t n = 0, k = 0;                    // logical weight shape W[n][k]
  int64_t n_pad = 0, k_pad = 0;            // multiples of 64
  int64_t nnz = 0;                         // stored entries (padding excluded)
  int32_t max_tile_units = 0;              // largest tile's padded length, in the offsets' unit
  SparseFormat format = SparseFormat::kBitmap;
  // The cpu backend's row lists of the same weight (sparse::CpuRows below), or null: never on
  // sim or cuda, and absent on cpu when the weight was encoded without them.
  const void* cpu_rows = nullptr;
};
SPARQ_ASSERT_ABI_LAYOUT(SparseWeightView, 80);
static_assert(offsetof(SparseWeightView, n) == 24 && offsetof(SparseWeightView, nnz) == 56 &&
                  offsetof(SparseWeightView, max_tile_units) == 64 && offsetof(SparseWeightView, format) == 68 &&
                  offsetof(SparseWeightView, cpu_rows) == 72,
              "SparseWeightView layout");

struct SparseMatmulArgs {
  static constexpr const char* kOpName = "sparse.matmul";
  static constexpr int64_t kMaxM = kMaxIndexDim, kMaxN = kMaxIndexDim, kMaxK = kMaxIndexDim;

  SparseWeightView weight;
  const uint16_t* x = nullptr;     // [m][k] fp16 bits
  const uint16_t* bias = nullptr;  // [n] or null
  uint16_t* y = nullptr;           // [m][n]
  int64_t m = 0;
};
SPARQ_ASSERT_ABI_LAYOUT(SparseMatmulArgs, 112);
static_assert(offsetof(SparseMatmulArgs, x) == 80 && offsetof(SparseMatmulArgs, m) == 104, "SparseMatmulArgs layout");

struct SparseEncoded {
  SparseFormat format = SparseFormat::kBitmap;  // never kAuto
  int64_t n = 0, k = 0, n_pad = 0, k_pad = 0;
  int64_t nnz = 0;
  int32_t max_tile_units = 0;
  std::vector<uint64_t> bitmaps;       // kBitmap only
  std::vector<uint8_t> values;         // halves (kBitmap) or words (kTiledCsl), as bytes
  std::vector<uint32_t> tile_offsets;  // tiles + 1
  std::vector<uint8_t> cpu_rows;       // SparseBuildCpuRows's bytes, or empty (not a part of the format)

  int64_t tiles() const { return (n_pad / sparse::kTileRows) * (k_pad / sparse::kTileCols); }
  size_t bytes() const { return bitmaps.size() * 8 + values.size() + tile_offsets.size() * 4; }
  SparseWeightView view() const;  // over this struct's own host buffers (cpu and sim), cpu_rows too
  // The same dims over copies of the three buffers elsewhere (device memory), and the row lists at
  // cpu_rows_at (host memory, cpu backend only) or none.
  SparseWeightView view(const void* bitmaps_at, const void* values_at, const void* offsets_at,
                        const void* cpu_rows_at = nullptr) const;
};

// The cpu backend's row lists (docs/formats.md "CPU row lists"): the same stored weights, listed
// per weight row so that a kernel with X rows on the lanes spends one FMA per stored weight with
// its accumulators in registers (native/cpu/sparse_cpu_avx512_rows.cc). Not a format: built from the
// dense weight next to either format when the context runs on the cpu backend (unless the lanes
// below replace them), and read by nothing else. For weight row r (of n_pad) and k chunk q (chunk_k columns from q·chunk_k), the stored
// weights with k ≡ c (mod 8) form class c's list in increasing k; the 8 lists are interleaved in
// groups of 8 slots (slot c of group g = entry g of class c) and padded with zero weights to the
// longest list's length. A slot is its column's index within its class in the chunk, one byte
// (j = (k − q·chunk_k) / 8: the column is 8·j + c, c the slot's index in its group), and its fp16
// bits; a padding slot is (0, 0x0000). Memory: 3 bytes per slot + 8 per (row, chunk): at 50%
// sparsity ~1.8 bytes per weight, under dense fp16's 2 (2-byte offsets made it 2.37).
namespace sparse {
constexpr int kRowsChunkK = 512;  // columns per chunk: a 16-row X slice of 32 KiB (j < 64)
constexpr int kRowsClasses = 8;    // k mod 8: the accumulation lanes every sparse CPU kernel keeps
constexpr uint32_t kCpuRowsMagic = 0x53525736u;  // "SRW6": lists (or none: chunks 0), then lanes (or none)
struct CpuRowsHeader {
  uint32_t magic = kCpuRowsMagic;
  uint32_t chunk_k = kRowsChunkK;
  int64_t rows = 0;    // n_pad
  int64_t chunks = 0;  // ⌈k_pad / chunk_k⌉; 0: no lists (the lanes replace them)
  int64_t groups = 0;  // all (row, chunk) lists together
  // The lanes (below), after the lists; lane_chunks 0: none.
  int64_t lane_chunks = 0;  // ⌈k_pad / kLanesChunkK⌉
  int64_t lane_steps = 0;   // all (row group, chunk, class) runs' steps together
  int64_t lane_slots = 0;   // all runs' entries together: the stored weights (no padding is stored)
  // Stored weights that are Inf or NaN. The AVX-512 bitmap kernel that widens fp16 by placing its
  // bits in fp32 (native/cpu/sparse_cpu_avx512vbmi2.cc) is exact only for finite weights: it runs
  // where this is 0.
  int64_t nonfinite = 0;
};
// The cpu backend's lanes: the same stored weights laid out for a few X rows (decode), where the
// row lists' one FMA per stored weight for 1–6 of 16 lanes wastes the vector
// (native/cpu/sparse_cpu_avx512_lanes.cc, docs/formats.md "CPU lanes"); the rows kernel reads them
// too (sparse_cpu_avx512_lane_rows.cc), so where they are built the lists are not. 32 weight rows sit on the
// 32 fp16 lanes of a vector: for row group g (rows 32g..32g+31 of n_pad), chunk q (kLanesChunkK
// columns) and class c (k ≡ c mod 8) there is a run of steps. The run's LaneRun puts its 32 rows on
// lanes longest first (lane_row; ties by row), so that step s's active lanes — those whose row has
// more than s stored weights among the chunk's class-c columns — are always lanes 0..a_s−1. Step s
// stores only those: in lane l the s-th stored weight of row 32g + lane_row[l], in increasing k, and
// its column's index within the class (j = (k − q·kLanesChunkK) / 8 < 256: one byte), so that a kernel
// fetches the 32 x values of a step with permutes from the chunk's 256 class-c values and loads a
// step's weights as one vector whose lanes from a_s on (the next step's) it masks to zero. a_s is
// stored too (lane_active, a byte a step), so a kernel finds each step's start by a sum of bytes it
// reads in order, not by counting mask bits (which put a vector→integer move before every address). A run has
// as many steps as its longest row (length[0]); nothing is stored for the shorter rows past their end
// (until 2026-12-07 they were padded with zero weights: ~25% of the bytes at 80% sparsity). Runs are
// stored by group, then chunk, then class.
constexpr int kLanesRows = 32;        // weight rows per vector of fp16 lanes
constexpr int kLanesChunkK = 2048;    // columns per chunk: 256 per class, the reach of a byte
// Entries a kernel may read past a run's last one (a whole step's vector from the last step's start,
// and the pair's second step from there): the j and value arrays end with this many zero entries.
constexpr int kLanesTail = 64;
// One run's lane order (64-byte aligned, 128 bytes).
struct LaneRun {
  uint16_t length[kLanesRows];  // stored weights of lane l's row in the run, non-increasing in l
  uint8_t lane_row[kLanesRows]; // the row (0–31 in the group) on lane l
  uint8_t row_lane[kLanesRows]; // the lane of row r: lane_row's inverse
};
// Built instead of the lists (SparseBuildCpuRows, CpuLanes::kAuto) where at most this fraction of
// the weights is stored: from there the lanes kernel is the faster one at 1–6 X rows (70% and up;
// 65% mixed), and the rows kernel over the lanes measured level with the one over the lists at
// 70–80% (4096², m = 8–32; docs/kernels.md "The rows kernel over the lanes"), but 7–14% slower
// at 50–60% sparse, m = 3–16: there the lists stay.
constexpr double kLanesMaxDensity = 0.32;
// ... and where their steps × 32 lanes are at most this many per stored weight (random masks:
// 1.2–1.3; one dense row in every 32 of a 97%-sparse weight: ~10). Idle lanes are not stored, but
// the kernels spend a step's work on them.
constexpr double kLanesMaxSlotsPerStored = 2.0;
// Whether this CPU's sparse.encode builds the lanes (CpuLanes::kAuto, ≥ 68% sparse) and sparse.matmul
// takes the lanes kernel unforced (up to 6 X rows per work unit, 8 when ≥ 88% sparse): AVX-512
// and a core it was measured faster on (AMD Zen 5; docs/kernels.md "The lanes kernel"). Elsewhere
// SPARQ_SPARSE_SKIP=lanes still runs it on a weight that has them.
bool LanesPreferred();
// Where the arrays of a row-list buffer start (each 64-byte aligned after the header).
struct CpuRows {
  const CpuRowsHeader* header = nullptr;
  const int64_t* group_offsets = nullptr;  // [rows·chunks + 1]: first group of list CpuRowsListIndex
  bool has_lists() const { return header->chunks > 0; }
  bool has_lanes() const { return header->lane_chunks > 0; }
  const uint8_t* x_cols = nullptr;         // [groups·8]: j, the column 8·j + slot index in the chunk
  const uint16_t* values = nullptr;        // [groups·8] fp16 bits
  // The lanes (null when header->lane_chunks is 0).
  const int64_t* lane_first = nullptr;     // [rows / 32 + 1]: the first entry of each row group
  const LaneRun* lane_runs = nullptr;      // [rows / 32][lane_chunks][8]: each run's lane order
  const int64_t* lane_first_step = nullptr;  // [rows / 32 + 1]: the first step of each row group
  const uint8_t* lane_active = nullptr;    // [lane_steps + kLanesTail]: each step's active lanes (a_s)
  const uint8_t* lane_cols = nullptr;      // [lane_slots + kLanesTail]: j of each entry
  const uint16_t* lane_values = nullptr;   // [lane_slots + kLanesTail]: fp16 bits of each entry
};
CpuRows CpuRowsAt(const void* bytes);
// Lists are stored in the order a kernel walks them: by 64-row slab, then chunk, then row.
constexpr int64_t CpuRowsListIndex(const CpuRowsHeader& h, int64_t row, int64_t chunk) {
  return ((row / kTileRows) * h.chunks + chunk) * kTileRows + row % kTileRows;
}
}  // namespace sparse

// What SparseBuildCpuRows builds: kNone the lists alone; kAuto the lanes instead of the lists where
// few enough weights are stored (sparse::kLanesMaxDensity) and the lanes are not mostly padding
// (kLanesMaxSlotsPerStored), else the lists; kAlways both (tests: every kernel on every sparsity).
enum class CpuLanes : int32_t { kNone = 0, kAuto = 1, kAlways = 2 };

// Builds the row lists and/or the lanes of w[n][k] (fp16 bits; stored = bits not 0x0000, as in both
// formats), as `lanes` says. O(n·k) on up to `threads` threads (the same bytes for any count);
// callers run it off the JS thread. Errors as "<op>: …" (kOutOfMemory).
Status SparseBuildCpuRows(const uint16_t* w, int64_t n, int64_t k, std::vector<uint8_t>* out,
                          const char* op = "sparse.encode", CpuLanes lanes = CpuLanes::kAuto, int threads = 1);

// "bitmap" | "tiled-csl"; "auto" for kAuto.
const char* SparseFormatName(SparseFormat format);

// The one check of a sparse weight's shape: n, k ≥ 1 and ≤ kMaxIndexDim, else kShape "shape".
Status SparseCheckShape(const char* op, int64_t n, int64_t k);

// Encoded bytes of each format for this matrix, without encoding it (what kAuto compares).
struct SparseFormatSizes {
  int64_t nnz = 0;
  size_t bitmap_bytes = 0;
  size_t tiled_csl_bytes = 0;
};
Status SparseMeasure(const uint16_t* w, int64_t n, int64_t k, SparseFormatSizes* out, const char* op = "sparse.encode");

// Encodes w[n][k] (fp16 bits); kAuto picks the format with fewer bytes (bitmap on a tie).
// O(n·k) on up to `threads` threads (the same bytes for any count); callers run it off the JS
// thread. Errors as "<op>: …".
Status SparseEncode(const uint16_t* w, int64_t n, int64_t k, SparseFormat format, SparseEncoded* out,
                    const char* op = "sparse.encode", int threads = 1);

// Exact inverse: the dense w[n][k] (fp16 bits) the encoding holds. Also checks the encoding's
// internal consistency (offsets, padding, locations) and answers kArgument if it is broken.
Status SparseDecode(const SparseEncoded& encoded, std::vector<uint16_t>* w);
// The same into the caller's `w` (n·k values, every one written; its contents are unspecified on
// an error).
Status SparseDecode(const SparseEncoded& encoded, uint16_t* w);

// Magnitude pruning: zeroes the smallest-|w| entries so that round(sparsity·count) of them are 0
// (bits 0x0000), per row (count = k) or over the whole matrix (count = n·k). Ties keep the lower
// index; NaN counts as largest; entries already zero count toward the target. sparsity ∈ [0, 1].
enum class SparsePruneScope : int32_t { kRow = 0, kGlobal = 1 };
Status SparsePrune(const uint16_t* w, int64_t n, int64_t k, double sparsity, SparsePruneScope scope,
                   std::vector<uint16_t>* out, const char* op = "sparse.prune");
// The same into the caller's `out` (n·k values, may not overlap w; untouched on an error), rows on up
// to `threads` threads (the same values for any count; kGlobal runs on one).
Status SparsePrune(const uint16_t* w, int64_t n, int64_t k, double sparsity, SparsePruneScope scope, uint16_t* out,
                   const char* op = "sparse.prune", int threads = 1);

// Y[m][n] on the CPU from either format. x [m][k], bias [n] or null, y [m][n], fp16 bits; every
// element of y is written.
Status SparseMatmulCpu(const SparseWeightView& weight, const uint16_t* x, const uint16_t* bias, uint16_t* y,
                       int64_t m, cpu::Isa isa, cpu::ThreadPool& pool);

}  // namespace sparq

namespace sparq::sim {
struct SimOptions;  // sparq/sim.h
// Test hook: the sim op entry (sim::SparseMatmul) with the launcher's choices forced; 0 keeps the
// launcher's. m_tiles ∈ {1, 2, 4, 8} (never fewer than the rows need), splits ≥ 1 (capped at
// k_tiles and 16), stages 3 or 4. bytes_read sums every launch.
struct SparseForce {
  int m_tiles = 0, splits = 0, stages = 0;
};
Status SparseMatmulForced(const SparseMatmulArgs& args, const SparseForce& force, const SimOptions& options,
                          LaunchInfo* info);
}  // namespace sparq::sim
