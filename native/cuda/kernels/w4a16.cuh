// native/cuda/kernels/w4a16.cuh: Y[m,n] = fp16(X[m,k] · dequant(Wq[n,k])ᵀ + bias), one m-slab
// (m ≤ 64) per launch; persistent grid, striped over (n, k) tiles; fp32 accumulation throughout.
//
// Layout (index maps in cuda/w4a16_layout.cuh, packer formats/marlin_pack.cc):
//   tile   128 n × 64 k of W = 4096 B of packed codes, contiguous; tiles column-major (k fastest).
//   warps  8; warp w = 2·w_k + w_n takes k16 step w_k of every tile and n64 half w_n (8 n8 mma
//          tiles); the 4 warps sharing w_n are reduced over k in smem when a column is done.
//   Bq     gmem → smem [STAGES][8 chunks][32 lanes][16 B], one cp.async per thread;
//          warp w reads chunk w: lane l (g = l/4, t = l%4) gets u32 j = frag_b of n8 tiles 2j,
//          2j+1 for k = 2t, 2t+1, 2t+8, 2t+9, col g; nibble order {0,4}{1,5}{2,6}{3,7} feeds the
//          0x6400 dequant: (q | 0x6400) as fp16 = 1024 + q, minus 1032 → q − 8 (exact);
//          (q<<4 | 0x6400) = 1024 + 16q, ·1/16 − 72 → q − 8 (exact fma); then mul.rn by the
//          scale = fp16((q − 8)·s), the contract's single rounding.
//   S      gmem [n_tile][group][2][8 g][8 n8] fp16 → smem [STAGES][2 rows][256 B]; lane's 16 B =
//          its 8 scales (chunk w_n·8 + g); row 1 only for group 32 (second group of the tile).
//          Loaded when a tile starts a group or a stripe's column; kept in frag_s otherwise.
//   A      gmem [m][k] fp16 → smem [STAGES][M_BLOCKS·16 rows][8 chunks of 16 B], chunk c of row r
//          at c ^ (r % 8); rows ≥ m zeroed once per launch (plain stores), k ≥ k_valid zero-filled
//          by cp.async (src-size 0); ldmatrix.x4 → frag_a.
//   C      frag_c per mma.m16n8k16: lane holds (row g, cols 2t, 2t+1) and (row g+8, same cols).
//   W_AS_A (slabs of m ≤ 8): the weights are the mma's A operand and X its B, D = W·Xᵀ is 16 n ×
//          8 tokens, so one mma covers 16 n instead of 8 and a tile needs half the mma (4 per warp,
//          not 8): at m ≤ 8 the 16-row A of the plain form is at least half zeros, and on the H200
//          the tensor pipe, not HBM, bounded the m = 1 tile (docs/kernels.md "W4A16 on the H200").
//          The registers are the same: the dequantized B fragments of n8 tiles 2j, 2j+1 are, in
//          the order {even.x0, odd.x0, even.x1, odd.x1}, the A fragment of n rows 16j..16j+15,
//          and X's B fragment (tokens 0-7) is regs {0, 2} of the same ldmatrix.x4. D's lane holds
//          (n 16j+g, tokens 2t, 2t+1) and (n 16j+8+g, same tokens): transposed into s_red.
//          Column done → s_red [M_BLOCKS·16][kRedStride] fp32 in fixed order w_k = 3,2,1,0 →
//          a column split over several CTAs: each writes its fp32 slot, then counts itself in
//          (atom.acq_rel on the column's counter); whoever arrives last adds the slots in k order
//          (ColumnSlot), the bias, writes fp16 Y and resets the counter. No CTA ever waits for
//          another, so the grid needs no co-residency.
// Pipeline: a ring of STAGES tile slots, filled by cp.async in commit groups ("stages") of
// TilesPerStage(STAGES) consecutive tiles of the stripe: 2 where the ring has 8 slots (8 KB of
// codes per stage, two 16-B cp.async of codes per thread, one wait and one barrier per 8 KB), 1 at
// 4 slots (pairs there would leave only one 8 KB stage in flight). At the first tile i of a
// stage: wait for its group, barrier (everyone is past the previous stage, whose slots are
// refilled next), issue the stage STAGES/TilesPerStage − 1 ahead; then compute the stage's tiles.
#pragma once
#include <cstdint>

#include "../ptx_prims.cuh"
#include "../w4a16_layout.cuh"

// Full unrolling keeps acc/frag arrays in registers (no local memory); g++ (simulator) ignores it.
#if defined(__CUDACC__)
#define SPARQ_W4A16_UNROLL _Pragma("unroll")
#else
#define SPARQ_W4A16_UNROLL
#endif

namespace sparq::w4a16 {

// ------------------------------------------------------------------------------ tile constants
inline constexpr int kThreads = 256;
inline constexpr int kWarps = kThreads / kWarpLanes;  // 8 = kTileK16 × kTileN64
static_assert(kWarps == kTileK16 * kTileN64, "one warp per (k16 step, n64 half) of a tile");
static_assert(kTileBytes == kThreads * kU128Bytes, "one 16-B cp.async per thread fills a B stage");
inline constexpr int kWarpN8 = kBlockN / kMmaN;                     // 8 n8 mma tiles per warp
inline constexpr int kAChunksPerRow = kTileK / kHalvesPerU128;       // 8
inline constexpr int kScaleRows = kTileK / 32;                       // 2: group 32 → 2 groups/tile
inline constexpr int kScaleStageBytes = kScaleRows * kScaleTileBytes;  // 512
inline constexpr int kRedStride = kTileN + 8;                        // fp32 row stride of s_red
inline constexpr uint32_t kNoColumn = 0xffffffffu;
inline constexpr int kWAsAMaxRows = kMmaN;  // the W_AS_A form's token columns: slabs of m ≤ 8

// Accumulator tiles per warp: 8 n8 tiles, or 4 n16 × token8 tiles when W is the A operand.
template <bool W_AS_A>
inline constexpr int kAccTiles = W_AS_A ? kWarpN8 / 2 : kWarpN8;

// Tiles per cp.async commit group for a ring of `stages` tile slots (see Pipeline above).
SPARQ_W4A16_HD constexpr int TilesPerStage(int stages) { return stages >= 8 ? 2 : 1; }

template <int M_BLOCKS, int STAGES>
struct W4a16Config {
  static constexpr int kRows = M_BLOCKS * kMmaM;
  static constexpr int kAStageBytes = kRows * kTileK * 2;
  static constexpr int kStageBytes = kTileBytes + kAStageBytes + kScaleStageBytes;
  static constexpr int kRedBytes = kRows * kRedStride * 4;
  static constexpr int kLastFlagBytes = 16;  // the "last arrival" word broadcast to the CTA
  static constexpr int kSmemBytes = STAGES * kStageBytes + kRedBytes + kLastFlagBytes;
  static_assert(M_BLOCKS >= 1 && M_BLOCKS * kMmaM <= kSlabM, "one slab is at most 64 rows");
  static constexpr int kTilesPerStage = TilesPerStage(STAGES);
  static constexpr int kGroups = STAGES / kTilesPerStage;  // commit groups the ring holds
  static_assert(STAGES % kTilesPerStage == 0, "whole stages in the ring");
  static_assert(kGroups >= 2 && kGroups <= 9, "cp.async.wait_group takes kGroups-2 < 8");
};

struct W4a16Params {
  const uint8_t* qweight;   // kGpu codes
  const uint16_t* scales;   // kGpu scales
  const uint16_t* x;        // slab rows, stride ldx halves, 16-B aligned rows
  const uint16_t* bias;     // [n] or null
  uint16_t* y;              // slab rows, stride n
  float* partials;          // [n_tiles][slots][kSlabM][kTileN] fp32 workspace
  uint32_t* counters;       // [n_tiles] arrivals per column; zero at launch, zero again at exit
  int slots;                // partial slots per column (MaxColumnContributors)
  int64_t ldx, k_valid;     // k_valid: x columns to read (multiple of 8), the rest are zeros
  int64_t n, groups_pad, group_eff;
  int m;                    // rows in this slab
  Stripes stripes;
};

struct alignas(16) W4Words { uint32_t x[4]; };  // one lane's 16 B of codes or scales

// ------------------------------------------------------------------------------ device helpers
// Where a stripe is: tile t, its (column, k tile), and the k tile's scale group and place in that
// group, all stepped by one per tile so the main loop does no division at all (the divisions are
// at the stripe's start). 32 bits hold the tile coordinates: n_tiles ≤ 2^23 and k_tiles ≤ 2^24
// under the 2^30 dim limits. tiles_per_group = tiles sharing one scale row: 1 for groups of 32 and
// 64, 2 for 128, k_tiles per-channel; `group` is used only when groups span whole tiles.
struct TileCursor {
  int64_t t;
  uint32_t n_tile, k_tile;
  uint32_t group, in_group;
};
SPARQ_DEVICE TileCursor CursorAt(const Stripes& s, int64_t t, uint32_t tiles_per_group) {
  const uint32_t k_tile = uint32_t(t % s.k_tiles);
  return TileCursor{t, uint32_t(t / s.k_tiles), k_tile, k_tile / tiles_per_group, k_tile % tiles_per_group};
}
SPARQ_DEVICE void Advance(TileCursor& c, uint32_t k_tiles, uint32_t tiles_per_group) {
  ++c.t;
  if (++c.in_group == tiles_per_group) {
    c.in_group = 0;
    ++c.group;
  }
  if (++c.k_tile == k_tiles) {
    c.k_tile = c.group = c.in_group = 0;
    ++c.n_tile;
  }
}
SPARQ_DEVICE bool LastOfColumn(const TileCursor& c, uint32_t k_tiles, int64_t t_end) {
  return c.t + 1 == t_end || c.k_tile + 1 == k_tiles;
}
// A tile loads scales when it starts the stripe, a column, or a group.
SPARQ_DEVICE bool NeedsScales(const TileCursor& c, int64_t t_begin) { return c.t == t_begin || c.in_group == 0; }

// Issue the cp.async of tile c (B, A's rows < m, and the scales it needs) into one stage. A's rows
// ≥ m were zeroed once, at the start (ZeroTailRows), and are never loaded.
template <int M_BLOCKS>
SPARQ_DEVICE void LoadTile(const W4a16Params& p, const TileCursor& c, bool scales, uint8_t* s_b, uint8_t* s_a,
                           uint8_t* s_s, int tid) {
  const int64_t k0 = int64_t(c.k_tile) * kTileK;
  cp_async_cg_16(s_b + tid * kU128Bytes, p.qweight + c.t * kTileBytes + tid * kU128Bytes, kU128Bytes);
  for (int ch = tid; ch < p.m * kAChunksPerRow; ch += kThreads) {
    const int row = ch / kAChunksPerRow, chunk = ch % kAChunksPerRow;
    const int64_t col = k0 + chunk * kHalvesPerU128;
    const bool valid = col < p.k_valid;
    const uint16_t* src = valid ? p.x + row * p.ldx + col : p.x;  // src-size 0 reads nothing: the k tail is zeros
    cp_async_cg_16(s_a + ASmemChunk(row, chunk) * kU128Bytes, src, valid ? kU128Bytes : 0);
  }
  const int rows = p.group_eff < kTileK ? kScaleRows : 1;
  if (scales && tid < rows * (kScaleTileBytes / kU128Bytes)) {
    const int row = tid / (kScaleTileBytes / kU128Bytes), chunk = tid % (kScaleTileBytes / kU128Bytes);
    // the tile's first group, in 32 bits: two groups per tile for groups of 32, else the cursor's
    const uint32_t group = p.group_eff < kTileK ? c.k_tile * uint32_t(kScaleRows) + uint32_t(row) : c.group;
    const uint16_t* src = p.scales + (int64_t(c.n_tile) * p.groups_pad + group) * kTileN + chunk * kHalvesPerU128;
    cp_async_cg_16(s_s + row * kScaleTileBytes + chunk * kU128Bytes, src, kU128Bytes);
  }
}

// A's rows m..M_BLOCKS·16−1 are zeros in every stage for the whole launch: written once here
// (plain stores; the main loop's first barrier orders them before any ldmatrix) instead of a
// zero-filling cp.async per row per tile.
template <int M_BLOCKS, int STAGES>
SPARQ_DEVICE void ZeroTailRows(uint8_t* s_a, int m, int tid) {
  using Cfg = W4a16Config<M_BLOCKS, STAGES>;
  const int tail_chunks = (Cfg::kRows - m) * kAChunksPerRow;
  for (int i = tid; i < STAGES * tail_chunks; i += kThreads) {
    const int stage = i / tail_chunks, ch = i % tail_chunks;
    const int row = m + ch / kAChunksPerRow, chunk = ch % kAChunksPerRow;
    *reinterpret_cast<W4Words*>(s_a + stage * Cfg::kAStageBytes + ASmemChunk(row, chunk) * kU128Bytes) = W4Words{};
  }
}

// Codes u32 j (n8 tiles 2j, 2j+1) → two scaled B fragments; s_pair = their scales (lo, hi).
SPARQ_DEVICE void DequantPair(uint32_t q, uint32_t s_pair, FragB_F16& b_even, FragB_F16& b_odd) {
  constexpr uint32_t kMagic = 0x64006400u;   // fp16 1024 | 1024
  constexpr uint32_t kLoMask = 0x000f000fu;  // nibbles 0 and 4
  constexpr uint32_t kHiMask = 0x00f000f0u;  // nibbles 1 and 5, ×16
  constexpr uint32_t k1032 = 0x64086408u;    // 1024 + zero point 8
  constexpr uint32_t kSixteenth = 0x2c002c00u;
  constexpr uint32_t kMinus72 = 0xd480d480u;  // −(1024/16 + 8)
  constexpr uint32_t kAndOr = (0xF0 & 0xCC) | 0xAA;  // lop3: (a & b) | c
  const uint32_t s_even = prmt_b32(s_pair, 0u, 0x1010u), s_odd = prmt_b32(s_pair, 0u, 0x3232u);
  const uint32_t q_hi = q >> 8;
  b_even.x[0] = mul_rn_f16x2(sub_rn_f16x2(lop3_b32<kAndOr>(q, kLoMask, kMagic), k1032), s_even);
  b_even.x[1] = mul_rn_f16x2(fma_rn_f16x2(lop3_b32<kAndOr>(q, kHiMask, kMagic), kSixteenth, kMinus72), s_even);
  b_odd.x[0] = mul_rn_f16x2(sub_rn_f16x2(lop3_b32<kAndOr>(q_hi, kLoMask, kMagic), k1032), s_odd);
  b_odd.x[1] = mul_rn_f16x2(fma_rn_f16x2(lop3_b32<kAndOr>(q_hi, kHiMask, kMagic), kSixteenth, kMinus72), s_odd);
}

// One warp's k16 step of one tile: M_BLOCKS × 8 mma, or 4 with W as the A operand.
template <int M_BLOCKS, bool W_AS_A>
SPARQ_DEVICE void ComputeTile(const uint8_t* s_b, const uint8_t* s_a, int warp, int lane, const W4Words& frag_s,
                              FragC_F32 (&acc)[M_BLOCKS][kAccTiles<W_AS_A>]) {
  const int w_k = warp / kTileN64;
  FragA_F16 frag_a[M_BLOCKS];
SPARQ_W4A16_UNROLL
  for (int mb = 0; mb < M_BLOCKS; ++mb) {
    const int row = mb * kMmaM + ALdmatrixRow(lane);
    ldmatrix_m8n8_x4_b16(frag_a[mb].x, s_a + ASmemChunk(row, ALdmatrixChunk(lane, w_k)) * kU128Bytes);
  }
  const W4Words frag_q = *reinterpret_cast<const W4Words*>(s_b + (warp * kWarpLanes + lane) * kU128Bytes);
  if constexpr (W_AS_A) {
    static_assert(M_BLOCKS == 1, "W as the A operand takes one slab of at most 8 tokens");
    const FragB_F16 x_cols{{frag_a[0].x[0], frag_a[0].x[2]}};  // tokens 0-7, k 0-7 and k 8-15
SPARQ_W4A16_UNROLL
    for (int j = 0; j < kWarpN8 / 2; ++j) {
      FragB_F16 b_even, b_odd;
      DequantPair(frag_q.x[j], frag_s.x[j], b_even, b_odd);
      const FragA_F16 w_rows{{b_even.x[0], b_odd.x[0], b_even.x[1], b_odd.x[1]}};
      mma_m16n8k16_f32_f16_f16_f32(acc[0][j], w_rows, x_cols, acc[0][j]);
    }
  } else {
SPARQ_W4A16_UNROLL
    for (int j = 0; j < kWarpN8 / 2; ++j) {
      FragB_F16 b_even, b_odd;
      DequantPair(frag_q.x[j], frag_s.x[j], b_even, b_odd);
SPARQ_W4A16_UNROLL
      for (int mb = 0; mb < M_BLOCKS; ++mb) {
        mma_m16n8k16_f32_f16_f16_f32(acc[mb][2 * j], frag_a[mb], b_even, acc[mb][2 * j]);
        mma_m16n8k16_f32_f16_f16_f32(acc[mb][2 * j + 1], frag_a[mb], b_odd, acc[mb][2 * j + 1]);
      }
    }
  }
}

// Two adjacent fp32 of s_red: one 8-byte shared access. A half warp's pairs (rows g, g+1..g+3,
// cols 2t, 2t+1) then cover all 32 banks once with kRedStride ≡ 8 (mod 32); 4-byte stores of the
// same elements were a 2-way conflict (rows g and g+4 share banks).
struct alignas(8) F32x2 {
  float x, y;
};

// W as the A operand: element i of acc tile j is D(n 16j + g (+8), token 2t (+1)), i.e. s_red
// ([token row][n col]) at the transpose of the mma's C layout.
SPARQ_DEVICE int WAsARedRow(int lane, int i) { return FragCCol(lane, i); }
SPARQ_DEVICE int WAsARedCol(int w_n, int j, int lane, int i) { return w_n * kBlockN + j * 2 * kMmaN + FragCRow(lane, i); }

// Sum the 4 k-warps' accumulators into s_red in the fixed order w_k = 3, 2, 1, 0; zero acc.
template <int M_BLOCKS, bool W_AS_A>
SPARQ_DEVICE void ReduceWarpsToSmem(float* s_red, int warp, int lane, FragC_F32 (&acc)[M_BLOCKS][kAccTiles<W_AS_A>]) {
  const int w_k = warp / kTileN64, w_n = warp % kTileN64;
  for (int step = kTileK16 - 1; step >= 0; --step) {
    if (w_k == step) {
      if constexpr (W_AS_A) {
        // D's pairs run along tokens, which are s_red's rows: 4-byte accesses, one row pair each.
SPARQ_W4A16_UNROLL
        for (int j = 0; j < kAccTiles<W_AS_A>; ++j)
SPARQ_W4A16_UNROLL
          for (int i = 0; i < 4; ++i) {
            float* dst = s_red + WAsARedRow(lane, i) * kRedStride + WAsARedCol(w_n, j, lane, i);
            *dst = step == kTileK16 - 1 ? acc[0][j].x[i] : *dst + acc[0][j].x[i];
            acc[0][j].x[i] = 0.f;
          }
      } else {
SPARQ_W4A16_UNROLL
        for (int mb = 0; mb < M_BLOCKS; ++mb)
SPARQ_W4A16_UNROLL
          for (int j8 = 0; j8 < kWarpN8; ++j8)
SPARQ_W4A16_UNROLL
            for (int half = 0; half < 2; ++half) {  // frag_c {0,1}: row g; {2,3}: row g + 8
              const int row = mb * kMmaM + FragCRow(lane, 2 * half);
              const int col = w_n * kBlockN + j8 * kMmaN + FragCCol(lane, 0);
              F32x2* dst = reinterpret_cast<F32x2*>(s_red + row * kRedStride + col);
              const F32x2 mine{acc[mb][j8].x[2 * half], acc[mb][j8].x[2 * half + 1]};
              if (step == kTileK16 - 1) {
                *dst = mine;
              } else {
                const F32x2 sum = *dst;
                *dst = F32x2{sum.x + mine.x, sum.y + mine.y};
              }
              acc[mb][j8].x[2 * half] = 0.f;
              acc[mb][j8].x[2 * half + 1] = 0.f;
            }
      }
    }
    syncthreads();
  }
}

// The CTA's partial of column n_tile (in s_red) meets the column's other contributors without
// waiting for any: alone, it writes Y; else it publishes its fp32 slot and counts itself in, and
// the CTA that arrives last sums every slot in slot order (k order: the same bits whoever is last),
// adds the bias, rounds once to fp16, writes Y and resets the counter for the next launch.
SPARQ_DEVICE void ReduceColumnGlobal(const W4a16Params& p, const float* s_red, int64_t n_tile, int cta, int tid,
                                     uint32_t* s_last) {
  const int count = ColumnContributors(p.stripes, n_tile);
  const int mine = ColumnSlot(p.stripes, n_tile, cta);
  const float* g_slots = p.partials + n_tile * p.slots * kSlabM * kTileN;  // [slots][kSlabM][kTileN]
  if (count > 1) {
    float* g_mine = const_cast<float*>(g_slots) + mine * kSlabM * kTileN;
    for (int e = tid; e < p.m * kTileN; e += kThreads) g_store(g_mine + e, s_red[(e / kTileN) * kRedStride + e % kTileN]);
    syncthreads();  // the whole slot is written before one thread announces it
    if (tid == 0) {
      // The fence makes the whole CTA's slot (ordered before it by the barrier) visible at gpu
      // scope; acq_rel on the counter then publishes it and, for the last arrival, acquires every
      // earlier contributor's slot (the barrier below hands that on to the CTA's other threads).
      fence_acq_rel_gpu();
      const uint32_t before = atom_add_acq_rel_gpu_u32(p.counters + n_tile, 1u);
      *s_last = before == uint32_t(count - 1) ? 1u : 0u;
    }
    syncthreads();
    if (*s_last == 0u) return;  // uniform: not the last arrival, its slot is published
  }
  for (int e = tid; e < p.m * kTileN; e += kThreads) {
    const int row = e / kTileN, col = e % kTileN;
    const int64_t n_col = n_tile * kTileN + col;
    if (n_col >= p.n) continue;
    float v = 0.f;
    for (int slot = 0; slot < count; ++slot)
      v += slot == mine ? s_red[row * kRedStride + col] : g_load(g_slots + slot * kSlabM * kTileN + e);
    if (p.bias != nullptr) v += cvt_f32_f16(g_load(p.bias + n_col));
    g_store(p.y + row * p.n + n_col, cvt_rn_f16_f32(v));
  }
  if (count > 1 && tid == 0) g_store(p.counters + n_tile, 0u);  // stream order makes it visible to the next launch
}

// ------------------------------------------------------------------------------ kernel
// M_BLOCKS = 1: at most 128 registers, so two CTAs fit an SM (SPARQ_W4A16_CTAS_PER_SM=2).
template <int M_BLOCKS, int STAGES, bool W_AS_A = false>
__global__ void __launch_bounds__(kThreads, M_BLOCKS == 1 ? 2 : 1) w4a16_gemm_kernel(const W4a16Params p) {
  using Cfg = W4a16Config<M_BLOCKS, STAGES>;
  SPARQ_DYN_SMEM(uint8_t, smem);
  uint8_t* const s_b = smem;                                 // [STAGES][kTileBytes]
  uint8_t* const s_a = s_b + STAGES * kTileBytes;            // [STAGES][kAStageBytes]
  uint8_t* const s_s = s_a + STAGES * Cfg::kAStageBytes;     // [STAGES][kScaleStageBytes]
  float* const s_red = reinterpret_cast<float*>(s_s + STAGES * kScaleStageBytes);  // [kRows][kRedStride]
  uint32_t* const s_last = reinterpret_cast<uint32_t*>(s_red + Cfg::kRows * kRedStride);  // one word

  const int tid = int(threadIdx.x), warp = tid / kWarpLanes, lane = tid % kWarpLanes;
  const int cta = int(blockIdx.x);
  const int64_t t_begin = StripeBegin(p.stripes, cta), t_end = StripeEnd(p.stripes, cta);
  const int64_t tiles = t_end - t_begin;
  const uint32_t k_tiles = uint32_t(p.stripes.k_tiles);
  const uint32_t tiles_per_group = p.group_eff > kTileK ? uint32_t(p.group_eff / kTileK) : 1u;

  constexpr int kPer = Cfg::kTilesPerStage;
  ZeroTailRows<M_BLOCKS, STAGES>(s_a, p.m, tid);
  TileCursor load = CursorAt(p.stripes, t_begin, tiles_per_group);  // the next tile to issue
  for (int s = 0; s < (Cfg::kGroups - 1) * kPer; ++s) {
    if (load.t < t_end) {
      LoadTile<M_BLOCKS>(p, load, NeedsScales(load, t_begin), s_b + s * kTileBytes, s_a + s * Cfg::kAStageBytes,
                         s_s + s * kScaleStageBytes, tid);
      Advance(load, k_tiles, tiles_per_group);
    }
    if (s % kPer == kPer - 1) cp_async_commit_group();
  }

  FragC_F32 acc[M_BLOCKS][kAccTiles<W_AS_A>];
SPARQ_W4A16_UNROLL
  for (int mb = 0; mb < M_BLOCKS; ++mb)
SPARQ_W4A16_UNROLL
    for (int j = 0; j < kAccTiles<W_AS_A>; ++j) acc[mb][j] = FragC_F32{{0.f, 0.f, 0.f, 0.f}};
  W4Words frag_s{};

  TileCursor cur = CursorAt(p.stripes, t_begin, tiles_per_group);  // the tile computed now
  int slot = 0, slot_next = STAGES - kPer;             // ring slots of cur and of load
  for (int64_t i = 0; i < tiles; ++i) {
    if (i % kPer == 0) {  // the first tile of a stage: its group has landed once all but the newest kGroups-2 have
      cp_async_wait_group<Cfg::kGroups - 2>();
      syncthreads();
      for (int h = 0; h < kPer; ++h) {
        if (load.t < t_end) {
          LoadTile<M_BLOCKS>(p, load, NeedsScales(load, t_begin), s_b + slot_next * kTileBytes,
                             s_a + slot_next * Cfg::kAStageBytes, s_s + slot_next * kScaleStageBytes, tid);
          Advance(load, k_tiles, tiles_per_group);
        }
        slot_next = slot_next + 1 == STAGES ? 0 : slot_next + 1;
      }
      cp_async_commit_group();
    }

    if (NeedsScales(cur, t_begin)) {
      const int row = (p.group_eff < kTileK && warp / kTileN64 >= kTileK16 / 2) ? 1 : 0;
      const int chunk = (warp % kTileN64) * 8 + lane / 4;
      frag_s = *reinterpret_cast<const W4Words*>(s_s + slot * kScaleStageBytes + row * kScaleTileBytes +
                                                 chunk * kU128Bytes);
    }
    ComputeTile<M_BLOCKS, W_AS_A>(s_b + slot * kTileBytes, s_a + slot * Cfg::kAStageBytes, warp, lane, frag_s, acc);

    if (LastOfColumn(cur, k_tiles, t_end)) {
      ReduceWarpsToSmem<M_BLOCKS, W_AS_A>(s_red, warp, lane, acc);
      ReduceColumnGlobal(p, s_red, cur.n_tile, cta, tid, s_last);
      syncthreads();  // s_red is rewritten by the next column
    }
    Advance(cur, k_tiles, tiles_per_group);
    slot = slot + 1 == STAGES ? 0 : slot + 1;
  }
  cp_async_wait_group<0>();
}

}  // namespace sparq::w4a16
