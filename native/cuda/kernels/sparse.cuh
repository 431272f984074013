// native/cuda/kernels/sparse.cuh: Y[m,n] = fp16(Σ_k X[m,k]·W[n,k] + bias[n]) for an unstructured-
// sparse W (sparq/sparse.h: kBitmap or kTiledCsl, 64×64 tiles), one m-slab (m ≤ 64) per launch;
// fp32 accumulation; Load-as-Sparse, Compute-as-Dense on mma.sync.m16n8k16.
//
// Layout (index maps in cuda/sparse_layout.cuh, formats in sparq/sparse.h):
//   grid   (n_slabs, splits): CTA (slab, z) owns weight rows 64·slab.. (64 output columns) and the
//          k tiles SplitRange(k_tiles, splits, z); tile t = slab·k_tiles + k_tile is contiguous in
//          both formats. 4 warps; warp w owns weight rows 16w..16w+15 of every tile.
//   mma    A = W (16 rows n × 16 k), B = Xᵀ (16 k × 8 m: mma "n8" = 8 rows of x), D = Yᵀ.
//          Lane l (g = l/4, t = l%4) holds D (n = 16w + g (+8), m = 8·mt + 2t, 2t+1).
//   W      gmem → smem stage by cp.async, predicated on the tile's length from
//          tile_offsets (thread 0 reads each offset once, ahead of the tile, into s_off):
//          kBitmap: 512 B of bitmaps + the values (units halves); decoded straight into frag_a:
//            lane l owns bits 2l, 2l+1 of each 8×8 block (its a-register halves), in the block's low
//            32-bit word for l < 16, its high word above; value offset = the start of that word's
//            values + popc(word & bits below 2l mod 32). Word starts from one warp scan per tile
//            (lane l counts blocks 2l, 2l+1, a word at a time), then one shfl per block.
//          kTiledCsl: units words; every word's value stored at s_dense[location & 4095] of a zeroed
//            [64][64] fp16 tile whose 16-B chunks are XOR-swizzled by row & 7 (the encoder's location
//            is that slot); a warp's 16-B loads of one round hit 32 distinct banks (encoder order);
//            then ldmatrix.x4 (row 16w + l%16, chunk 2s + l/16) → frag_a.
//   X      gmem [m][k] fp16 → smem [M_TILES·8 rows][8 chunks of 16 B], chunk c of row r at c ^ (r%8);
//          rows ≥ m zeroed once per launch, columns ≥ k_valid zero-filled by cp.async (src-size 0);
//          ldmatrix.x4 at layout::ldmatrix_x4_b_nmajor_rows → frag_b of two m8 tiles (x2 for an odd
//          last one).
//   C      FragC_F32 acc[M_TILES]; alone (splits = 1): + bias (fp32), one rounding, stored. Split:
//          each CTA stores its fp32 slot [slab][z][e·128 + tid], barrier, thread 0 fence + atom.acq_rel
//          on the slab's counter; the last arrival (whichever) sums slots 0..splits−1 in that order,
//          adds bias, rounds once, writes Y and resets the counter. No CTA waits for another.
// Pipeline: STAGES-deep cp.async ring (3 or 4, by shared memory), one commit group per tile. At
// tile i: wait for group i, barrier (everyone is past tile i−1, whose slot is refilled next), issue
// tile i+STAGES−1, decode + compute tile i. kTiledCsl adds one barrier: zero the other dense buffer
// (for tile i+1) and scatter tile i, barrier, ldmatrix + mma.
#pragma once
#include <cstdint>

#include "../layouts.cuh"
#include "../ptx_prims.cuh"
#include "../sparse_layout.cuh"

// Full unrolling keeps acc/frag arrays in registers (no local memory); g++ (simulator) ignores it.
#if defined(__CUDACC__)
#define SPARQ_SPMM_UNROLL _Pragma("unroll")
#else
#define SPARQ_SPMM_UNROLL
#endif

namespace sparq::spmm {

struct SparseParams {
  const uint64_t* bitmaps;        // kBitmap: [tiles][64]; else null
  const uint8_t* values;          // kBitmap: fp16 values; kTiledCsl: uint32 words (16-B aligned)
  const uint32_t* tile_offsets;   // [tiles + 1], halves or words
  const uint16_t* x;              // slab rows, stride ldx halves, 16-B aligned rows
  const uint16_t* bias;           // [n] or null
  uint16_t* y;                    // slab rows, stride n
  float* partials;                // [n_slabs][splits][SlotFloats(M_TILES)]
  uint32_t* counters;             // [n_slabs]; zero at launch, zero again at exit
  int64_t ldx, k_valid;           // k_valid: x columns to read (multiple of 8), the rest are zeros
  int64_t n, k_tiles;
  int m;                          // rows in this slab
  int splits;                     // gridDim.y
  int stages;                     // kMinStages..kMaxStages
  int stage_bytes;                // StageBytes(format, M_TILES, max_tile_units)
};

struct TileOff {
  uint32_t start, units;  // first half/word of the tile, its padded length
};

// ------------------------------------------------------------------------------ device helpers
// cp.async.wait_group STAGES−2 for a run-time STAGES (the immediate needs a constant).
SPARQ_DEVICE void WaitForOldest(int stages) {
  if (stages == kMinStages) cp_async_wait_group<kMinStages - 2>();
  else cp_async_wait_group<kMaxStages - 2>();
}

// Thread 0 reads tile j's end offset (its start is the previous end, kept in `prev`) into the
// ring: every offset is read once per CTA, ahead of the tile's issue, and published by a barrier.
SPARQ_DEVICE void FetchOffsets(const SparseParams& p, int64_t t, int64_t j, uint32_t& prev, TileOff* s_off) {
  const uint32_t end = g_load(p.tile_offsets + t + 1);
  s_off[j % kOffsetRing] = TileOff{prev, end - prev};
  prev = end;
}

// Issue tile t (local j) into a stage: x rows < m of k tile k0.., then the weight bytes.
template <int FORMAT, int M_TILES>
SPARQ_DEVICE void IssueTile(const SparseParams& p, uint8_t* s_stage, int64_t t, int64_t k0, const TileOff& off,
                            int tid) {
  for (int ch = tid; ch < p.m * kXChunksPerRow; ch += kThreads) {
    const int row = ch / kXChunksPerRow, chunk = ch % kXChunksPerRow;
    const int64_t col = k0 + chunk * kHalvesPerU128;
    const bool valid = col < p.k_valid;
    const uint16_t* src = valid ? p.x + row * p.ldx + col : p.x;  // src-size 0 reads nothing: the k tail is zeros
    cp_async_cg_16(s_stage + XChunk(row, chunk) * kU128Bytes, src, valid ? kU128Bytes : 0);
  }
  uint8_t* s_w = s_stage + XStageBytes(M_TILES);
  const uint8_t* g_w;
  int chunks;
  if (FORMAT == kFormatBitmap) {
    if (tid < kBitmapBytes / kU128Bytes)
      cp_async_cg_16(s_w + tid * kU128Bytes, p.bitmaps + t * kBlocksPerTile + tid * 2, kU128Bytes);
    s_w += kBitmapBytes;
    g_w = p.values + int64_t(off.start) * 2;
    chunks = int(off.units / kHalvesPerU128);
  } else {
    g_w = p.values + int64_t(off.start) * 4;
    chunks = int(off.units / 4);
  }
  for (int c = tid; c < chunks; c += kThreads)  // only the tile's own bytes: nothing past its length
    cp_async_cg_16(s_w + c * kU128Bytes, g_w + c * kU128Bytes, kU128Bytes);
}

// x rows m..M_TILES·8−1 are zeros in every stage for the whole launch (plain stores, ordered before
// any ldmatrix by the first barrier), never loaded.
template <int M_TILES>
SPARQ_DEVICE void ZeroXTail(uint8_t* s_stages, const SparseParams& p, int tid) {
  const int tail_chunks = (M_TILES * kMmaN - p.m) * kXChunksPerRow;
  for (int i = tid; i < p.stages * tail_chunks; i += kThreads) {
    const int stage = i / tail_chunks, ch = i % tail_chunks;
    const int row = p.m + ch / kXChunksPerRow, chunk = ch % kXChunksPerRow;
    *reinterpret_cast<U32x4*>(s_stages + stage * p.stage_bytes + XChunk(row, chunk) * kU128Bytes) = U32x4{};
  }
}

SPARQ_DEVICE void ZeroDense(uint8_t* s_dense, int tid) {
  for (int c = tid; c < kDenseTileBytes / kU128Bytes; c += kThreads)
    *reinterpret_cast<U32x4*>(s_dense + c * kU128Bytes) = U32x4{};
}

// kTiledCsl: each word's value to its (pre-swizzled) slot; thread tid takes the 16-B loads
// tid, tid + 128, …, so warp w's lanes run the encoder's round w, w + 4, … (bank-conflict free).
SPARQ_DEVICE void ScatterTile(const uint8_t* s_words, uint32_t units, uint8_t* s_dense, int tid) {
  uint16_t* const s_tile = reinterpret_cast<uint16_t*>(s_dense);
  for (int c = tid; c < int(units / 4); c += kThreads) {
    const U32x4 w = *reinterpret_cast<const U32x4*>(s_words + c * kU128Bytes);
SPARQ_SPMM_UNROLL
    for (int e = 0; e < 4; ++e) s_tile[(w.x[e] >> 16) & kLocationMask] = uint16_t(w.x[e] & 0xffffu);
  }
}

// kBitmap, one lane's view of a block: lanes 0–15 own bits 2l, 2l+1 of the block's low 32-bit word,
// lanes 16–31 bits 2l − 32, 2l − 31 of its high word (word: which; shift: the first bit's place).
struct LaneBits {
  int word;
  int shift;
  uint32_t below;  // the word's bits below the lane's first
};
SPARQ_DEVICE LaneBits LaneBitsOf(int lane) {
  const int shift = (2 * lane) & 31;
  return LaneBits{lane >> 4, shift, (1u << shift) - 1u};
}

// The a-register of one 8×8 block for this lane: halves (bit 2l, bit 2l+1) of the block, zero
// where the bit is clear. word: the lane's 32-bit half of the block's bitmap; start: the index in
// the tile's values of that word's first stored entry.
SPARQ_DEVICE uint32_t DecodeBlockPair(uint32_t word, uint32_t start, const LaneBits& lb, const uint16_t* s_vals) {
  const uint32_t off = start + popc_b32(word & lb.below);
  const uint32_t has_lo = (word >> lb.shift) & 1u, has_hi = (word >> (lb.shift + 1)) & 1u;
  const uint32_t lo = has_lo ? s_vals[off] : 0u;
  const uint32_t hi = has_hi ? s_vals[off + has_lo] : 0u;
  return lo | (hi << 16);
}

// Where the tile's values of blocks 2l and 2l+1 start (lane l), each packed as the block's low word
// start | its high word start << 16 (both ≤ 4096): lane l counts its two blocks a word at a time,
// and a warp inclusive scan of those counts gives the exclusive starts. Every warp scans all 64
// blocks: warp w needs the counts of the blocks before its own 16. The old decode took a block's
// offset and the next block's base with two popc.b64 each (four SASS POPC per block and lane;
// POPC issues at a quarter of the ALU rate); this is one POPC and one shfl per block.
struct PairStarts {
  uint32_t even, odd;  // blocks 2l, 2l + 1
};
SPARQ_DEVICE PairStarts TileWordStarts(const uint32_t* s_bm32, int lane) {
  // One 16-byte load (ld.shared.v4; the type's alignment says it may): the warp's 512 B in four
  // conflict-free passes. With U32x4 (4-byte aligned) nvcc emitted four 4-byte loads, lanes l, l+8,
  // l+16, l+24 on one bank: 16 passes (a 2026-12-05 review read the PTX).
  struct alignas(16) PairWords {
    uint32_t x[4];
  };
  const PairWords words = *reinterpret_cast<const PairWords*>(s_bm32 + 4 * lane);  // 16-B aligned: whole 16-B chunks
  const uint32_t lo0 = popc_b32(words.x[0]), hi0 = popc_b32(words.x[1]);
  const uint32_t lo1 = popc_b32(words.x[2]), hi1 = popc_b32(words.x[3]);
  const uint32_t mine = lo0 + hi0 + lo1 + hi1;
  uint32_t incl = mine;
SPARQ_SPMM_UNROLL
  for (int d = 1; d < kWarpLanes; d *= 2) {
    const uint32_t up = shfl_sync_up_b32(0xffffffffu, incl, d);
    if (lane >= d) incl += up;
  }
  const uint32_t even = incl - mine, odd = even + lo0 + hi0;
  return PairStarts{even | ((even + lo0) << 16), odd | ((odd + lo1) << 16)};
}

// One k16 step: frag_a (16 weight rows × 16 k) times the x tile's M_TILES m8 tiles.
template <int M_TILES>
SPARQ_DEVICE void MmaK16(const uint8_t* s_x, int step, int lane, const FragA_F16& frag_a,
                         FragC_F32 (&acc)[M_TILES]) {
SPARQ_SPMM_UNROLL
  for (int pair = 0; pair < M_TILES / 2; ++pair) {
    const RowCol rc = layout::ldmatrix_x4_b_nmajor_rows(lane);
    const int row = 2 * kMmaN * pair + rc.row, chunk = 2 * step + rc.col / kHalvesPerU128;
    uint32_t r[4];
    ldmatrix_m8n8_x4_b16(r, s_x + XChunk(row, chunk) * kU128Bytes);
    const FragB_F16 b0{{r[0], r[1]}}, b1{{r[2], r[3]}};
    mma_m16n8k16_f32_f16_f16_f32(acc[2 * pair], frag_a, b0, acc[2 * pair]);
    mma_m16n8k16_f32_f16_f16_f32(acc[2 * pair + 1], frag_a, b1, acc[2 * pair + 1]);
  }
  if (M_TILES % 2 == 1) {  // x2: lanes 0-15 address the last m8 tile's rows (k 0-7, then 8-15)
    const RowCol rc = layout::ldmatrix_x4_b_nmajor_rows(lane & 15);
    const int row = kMmaN * (M_TILES - 1) + rc.row, chunk = 2 * step + rc.col / kHalvesPerU128;
    uint32_t r[2];
    ldmatrix_m8n8_x2_b16(r, s_x + XChunk(row, chunk) * kU128Bytes);
    const FragB_F16 b{{r[0], r[1]}};
    mma_m16n8k16_f32_f16_f16_f32(acc[M_TILES - 1], frag_a, b, acc[M_TILES - 1]);
  }
}

// kBitmap tile: decode this warp's 16 blocks into 4 frag_a (one per k16 step) and multiply.
template <int M_TILES>
SPARQ_DEVICE void ComputeBitmapTile(const uint8_t* s_stage, int warp, int lane, FragC_F32 (&acc)[M_TILES]) {
  const uint32_t* s_bm32 = reinterpret_cast<const uint32_t*>(s_stage + XStageBytes(M_TILES));  // [64 blocks][lo, hi]
  const uint16_t* s_vals = reinterpret_cast<const uint16_t*>(s_stage + XStageBytes(M_TILES) + kBitmapBytes);
  const LaneBits lb = LaneBitsOf(lane);
  const PairStarts starts = TileWordStarts(s_bm32, lane);
SPARQ_SPMM_UNROLL
  for (int step = 0; step < kK16Steps; ++step) {
    FragA_F16 frag_a;
SPARQ_SPMM_UNROLL
    for (int f = 0; f < 4; ++f) {  // block (w·4 + step)·4 + f feeds a-register f
      const int b = warp * kBlocksPerWarp + step * 4 + f;
      const uint32_t packed = shfl_sync_idx_b32(0xffffffffu, (f & 1) ? starts.odd : starts.even, b >> 1);
      const uint32_t start = (packed >> (16 * lb.word)) & 0xffffu;
      frag_a.x[f] = DecodeBlockPair(s_bm32[2 * b + lb.word], start, lb, s_vals);
    }
    MmaK16<M_TILES>(s_stage, step, lane, frag_a, acc);
  }
}

// kTiledCsl tile, already scattered into s_dense: ldmatrix.x4 per k16 step and multiply.
template <int M_TILES>
SPARQ_DEVICE void ComputeDenseTile(const uint8_t* s_stage, const uint8_t* s_dense, int warp, int lane,
                                   FragC_F32 (&acc)[M_TILES]) {
SPARQ_SPMM_UNROLL
  for (int step = 0; step < kK16Steps; ++step) {
    const RowCol rc = layout::ldmatrix_x4_a_rows(lane);
    const int row = warp * kMmaM + rc.row, chunk = 2 * step + rc.col / kHalvesPerU128;
    FragA_F16 frag_a;
    ldmatrix_m8n8_x4_b16(frag_a.x, s_dense + DenseChunk(row, chunk) * kU128Bytes);
    MmaK16<M_TILES>(s_stage, step, lane, frag_a, acc);
  }
}

// Split-K meeting point of slab `slab`, waiting for no one: publish acc as slot `split`, count in;
// all but the last arrival return false. The last gets acc = ((0 + slot 0) + slot 1) + … in slot
// order (the same bits whichever CTA it is) and resets the counter for the next launch.
template <int M_TILES>
SPARQ_DEVICE bool ReduceSplits(const SparseParams& p, FragC_F32 (&acc)[M_TILES], int64_t slab, int split, int tid,
                               uint32_t* s_last) {
  float* const g_slots = p.partials + slab * p.splits * SlotFloats(M_TILES);  // [splits][M_TILES·4][kThreads]
  float* const g_mine = g_slots + split * SlotFloats(M_TILES);
SPARQ_SPMM_UNROLL
  for (int mt = 0; mt < M_TILES; ++mt)
SPARQ_SPMM_UNROLL
    for (int e = 0; e < 4; ++e) g_store(g_mine + (mt * 4 + e) * kThreads + tid, acc[mt].x[e]);
  syncthreads();  // the whole slot is written before one thread announces it
  if (tid == 0) {
    // The fence makes the CTA's slot (ordered before it by the barrier) visible at gpu scope; the
    // acq_rel add publishes it and, for the last arrival, acquires every earlier slot (the barrier
    // below hands that on to the CTA's other threads).
    fence_acq_rel_gpu();
    const uint32_t before = atom_add_acq_rel_gpu_u32(p.counters + slab, 1u);
    *s_last = before == uint32_t(p.splits - 1) ? 1u : 0u;
  }
  syncthreads();
  if (*s_last == 0u) return false;  // uniform across the CTA
SPARQ_SPMM_UNROLL
  for (int mt = 0; mt < M_TILES; ++mt) acc[mt] = FragC_F32{{0.f, 0.f, 0.f, 0.f}};
  for (int s = 0; s < p.splits; ++s) {
    const float* g_slot = g_slots + s * SlotFloats(M_TILES) + tid;
SPARQ_SPMM_UNROLL
    for (int mt = 0; mt < M_TILES; ++mt)
SPARQ_SPMM_UNROLL
      for (int e = 0; e < 4; ++e) acc[mt].x[e] += g_load(g_slot + (mt * 4 + e) * kThreads);
  }
  if (tid == 0) g_store(p.counters + slab, 0u);  // every contributor has arrived; stream order publishes it
  return true;
}

// acc + bias (fp32), one rounding, Y[m][n] for m < p.m and n < p.n only.
template <int M_TILES>
SPARQ_DEVICE void StoreY(const SparseParams& p, const FragC_F32 (&acc)[M_TILES], int64_t n0, int warp, int lane) {
  float bias[2];
SPARQ_SPMM_UNROLL
  for (int h = 0; h < 2; ++h) {  // D rows g and g + 8 of this warp's 16
    const int64_t n = n0 + warp * kMmaM + layout::mma_m16n8_c(lane, 2 * h).row;
    bias[h] = (p.bias != nullptr && n < p.n) ? cvt_f32_f16(g_load(p.bias + n)) : 0.f;
  }
SPARQ_SPMM_UNROLL
  for (int mt = 0; mt < M_TILES; ++mt)
SPARQ_SPMM_UNROLL
    for (int e = 0; e < 4; ++e) {
      const RowCol rc = layout::mma_m16n8_c(lane, e);  // row = weight row (n), col = x row (m)
      const int64_t n = n0 + warp * kMmaM + rc.row;
      const int m = mt * kMmaN + rc.col;
      if (m < p.m && n < p.n) g_store(p.y + m * p.n + n, cvt_rn_f16_f32(acc[mt].x[e] + bias[e / 2]));
    }
}

// ------------------------------------------------------------------------------ kernel
// grid = (n_slabs, splits), block = kThreads, dynamic smem = SmemBytes(FORMAT, M_TILES, units, stages).
template <int FORMAT, int M_TILES>
__global__ void __launch_bounds__(kThreads) sparse_matmul_kernel(const SparseParams p) {
  SPARQ_DYN_SMEM(uint8_t, smem);
  uint8_t* const s_stages = smem;                                    // [stages][stage_bytes]
  uint8_t* const s_dense = s_stages + p.stages * p.stage_bytes;      // kTiledCsl: [2][kDenseTileBytes]
  TileOff* const s_off = reinterpret_cast<TileOff*>(s_dense + (FORMAT == kFormatTiledCsl ? kDenseBuffers * kDenseTileBytes : 0));
  uint32_t* const s_last = reinterpret_cast<uint32_t*>(s_off + kOffsetRing);

  const int tid = int(threadIdx.x), warp = tid / kWarpLanes, lane = tid % kWarpLanes;
  const int64_t slab = blockIdx.x;
  const int split = int(blockIdx.y);
  const KRange kr = SplitRange(p.k_tiles, p.splits, split);
  const int64_t tiles = kr.end - kr.begin, t0 = slab * p.k_tiles + kr.begin;  // local tile j = global t0 + j

  ZeroXTail<M_TILES>(s_stages, p, tid);
  if (FORMAT == kFormatTiledCsl) ZeroDense(s_dense, tid);  // tile 0's buffer
  uint32_t prev_end = 0;  // thread 0: the end offset of the last tile fetched
  if (tid == 0) {
    prev_end = g_load(p.tile_offsets + t0);
    for (int64_t j = 0; j < p.stages && j < tiles; ++j) FetchOffsets(p, t0 + j, j, prev_end, s_off);
  }
  syncthreads();
  for (int s = 0; s < p.stages - 1; ++s) {
    if (s < tiles)
      IssueTile<FORMAT, M_TILES>(p, s_stages + s * p.stage_bytes, t0 + s, (kr.begin + s) * kTileK, s_off[s], tid);
    cp_async_commit_group();
  }

  FragC_F32 acc[M_TILES];
SPARQ_SPMM_UNROLL
  for (int mt = 0; mt < M_TILES; ++mt) acc[mt] = FragC_F32{{0.f, 0.f, 0.f, 0.f}};

  int slot = 0, slot_next = p.stages - 1;  // ring slots of tile i and of tile i + stages − 1
  for (int64_t i = 0; i < tiles; ++i) {
    WaitForOldest(p.stages);
    syncthreads();
    const int64_t j = i + p.stages - 1;
    if (j < tiles)
      IssueTile<FORMAT, M_TILES>(p, s_stages + slot_next * p.stage_bytes, t0 + j, (kr.begin + j) * kTileK,
                                 s_off[j % kOffsetRing], tid);
    cp_async_commit_group();
    if (tid == 0 && j + 1 < tiles) FetchOffsets(p, t0 + j + 1, j + 1, prev_end, s_off);  // published by the next barrier

    const uint8_t* s_stage = s_stages + slot * p.stage_bytes;
    if (FORMAT == kFormatBitmap) {
      ComputeBitmapTile<M_TILES>(s_stage, warp, lane, acc);
    } else {
      uint8_t* const s_cur = s_dense + (i % kDenseBuffers) * kDenseTileBytes;
      ZeroDense(s_dense + ((i + 1) % kDenseBuffers) * kDenseTileBytes, tid);  // tile i+1's; tile i−1 read it
      ScatterTile(s_stage + XStageBytes(M_TILES), s_off[i % kOffsetRing].units, s_cur, tid);
      syncthreads();
      ComputeDenseTile<M_TILES>(s_stage, s_cur, warp, lane, acc);
    }
    slot = slot + 1 == p.stages ? 0 : slot + 1;
    slot_next = slot_next + 1 == p.stages ? 0 : slot_next + 1;
  }
  cp_async_wait_all();  // only empty tail groups remain
  if (p.splits > 1 && !ReduceSplits<M_TILES>(p, acc, slab, split, tid, s_last)) return;
  StoreY<M_TILES>(p, acc, slab * kTileN, warp, lane);
}

}  // namespace sparq::spmm
