// native/cuda/kernels/dense.cuh: Y[m,n] = fp16(X[m,k] · W[n,k]ᵀ + bias[n]), fp32 accumulation, on
// mma.sync.m16n8k16 tensor cores. One CTA (WARPS_M x WARPS_N warps) owns TILE_M x TILE_N of Y and
// walks k in TILE_K steps. Any m, n, k >= 1: tails are predicated, never padded in memory.
//
//   X  gmem [m][k] f16 row-major -> smem s_x[STAGES][TILE_M][TILE_K]; W gmem [n][k] f16 (nn.Linear)
//      -> smem s_w[STAGES][TILE_N][TILE_K]. A smem row is TILE_K/8 16-byte chunks; chunk c of row r
//      sits at physical chunk layout::swizzle_chunk(r, c), so the 8 rows one ldmatrix reads hit
//      8 different bank groups (and so do cp.async writes).
//   gmem -> smem: thread t fills chunks t, t+THREADS, ... of the tile (row = chunk / CHUNKS_PER_ROW).
//      K_CHUNK_ELEMS picks how, by what k and the pointers allow (the launcher decides):
//        8: one cp.async.cg 16 B (k % 8 == 0, 16-B aligned X/W); rows >= m/n and k >= K read 0 B
//           and are zero-filled;
//        2: four cp.async.ca 4 B, each predicated (k even: a pair is all in or all out);
//        1: eight synchronous guarded 2-byte loads stored to smem (odd k: no cp.async size fits).
//      Zero-filled tails contribute exact zeros to the sums.
//   A  (X) per warp: WARP_M/16 frag_a per 16-wide k step, ldmatrix.x4 at the rows
//      layout::ldmatrix_x4_a_rows(lane) -> a0..a7 as in layout::mma_m16n8k16_a.
//   B  (W) per warp: WARP_N/8 frag_b; W's rows are B's columns, so a non-trans ldmatrix.x4 at
//      layout::ldmatrix_x4_b_nmajor_rows(lane) yields the frag_b of two n8 tiles at once.
//   C  regs FragC_F32 per (m16, n8) tile, lane = 4*group + tig:
//      x[0..1] -> (row group, cols 2*tig+{0,1}); x[2..3] -> (row group+8, same cols).
//      Epilogue adds bias (staged in smem as f32 by the CTA that stores the tile), rounds once to
//      f16, stores pairs as one u32 when n is even, single halves otherwise, rows >= m / cols >= n
//      skipped.
// Pipeline: STAGES-deep cp.async ring, one commit group per k tile. Iteration kt waits for
//   tile kt (wait_group<STAGES-2>), then one barrier both publishes tile kt and frees the slot
//   of tile kt-1, which the same iteration refills with tile kt+STAGES-1 before computing kt.
// Split-K (gridDim.z = k_splits > 1, chosen by dense_choose_k_splits when the (m, n) grid would
//   leave SMs idle): CTA z walks only k tiles dense_split_k_range(z), then stores its fp32 acc
//   to its slot of g_partials [tile][k_splits][ACC_ELEMS][THREADS] (element j of thread t at
//   j*THREADS + t: coalesced, and thread t of the reducing CTA reads back exactly the elements it
//   holds, so no layout change) and counts itself in on g_counters[tile] (fence + atom.acq_rel).
//   The CTA that arrives last adds the slots, its own included, in slot order 0..k_splits-1 (the
//   same bits whichever CTA is last), then runs the usual epilogue (bias, one rounding) and
//   re-zeroes the counter. No CTA ever waits for another: the grid needs no co-residency.
// Traffic (asserted by sim_dense_test): every X byte is read once per CTA column (grid.x times),
//   every W byte once per CTA row (grid.y times), bias once per CTA row; with split-K the k splits
//   of one tile partition k, so these still hold, and each tile's k_splits slots are read once
//   (by its last arrival).
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "../layouts.cuh"
#include "../ptx_prims.cuh"

namespace sparq {

// ---- tile constants ---------------------------------------------------------------------------
template <int TILE_M_, int TILE_N_, int TILE_K_, int STAGES_, int WARPS_M_, int WARPS_N_, int K_CHUNK_ELEMS_>
struct DenseConfig {
  static constexpr int TILE_M = TILE_M_, TILE_N = TILE_N_, TILE_K = TILE_K_, STAGES = STAGES_;
  static constexpr int WARPS_M = WARPS_M_, WARPS_N = WARPS_N_;
  static constexpr int K_CHUNK_ELEMS = K_CHUNK_ELEMS_;  // halves per gmem->smem copy: 8, 2 or 1
  static constexpr int WARPS = WARPS_M * WARPS_N;
  static constexpr int THREADS = WARPS * 32;
  static constexpr int WARP_M = TILE_M / WARPS_M;  // rows of Y per warp
  static constexpr int WARP_N = TILE_N / WARPS_N;  // cols of Y per warp
  static constexpr int MMA_M_TILES = WARP_M / 16;  // m16 tiles per warp
  static constexpr int MMA_N_TILES = WARP_N / 8;   // n8 tiles per warp
  static constexpr int MMA_K_STEPS = TILE_K / 16;  // k16 steps per smem stage
  static constexpr int HALVES_PER_CHUNK = layout::kHalvesPer16B;
  static constexpr int CHUNKS_PER_ROW = TILE_K / HALVES_PER_CHUNK;
  static constexpr int X_STAGE_HALVES = TILE_M * TILE_K;
  static constexpr int W_STAGE_HALVES = TILE_N * TILE_K;
  static constexpr int X_CHUNKS_PER_THREAD = TILE_M * CHUNKS_PER_ROW / THREADS;
  static constexpr int W_CHUNKS_PER_THREAD = TILE_N * CHUNKS_PER_ROW / THREADS;
  static constexpr int ACC_ELEMS = MMA_M_TILES * MMA_N_TILES * 4;  // f32 accumulators per thread
  static constexpr int TILE_PARTIAL_FLOATS = ACC_ELEMS * THREADS;    // one split's slot of one tile
  static constexpr int SMEM_BYTES = STAGES * (X_STAGE_HALVES + W_STAGE_HALVES) * 2 + TILE_N * 4;

  static_assert(TILE_K % 16 == 0, "mma.m16n8k16 consumes k in steps of 16");
  static_assert(WARP_M % 16 == 0 && WARP_N % 16 == 0, "a warp covers whole m16 tiles and pairs of n8 tiles");
  static_assert(CHUNKS_PER_ROW == 2 || CHUNKS_PER_ROW == 4 || CHUNKS_PER_ROW == 8, "swizzle covers 32/64/128-B rows");
  static_assert(X_CHUNKS_PER_THREAD * THREADS == TILE_M * CHUNKS_PER_ROW, "X tile splits evenly over threads");
  static_assert(W_CHUNKS_PER_THREAD * THREADS == TILE_N * CHUNKS_PER_ROW, "W tile splits evenly over threads");
  static_assert(K_CHUNK_ELEMS == 8 || K_CHUNK_ELEMS == 2 || K_CHUNK_ELEMS == 1, "copy width: 16 B, 4 B or 2 B");
  static_assert(STAGES >= 3, "at least one tile in flight while another is consumed");
  static_assert(SMEM_BYTES <= 48 * 1024, "static shared memory is limited to 48 KB");
  static_assert(TILE_PARTIAL_FLOATS == TILE_M * TILE_N, "a slot holds exactly one f32 per element of the tile");
};

// m > 16: 4 warps in 2x2, each 32x32 of Y (2 m16 x 4 n8 mma per k16 step).
template <int K_CHUNK_ELEMS>
using DenseConfigLarge = DenseConfig<64, 64, 32, 4, 2, 2, K_CHUNK_ELEMS>;
// m <= 16 (decode): one m16 row of tiles, 4 warps side by side along n; W streams through once.
template <int K_CHUNK_ELEMS>
using DenseConfigSmallM = DenseConfig<16, 64, 64, 4, 1, 4, K_CHUNK_ELEMS>;

struct DenseParams {
  const uint16_t* w;     // [n][k] f16 bits
  const uint16_t* x;     // [m][k]
  const uint16_t* bias;  // [n] or null
  uint16_t* y;           // [m][n]
  int m, n, k;
  int k_splits;          // CTAs per output tile along k (gridDim.z); 1: partials/counters unused
  float* partials;       // [grid.y * grid.x tiles][k_splits][TILE_PARTIAL_FLOATS] f32
  uint32_t* counters;    // [tiles] arrivals; zero at launch, zero again when the launch ends
};

// Launcher's choice (shared by native/cuda/dense.cu and native/sim/dense_sim.cc so they agree).
struct DenseChoice {
  bool small_m;       // DenseConfigSmallM, else DenseConfigLarge
  int k_chunk_elems;  // 8, 2 or 1
};
inline DenseChoice dense_choose(int m, int k, const void* x, const void* w) {
  const auto align = reinterpret_cast<uintptr_t>(x) | reinterpret_cast<uintptr_t>(w);
  DenseChoice c{m <= 16, 1};
  if (k % 8 == 0 && align % 16 == 0) c.k_chunk_elems = 8;
  else if (k % 2 == 0 && align % 4 == 0) c.k_chunk_elems = 2;
  return c;
}

// Split-K sizing: enough CTAs for kDenseSplitCtasPerSm per SM when the (m, n) grid has fewer CTAs
// than SMs, but never a split with fewer than kDenseMinKTilesPerSplit k tiles (the partial's
// store and re-read would outweigh its loads) nor more than kDenseMaxKSplits slots per tile (the
// last arrival reads them all, serially per tile).
inline constexpr int kDenseSplitCtasPerSm = 2;
inline constexpr int kDenseMinKTilesPerSplit = 2;
inline constexpr int kDenseMaxKSplits = 16;
inline int dense_choose_k_splits(int64_t output_tiles, int64_t k_tiles, int sm_count) {
  if (output_tiles <= 0 || output_tiles >= sm_count) return 1;
  const int64_t want = (int64_t(kDenseSplitCtasPerSm) * sm_count + output_tiles - 1) / output_tiles;
  const int64_t most = std::min<int64_t>(kDenseMaxKSplits, k_tiles / kDenseMinKTilesPerSplit);
  return int(std::max<int64_t>(1, std::min(want, most)));
}

// The k tiles [begin, end) of split `split` of k_splits: floor(split * k_tiles / k_splits) on
// both ends, so the splits tile [0, k_tiles) in order, each non-empty when k_splits <= k_tiles,
// sizes differing by at most one.
struct DenseKRange {
  int begin, end;
};
SPARQ_HOST_DEVICE DenseKRange dense_split_k_range(int k_tiles, int k_splits, int split) {
  return {int(int64_t(split) * k_tiles / k_splits), int(int64_t(split + 1) * k_tiles / k_splits)};
}

// ---- device helpers ---------------------------------------------------------------------------
// One 16-byte smem chunk (8 halves of one tile row) from gmem row `g_row` (null: row out of range)
// starting at column k0 of a k-long row; columns >= k become zeros.
template <class Cfg, bool IS_W>
SPARQ_DEVICE void load_chunk(uint16_t* s_chunk, const uint16_t* g_row, int k0, int k, const uint16_t* g_any) {
  const int valid_elems = g_row ? (k - k0 < 0 ? 0 : (k - k0 > 8 ? 8 : k - k0)) : 0;
  const uint16_t* g_src = valid_elems > 0 ? g_row + k0 : g_any;  // any valid pointer when nothing is read
  if constexpr (Cfg::K_CHUNK_ELEMS == 8) {
    cp_async_cg_16(s_chunk, g_src, valid_elems * 2);
  } else if constexpr (Cfg::K_CHUNK_ELEMS == 2) {
    for (int j = 0; j < 4; ++j) {
      const bool in = 2 * j < valid_elems;
      cp_async_ca_4(s_chunk + 2 * j, in ? g_src + 2 * j : g_any, in ? 4 : 0);
    }
  } else {
    for (int j = 0; j < 8; ++j) s_chunk[j] = j < valid_elems ? g_load(g_src + j) : uint16_t(0);
  }
}

// Issues the copies of k tile `k0` into one stage of s_x / s_w (this thread's chunks).
template <class Cfg>
SPARQ_DEVICE void load_stage(uint16_t* s_x, uint16_t* s_w, const DenseParams& p, int m0, int n0, int k0, int tid) {
  for (int i = 0; i < Cfg::X_CHUNKS_PER_THREAD; ++i) {
    const int chunk = tid + i * Cfg::THREADS, row = chunk / Cfg::CHUNKS_PER_ROW, kc = chunk % Cfg::CHUNKS_PER_ROW;
    const uint16_t* g_row = m0 + row < p.m ? p.x + size_t(m0 + row) * p.k : nullptr;
    uint16_t* s_chunk = s_x + layout::swizzled_offset_halves<Cfg::CHUNKS_PER_ROW>(row, kc * Cfg::HALVES_PER_CHUNK);
    load_chunk<Cfg, false>(s_chunk, g_row, k0 + kc * Cfg::HALVES_PER_CHUNK, p.k, p.x);
  }
  for (int i = 0; i < Cfg::W_CHUNKS_PER_THREAD; ++i) {
    const int chunk = tid + i * Cfg::THREADS, row = chunk / Cfg::CHUNKS_PER_ROW, kc = chunk % Cfg::CHUNKS_PER_ROW;
    const uint16_t* g_row = n0 + row < p.n ? p.w + size_t(n0 + row) * p.k : nullptr;
    uint16_t* s_chunk = s_w + layout::swizzled_offset_halves<Cfg::CHUNKS_PER_ROW>(row, kc * Cfg::HALVES_PER_CHUNK);
    load_chunk<Cfg, true>(s_chunk, g_row, k0 + kc * Cfg::HALVES_PER_CHUNK, p.k, p.w);
  }
}

// bias[n0 .. n0+TILE_N) as f32 in smem (0 past n or without bias); published by the first barrier.
template <class Cfg>
SPARQ_DEVICE void load_bias_tile(float* s_bias, const DenseParams& p, int n0, int tid) {
  for (int i = tid; i < Cfg::TILE_N; i += Cfg::THREADS)
    s_bias[i] = (p.bias && n0 + i < p.n) ? cvt_f32_f16(g_load(p.bias + n0 + i)) : 0.f;
}

// The warp's frag_a for k16 step ks of one stage: one ldmatrix.x4 per m16 tile.
template <class Cfg>
SPARQ_DEVICE void load_frag_a(FragA_F16 (&frag_a)[Cfg::MMA_M_TILES], const uint16_t* s_x, int warp_m, int ks,
                              int lane) {
  const RowCol rc = layout::ldmatrix_x4_a_rows(lane);
  for (int mt = 0; mt < Cfg::MMA_M_TILES; ++mt) {
    const int row = warp_m * Cfg::WARP_M + mt * 16 + rc.row;
    ldmatrix_m8n8_x4_b16(frag_a[mt].x, s_x + layout::swizzled_offset_halves<Cfg::CHUNKS_PER_ROW>(row, ks * 16 + rc.col));
  }
}

// The warp's frag_b for k16 step ks: one non-trans ldmatrix.x4 per pair of n8 tiles.
template <class Cfg>
SPARQ_DEVICE void load_frag_b(FragB_F16 (&frag_b)[Cfg::MMA_N_TILES], const uint16_t* s_w, int warp_n, int ks,
                              int lane) {
  const RowCol rc = layout::ldmatrix_x4_b_nmajor_rows(lane);
  for (int np = 0; np < Cfg::MMA_N_TILES / 2; ++np) {
    const int row = warp_n * Cfg::WARP_N + np * 16 + rc.row;
    uint32_t r[4];
    ldmatrix_m8n8_x4_b16(r, s_w + layout::swizzled_offset_halves<Cfg::CHUNKS_PER_ROW>(row, ks * 16 + rc.col));
    frag_b[2 * np] = FragB_F16{{r[0], r[1]}};
    frag_b[2 * np + 1] = FragB_F16{{r[2], r[3]}};
  }
}

// All mma of one smem stage: acc += X tile · W tileᵀ for this warp's WARP_M x WARP_N.
template <class Cfg>
SPARQ_DEVICE void mma_stage(FragC_F32 (&acc)[Cfg::MMA_M_TILES][Cfg::MMA_N_TILES], const uint16_t* s_x,
                            const uint16_t* s_w, int warp_m, int warp_n, int lane) {
  for (int ks = 0; ks < Cfg::MMA_K_STEPS; ++ks) {
    FragA_F16 frag_a[Cfg::MMA_M_TILES];
    FragB_F16 frag_b[Cfg::MMA_N_TILES];
    load_frag_a<Cfg>(frag_a, s_x, warp_m, ks, lane);
    load_frag_b<Cfg>(frag_b, s_w, warp_n, ks, lane);
    for (int mt = 0; mt < Cfg::MMA_M_TILES; ++mt)
      for (int nt = 0; nt < Cfg::MMA_N_TILES; ++nt)
        mma_m16n8k16_f32_f16_f16_f32(acc[mt][nt], frag_a[mt], frag_b[nt], acc[mt][nt]);
  }
}

// Epilogue: + bias, one rounding to f16, predicated stores (see the layout block for who holds what).
template <class Cfg>
SPARQ_DEVICE void store_tile(const DenseParams& p, const FragC_F32 (&acc)[Cfg::MMA_M_TILES][Cfg::MMA_N_TILES],
                             const float* s_bias, int m0, int n0, int warp_m, int warp_n, int lane) {
  const bool pair_stores = (p.n % 2 == 0) && (reinterpret_cast<uintptr_t>(p.y) % 4 == 0);
  for (int mt = 0; mt < Cfg::MMA_M_TILES; ++mt)
    for (int nt = 0; nt < Cfg::MMA_N_TILES; ++nt)
      for (int half = 0; half < 2; ++half) {  // elements {0,1}: row group; {2,3}: row group+8
        const RowCol rc = layout::mma_m16n8_c(lane, 2 * half);
        const int row = m0 + warp_m * Cfg::WARP_M + mt * 16 + rc.row;
        const int tile_col = warp_n * Cfg::WARP_N + nt * 8 + rc.col, col = n0 + tile_col;
        if (row >= p.m || col >= p.n) continue;
        const float v0 = acc[mt][nt].x[2 * half] + s_bias[tile_col];
        const float v1 = acc[mt][nt].x[2 * half + 1] + s_bias[tile_col + 1];
        uint16_t* g_out = p.y + size_t(row) * p.n + col;
        if (pair_stores && col + 1 < p.n) {
          g_store(reinterpret_cast<uint32_t*>(g_out), cvt_rn_f16x2_f32(v0, v1));
        } else {
          g_store(g_out, cvt_rn_f16_f32(v0));
          if (col + 1 < p.n) g_store(g_out + 1, cvt_rn_f16_f32(v1));
        }
      }
}

// Split-K meeting point of one output tile, without waiting for anyone: this CTA publishes its
// acc as slot `split` and counts itself in; all but the last arrival return false (their part is
// done). The last gets true with acc = ((0 + slot 0) + slot 1) + ... in slot order, the same bits
// whichever CTA it is, and re-zeroes the counter for the next launch.
template <class Cfg>
SPARQ_DEVICE bool reduce_split_k(const DenseParams& p, FragC_F32 (&acc)[Cfg::MMA_M_TILES][Cfg::MMA_N_TILES],
                                 int tile, int split, int tid, uint32_t* s_last) {
  float* const g_slots = p.partials + size_t(tile) * p.k_splits * Cfg::TILE_PARTIAL_FLOATS;  // [k_splits][ACC][THR]
  float* const g_mine = g_slots + size_t(split) * Cfg::TILE_PARTIAL_FLOATS;
  for (int mt = 0; mt < Cfg::MMA_M_TILES; ++mt)
    for (int nt = 0; nt < Cfg::MMA_N_TILES; ++nt)
      for (int i = 0; i < 4; ++i)
        g_store(g_mine + ((mt * Cfg::MMA_N_TILES + nt) * 4 + i) * Cfg::THREADS + tid, acc[mt][nt].x[i]);
  syncthreads();  // the whole slot is written before one thread announces it
  if (tid == 0) {
    // The fence makes the CTA's slot (ordered before it by the barrier) visible at gpu scope; the
    // acq_rel add publishes it and, for the last arrival, acquires every earlier slot (the barrier
    // below hands that on to the CTA's other threads).
    fence_acq_rel_gpu();
    const uint32_t before = atom_add_acq_rel_gpu_u32(p.counters + tile, 1u);
    *s_last = before == uint32_t(p.k_splits - 1) ? 1u : 0u;
  }
  syncthreads();
  if (*s_last == 0u) return false;  // uniform across the CTA
  // Slot loop outermost: the element loops inside have constant trip counts and unroll, so acc
  // stays in registers. Its own slot is re-read too (this thread wrote exactly those elements).
  for (int mt = 0; mt < Cfg::MMA_M_TILES; ++mt)
    for (int nt = 0; nt < Cfg::MMA_N_TILES; ++nt) acc[mt][nt] = FragC_F32{{0.f, 0.f, 0.f, 0.f}};
  for (int s = 0; s < p.k_splits; ++s) {
    const float* g_slot = g_slots + size_t(s) * Cfg::TILE_PARTIAL_FLOATS + tid;
    for (int mt = 0; mt < Cfg::MMA_M_TILES; ++mt)
      for (int nt = 0; nt < Cfg::MMA_N_TILES; ++nt)
        for (int i = 0; i < 4; ++i)
          acc[mt][nt].x[i] += g_load(g_slot + ((mt * Cfg::MMA_N_TILES + nt) * 4 + i) * Cfg::THREADS);
  }
  if (tid == 0) g_store(p.counters + tile, 0u);  // every contributor has arrived; stream order publishes it
  return true;
}

// ---- kernel -----------------------------------------------------------------------------------
// grid = (ceil(n / TILE_N), ceil(m / TILE_M), k_splits), block = Cfg::THREADS, no dynamic smem.
template <class Cfg>
__global__ void __launch_bounds__(Cfg::THREADS) dense_tc_gemm_kernel(const DenseParams p) {
  SPARQ_SMEM(uint16_t, s_x, Cfg::STAGES * Cfg::X_STAGE_HALVES);  // [STAGES][TILE_M][TILE_K], swizzled
  SPARQ_SMEM(uint16_t, s_w, Cfg::STAGES * Cfg::W_STAGE_HALVES);  // [STAGES][TILE_N][TILE_K], swizzled
  SPARQ_SMEM(float, s_bias, Cfg::TILE_N);                        // [TILE_N]
  SPARQ_SMEM(uint32_t, s_last, 1);                               // split-K: this CTA arrived last
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const int warp_m = warp / Cfg::WARPS_N, warp_n = warp % Cfg::WARPS_N;
  const int m0 = blockIdx.y * Cfg::TILE_M, n0 = blockIdx.x * Cfg::TILE_N;
  const int split = blockIdx.z;
  const DenseKRange kr = dense_split_k_range((p.k + Cfg::TILE_K - 1) / Cfg::TILE_K, p.k_splits, split);
  const int k_tiles = kr.end - kr.begin;  // this CTA's; local tile i is global k tile kr.begin + i
  const int k_base = kr.begin * Cfg::TILE_K;

  if (p.k_splits == 1) load_bias_tile<Cfg>(s_bias, p, n0, tid);  // published by the k loop's first barrier
  for (int s = 0; s < Cfg::STAGES - 1; ++s) {  // prologue: tiles 0..STAGES-2 in flight
    if (s < k_tiles)
      load_stage<Cfg>(s_x + s * Cfg::X_STAGE_HALVES, s_w + s * Cfg::W_STAGE_HALVES, p, m0, n0,
                      k_base + s * Cfg::TILE_K, tid);
    cp_async_commit_group();
  }

  FragC_F32 acc[Cfg::MMA_M_TILES][Cfg::MMA_N_TILES];
  for (int mt = 0; mt < Cfg::MMA_M_TILES; ++mt)
    for (int nt = 0; nt < Cfg::MMA_N_TILES; ++nt) acc[mt][nt] = FragC_F32{{0.f, 0.f, 0.f, 0.f}};

  for (int kt = 0; kt < k_tiles; ++kt) {
    cp_async_wait_group<Cfg::STAGES - 2>();  // this thread's copies of tile kt have landed
    syncthreads();                           // everyone's have; slot of tile kt-1 is free
    const int next = kt + Cfg::STAGES - 1;
    if (next < k_tiles) {
      const int slot = next % Cfg::STAGES;
      load_stage<Cfg>(s_x + slot * Cfg::X_STAGE_HALVES, s_w + slot * Cfg::W_STAGE_HALVES, p, m0, n0,
                      k_base + next * Cfg::TILE_K, tid);
    }
    cp_async_commit_group();
    const int stage = kt % Cfg::STAGES;
    mma_stage<Cfg>(acc, s_x + stage * Cfg::X_STAGE_HALVES, s_w + stage * Cfg::W_STAGE_HALVES, warp_m, warp_n, lane);
  }
  cp_async_wait_all();  // only empty tail groups remain
  if (p.k_splits > 1) {
    if (!reduce_split_k<Cfg>(p, acc, blockIdx.y * gridDim.x + blockIdx.x, split, tid, s_last)) return;
    load_bias_tile<Cfg>(s_bias, p, n0, tid);  // only the last arrival of a tile reads the bias
    syncthreads();
  }
  store_tile<Cfg>(p, acc, s_bias, m0, n0, warp_m, warp_n, lane);
}

}  // namespace sparq
