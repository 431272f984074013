// native/cuda/layouts.cuh: which lane holds which matrix element, as pure functions.
//
// One source of truth for the mma.sync fragment layouts and the ldmatrix row-address maps, shared
// by the simulator (native/sim), the kernels (native/cuda/kernels), the format packers
// (native/formats) and the tests. Everything here is `__host__ __device__ constexpr` and needs no
// CUDA header, so g++ builds it as plain C++.
//
// Source: PTX ISA, "Warp-level Matrix Fragments for mma.m16n8k16 with floating point type" and
// "... for mma.m16n8k32" (integer type), and "Warp-level matrix load instruction: ldmatrix".
// Names used below, as in the PTX ISA: group = lane / 4 ("groupID"), tig = lane % 4
// ("threadID_in_group"). `elem` indexes the elements a lane holds, in register order: for 16-bit
// operands register r holds elements 2r (low half) and 2r+1 (high half); for 8-bit operands
// register r holds elements 4r..4r+3, lowest byte first.
#pragma once

#if defined(__CUDACC__)
#define SPARQ_LAYOUT_FN __host__ __device__ constexpr inline
#else
#define SPARQ_LAYOUT_FN constexpr inline
#endif

namespace sparq {

struct RowCol {
  int row;
  int col;
};

namespace layout {

constexpr int kWarpLanes = 32;
constexpr int kHalvesPer16B = 8;  // one ldmatrix row, one 16-byte cp.async chunk

SPARQ_LAYOUT_FN int lane_group(int lane) { return lane >> 2; }  // PTX "groupID"
SPARQ_LAYOUT_FN int lane_tig(int lane) { return lane & 3; }     // PTX "threadID_in_group"

// ---- mma.m16n8k16, 16-bit A/B (f16, bf16), f32 C/D -------------------------------------------
// A is 16x16 (m, k), 8 elements per lane (4 registers):
//   a0,a1 -> (group,   2*tig + {0,1})     a2,a3 -> (group+8, 2*tig + {0,1})
//   a4,a5 -> (group,   2*tig + 8 + {0,1}) a6,a7 -> (group+8, 2*tig + 8 + {0,1})
SPARQ_LAYOUT_FN RowCol mma_m16n8k16_a(int lane, int elem) {
  return RowCol{lane_group(lane) + 8 * ((elem >> 1) & 1), 2 * lane_tig(lane) + (elem & 1) + 8 * (elem >> 2)};
}
// B is 16x8 (k, n), 4 elements per lane (2 registers):
//   b0,b1 -> (k = 2*tig + {0,1}, n = group)   b2,b3 -> (k = 2*tig + 8 + {0,1}, n = group)
SPARQ_LAYOUT_FN RowCol mma_m16n8k16_b(int lane, int elem) {
  return RowCol{2 * lane_tig(lane) + (elem & 1) + 8 * (elem >> 1), lane_group(lane)};
}
// C/D is 16x8 (m, n), 4 elements per lane; also the s32 C/D of m16n8k32:
//   c0,c1 -> (group, 2*tig + {0,1})   c2,c3 -> (group+8, 2*tig + {0,1})
SPARQ_LAYOUT_FN RowCol mma_m16n8_c(int lane, int elem) {
  return RowCol{lane_group(lane) + 8 * (elem >> 1), 2 * lane_tig(lane) + (elem & 1)};
}

// ---- mma.m16n8k32, 8-bit A/B (s8, u8), s32 C/D ------------------------------------------------
// A is 16x32 (m, k), 16 bytes per lane (4 registers):
//   a0..a3 -> (group, 4*tig + 0..3)      a4..a7   -> (group+8, 4*tig + 0..3)
//   a8..a11 -> (group, 4*tig + 16 + 0..3) a12..a15 -> (group+8, 4*tig + 16 + 0..3)
SPARQ_LAYOUT_FN RowCol mma_m16n8k32_a(int lane, int elem) {
  return RowCol{lane_group(lane) + 8 * ((elem >> 2) & 1), 4 * lane_tig(lane) + (elem & 3) + 16 * (elem >> 3)};
}
// B is 32x8 (k, n), 8 bytes per lane (2 registers):
//   b0..b3 -> (k = 4*tig + 0..3, n = group)   b4..b7 -> (k = 4*tig + 16 + 0..3, n = group)
SPARQ_LAYOUT_FN RowCol mma_m16n8k32_b(int lane, int elem) {
  return RowCol{4 * lane_tig(lane) + (elem & 3) + 16 * (elem >> 2), lane_group(lane)};
}

// ---- ldmatrix.sync.aligned.m8n8.{x1,x2,x4}{,.trans}.shared.b16 ---------------------------------
// Lanes 8j..8j+7 give the row addresses of 8x8 matrix j (row i = lane 8j+i). Register j of every
// lane receives two 16-bit elements of matrix j: element h (0 = low half) is
//   non-trans: (row = lane/4, col = 2*(lane%4) + h)
//   trans:     (row = 2*(lane%4) + h, col = lane/4)   (the lane gets the transposed matrix)
SPARQ_LAYOUT_FN RowCol ldmatrix_elem(int lane, int h, bool trans) {
  return trans ? RowCol{2 * lane_tig(lane) + h, lane_group(lane)} : RowCol{lane_group(lane), 2 * lane_tig(lane) + h};
}
// Which lane supplies the address of row `row` (0..7) of matrix `matrix` (0..3).
SPARQ_LAYOUT_FN int ldmatrix_addr_lane(int matrix, int row) { return 8 * matrix + row; }

// Row addresses for a 16x16 A tile (m, k) stored row-major (k contiguous) in smem, loaded with one
// ldmatrix.x4 so that registers 0..3 are a0a1, a2a3, a4a5, a6a7 of mma.m16n8k16:
//   matrix 0 = rows 0-7 / k 0-7, 1 = rows 8-15 / k 0-7, 2 = rows 0-7 / k 8-15, 3 = rows 8-15 / k 8-15.
// Returns the (row, first col) of the 8-element row this lane addresses.
SPARQ_LAYOUT_FN RowCol ldmatrix_x4_a_rows(int lane) { return RowCol{lane & 15, (lane >> 4) * 8}; }
// Row addresses for B of two adjacent n8 tiles, stored n-major ([n][k], k contiguous; i.e. the
// nn.Linear weight W[n, k]) and loaded with one non-trans ldmatrix.x4: registers {0,1} are b0b1,b2b3
// of n-tile 0 and {2,3} those of n-tile 1:
//   matrix 0 = n 0-7 / k 0-7, 1 = n 0-7 / k 8-15, 2 = n 8-15 / k 0-7, 3 = n 8-15 / k 8-15.
SPARQ_LAYOUT_FN RowCol ldmatrix_x4_b_nmajor_rows(int lane) {
  return RowCol{(lane & 7) + 8 * (lane >> 4), ((lane >> 3) & 1) * 8};
}
// Row addresses for B of one n8 tile stored k-major ([k][n], n contiguous), loaded with
// ldmatrix.x2.trans: matrix 0 = k 0-7, matrix 1 = k 8-15 (lanes 16-31 addresses are ignored but
// must still be valid; they repeat lanes 0-15).
SPARQ_LAYOUT_FN RowCol ldmatrix_x2_trans_b_kmajor_rows(int lane) { return RowCol{lane & 15, 0}; }

// ---- XOR swizzle of 16-byte chunks -----------------------------------------------------------
// A smem tile row of CHUNKS_PER_ROW 16-byte chunks (2, 4 or 8). Eight rows read by one ldmatrix
// at the same logical chunk land in eight different 16-byte bank groups of a 128-byte line
// when the physical chunk is chunk ^ ((row / rows_per_128B) % CHUNKS_PER_ROW), so cp.async
// writes and ldmatrix reads are both conflict-free. A bijection on the chunks of each row.
template <int CHUNKS_PER_ROW>
SPARQ_LAYOUT_FN int swizzle_chunk(int row, int chunk) {
  static_assert(CHUNKS_PER_ROW == 2 || CHUNKS_PER_ROW == 4 || CHUNKS_PER_ROW == 8,
                "a row must be 32, 64 or 128 bytes");
  return chunk ^ ((row / (8 / CHUNKS_PER_ROW)) % CHUNKS_PER_ROW);
}
// Element offset of (row, col) in a swizzled [rows][CHUNKS_PER_ROW * 8] halves tile.
template <int CHUNKS_PER_ROW>
SPARQ_LAYOUT_FN int swizzled_offset_halves(int row, int col) {
  return row * CHUNKS_PER_ROW * kHalvesPer16B + swizzle_chunk<CHUNKS_PER_ROW>(row, col / kHalvesPer16B) * kHalvesPer16B +
         col % kHalvesPer16B;
}

}  // namespace layout
}  // namespace sparq
