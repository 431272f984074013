// native/cpu/sparse_cpu_avx512_skip.cc: the AVX-512 bitmap kernel that skips zero weights (layout
// and contract: sparse_cpu.h). The expanding kernels turn each 8×8 block into 64 fp32 weights and
// run every one, zeros included, so past a few X rows their cost is a dense GEMM's. Here X rows sit
// on the lanes (xt: 16 rows per zmm for each k) and each stored weight is one FMA into the
// accumulator of its (W row, k mod 8) pair for the 16 rows: the work follows nnz.
//
// Same bits as the other kernels. Lane l of c[i][row] is the FMA chain over kk ≡ l (mod 8) in k
// order (tile by tile, block column by block column: the storage order visits a block row's block
// columns in increasing order, sparq/sparse.h). A skipped weight is a zero, and fma(x, ±0, acc)
// = acc for finite x: acc starts at +0 and never becomes −0 (a nonzero fp16·fp16 product cannot
// round to zero in fp32, and x + (−x) rounds to +0), so acc + (±0) is acc. With an Inf or NaN in
// X that fails (0·Inf = NaN), and the driver does not choose this kernel.
// GCC 12's AVX-512 intrinsics start from a self-initialised "undefined" vector and warn inside
// the header once inlined; the values are fully defined.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include "cpu/sparse_cpu.h"
#include "sparq/sparse.h"

// After every #include: only this file's own functions get the ISA (STYLE.md §11).
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c,bmi,bmi2")

namespace sparq::cpu::sparse::avx512skip {
namespace {

using sparq::sparse::BitmapBlockCol;
using sparq::sparse::BitmapBlockRow;
constexpr int kLanes = 16;  // X rows per zmm

// One tile's stored values as fp32 (values32 holds up to kDecElems + 16).
void TileValuesF32(const uint16_t* v, int64_t count, float* out) {
  for (int64_t i = 0; i < count; i += kLanes) {
    const int64_t left = count - i;
    const __mmask16 mask = left >= kLanes ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1u);
    _mm512_store_ps(out + i, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, v + i)));
  }
}

// acc[row][l][lane] (+)= the slab's tiles for the 16 X rows of xt block `blk`.
void SlabBlock(const Problem& p, int64_t slab, int64_t blk, float* acc, float* values32) {
  for (int64_t kt = 0; kt < p.k_tiles; ++kt) {
    const int64_t t = slab * p.k_tiles + kt;
    const uint64_t* bm = p.bitmaps + t * sparq::sparse::kBlocksPerTile;
    TileValuesF32(p.values + p.tile_offsets[t], p.tile_offsets[t + 1] - p.tile_offsets[t], values32);
    const float* xk = p.xt + (blk * p.k_pad + kt * kTileDim) * kLanes;
    const float* w = values32;
    for (int b = 0; b < sparq::sparse::kBlocksPerTile; ++b) {
      float* acc_b = acc + BitmapBlockRow(b) * kRowLanes * kLanes;
      const float* x_b = xk + BitmapBlockCol(b) * kLanes;
      // Bit r·8 + c of the block is (row r, column c): its accumulator is acc_b + bit·16, its X
      // column x_b + c·16.
      for (uint64_t mask = bm[b]; mask != 0; mask = _blsr_u64(mask)) {
        const unsigned bit = unsigned(_tzcnt_u64(mask));
        float* a = acc_b + bit * kLanes;
        _mm512_store_ps(a, _mm512_fmadd_ps(_mm512_load_ps(x_b + (bit & 7u) * kLanes), _mm512_set1_ps(*w++),
                                           _mm512_load_ps(a)));
      }
    }
  }
}

void BitmapSlab(const Problem& p, int64_t slab, int64_t i_begin, int64_t i_end, float* c, const Scratch& s) {
  float* acc = s.rows_acc;
  // i_begin is a multiple of 16 whenever the driver picks this kernel; the block of xt holding
  // row i_begin starts there.
  for (int64_t i0 = i_begin; i0 < i_end; i0 += kLanes) {
    const int64_t rows = i_end - i0 < kLanes ? i_end - i0 : kLanes;
    // The accumulators start from c (zeroed by the driver), transposed.
    for (int row = 0; row < kTileDim; ++row)
      for (int l = 0; l < kRowLanes; ++l) {
        float* a = acc + (row * kRowLanes + l) * kLanes;
        for (int i = 0; i < kLanes; ++i) a[i] = i < rows ? c[(i0 - i_begin + i) * kSlabCFloats + row * kRowLanes + l] : 0.0f;
      }
    SlabBlock(p, slab, i0 / kLanes, acc, s.values32);
    for (int row = 0; row < kTileDim; ++row)
      for (int l = 0; l < kRowLanes; ++l) {
        const float* a = acc + (row * kRowLanes + l) * kLanes;
        for (int i = 0; i < rows; ++i) c[(i0 - i_begin + i) * kSlabCFloats + row * kRowLanes + l] = a[i];
      }
  }
}

}  // namespace

SlabFn BitmapSlabFn() { return &BitmapSlab; }

}  // namespace sparq::cpu::sparse::avx512skip
