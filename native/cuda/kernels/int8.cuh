// native/cuda/kernels/int8.cuh: LLM.int8() on the GPU — Y[m,n] = fp16(t + o (+ bias)) from the int8
// codes of W (packed kGpu, sparq/int8.h) and X quantized on the device, bit for bit the contract of
// sparq/int8.h (every fp32 step one __f*_rn, cuda/fp32_rn.cuh). Four kernels on one stream, no host
// sync, the same bits every run:
//   int8_detect_kernel      threshold > 0. grid (⌈k/256⌉, row_chunks), thread = one column of one chunk
//                           of rows: a warp's ballot of "some |x| ≥ t" is one u32 of partial[chunk].
//   int8_compact_kernel     threshold > 0. One CTA: mask = OR of the chunks' words; a block scan of
//                           their popcounts places each outlier column, so outlier_cols[1..] is
//                           increasing without atomics; outlier_cols[0] = count.
//   int8_quantize_x_kernel  grid (ca_rows), CTA = one row i: rowStat = max |x| over non-outlier
//                           columns (fp32), CA[i][c] = rne((x·127)/rowStat), 0 for outlier columns,
//                           columns ≥ k and rows ≥ m. Threshold 0: also outlier_cols[0] = 0.
//   int8_gemm_kernel<M_TILES>  grid (⌈n/32⌉, slabs, splits): CTA = 4 n8 tiles × one slab of M_TILES·16
//                           rows × one split of the k64 blocks (splits = 1 unless the grid is small).
//
// GEMM layout (index maps in cuda/int8_layout.cuh):
//   B  codes in gmem, per (n8 tile t, k64 block b) 512 B; lane l = 4g + q holds 16 B = the words
//      (s, h) of CB[8t+g][64b + 32s + 16h + 4q ..+3]: one ld.global.nc.v4 per tile and block, and
//      frag_b of k32 step s = {x[2s], x[2s+1]} (layout::mma_m16n8k32_b: k 4q.., k 16+4q.., n = g).
//   A  CA in gmem (workspace), rows of k_pad bytes, each k64 block permuted as a lane's 16 B
//      (i8::CaOffset): lane (g, q) loads rows g and g+8 of each m16 tile at 64b + 16q, and frag_a of
//      step s = {row g x[2s], row g+8 x[2s], row g x[2s+1], row g+8 x[2s+1]} (mma_m16n8k32_a).
//   K  warp w takes k64 blocks w, w+8, w+16, … (the 8 warps stream 8 adjacent blocks of each tile);
//      the fragments of its next block are loaded before the mma of the current one.
//   C  FragC_S32 acc[M_TILES][4] (layout::mma_m16n8_c) → smem slots in fragment order, one barrier;
//      thread tid then owns fragment positions tid, tid+256, …: sums the 8 warps' ints (exact and
//      order-free, so the split of k costs no determinism) and runs the epilogue of that element.
//      Split k (splits > 1): each CTA adds its sums into the launch's int32 totals (red.relaxed; int
//      adds give one total in any order), then counts itself in (fence + atom.acq_rel); the CTA that
//      arrives last runs the epilogue on the totals, sets them back to 0 and resets the counter —
//      the same bits as one CTA over all of k, and no CTA waits for another.
//      The epilogue:
//      t = ((fp32(acc)·rowStat)·SCB)/16129; o = fma over the outlier list in order; (t+o)+bias → fp16.
//   O  outlier columns 0..min(count, 64)−1 are staged before the main loop (their dequantized
//      weights [64][32 cols] and x values [rows][65], fp32); columns past 64 are read from global
//      memory in the epilogue, in the same order: never dropped.
#pragma once
#include <cstdint>

#include "../fp32_rn.cuh"
#include "../int8_layout.cuh"
#include "../layouts.cuh"
#include "../ptx_prims.cuh"

// Full unrolling keeps fragment and accumulator arrays in registers; g++ (simulator) ignores it.
#if defined(__CUDACC__)
#define SPARQ_I8_UNROLL _Pragma("unroll")
#else
#define SPARQ_I8_UNROLL
#endif

namespace sparq::i8 {

struct DetectParams {
  const uint16_t* x;  // [m][k] fp16
  uint32_t* partial;  // [row_chunks][k_words]
  int64_t m, k, k_words, rows_per_chunk;
  float threshold;
};

struct CompactParams {
  const uint32_t* partial;  // [row_chunks][k_words]
  uint32_t* mask;           // [k_words]
  int32_t* outlier_cols;    // [1 + k]
  int64_t row_chunks, k_words;
};

struct QuantizeParams {
  const uint16_t* x;     // [m][k] fp16
  const uint32_t* mask;  // [k_words] outlier bits; null without a threshold
  int8_t* ca;            // [ca_rows][k_pad], CaOffset order
  float* row_stat;       // [ca_rows]
  int32_t* zero_count;   // threshold 0: outlier_cols, whose [0] this launch sets to 0; else null
  int64_t m, k, k_pad;
};

struct GemmParams {
  const int8_t* codes;          // kGpu blocks [n_tiles][k_blocks][512]
  const float* scb;             // [n_pad]
  const int8_t* ca;             // [ca_rows][k_pad]
  const float* row_stat;        // [ca_rows]
  const uint16_t* x;            // [m][k] fp16: the outlier columns' values
  const uint16_t* bias;         // [n] or null
  const int32_t* outlier_cols;  // [0] = count, then the columns, increasing
  uint16_t* y;                  // [m][n]
  int64_t m, n, k, k_pad, n_tiles, k_blocks;
  int64_t slab0;                // the slab of blockIdx.y = 0
  int stage_cap;                // kOutlierCap with a threshold (the smem holds the staging), else 0
  int splits;                   // gridDim.z: CTAs sharing one tile's k blocks
  int64_t blocks_per_split;     // k64 blocks of split z: [z·per, min(k_blocks, (z+1)·per))
  int32_t* totals;              // splits > 1: [gridDim.y][gridDim.x][SlotInts/kGemmWarps], 0 between launches
  uint32_t* arrivals;           // splits > 1: [gridDim.y][gridDim.x], 0 between launches
};

// ------------------------------------------------------------------------------ device helpers
// |x| of an fp16, exactly (the sign bit cleared before the widening).
SPARQ_DEVICE float AbsF16(uint16_t h) { return cvt_f32_f16(uint16_t(h & 0x7fffu)); }

// The larger of two |x| values, keeping `a` when b is NaN (the host's std::max(a, b)).
// A NaN in either propagates (IEEE maximum, not fmaxf's "the other one"): a row of X with a NaN
// kept value gets rowStat NaN, so its outputs are NaN (sparq/int8.h) rather than finite garbage.
SPARQ_DEVICE float MaxAbs(float a, float b) { return (b > a || b != b) ? b : a; }

// Index of the lowest set bit of a non-zero word.
SPARQ_DEVICE int LowestBit(uint32_t b) { return int(popc_b64(uint64_t((b & (0u - b)) - 1u))); }

SPARQ_DEVICE bool IsOutlier(const uint32_t* mask, int64_t c) {
  return mask != nullptr && ((g_load(mask + c / kWarpLanes) >> (c % kWarpLanes)) & 1u) != 0u;
}

// CA of one value: rne((x·127)/rowStat), 0 when rowStat = 0 (sparq/int8.h Int8QuantizeActivationValue).
SPARQ_DEVICE int8_t QuantizeX(uint16_t x_bits, float stat) {
  if (stat == 0.f) return 0;
  return int8_t(cvt_rni_s32_f32(div_rn_f32(mul_rn_f32(cvt_f32_f16(x_bits), kScale), stat)));
}

// (fp32(CB)·SCB)/127: the dequantized weight of an outlier column (sparq/int8.h Int8OutlierWeight).
SPARQ_DEVICE float OutlierWeight(int8_t cb, float scb) {
  return div_rn_f32(mul_rn_f32(cvt_rn_f32_s32(cb), scb), kScale);
}

// Exclusive prefix of v over the CTA (thread order) and the CTA's total, with one barrier: the
// caller alternates two s_sums buffers, so a warp that runs ahead writes the other one.
SPARQ_DEVICE uint32_t BlockExclusiveScan(uint32_t v, uint32_t* s_sums, int warp, int lane, uint32_t* total) {
  uint32_t incl = v;
SPARQ_I8_UNROLL
  for (int d = 1; d < kWarpLanes; d *= 2) {
    const uint32_t up = shfl_sync_up_b32(0xffffffffu, incl, d);
    if (lane >= d) incl += up;
  }
  if (lane == kWarpLanes - 1) s_sums[warp] = incl;
  syncthreads();
  uint32_t before = 0, all = 0;
SPARQ_I8_UNROLL
  for (int w = 0; w < kCompactWarps; ++w) {
    const uint32_t s = s_sums[w];
    before += w < warp ? s : 0u;
    all += s;
  }
  *total = all;
  return before + incl - v;
}

// Max of |x| over the CTA (order-free: max is exact).
SPARQ_DEVICE float BlockMaxAbs(float v, float* s_max, int warp, int lane) {
SPARQ_I8_UNROLL
  for (int d = kWarpLanes / 2; d > 0; d /= 2) v = MaxAbs(v, shfl_sync_bfly_f32(0xffffffffu, v, d));
  if (lane == 0) s_max[warp] = v;
  syncthreads();
  float all = 0.f;
SPARQ_I8_UNROLL
  for (int w = 0; w < kQuantWarps; ++w) all = MaxAbs(all, s_max[w]);
  return all;
}

// The 16 codes of lane group (k64 block b, q) of row `row`: columns 64b + 32s + 16h + 4q + e, in
// CaOffset order, as one 16-B store. Outlier columns, columns ≥ k and rows ≥ m are 0.
SPARQ_DEVICE void QuantizeGroup(const QuantizeParams& p, int64_t row, bool real, float stat, int64_t group) {
  const int64_t b = group / 4;
  const int q = int(group % 4);
  U32x4 out;
SPARQ_I8_UNROLL
  for (int sh = 0; sh < 4; ++sh) {  // word (s, h) = (sh >> 1, sh & 1)
    uint32_t word = 0;
SPARQ_I8_UNROLL
    for (int e = 0; e < 4; ++e) {
      const int64_t c = b * kBlockK + (sh >> 1) * 32 + (sh & 1) * 16 + 4 * q + e;
      const bool live = real && c < p.k && !IsOutlier(p.mask, c);
      const int8_t code = live ? QuantizeX(g_load(p.x + row * p.k + c), stat) : int8_t(0);
      word |= uint32_t(uint8_t(code)) << (8 * e);
    }
    out.x[sh] = word;
  }
  // st.global.v4 (U32x4 is only 4-byte aligned, so a plain store of it compiles to four 4-byte ones).
  st_global_v4_u32(p.ca + row * p.k_pad + b * kBlockK + q * kLaneBytes, out);
}

// This lane's A and B of one k64 block.
template <int M_TILES>
struct GemmFrags {
  U32x4 a[M_TILES][2];  // [m16 tile][row g, row g+8]: CA bytes 64b + 16q ..+15
  U32x4 b[kNTiles];     // [n8 tile]: the lane's 16 B of block (tile, b)
};

// g_a: CA row (row0 + g) at byte 16q; g_b: the CTA's first tile at the lane's 16 B. Tiles past
// the weight's last (live_tiles..3) are zeros, never loaded.
template <int M_TILES>
SPARQ_DEVICE void LoadFrags(const GemmParams& p, const int8_t* g_a, const int8_t* g_b, int live_tiles, int64_t blk,
                            GemmFrags<M_TILES>& f) {
SPARQ_I8_UNROLL
  for (int mt = 0; mt < M_TILES; ++mt)
SPARQ_I8_UNROLL
    for (int h = 0; h < 2; ++h) f.a[mt][h] = ld_global_nc_v4_u32(g_a + (mt * kMmaM + 8 * h) * p.k_pad + blk * kBlockK);
SPARQ_I8_UNROLL
  for (int nt = 0; nt < kNTiles; ++nt)
    f.b[nt] = nt < live_tiles ? ld_global_nc_v4_u32(g_b + (nt * p.k_blocks + blk) * kBlockBytes) : U32x4{};
}

// The two k32 steps of one block: M_TILES × kNTiles mma each.
template <int M_TILES>
SPARQ_DEVICE void MmaBlock(const GemmFrags<M_TILES>& f, FragC_S32 (&acc)[M_TILES][kNTiles]) {
SPARQ_I8_UNROLL
  for (int s = 0; s < 2; ++s)
SPARQ_I8_UNROLL
    for (int mt = 0; mt < M_TILES; ++mt) {
      const FragA_S8 a{{f.a[mt][0].x[2 * s], f.a[mt][1].x[2 * s], f.a[mt][0].x[2 * s + 1], f.a[mt][1].x[2 * s + 1]}};
SPARQ_I8_UNROLL
      for (int nt = 0; nt < kNTiles; ++nt) {
        const FragB_S8 b{{f.b[nt].x[2 * s], f.b[nt].x[2 * s + 1]}};
        mma_m16n8k32_s32_s8_s8_s32(acc[mt][nt], a, b, acc[mt][nt]);
      }
    }
}

// This warp's share of the CTA's blocks [b0, b1): b0 + warp, b0 + warp + 8, …, the next block's
// loads ahead of this one's mma.
template <int M_TILES>
SPARQ_DEVICE void MainLoop(const GemmParams& p, int64_t tile0, int64_t row0, int64_t b0, int64_t b1, int warp, int lane,
                           FragC_S32 (&acc)[M_TILES][kNTiles]) {
  const int g = layout::lane_group(lane), q = layout::lane_tig(lane);
  const int8_t* g_a = p.ca + (row0 + g) * p.k_pad + q * kLaneBytes;
  const int8_t* g_b = p.codes + tile0 * p.k_blocks * kBlockBytes + lane * kLaneBytes;
  const int live_tiles = p.n_tiles - tile0 < kNTiles ? int(p.n_tiles - tile0) : kNTiles;
  GemmFrags<M_TILES> cur{}, next{};
  int64_t blk = b0 + warp;
  if (blk < b1) LoadFrags<M_TILES>(p, g_a, g_b, live_tiles, blk, cur);
  for (; blk < b1; blk += kGemmWarps) {
    if (blk + kGemmWarps < b1) LoadFrags<M_TILES>(p, g_a, g_b, live_tiles, blk + kGemmWarps, next);
    MmaBlock<M_TILES>(cur, acc);
    cur = next;
  }
}

// The warp's accumulators into its slot, fragment order: [warp][(mt·kNTiles + nt)·4 + e][lane].
template <int M_TILES>
SPARQ_DEVICE void StoreSlots(int32_t* s_slots, const FragC_S32 (&acc)[M_TILES][kNTiles], int warp, int lane) {
  constexpr int kFrags = M_TILES * kNTiles * 4;
SPARQ_I8_UNROLL
  for (int mt = 0; mt < M_TILES; ++mt)
SPARQ_I8_UNROLL
    for (int nt = 0; nt < kNTiles; ++nt)
SPARQ_I8_UNROLL
      for (int e = 0; e < 4; ++e)
        s_slots[(warp * kFrags + (mt * kNTiles + nt) * 4 + e) * kWarpLanes + lane] = acc[mt][nt].x[e];
}

// Outlier columns 0..staged−1 for this CTA: weights [idx][col] (0 past n), x [r][idx] (0 past m).
template <int M_TILES>
SPARQ_DEVICE void StageOutliers(const GemmParams& p, float* s_wo, float* s_xo, int staged, int64_t tile0, int64_t row0,
                                int tid) {
  for (int i = tid; i < staged * kCtaCols; i += kGemmThreads) {
    const int idx = i / kCtaCols, col = i % kCtaCols;
    const int64_t j = tile0 * kMmaN + col, c = g_load(p.outlier_cols + 1 + idx);
    s_wo[idx * kCtaCols + col] =
        j < p.n ? OutlierWeight(g_load(p.codes + WeightCodeOffset(j, c, p.k_pad)), g_load(p.scb + j)) : 0.f;
  }
  for (int i = tid; i < staged * M_TILES * kMmaM; i += kGemmThreads) {
    const int r = i / staged, idx = i % staged;
    const int64_t row = row0 + r, c = g_load(p.outlier_cols + 1 + idx);
    s_xo[r * kXoStride + idx] = row < p.m ? cvt_f32_f16(g_load(p.x + row * p.k + c)) : 0.f;
  }
}

// o = fma(x[row][c], w(j, c), o) over the outlier columns in list order: the staged ones from
// smem, the rest (past the capacity) from global memory.
SPARQ_DEVICE float OutlierTerm(const GemmParams& p, const float* s_wo, const float* s_xo, int count, int staged, int r,
                               int col, int64_t row, int64_t j, float scb) {
  float o = 0.f;
  for (int idx = 0; idx < staged; ++idx) o = fma_rn_f32(s_xo[r * kXoStride + idx], s_wo[idx * kCtaCols + col], o);
  for (int idx = staged; idx < count; ++idx) {
    const int64_t c = g_load(p.outlier_cols + 1 + idx);
    const float w = OutlierWeight(g_load(p.codes + WeightCodeOffset(j, c, p.k_pad)), scb);
    o = fma_rn_f32(cvt_f32_f16(g_load(p.x + row * p.k + c)), w, o);
  }
  return o;
}

// The 8 warps' partial sums of fragment position `flat` (exact: int adds).
template <int M_TILES>
SPARQ_DEVICE int32_t CtaSum(const int32_t* s_slots, int flat) {
  constexpr int kFrags = M_TILES * kNTiles * 4;
  int32_t acc = 0;
SPARQ_I8_UNROLL
  for (int w = 0; w < kGemmWarps; ++w) acc += s_slots[w * kFrags * kWarpLanes + flat];
  return acc;
}

// Split k: this CTA's sums into the tile's totals, then the arrival count. True for the CTA that
// arrives last (every split's sums are in the totals and visible to it), which runs the epilogue.
template <int M_TILES>
SPARQ_DEVICE bool ArriveWithTotals(const GemmParams& p, const int32_t* s_slots, int32_t* g_tot, uint32_t* g_arrivals,
                                   uint32_t* s_last, int tid) {
  constexpr int kFrags = M_TILES * kNTiles * 4;
  for (int flat = tid; flat < kFrags * kWarpLanes; flat += kGemmThreads)
    red_relaxed_gpu_add_u32(reinterpret_cast<uint32_t*>(g_tot + flat), uint32_t(CtaSum<M_TILES>(s_slots, flat)));
  syncthreads();  // every thread's adds are done before one thread announces them
  if (tid == 0) {
    // The fence releases the CTA's adds (ordered before it by the barrier) at gpu scope; acq_rel
    // on the counter publishes them and, for the last arrival, acquires every earlier split's.
    fence_acq_rel_gpu();
    *s_last = atom_add_acq_rel_gpu_u32(g_arrivals, 1u) == uint32_t(p.splits - 1) ? 1u : 0u;
  }
  syncthreads();
  return *s_last != 0u;
}

// Thread tid's fragment positions: the tile's int32 sums (the 8 warps' partials, or with split k
// the totals, which it then zeroes for the next launch), then the contract's epilogue.
template <int M_TILES>
SPARQ_DEVICE void Epilogue(const GemmParams& p, const int32_t* s_slots, int32_t* g_tot, const float* s_wo,
                           const float* s_xo, int count, int staged, int64_t tile0, int64_t row0, int tid) {
  constexpr int kFrags = M_TILES * kNTiles * 4;
  for (int flat = tid; flat < kFrags * kWarpLanes; flat += kGemmThreads) {
    int32_t acc;
    if (g_tot != nullptr) {
      acc = g_load(g_tot + flat);
      g_store(g_tot + flat, int32_t(0));  // every position, the padding's too: the next launch adds from 0
    } else {
      acc = CtaSum<M_TILES>(s_slots, flat);
    }
    const int f = flat / kWarpLanes, lane = flat % kWarpLanes;
    const int mt = f / (kNTiles * 4), nt = (f / 4) % kNTiles, e = f % 4;
    const RowCol rc = layout::mma_m16n8_c(lane, e);
    const int r = mt * kMmaM + rc.row, col = nt * kMmaN + rc.col;
    const int64_t row = row0 + r, j = tile0 * kMmaN + col;
    if (row >= p.m || j >= p.n) continue;
    const float scb = g_load(p.scb + j);
    const float t = div_rn_f32(mul_rn_f32(mul_rn_f32(cvt_rn_f32_s32(acc), g_load(p.row_stat + row)), scb), kScale2);
    const float o = OutlierTerm(p, s_wo, s_xo, count, staged, r, col, row, j, scb);
    float v = add_rn_f32(t, o);
    if (p.bias != nullptr) v = add_rn_f32(v, cvt_f32_f16(g_load(p.bias + j)));
    g_store(p.y + row * p.n + j, cvt_rn_f16_f32(v));
  }
}

// ------------------------------------------------------------------------------ kernels
// grid (⌈k / kDetectThreads⌉, row_chunks), block kDetectThreads.
__global__ void __launch_bounds__(kDetectThreads) int8_detect_kernel(const DetectParams p) {
  const int tid = int(threadIdx.x), warp = tid / kWarpLanes, lane = tid % kWarpLanes;
  const int64_t c = int64_t(blockIdx.x) * kDetectThreads + tid;
  const int64_t r0 = int64_t(blockIdx.y) * p.rows_per_chunk;
  const int64_t r1 = r0 + p.rows_per_chunk < p.m ? r0 + p.rows_per_chunk : p.m;
  bool hit = false;
  if (c < p.k)
    for (int64_t r = r0; r < r1 && !hit; ++r) hit = AbsF16(g_load(p.x + r * p.k + c)) >= p.threshold;
  const uint32_t bits = vote_sync_ballot_b32(0xffffffffu, hit);
  const int64_t word = int64_t(blockIdx.x) * kDetectWarps + warp;
  if (lane == 0 && word < p.k_words) g_store(p.partial + int64_t(blockIdx.y) * p.k_words + word, bits);
}

// grid 1, block kCompactThreads: thread tid of round r owns word 256r + tid (32 columns).
__global__ void __launch_bounds__(kCompactThreads) int8_compact_kernel(const CompactParams p) {
  SPARQ_SMEM(uint32_t, s_sums, 2 * kCompactWarps);  // [round % 2][warp]
  const int tid = int(threadIdx.x), warp = tid / kWarpLanes, lane = tid % kWarpLanes;
  int64_t base = 0;  // outlier columns in earlier rounds
  int round = 0;
  for (int64_t w0 = 0; w0 < p.k_words; w0 += kCompactThreads, ++round) {
    const int64_t w = w0 + tid;
    uint32_t bits = 0;
    if (w < p.k_words) {
      for (int64_t ch = 0; ch < p.row_chunks; ++ch) bits |= g_load(p.partial + ch * p.k_words + w);
      g_store(p.mask + w, bits);
    }
    uint32_t total = 0;
    int64_t at = base + BlockExclusiveScan(popc_b64(bits), s_sums + (round % 2) * kCompactWarps, warp, lane, &total);
    for (uint32_t b = bits; b != 0u; b &= b - 1u) g_store(p.outlier_cols + 1 + at++, int32_t(w * kWarpLanes + LowestBit(b)));
    base += total;
  }
  if (tid == 0) g_store(p.outlier_cols, int32_t(base));
}

// grid (ca_rows), block kQuantThreads.
__global__ void __launch_bounds__(kQuantThreads) int8_quantize_x_kernel(const QuantizeParams p) {
  SPARQ_SMEM(float, s_max, kQuantWarps);
  const int tid = int(threadIdx.x), warp = tid / kWarpLanes, lane = tid % kWarpLanes;
  const int64_t row = blockIdx.x;
  const bool real = row < p.m;  // rows m..ca_rows−1: zeros, rowStat 0
  float stat = 0.f;
  if (real)
    for (int64_t c = tid; c < p.k; c += kQuantThreads)
      if (!IsOutlier(p.mask, c)) stat = MaxAbs(stat, AbsF16(g_load(p.x + row * p.k + c)));
  stat = BlockMaxAbs(stat, s_max, warp, lane);
  if (tid == 0) {
    g_store(p.row_stat + row, stat);
    if (row == 0 && p.zero_count != nullptr) g_store(p.zero_count, int32_t(0));
  }
  for (int64_t group = tid; group < p.k_pad / kQuantGroupCols; group += kQuantThreads)
    QuantizeGroup(p, row, real, stat, group);
}

// grid (⌈n_tiles / 4⌉, slabs of this launch, splits), block kGemmThreads, dynamic smem GemmSmemBytes.
template <int M_TILES>
__global__ void __launch_bounds__(kGemmThreads) int8_gemm_kernel(const GemmParams p) {
  SPARQ_DYN_SMEM(uint8_t, smem_base);
  uint32_t* const s_last = reinterpret_cast<uint32_t*>(smem_base);          // split k: "arrived last"
  uint8_t* const smem = smem_base + kGemmFlagBytes;
  int32_t* const s_slots = reinterpret_cast<int32_t*>(smem);                 // [warps][frags][lanes]
  float* const s_wo = reinterpret_cast<float*>(smem + SlotInts(M_TILES) * 4);  // [kOutlierCap][kCtaCols]
  float* const s_xo = s_wo + OutlierWeightFloats();                           // [M_TILES·16][kXoStride]

  const int tid = int(threadIdx.x), warp = tid / kWarpLanes, lane = tid % kWarpLanes;
  const int64_t tile0 = int64_t(blockIdx.x) * kNTiles;
  const int64_t row0 = (p.slab0 + int64_t(blockIdx.y)) * kSlabM;
  const int count = g_load(p.outlier_cols);
  const int staged = count < p.stage_cap ? count : p.stage_cap;
  // Split k: only the last arrival runs the epilogue, so only it stages the outliers (after).
  if (p.splits <= 1) StageOutliers<M_TILES>(p, s_wo, s_xo, staged, tile0, row0, tid);

  FragC_S32 acc[M_TILES][kNTiles];
SPARQ_I8_UNROLL
  for (int mt = 0; mt < M_TILES; ++mt)
SPARQ_I8_UNROLL
    for (int nt = 0; nt < kNTiles; ++nt) acc[mt][nt] = FragC_S32{{0, 0, 0, 0}};
  const int64_t b0 = int64_t(blockIdx.z) * p.blocks_per_split;
  const int64_t b1 = b0 + p.blocks_per_split < p.k_blocks ? b0 + p.blocks_per_split : p.k_blocks;
  MainLoop<M_TILES>(p, tile0, row0, b0, b1, warp, lane, acc);
  StoreSlots<M_TILES>(s_slots, acc, warp, lane);
  syncthreads();  // every warp's partials and the staged outliers are in smem
  if (p.splits <= 1) {
    Epilogue<M_TILES>(p, s_slots, nullptr, s_wo, s_xo, count, staged, tile0, row0, tid);
    return;
  }
  const int64_t tile_cta = int64_t(blockIdx.y) * gridDim.x + blockIdx.x;
  int32_t* const g_tot = p.totals + tile_cta * (SlotInts(M_TILES) / kGemmWarps);
  if (!ArriveWithTotals<M_TILES>(p, s_slots, g_tot, p.arrivals + tile_cta, s_last, tid)) return;  // uniform
  StageOutliers<M_TILES>(p, s_wo, s_xo, staged, tile0, row0, tid);
  syncthreads();
  Epilogue<M_TILES>(p, s_slots, g_tot, s_wo, s_xo, count, staged, tile0, row0, tid);
  if (tid == 0) g_store(p.arrivals + tile_cta, 0u);  // stream order makes it visible to the next launch
}

}  // namespace sparq::i8
