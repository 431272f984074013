// native/cpu/sparse_cpu_avx512.cc: AVX-512 sparse matmul kernels (layout and paths: sparse_cpu.h).
// One zmm holds two rows of an 8×8 block (16 bits of its bitmap), so expanding a block is four
// vexpandps from the tile's values converted to fp32 once (AVX-512F only: no VBMI2 needed), and
// the 8 x values of the block's columns, repeated twice, meet all four lane by lane.
// GCC 12's AVX-512 intrinsics start from a self-initialised "undefined" vector and warn inside
// the header once inlined; the values are fully defined.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include "cpu/sparse_cpu.h"

// After every #include: only this file's own functions get the ISA (STYLE.md §11).
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c,popcnt")

namespace sparq::cpu::sparse::avx512 {
namespace {

constexpr int kLanes = 16;
constexpr int kGroups = 4;           // 16-row groups per tile: blocks 16g..16g+15
constexpr int kBlocksPerGroup = 16;  // 4 k16 steps × 4 blocks (the mma A registers a0..a3)
constexpr int kPairsPerGroup = 8;    // zmm of c per group and X row: 16 rows, 2 per zmm
constexpr int kVecsPerBlock = 4;     // zmm per block: rows 2q, 2q+1
constexpr int kGroupCFloats = kPairsPerGroup * kLanes;
constexpr int kDirectMaxRows = 3;    // 3 rows × 8 pairs = 24 accumulators + 4 weights + 1 x
constexpr int kMaxMr = 3;
constexpr uint32_t kLocationMask = kDecElems - 1;

// Block j (0..15) of a group, j = 4·s + f: its first column in the tile and its first c pair.
constexpr int BlockCol(int j) { return 16 * (j >> 2) + 8 * ((j >> 1) & 1); }
constexpr int BlockPair(int j) { return 4 * (j & 1); }

// The tile's `count` values as fp32 (count is a multiple of 8 in a valid encoding; any is fine).
void ConvertValues(const uint16_t* v, int64_t count, float* out) {
  int64_t i = 0;
  for (; i + kLanes <= count; i += kLanes)
    _mm512_store_ps(out + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(v + i))));
  if (i < count) {
    const __mmask16 mask = static_cast<__mmask16>((1u << (count - i)) - 1u);
    _mm512_store_ps(out + i, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, v + i)));
  }
}

// The block with bitmap `bm` whose values start at vals: w[q] = rows 2q, 2q+1 (zeros where no bit).
inline void ExpandBlock(uint64_t bm, const float*& vals, __m512 (&w)[kVecsPerBlock]) {
#pragma GCC unroll 4
  for (int q = 0; q < kVecsPerBlock; ++q) {
    const unsigned mask = unsigned(bm >> (16 * q)) & 0xFFFFu;
    w[q] = _mm512_maskz_expandloadu_ps(static_cast<__mmask16>(mask), vals);
    vals += _mm_popcnt_u32(mask);
  }
}

// x[kk..kk+8) in both 256-bit halves: the columns of one block, once per row of a zmm.
inline __m512 BlockX(const float* x) { return _mm512_broadcast_f32x8(_mm256_loadu_ps(x)); }

// ------------------------------------------------------------------------- bitmap, direct
// Rows [i0, i0+MR) of X, every block expanded once into registers.
template <int MR>
void BitmapDirect(const Problem& p, int64_t slab, int64_t i0, float* c, const Scratch& s) {
  for (int64_t kt = 0; kt < p.k_tiles; ++kt) {
    const int64_t t = slab * p.k_tiles + kt;
    const uint64_t* bm = p.bitmaps + t * kBlocksPerTile;
    ConvertValues(p.values + p.tile_offsets[t], int64_t(p.tile_offsets[t + 1]) - p.tile_offsets[t], s.values32);
    const float* vals = s.values32;
    const float* x = p.x + i0 * p.k_pad + kt * kTileDim;
    for (int g = 0; g < kGroups; ++g) {
      __m512 acc[MR][kPairsPerGroup];
#pragma GCC unroll 3
      for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
        for (int q = 0; q < kPairsPerGroup; ++q)
          acc[i][q] = _mm512_load_ps(c + i * kSlabCFloats + g * kGroupCFloats + q * kLanes);
#pragma GCC unroll 16
      for (int j = 0; j < kBlocksPerGroup; ++j) {
        __m512 w[kVecsPerBlock];
        ExpandBlock(bm[g * kBlocksPerGroup + j], vals, w);
#pragma GCC unroll 3
        for (int i = 0; i < MR; ++i) {
          const __m512 xv = BlockX(x + i * p.k_pad + BlockCol(j));
#pragma GCC unroll 4
          for (int q = 0; q < kVecsPerBlock; ++q)
            acc[i][BlockPair(j) + q] = _mm512_fmadd_ps(w[q], xv, acc[i][BlockPair(j) + q]);
        }
      }
#pragma GCC unroll 3
      for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
        for (int q = 0; q < kPairsPerGroup; ++q)
          _mm512_store_ps(c + i * kSlabCFloats + g * kGroupCFloats + q * kLanes, acc[i][q]);
    }
  }
}

// ----------------------------------------------------------------------- buffered (any m)
// c rows [i0, i0+MR) += group g of the expanded tile dec.
template <int MR>
void AccumulateGroup(const float* x, int64_t ld_x, const float* dec, int g, float* c) {
  __m512 acc[MR][kPairsPerGroup];
#pragma GCC unroll 3
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int q = 0; q < kPairsPerGroup; ++q)
      acc[i][q] = _mm512_load_ps(c + i * kSlabCFloats + g * kGroupCFloats + q * kLanes);
  const float* dg = dec + g * kBlocksPerGroup * kBlockElems;
#pragma GCC unroll 16
  for (int j = 0; j < kBlocksPerGroup; ++j) {
    __m512 w[kVecsPerBlock];
#pragma GCC unroll 4
    for (int q = 0; q < kVecsPerBlock; ++q) w[q] = _mm512_load_ps(dg + j * kBlockElems + q * kLanes);
#pragma GCC unroll 3
    for (int i = 0; i < MR; ++i) {
      const __m512 xv = BlockX(x + i * ld_x + BlockCol(j));
#pragma GCC unroll 4
      for (int q = 0; q < kVecsPerBlock; ++q)
        acc[i][BlockPair(j) + q] = _mm512_fmadd_ps(w[q], xv, acc[i][BlockPair(j) + q]);
    }
  }
#pragma GCC unroll 3
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int q = 0; q < kPairsPerGroup; ++q)
      _mm512_store_ps(c + i * kSlabCFloats + g * kGroupCFloats + q * kLanes, acc[i][q]);
}

// c += the expanded tile kt for X rows [i_begin, i_end); group by group so a group's 4 KB of dec
// stays in L1 while every row block passes over it.
void AccumulateTile(const Problem& p, int64_t kt, int64_t i_begin, int64_t i_end, const float* dec, float* c) {
  const float* x = p.x + kt * kTileDim;
  for (int g = 0; g < kGroups; ++g) {
    int64_t i = i_begin;
    for (; i + kMaxMr <= i_end; i += kMaxMr)
      AccumulateGroup<kMaxMr>(x + i * p.k_pad, p.k_pad, dec, g, c + (i - i_begin) * kSlabCFloats);
    switch (i_end - i) {
      case 2: AccumulateGroup<2>(x + i * p.k_pad, p.k_pad, dec, g, c + (i - i_begin) * kSlabCFloats); break;
      case 1: AccumulateGroup<1>(x + i * p.k_pad, p.k_pad, dec, g, c + (i - i_begin) * kSlabCFloats); break;
      default: break;
    }
  }
}

void BitmapBuffered(const Problem& p, int64_t slab, int64_t i_begin, int64_t i_end, float* c, const Scratch& s) {
  for (int64_t kt = 0; kt < p.k_tiles; ++kt) {
    const int64_t t = slab * p.k_tiles + kt;
    const uint64_t* bm = p.bitmaps + t * kBlocksPerTile;
    ConvertValues(p.values + p.tile_offsets[t], int64_t(p.tile_offsets[t + 1]) - p.tile_offsets[t], s.values32);
    const float* vals = s.values32;
    for (int b = 0; b < kBlocksPerTile; ++b) {
      __m512 w[kVecsPerBlock];
      ExpandBlock(bm[b], vals, w);
#pragma GCC unroll 4
      for (int q = 0; q < kVecsPerBlock; ++q) _mm512_store_ps(s.dec + b * kBlockElems + q * kLanes, w[q]);
    }
    AccumulateTile(p, kt, i_begin, i_end, s.dec, c);
  }
  // dec holds the last tile; the contract is an all-zero dec on return.
  for (int e = 0; e < kDecElems; e += kLanes) _mm512_store_ps(s.dec + e, _mm512_setzero_ps());
}

void BitmapSlab(const Problem& p, int64_t slab, int64_t i_begin, int64_t i_end, float* c, const Scratch& s) {
  switch (i_end - i_begin) {
    case 1: return BitmapDirect<1>(p, slab, i_begin, c, s);
    case 2: return BitmapDirect<2>(p, slab, i_begin, c, s);
    case kDirectMaxRows: return BitmapDirect<kDirectMaxRows>(p, slab, i_begin, c, s);
    default: return BitmapBuffered(p, slab, i_begin, i_end, c, s);
  }
}

// ------------------------------------------------------------------------------ tiled-CSL
// Each word is scattered to its dec slot, the tile runs as a dense one, then the same slots are
// zeroed again (cheaper than clearing 16 KB at the sparsities this format is picked for).
void TiledCslSlab(const Problem& p, int64_t slab, int64_t i_begin, int64_t i_end, float* c, const Scratch& s) {
  for (int64_t kt = 0; kt < p.k_tiles; ++kt) {
    const int64_t t = slab * p.k_tiles + kt;
    const uint32_t* w0 = p.words + p.tile_offsets[t];
    const uint32_t* w1 = p.words + p.tile_offsets[t + 1];
    for (const uint32_t* w = w0; w < w1; ++w)
      s.dec[p.csl_slot[(*w >> 16) & kLocationMask]] = _cvtsh_ss(static_cast<unsigned short>(*w & 0xFFFFu));
    AccumulateTile(p, kt, i_begin, i_end, s.dec, c);
    for (const uint32_t* w = w0; w < w1; ++w) s.dec[p.csl_slot[(*w >> 16) & kLocationMask]] = 0.0f;
  }
}

}  // namespace

const KernelSet& Kernels() {
  static const KernelSet set{&BitmapSlab, &TiledCslSlab};
  return set;
}

}  // namespace sparq::cpu::sparse::avx512
