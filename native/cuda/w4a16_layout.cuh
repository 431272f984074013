// native/cuda/w4a16_layout.cuh: pure index math of the W4A16 packed formats and of the CUDA
// kernel's partition, shared by formats/marlin_pack.cc, kernels/w4a16.cuh, cpu/ and the tests
// (STYLE.md §2: the packer, the comment and the kernel cannot drift). No CUDA headers needed.
//
// kGpu layout (one CTA tile = 128 n × 64 k = 4096 bytes, contiguous; tiles column-major):
//   tile (n_tile, k_tile) at byte (n_tile·k_tiles + k_tile)·4096
//   inside a tile: 8 chunks of 512 B, chunk w = 2·k16 + n64  (k16 step 0..3, n64 half 0..1);
//   chunk w is what warp w reads: lane l's 16 B = 4 u32, u32 j = the B fragments of the n8 mma
//   tiles 2j and 2j+1 (columns n64·64 + 16j + {g, 8+g}, g = l/4) for k = k16·16 + {2t, 2t+1,
//   2t+8, 2t+9} (t = l%4), nibbles interleaved for the 0x6400 dequant (two nibbles per half2):
//     nibble 0|4 = (k 2t | 2t+1, tile 2j)   → frag_b[2j].x[0]     (lo pair of pass 0)
//     nibble 1|5 = (k 2t+8 | 2t+9, tile 2j) → frag_b[2j].x[1]     (hi pair of pass 0)
//     nibble 2|6 = (k 2t | 2t+1, tile 2j+1) → frag_b[2j+1].x[0]   (lo pair of pass 1, q >> 8)
//     nibble 3|7 = (k 2t+8 | 2t+9, tile 2j+1) → frag_b[2j+1].x[1] (hi pair of pass 1)
//   scales: per (n_tile, group) 256 B = 2 halves × 8 g × 8 n8 tiles, so lane l's 16 B (chunk
//   n64·8 + g) are its scales for the 8 n8 tiles it holds.
// kCpu layout: column blocks of 4; per (block, 32 k) 64 B = 4 columns × 16 B; byte i of a column's
//   16 B = code(k0+i) | code(k0+16+i) << 4. Scales natural [n_pad][groups_pad].
#pragma once
#include <cstdint>

#ifndef SPARQ_W4A16_HD
#if defined(__CUDACC__)
#define SPARQ_W4A16_HD __host__ __device__ __forceinline__
#else
#define SPARQ_W4A16_HD inline
#endif
#endif

namespace sparq::w4a16 {

// ------------------------------------------------------------------------------ constants
inline constexpr int kMmaK = 16;                  // mma.m16n8k16 consumes k in steps of 16
inline constexpr int kMmaN = 8;                   // one mma covers 8 output columns
inline constexpr int kMmaM = 16;
inline constexpr int kWarpLanes = 32;
inline constexpr int kBlockN = 64;                // a warp's n span: 8 n8 tiles from one 16-B load
inline constexpr int kTileN = 128;                // a CTA tile's n: 2 warp spans
inline constexpr int kTileK = 64;                 // a CTA tile's k: 4 k16 steps, one per warp row
inline constexpr int kTileK16 = kTileK / kMmaK;   // 4
inline constexpr int kTileN64 = kTileN / kBlockN; // 2
inline constexpr int kU128Bytes = 16;             // one cp.async / one lane's fragment load
inline constexpr int kChunkBytes = kWarpLanes * kU128Bytes;           // 512: one warp's B slice
inline constexpr int kTileBytes = kTileN * kTileK / 2;                // 4096
inline constexpr int kTileChunks = kTileBytes / kChunkBytes;          // 8 = one per warp
inline constexpr int kScaleTileBytes = kTileN * 2;                    // 256: one group of a tile
inline constexpr int kSlabM = 64;                 // rows of X per kernel pass (4 m16 blocks)
inline constexpr int kHalvesPerU128 = 8;

inline constexpr int kCpuColBlock = 4;            // kCpu: columns interleaved per block
inline constexpr int kCpuChunkK = 32;             // kCpu: k per 16-byte column chunk
inline constexpr int kCpuChunkBytes = 16;

SPARQ_W4A16_HD constexpr int64_t RoundUp(int64_t a, int64_t b) { return (a + b - 1) / b * b; }
SPARQ_W4A16_HD constexpr int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

SPARQ_W4A16_HD constexpr int64_t GpuPadN(int64_t n) { return RoundUp(n, kTileN); }
SPARQ_W4A16_HD constexpr int64_t GpuPadK(int64_t k) { return RoundUp(k, kTileK); }
SPARQ_W4A16_HD constexpr int64_t CpuPadN(int64_t n) { return RoundUp(n, kCpuColBlock); }
SPARQ_W4A16_HD constexpr int64_t CpuPadK(int64_t k) { return RoundUp(k, kCpuChunkK); }
// k rows per scale inside a layout: per-channel (group == k) covers the padded k as one group.
SPARQ_W4A16_HD constexpr int64_t GroupSizeEff(int64_t group_size, int64_t k, int64_t k_pad) {
  return group_size == k ? k_pad : group_size;
}

// ------------------------------------------------------------------------------ kGpu weights
struct NibbleAt {
  int64_t word;  // u32 index into qweight
  int shift;     // bit offset of the nibble inside the word
};

// Where code (nn, kk) of W[n][k] lives in the kGpu layout (k_tiles = k_pad / kTileK).
SPARQ_W4A16_HD constexpr NibbleAt GpuNibble(int64_t nn, int64_t kk, int64_t k_tiles) {
  const int64_t n_tile = nn / kTileN, k_tile = kk / kTileK;
  const int nl = int(nn % kTileN), kl = int(kk % kTileK);
  const int n64 = nl / kBlockN, k16 = kl / kMmaK;
  const int c = nl % kBlockN, n8 = c / kMmaN, g = c % kMmaN;
  const int kr = kl % kMmaK, t = (kr % 8) / 2, upper = kr / 8, odd = kr % 2;
  const int lane = g * 4 + t, j = n8 / 2, second = n8 % 2;
  const int nib = second * 2 + upper + 4 * odd;
  const int64_t chunk = ((n_tile * k_tiles + k_tile) * kTileChunks) + (k16 * kTileN64 + n64);
  return {(chunk * kWarpLanes + lane) * 4 + j, 4 * nib};
}

// Index (in halves) of scale (nn, group) in the kGpu scale layout.
SPARQ_W4A16_HD constexpr int64_t GpuScaleIndex(int64_t nn, int64_t group, int64_t groups_pad) {
  const int64_t n_tile = nn / kTileN;
  const int nl = int(nn % kTileN), n64 = nl / kBlockN, c = nl % kBlockN;
  const int n8 = c / kMmaN, g = c % kMmaN;
  return ((n_tile * groups_pad + group) * kTileN64 + n64) * kBlockN + g * 8 + n8;
}

// ------------------------------------------------------------------------------ kCpu weights
struct ByteNibble {
  int64_t byte;
  int shift;  // 0 (low nibble) or 4
};
SPARQ_W4A16_HD constexpr ByteNibble CpuNibble(int64_t nn, int64_t kk, int64_t k_pad) {
  const int64_t block = nn / kCpuColBlock, chunk = kk / kCpuChunkK;
  const int col = int(nn % kCpuColBlock), kr = int(kk % kCpuChunkK);
  const int64_t chunks = k_pad / kCpuChunkK;
  return {((block * chunks + chunk) * kCpuColBlock + col) * kCpuChunkBytes + (kr % 16),
          kr >= 16 ? 4 : 0};
}

// ------------------------------------------------------------------------------ kernel maps
// mma.m16n8k16 C fragment: element i of lane → (row, col) inside the 16×8 tile.
SPARQ_W4A16_HD constexpr int FragCRow(int lane, int i) { return lane / 4 + 8 * (i / 2); }
SPARQ_W4A16_HD constexpr int FragCCol(int lane, int i) { return 2 * (lane % 4) + (i % 2); }

// A tile in smem: [rows][kTileK] fp16 = 8 chunks of 16 B per row; chunk c of row r is stored at
// c ^ (r % 8) so cp.async writes and ldmatrix reads (8 rows × one chunk) hit 8 distinct bank groups.
SPARQ_W4A16_HD constexpr int ASmemChunk(int row, int chunk) {
  return row * (kTileK / kHalvesPerU128) + (chunk ^ (row % 8));
}
// ldmatrix.x4 for the A operand of k16 step s: lane supplies row (lane % 16), chunk 2s + lane/16,
// giving regs {rows 0-7 k 0-7, rows 8-15 k 0-7, rows 0-7 k 8-15, rows 8-15 k 8-15} = frag_a order.
SPARQ_W4A16_HD constexpr int ALdmatrixRow(int lane) { return lane % 16; }
SPARQ_W4A16_HD constexpr int ALdmatrixChunk(int lane, int k16) { return 2 * k16 + lane / 16; }

// ------------------------------------------------------------------------------ striped partition
// Tiles (n_tile, k_tile) are numbered t = n_tile·k_tiles + k_tile (k fastest: a column of the
// output is a run of consecutive tiles). CTA c owns tiles [c·per, min(total, (c+1)·per)): a stripe
// may start or end inside a column and cross into the next one.
struct Stripes {
  int64_t k_tiles = 0, total = 0, per = 0;
  int ctas = 0;
};
SPARQ_W4A16_HD constexpr Stripes MakeStripes(int64_t n_tiles, int64_t k_tiles, int max_ctas) {
  Stripes s{};
  s.k_tiles = k_tiles;
  s.total = n_tiles * k_tiles;
  const int64_t want = max_ctas < 1 ? 1 : max_ctas;
  s.per = CeilDiv(s.total, want < s.total ? want : s.total);
  s.ctas = int(CeilDiv(s.total, s.per));
  return s;
}
SPARQ_W4A16_HD constexpr int64_t StripeBegin(const Stripes& s, int cta) { return cta * s.per; }
SPARQ_W4A16_HD constexpr int64_t StripeEnd(const Stripes& s, int cta) {
  return (cta + 1) * s.per < s.total ? (cta + 1) * s.per : s.total;
}
// CTAs contributing to output column n_tile: first (earliest k) .. last (latest k).
SPARQ_W4A16_HD constexpr int ColumnFirstCta(const Stripes& s, int64_t n_tile) {
  return int((n_tile * s.k_tiles) / s.per);
}
SPARQ_W4A16_HD constexpr int ColumnLastCta(const Stripes& s, int64_t n_tile) {
  return int(((n_tile + 1) * s.k_tiles - 1) / s.per);
}
// A contributor's slot in its column's partials: 0 for the CTA holding the column's first k
// tiles, in k order after that. The column's sum adds the slots in this order whoever arrives
// last, so the bits do not depend on which CTA finished when.
SPARQ_W4A16_HD constexpr int ColumnSlot(const Stripes& s, int64_t n_tile, int cta) {
  return cta - ColumnFirstCta(s, n_tile);
}
SPARQ_W4A16_HD constexpr int ColumnContributors(const Stripes& s, int64_t n_tile) {
  return ColumnLastCta(s, n_tile) - ColumnFirstCta(s, n_tile) + 1;
}
// The most contributors any column has: slots to reserve per column. A column of k_tiles tiles
// overlaps at most ceil((k_tiles − 1) / per) + 1 stripes of `per` tiles.
SPARQ_W4A16_HD constexpr int MaxColumnContributors(const Stripes& s) {
  const int64_t bound = (s.k_tiles - 1 + s.per - 1) / s.per + 1;
  return int(bound < s.ctas ? bound : s.ctas);
}

// ------------------------------------------------------------------------------ launch plan
// Shared by the nvcc launcher (cuda/w4a16.cu) and the simulator's (sim/w4a16_sim.cc).
inline constexpr int kStagesAmpere = 4;  // fits the 99 KB of sm_86/89/120: 4 × (4 KB codes + A)
inline constexpr int kStagesHopper = 8;  // 32 KB of codes in flight per SM (HBM3e latency); needs ~134 KB
// By SM major, for the simulator's default (it models an sm_90); the CUDA launcher chooses by the
// device's shared-memory capacity instead (ChooseStagesForSmem, cuda/w4a16_plan.cuh).
SPARQ_W4A16_HD constexpr int ChooseStages(int sm_major) { return sm_major >= 9 ? kStagesHopper : kStagesAmpere; }
SPARQ_W4A16_HD constexpr int ChooseMBlocks(int64_t m_slab) { return int(CeilDiv(m_slab, kMmaM)); }
SPARQ_W4A16_HD constexpr int64_t SlabCount(int64_t m) { return CeilDiv(m, kSlabM); }
// x needs a zero-padded copy when its rows are not 16-byte aligned for cp.async.
SPARQ_W4A16_HD constexpr bool NeedsPaddedX(int64_t k, uint64_t x_addr) { return k % 8 != 0 || x_addr % 16 != 0; }

// The caller-owned workspace, two blocks:
//   counters  [n_tiles] u32 arrivals per column: zero when first allocated, and every launch leaves
//             them zero (each column's last arrival resets its own), so the block must hold
//             nothing else — a region that once held partials would start a launch non-zero.
//   scratch   fp32 partials [n_tiles][slots][kSlabM][kTileN] (slots = MaxColumnContributors; none
//             when 1), then x_pad [m][k_pad] fp16 when x needs padding. No state between launches.
struct Workspace {
  int64_t counters_bytes = 0;
  int64_t partials_offset = 0, x_pad_offset = 0, scratch_bytes = 0;
  int slots = 0;
};
SPARQ_W4A16_HD constexpr Workspace MakeWorkspace(int64_t n_pad, int64_t k_pad, int64_t m, bool pad_x, int slots) {
  Workspace w{};
  const int64_t n_tiles = n_pad / kTileN;
  w.slots = slots;
  w.counters_bytes = RoundUp(n_tiles * 4, 256);
  w.partials_offset = 0;
  w.x_pad_offset = slots > 1 ? RoundUp(n_tiles * slots * kSlabM * kTileN * 4, 256) : 0;
  w.scratch_bytes = w.x_pad_offset + (pad_x ? RoundUp(m * k_pad * 2, 256) : 0);
  return w;
}

}  // namespace sparq::w4a16
