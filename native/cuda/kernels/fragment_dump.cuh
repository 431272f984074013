// native/cuda/kernels/fragment_dump.cuh: one warp writes what each lane holds after known loads
// and mma, so the device check can compare a GPU against the simulator's reading of the PTX ISA
// fragment layouts (the one thing the simulator cannot check about itself).
//   gmem inputs (sparq/sim.h FragmentDumpInputs): a16 [16][16] iota f16, bk [16 k][8 n] iota f16,
//        a_identity [16][16] f16, a8_identity [16][32] s8, b8_nmajor [8 n][32 k] s8.
//   smem s_a16, s_bk, s_aid: plain row-major copies (one 16-byte cp.async per lane and row chunk).
//   regs  ldmatrix.x4 of s_a16 at layout::ldmatrix_x4_a_rows   -> out_ldmatrix_x4[lane][0..3]
//         ldmatrix.x2.trans of s_bk at ldmatrix_x2_trans_b_kmajor_rows -> out_ldmatrix_x2_trans[lane][0..1]
//         mma f16 (A = identity via ldmatrix.x4, B = the x2.trans registers) -> out_mma_f16[lane][0..3]
//         mma s8  (fragments gathered from gmem with layout::mma_m16n8k32_a/b) -> out_mma_s8[lane][0..3]
//   Outputs are in register order, exactly as the lane holds them.
#pragma once
#include <cstdint>

#include "../layouts.cuh"
#include "../ptx_prims.cuh"

namespace sparq {

// ---- tile constants ---------------------------------------------------------------------------
constexpr int kDumpThreads = 32;  // one warp
constexpr int kDumpChunkHalves = layout::kHalvesPer16B;

struct FragmentDumpParams {
  const uint16_t* a16;         // [16][16]
  const uint16_t* bk;          // [16][8]
  const uint16_t* a_identity;  // [16][16]
  const int8_t* a8_identity;   // [16][32]
  const int8_t* b8_nmajor;     // [8][32]
  uint32_t* out_ldmatrix_x4;        // [32][4]
  uint32_t* out_ldmatrix_x2_trans;  // [32][2]
  float* out_mma_f16;               // [32][4]
  int32_t* out_mma_s8;              // [32][4]
};

// ---- device helpers ---------------------------------------------------------------------------
// The s8 fragments straight from gmem: each register is 4 consecutive k of one row (A) or column (B).
SPARQ_DEVICE void gather_s8_fragments(const FragmentDumpParams& p, int lane, FragA_S8& frag_a, FragB_S8& frag_b) {
  for (int r = 0; r < 4; ++r) {
    const RowCol rc = layout::mma_m16n8k32_a(lane, 4 * r);
    frag_a.x[r] = g_load(reinterpret_cast<const uint32_t*>(p.a8_identity + rc.row * 32 + rc.col));
  }
  for (int r = 0; r < 2; ++r) {
    const RowCol rc = layout::mma_m16n8k32_b(lane, 4 * r);  // (k, n)
    frag_b.x[r] = g_load(reinterpret_cast<const uint32_t*>(p.b8_nmajor + rc.col * 32 + rc.row));
  }
}

// ---- kernel -----------------------------------------------------------------------------------
// grid 1, block 32.
__global__ void __launch_bounds__(kDumpThreads) fragment_dump_kernel(const FragmentDumpParams p) {
  SPARQ_SMEM(uint16_t, s_a16, 16 * 16);
  SPARQ_SMEM(uint16_t, s_bk, 16 * 8);
  SPARQ_SMEM(uint16_t, s_aid, 16 * 16);
  const int lane = threadIdx.x;
  cp_async_cg_16(s_a16 + lane * kDumpChunkHalves, p.a16 + lane * kDumpChunkHalves, 16);
  cp_async_cg_16(s_aid + lane * kDumpChunkHalves, p.a_identity + lane * kDumpChunkHalves, 16);
  if (lane < 16) cp_async_cg_16(s_bk + lane * kDumpChunkHalves, p.bk + lane * kDumpChunkHalves, 16);
  cp_async_commit_group();
  cp_async_wait_all();
  syncwarp();

  const RowCol ra = layout::ldmatrix_x4_a_rows(lane);
  uint32_t r_a16[4], r_aid[4], r_bk[2];
  ldmatrix_m8n8_x4_b16(r_a16, s_a16 + ra.row * 16 + ra.col);
  ldmatrix_m8n8_x4_b16(r_aid, s_aid + ra.row * 16 + ra.col);
  ldmatrix_m8n8_x2_trans_b16(r_bk, s_bk + layout::ldmatrix_x2_trans_b_kmajor_rows(lane).row * 8);
  for (int j = 0; j < 4; ++j) g_store(p.out_ldmatrix_x4 + lane * 4 + j, r_a16[j]);
  for (int j = 0; j < 2; ++j) g_store(p.out_ldmatrix_x2_trans + lane * 2 + j, r_bk[j]);

  FragC_F32 frag_c = {{0.f, 0.f, 0.f, 0.f}};
  mma_m16n8k16_f32_f16_f16_f32(frag_c, FragA_F16{{r_aid[0], r_aid[1], r_aid[2], r_aid[3]}},
                               FragB_F16{{r_bk[0], r_bk[1]}}, frag_c);
  for (int e = 0; e < 4; ++e) g_store(p.out_mma_f16 + lane * 4 + e, frag_c.x[e]);

  FragA_S8 frag_a8;
  FragB_S8 frag_b8;
  gather_s8_fragments(p, lane, frag_a8, frag_b8);
  FragC_S32 frag_c8 = {{0, 0, 0, 0}};
  mma_m16n8k32_s32_s8_s8_s32(frag_c8, frag_a8, frag_b8, frag_c8);
  for (int e = 0; e < 4; ++e) g_store(p.out_mma_s8 + lane * 4 + e, frag_c8.x[e]);
}

}  // namespace sparq
