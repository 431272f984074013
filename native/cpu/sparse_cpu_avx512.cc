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
constexpr int kHalfGroups = 8;       // 8-row halves of the tile: rows 8·hg..8·hg+7
constexpr int kBlocksPerHalf = 8;    // 4 k16 steps × 2 column halves
constexpr int kVecsPerBlock = 4;     // zmm per block: rows 2q, 2q+1 (one c pair each)
constexpr int kHalfCFloats = kVecsPerBlock * kLanes;  // c floats of one half group and X row
constexpr int kMaxMr = 6;            // 6 rows × 4 pairs = 24 accumulators + 4 weights + 1 x
constexpr uint32_t kLocationMask = kDecElems - 1;

// Bits are read as 16-bit masks straight from memory (kmovw k, m16 keeps port 5 free for the
// expands and FMAs); the bitmap array is only ever read here.
typedef uint16_t MaskBits __attribute__((may_alias));

// Block of half group hg, k16 step st, column half fh: b = (group·4 + st)·4 + f, f = (hg & 1) + 2·fh;
// its first column in the tile.
constexpr int HalfGroupBlock(int hg, int st, int fh) { return ((hg >> 1) * 4 + st) * 4 + (hg & 1) + 2 * fh; }
constexpr int BlockCol(int st, int fh) { return 16 * st + 8 * fh; }

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

// off[b] = first value of block b inside the tile (a popcount prefix over the 64 bitmaps).
void BlockOffsets(const uint64_t* bm, uint32_t (&off)[kBlocksPerTile]) {
  uint32_t run = 0;
  for (int b = 0; b < kBlocksPerTile; ++b) {
    off[b] = run;
    run += uint32_t(_mm_popcnt_u64(bm[b]));
  }
}

// Block b expanded: w[q] = rows 2q, 2q+1 (zeros where no bit), from its values at vals.
inline void ExpandBlock(const uint64_t* bm, int b, const float* vals, __m512 (&w)[kVecsPerBlock]) {
  const uint64_t bits = bm[b];
  const MaskBits* masks = reinterpret_cast<const MaskBits*>(bm + b);
  const int o1 = _mm_popcnt_u32(uint32_t(bits) & 0xFFFFu), o2 = _mm_popcnt_u32(uint32_t(bits));
  const int o3 = int(_mm_popcnt_u64(bits & 0xFFFFFFFFFFFFull));
  w[0] = _mm512_maskz_expand_ps(_load_mask16(const_cast<MaskBits*>(masks + 0)), _mm512_loadu_ps(vals));
  w[1] = _mm512_maskz_expand_ps(_load_mask16(const_cast<MaskBits*>(masks + 1)), _mm512_loadu_ps(vals + o1));
  w[2] = _mm512_maskz_expand_ps(_load_mask16(const_cast<MaskBits*>(masks + 2)), _mm512_loadu_ps(vals + o2));
  w[3] = _mm512_maskz_expand_ps(_load_mask16(const_cast<MaskBits*>(masks + 3)), _mm512_loadu_ps(vals + o3));
}

// x[kk..kk+8) in both 256-bit halves: the columns of one block, once per row of a zmm.
inline __m512 BlockX(const float* x) { return _mm512_broadcast_f32x8(_mm256_loadu_ps(x)); }

// c (MR X rows, one half group) += the half group's 8 blocks, from registers (DIRECT: expanded
// here from vals) or from the expanded tile dec.
template <int MR, bool DIRECT>
void HalfGroup(const float* x, int64_t ld_x, const uint64_t* bm, const float* vals, const uint32_t* off,
               const float* dec, int hg, float* c) {
  __m512 acc[MR][kVecsPerBlock];
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int q = 0; q < kVecsPerBlock; ++q) acc[i][q] = _mm512_load_ps(c + i * kSlabCFloats + q * kLanes);
#pragma GCC unroll 4
  for (int st = 0; st < 4; ++st)
#pragma GCC unroll 2
    for (int fh = 0; fh < 2; ++fh) {
      const int b = HalfGroupBlock(hg, st, fh);
      __m512 w[kVecsPerBlock];
      if constexpr (DIRECT) {
        ExpandBlock(bm, b, vals + off[b], w);
      } else {
#pragma GCC unroll 4
        for (int q = 0; q < kVecsPerBlock; ++q) w[q] = _mm512_load_ps(dec + b * kBlockElems + q * kLanes);
      }
#pragma GCC unroll 6
      for (int i = 0; i < MR; ++i) {
        const __m512 xv = BlockX(x + i * ld_x + BlockCol(st, fh));
#pragma GCC unroll 4
        for (int q = 0; q < kVecsPerBlock; ++q) acc[i][q] = _mm512_fmadd_ps(w[q], xv, acc[i][q]);
      }
    }
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int q = 0; q < kVecsPerBlock; ++q) _mm512_store_ps(c + i * kSlabCFloats + q * kLanes, acc[i][q]);
}

// c rows [0, rows) += tile kt: half group by half group, X rows in blocks of up to kMaxMr.
template <bool DIRECT>
void AccumulateTile(const Problem& p, int64_t kt, int64_t i_begin, int64_t rows, const uint64_t* bm,
                    const float* vals, const uint32_t* off, const float* dec, float* c) {
  const float* x0 = p.x + i_begin * p.k_pad + kt * kTileDim;
  for (int hg = 0; hg < kHalfGroups; ++hg) {
    for (int64_t i = 0; i < rows; i += kMaxMr) {
      const float* x = x0 + i * p.k_pad;
      float* ci = c + i * kSlabCFloats + hg * kHalfCFloats;
      switch (rows - i < kMaxMr ? rows - i : kMaxMr) {
        case 1: HalfGroup<1, DIRECT>(x, p.k_pad, bm, vals, off, dec, hg, ci); break;
        case 2: HalfGroup<2, DIRECT>(x, p.k_pad, bm, vals, off, dec, hg, ci); break;
        case 3: HalfGroup<3, DIRECT>(x, p.k_pad, bm, vals, off, dec, hg, ci); break;
        case 4: HalfGroup<4, DIRECT>(x, p.k_pad, bm, vals, off, dec, hg, ci); break;
        case 5: HalfGroup<5, DIRECT>(x, p.k_pad, bm, vals, off, dec, hg, ci); break;
        default: HalfGroup<kMaxMr, DIRECT>(x, p.k_pad, bm, vals, off, dec, hg, ci); break;
      }
    }
  }
}

// ------------------------------------------------------------------------------ bitmap
// Up to kMaxMr X rows: every block is expanded into registers once, where it meets all of them.
// More rows: each tile is expanded into dec once and every row block runs over it.
void BitmapSlab(const Problem& p, int64_t slab, int64_t i_begin, int64_t i_end, float* c, const Scratch& s) {
  const int64_t rows = i_end - i_begin;
  const bool direct = rows <= kMaxMr;
  uint32_t off[kBlocksPerTile];
  for (int64_t kt = 0; kt < p.k_tiles; ++kt) {
    const int64_t t = slab * p.k_tiles + kt;
    const uint64_t* bm = p.bitmaps + t * kBlocksPerTile;
    ConvertValues(p.values + p.tile_offsets[t], int64_t(p.tile_offsets[t + 1]) - p.tile_offsets[t], s.values32);
    BlockOffsets(bm, off);
    if (direct) {
      AccumulateTile<true>(p, kt, i_begin, rows, bm, s.values32, off, nullptr, c);
      continue;
    }
    for (int b = 0; b < kBlocksPerTile; ++b) {
      __m512 w[kVecsPerBlock];
      ExpandBlock(bm, b, s.values32 + off[b], w);
#pragma GCC unroll 4
      for (int q = 0; q < kVecsPerBlock; ++q) _mm512_store_ps(s.dec + b * kBlockElems + q * kLanes, w[q]);
    }
    AccumulateTile<false>(p, kt, i_begin, rows, nullptr, nullptr, nullptr, s.dec, c);
  }
  // dec holds the last tile; the contract is an all-zero dec on return.
  if (!direct)
    for (int e = 0; e < kDecElems; e += kLanes) _mm512_store_ps(s.dec + e, _mm512_setzero_ps());
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
    AccumulateTile<false>(p, kt, i_begin, i_end - i_begin, nullptr, nullptr, nullptr, s.dec, c);
    for (const uint32_t* w = w0; w < w1; ++w) s.dec[p.csl_slot[(*w >> 16) & kLocationMask]] = 0.0f;
  }
}

}  // namespace

const KernelSet& Kernels() {
  static const KernelSet set{&BitmapSlab, &TiledCslSlab};
  return set;
}

}  // namespace sparq::cpu::sparse::avx512
