// native/cpu/sparse_cpu.h: per-ISA entry points of the sparse CPU matmul (driver: sparse_cpu.cc).
// Both formats are read straight from the encoded bytes (sparq/sparse.h); there is no CPU layout.
//
// The unit of work is one 64-row slab of W (its k_tiles tiles, in k order) against rows
// [i_begin, i_end) of X. Per tile the weights are expanded in the bitmap's own block order:
//   dec   fp32 [64 blocks][64]: dec[b][r·8 + c] = W(tile row BitmapBlockRow(b) + r,
//         tile col BitmapBlockCol(b) + c), 0 where nothing is stored (the block's bit order).
//   c     fp32 [i_end − i_begin][64 rows][8 lanes]: lane l of c[i][row] holds
//         Σ_{kk ≡ l mod 8} x[i][kk]·W(row, kk), accumulated in k order (tile by tile, and inside a
//         tile block column by block column), one FMA chain per lane whatever the ISA's vector
//         width, the path (direct or buffered) or how X rows are blocked — so the thread count and
//         the split of m never change a bit.
//   A 16-lane zmm covers two rows of c (c[i][2q..2q+1][0..8)); an 8-lane ymm one row. Either way
//   one block row of 8 weights meets the 8 x values of its columns lane by lane, so no lane ever
//   mixes columns of different k classes and no horizontal sum runs inside the k loop.
// The driver zeroes c, calls the kernel, then sums each row's 8 lanes with one fixed tree, adds the
// bias in fp32 and rounds to fp16 once.
//
// Paths per ISA:
//   direct    (small m: AVX-512 up to 6 rows, AVX2 1): each block is expanded into registers and
//             met by every X row at once (AVX-512, 1–3 rows: a 16-row quarter of the tile at a
//             time with its accumulators in registers).
//   buffered  (larger m): each tile is expanded into dec once (L1), then every row block of X runs
//             over it. Tiled-CSL always scatters into dec (its words carry their own locations).
#pragma once
#include <cstddef>
#include <cstdint>
#include <xmmintrin.h>

#include "sparq/sparse.h"

namespace sparq::cpu::sparse {

inline constexpr int kTileDim = 64;                      // rows and columns of one tile
inline constexpr int kBlockElems = 64;                   // 8×8 block
inline constexpr int kBlocksPerTile = 64;
inline constexpr int kDecElems = kTileDim * kTileDim;    // dec: one expanded tile
inline constexpr int kRowLanes = 8;                      // lanes of one c row: k mod 8
inline constexpr int kSlabCFloats = kTileDim * kRowLanes;  // c floats per X row per slab
inline constexpr int kHalvesSlack = 8;                   // AVX2 reads 8 halves from any value offset
inline constexpr int kAvx512DirectMaxRows = 6;           // AVX-512 direct path: up to this many X rows
inline constexpr int kRowsAccBlockFloats = kTileDim * kRowLanes * 16;  // rows kernel: one 16-row X block's accumulators

struct Problem {
  const uint64_t* bitmaps = nullptr;       // kBitmap: [tiles][64]
  const uint16_t* values = nullptr;        // kBitmap: fp16 bits
  const uint32_t* words = nullptr;         // kTiledCsl: value | location << 16
  const uint32_t* tile_offsets = nullptr;  // [tiles + 1]
  int64_t k_tiles = 0;
  int64_t tiles = 0;                       // slabs · k_tiles
  int64_t values_len = 0;                  // tile_offsets[tiles]: halves or words
  const float* x = nullptr;                // fp32 [m][k_pad], zero past k
  // The skip kernels' X (null for the others): fp32 [ceil(m/L)][k_pad][L], xt[blk][kk][i] =
  // x[L·blk + i][kk], zero past m, L = xt_lanes: 16, or 8 for the rows kernel at m <= 8 (a chunk's X
  // slice is then 16 KiB, not 32: it stays in L1 next to the lists streaming past).
  const float* xt = nullptr;
  int64_t xt_lanes = 16;
  // The weight's cpu row lists and/or lanes (header null when it has neither; has_lists(),
  // has_lanes()): the lists read by the rows kernel over them, the lanes by the lanes kernel and the
  // rows kernel over the lanes.
  sparq::sparse::CpuRows rows;
  // The lanes kernel's X (null for the others): the bytes of fp16 values, [m][lane_chunks][8][2][256],
  // 64-byte aligned: x_lanes[i][q][c][0][j] and [1][j] the low and high byte of
  // x[i][q·kLanesChunkK + 8·j + c], zero past k (its gather permutes bytes).
  const uint8_t* x_lanes = nullptr;
  int64_t k_pad = 0;
  const uint16_t* csl_slot = nullptr;      // [4096]: tiled-CSL location -> dec index b·64 + bit
};

// Per-thread buffers (64-byte aligned), owned by the driver.
struct Scratch {
  float* dec = nullptr;        // [kDecElems], all zero on entry and on return
  float* values32 = nullptr;   // [kDecElems + 16]: one tile's values as fp32 (AVX-512 bitmap)
  uint16_t* halves = nullptr;  // [kDecElems + kHalvesSlack]: the last tile's values, padded (AVX2)
  float* rows_acc = nullptr;   // the skip kernels' accumulators (or null): [kTileDim][kRowLanes][16]
                               // (bitmap skip), [⌈rows/16⌉][kTileDim][kRowLanes][16] (rows kernel),
                               // [rows][kRowLanes][32] (lanes kernel)
};

// Part `part` of `parts` (1, 2, 4 or 8) of bitmap tile t's 64 bitmaps and of its values into L1
// (nothing past the last tile): parts = 1 the whole tile. The AVX-512 bitmap kernel prefetches tile
// t + kPrefetchTilesAhead while it runs tile t: the expands read the values in place (vpexpandw's
// memory form) or right after a short conversion pass, too soon for the hardware prefetchers on a
// new ~1–4 KiB run per tile. Measured (4096², 2 threads, Zen 5, 2026-12-03): m = 1 fp16 expands
// 1.54 → 0.50 ms at 50%, 0.92 → 0.43 ms at 80%; fp32 expands 0–12% faster; 1 and 2 tiles ahead
// alike. The direct path spreads it over the tile, a part per half group or quarter: the whole tile
// at once is ~40 lines in one burst (2026-12-06, 4096² m = 4 at 50%, 1 thread: 2.08 → 1.91 ms; with
// the kernels out of line, 1.86 → 1.66–1.79). Inline, as a call inside QuarterTile would spill its
// live zmm (all caller-saved), and always_inline: GCC 12 finds a plain inline function made only of
// prefetches free of side effects and deletes every call to it. Plain SSE (no ISA target).
inline constexpr int64_t kPrefetchTilesAhead = 1;
// With one X row (the quarter walk at m = 1, the least work per tile) two tiles ahead: 2026-12-07,
// after the bits widening made that walk faster (4096², 2 threads, builds alternated by process,
// medians): 50% 0.482–0.486 → 0.468–0.474 ms, 30% 0.552–0.598 → 0.517–0.543; at 2 and 6 rows 2–6%
// slower, so they keep one.
inline constexpr int64_t kPrefetchTilesAheadOneRow = 2;
__attribute__((always_inline)) inline void PrefetchBitmapTile(const Problem& p, int64_t t, int part = 0, int parts = 1) {
  if (t >= p.tiles) return;
  constexpr int kLine = 64;
  constexpr int kBitmapLines = kBlocksPerTile * int(sizeof(uint64_t)) / kLine;  // 8
  const char* bitmaps = reinterpret_cast<const char*>(p.bitmaps + t * kBlocksPerTile);
  for (int l = kBitmapLines * part / parts; l < kBitmapLines * (part + 1) / parts; ++l)
    _mm_prefetch(bitmaps + l * kLine, _MM_HINT_T0);
  // The values' lines from the tile's first value's line to its last's (v1 exclusive).
  const uintptr_t v0 = reinterpret_cast<uintptr_t>(p.values + p.tile_offsets[t]) & ~uintptr_t(kLine - 1);
  const uintptr_t v1 = reinterpret_cast<uintptr_t>(p.values + p.tile_offsets[t + 1]);
  const int64_t lines = int64_t((v1 - v0 + kLine - 1) / kLine);
  for (int64_t l = lines * part / parts; l < lines * (part + 1) / parts; ++l)
    _mm_prefetch(reinterpret_cast<const char*>(v0 + uintptr_t(l) * kLine), _MM_HINT_T0);
}


// c[i][row][l] += acc[i / 16][row][l][i % 16] for the unit's `rows` X rows: the rows kernels'
// accumulators (X rows on the lanes, Scratch::rows_acc) into c's layout. Plain code.
void AddRowsAcc(const float* acc, int64_t rows, float* c);

// c[0 .. i_end − i_begin)[64][8] (+)= the slab's contribution, c zeroed by the caller.
using SlabFn = void (*)(const Problem& p, int64_t slab, int64_t i_begin, int64_t i_end, float* c,
                        const Scratch& s);

struct KernelSet {
  SlabFn bitmap = nullptr;
  SlabFn tiled_csl = nullptr;
  bool bitmap_scaled_x = false;  // the bitmap kernel reads Problem::x as X · kBitsXScale
};

namespace scalar { const KernelSet& Kernels(); }
namespace avx2 { const KernelSet& Kernels(); }
namespace avx512 { const KernelSet& Kernels(); }
// The bitmap kernel of avx512 with VBMI2 fp16 expands (same bits; CPUs with AVX512_VBMI2 only),
// widening the halves to fp32 by vcvtph2ps, or (bits) by placing their bits as w·2^−112 in fp32:
// that one reads X · kBitsXScale and is exact for finite weights with MXCSR.DAZ clear only
// (sparse_cpu_avx512vbmi2.cc).
inline constexpr float kBitsXScale = 0x1p112f;
namespace avx512vbmi2 { SlabFn BitmapSlabFn(); SlabFn BitmapBitsSlabFn(); SlabFn BitmapBitsOneRowSlabFn(); }
// The AVX-512 bitmap kernel that skips the zeros (sparse_cpu_avx512_skip.cc): X rows on the lanes,
// one FMA per stored weight per 16 rows, in the same per-lane order as the others, so the same
// bits for finite X (the driver keeps X with an Inf or NaN on the expanding kernels: there a zero
// weight's 0·Inf makes NaN, which a skipped weight cannot). Needs Problem::xt and
// Scratch::rows_acc.
namespace avx512skip { SlabFn BitmapSlabFn(); }
// The AVX-512 kernel over the weight's cpu row lists (sparse_cpu_avx512_rows.cc), either format:
// the skip kernel's idea with its accumulators in registers. Same bits, same conditions (finite X,
// Problem::xt), and Problem::rows. ymm up to 8 X rows per unit, zmm above.
namespace avx512rows { SlabFn RowsSlabFn(); }
// The same on AVX2 (sparse_cpu_avx2_rows.cc): ymm, 8 X rows per pass.
namespace avx2rows { SlabFn RowsSlabFn(); }
// The rows kernel over the weight's cpu lanes instead of its lists (sparse_cpu_avx512_lane_rows.cc):
// the same FMAs, fewer padding slots, so a weight with lanes needs no lists. Same bits, same
// conditions (finite X, Problem::xt, Scratch::rows_acc as the rows kernel's), Problem::rows with lanes.
namespace avx512lanerows { SlabFn LaneRowsSlabFn(); }
// The AVX-512 kernel over the weight's cpu lanes (sparse_cpu_avx512_lanes.cc; also needs
// AVX512_VBMI): 32 weight rows on fp16 lanes, their x values permuted from the chunk's class; for
// 1–8 X rows. Same bits, same conditions (finite X), and Problem::rows with lanes,
// Problem::x_lanes, Scratch::rows_acc.
namespace avx512lanes { SlabFn LanesSlabFn(); }

}  // namespace sparq::cpu::sparse
