// native/cuda/kernels/fragment_dump.cuh: one warp writes what each lane holds after known loads,
// mma and the W4A16 dequant, so the device check can compare a GPU against the simulator's
// reading of the PTX ISA (fragment layouts, lop3/prmt/f16x2 bit tricks): the one thing the
// simulator cannot check about itself.
//   gmem inputs (cuda/fragment_dump_inputs.h, FragmentDumpInputs): a16 [16][16] iota f16,
//        bk [16 k][8 n] iota f16, a_mma [16][16] f16, a8 [16][32] s8, b8_nmajor [8 n][32 k] s8,
//        w4_codes [32 lanes][4 u32] (one warp's kGpu slice), w4_scales [8 g][8 n8] f16.
//   smem s_a16, s_bk, s_amma: plain row-major copies (one 16-byte cp.async per lane and row chunk).
//   regs  ldmatrix.x4 of s_a16 at layout::ldmatrix_x4_a_rows   -> out.ldmatrix_x4[lane][0..3]
//         ldmatrix.x2.trans of s_bk at ldmatrix_x2_trans_b_kmajor_rows -> out.ldmatrix_x2_trans[lane][0..1]
//         mma f16 (A = a_mma via ldmatrix.x4, B = the x2.trans registers) -> out.mma_f16[lane][0..3]
//         mma s8  (fragments gathered from gmem with layout::mma_m16n8k32_a/b) -> out.mma_s8[lane][0..3]
//         w4a16::DequantPair (the W4A16 kernel's own helper) on the lane's u32 j of codes and of
//         scales -> frag_b of n8 tiles 2j, 2j+1 -> out.w4a16_dequant[lane][4j .. 4j+3]
//   Outputs are in register order, exactly as the lane holds them.
#pragma once
#include <cstdint>

#include "../fragment_dump_inputs.h"
#include "../layouts.cuh"
#include "../ptx_prims.cuh"
#include "sparq/sim_ops.h"

#include "w4a16.cuh"  // DequantPair: the real helper the W4A16 kernel runs

namespace sparq {

// ---- tile constants ---------------------------------------------------------------------------
constexpr int kDumpThreads = 32;  // one warp
constexpr int kDumpChunkHalves = layout::kHalvesPer16B;

struct FragmentDumpParams {
  const FragmentDumpInputs* in;  // device (or simulator) memory
  sim::FragmentDumpData* out;
};

// ---- device helpers ---------------------------------------------------------------------------
// The s8 fragments straight from gmem: each register is 4 consecutive k of one row (A) or column (B).
SPARQ_DEVICE void gather_s8_fragments(const FragmentDumpInputs* in, int lane, FragA_S8& frag_a, FragB_S8& frag_b) {
  for (int r = 0; r < 4; ++r) {
    const RowCol rc = layout::mma_m16n8k32_a(lane, 4 * r);
    frag_a.x[r] = g_load(reinterpret_cast<const uint32_t*>(in->a8 + rc.row * 32 + rc.col));
  }
  for (int r = 0; r < 2; ++r) {
    const RowCol rc = layout::mma_m16n8k32_b(lane, 4 * r);  // (k, n)
    frag_b.x[r] = g_load(reinterpret_cast<const uint32_t*>(in->b8_nmajor + rc.col * 32 + rc.row));
  }
}

// The lane's codes and scales as the W4A16 kernel holds them (frag_q, frag_s: u32 j covers n8
// tiles 2j, 2j+1), through the kernel's own DequantPair.
SPARQ_DEVICE void dump_w4a16_dequant(const FragmentDumpParams& p, int lane) {
  const uint32_t* g_scales = reinterpret_cast<const uint32_t*>(p.in->w4_scales) + (lane / 4) * dump::kW4WordsPerLane;
  for (int j = 0; j < dump::kW4WordsPerLane; ++j) {
    const uint32_t q = g_load(p.in->w4_codes + lane * dump::kW4WordsPerLane + j);
    FragB_F16 b_even, b_odd;
    w4a16::DequantPair(q, g_load(g_scales + j), b_even, b_odd);
    for (int i = 0; i < 2; ++i) {
      g_store(&p.out->w4a16_dequant[lane][4 * j + i], b_even.x[i]);
      g_store(&p.out->w4a16_dequant[lane][4 * j + 2 + i], b_odd.x[i]);
    }
  }
}

// ---- kernel -----------------------------------------------------------------------------------
// grid 1, block 32.
__global__ void __launch_bounds__(kDumpThreads) fragment_dump_kernel(const FragmentDumpParams p) {
  SPARQ_SMEM(uint16_t, s_a16, 16 * 16);
  SPARQ_SMEM(uint16_t, s_bk, 16 * 8);
  SPARQ_SMEM(uint16_t, s_amma, 16 * 16);
  const int lane = threadIdx.x;
  const FragmentDumpInputs* in = p.in;
  sim::FragmentDumpData* out = p.out;
  cp_async_cg_16(s_a16 + lane * kDumpChunkHalves, in->a16 + lane * kDumpChunkHalves, 16);
  cp_async_cg_16(s_amma + lane * kDumpChunkHalves, in->a_mma + lane * kDumpChunkHalves, 16);
  if (lane < 16) cp_async_cg_16(s_bk + lane * kDumpChunkHalves, in->bk + lane * kDumpChunkHalves, 16);
  cp_async_commit_group();
  cp_async_wait_all();
  syncwarp();

  const RowCol ra = layout::ldmatrix_x4_a_rows(lane);
  uint32_t r_a16[4], r_amma[4], r_bk[2];
  ldmatrix_m8n8_x4_b16(r_a16, s_a16 + ra.row * 16 + ra.col);
  ldmatrix_m8n8_x4_b16(r_amma, s_amma + ra.row * 16 + ra.col);
  ldmatrix_m8n8_x2_trans_b16(r_bk, s_bk + layout::ldmatrix_x2_trans_b_kmajor_rows(lane).row * 8);
  for (int j = 0; j < 4; ++j) g_store(&out->ldmatrix_x4[lane][j], r_a16[j]);
  for (int j = 0; j < 2; ++j) g_store(&out->ldmatrix_x2_trans[lane][j], r_bk[j]);

  FragC_F32 frag_c = {{0.f, 0.f, 0.f, 0.f}};
  mma_m16n8k16_f32_f16_f16_f32(frag_c, FragA_F16{{r_amma[0], r_amma[1], r_amma[2], r_amma[3]}},
                               FragB_F16{{r_bk[0], r_bk[1]}}, frag_c);
  for (int e = 0; e < 4; ++e) g_store(&out->mma_f16[lane][e], frag_c.x[e]);

  FragA_S8 frag_a8;
  FragB_S8 frag_b8;
  gather_s8_fragments(in, lane, frag_a8, frag_b8);
  FragC_S32 frag_c8 = {{0, 0, 0, 0}};
  mma_m16n8k32_s32_s8_s8_s32(frag_c8, frag_a8, frag_b8, frag_c8);
  for (int e = 0; e < 4; ++e) g_store(&out->mma_s8[lane][e], frag_c8.x[e]);

  dump_w4a16_dequant(p, lane);
}

}  // namespace sparq
