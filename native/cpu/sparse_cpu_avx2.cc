// native/cpu/sparse_cpu_avx2.cc: AVX2 sparse matmul kernels (layout and paths: sparse_cpu.h).
// One ymm holds one row of an 8×8 block: its 8-bit slice of the bitmap picks a pshufb pattern
// from a 256-entry table that spreads the row's packed fp16 values to their columns (zeros
// elsewhere), then F16C widens them and they meet the block's 8 x values lane by lane.
#include <immintrin.h>

#include <cstring>

#include "cpu/sparse_cpu.h"

// After every #include: only this file's own functions get the ISA (STYLE.md §11).
#pragma GCC target("avx2,fma,f16c,popcnt")

namespace sparq::cpu::sparse::avx2 {
namespace {

constexpr int kLanes = 8;
constexpr int kHalfGroups = 8;  // 8-row halves of the tile: rows 8h..8h+7 (h = 2·group + (f & 1))
constexpr int kRowsPerBlock = 8;
constexpr int kQuarterRows = 4;  // block rows per buffered pass
constexpr int kMaxMr = 3;        // X rows per buffered pass
constexpr uint32_t kLocationMask = kDecElems - 1;

// pshufb patterns: entry `mask` moves packed fp16 value e (bytes 2e, 2e+1) to the column of the
// e-th set bit of mask; 0x80 zeroes the other columns.
struct ExpandTable {
  alignas(16) uint8_t idx[256][16];
};
constexpr ExpandTable MakeExpandTable() {
  ExpandTable t{};
  for (int mask = 0; mask < 256; ++mask) {
    int src = 0;
    for (int col = 0; col < 8; ++col) {
      const bool set = (mask >> col) & 1;
      t.idx[mask][2 * col] = set ? uint8_t(2 * src) : uint8_t(0x80);
      t.idx[mask][2 * col + 1] = set ? uint8_t(2 * src + 1) : uint8_t(0x80);
      src += set ? 1 : 0;
    }
  }
  return t;
}
constexpr ExpandTable kExpand = MakeExpandTable();

// One block row: the 8 columns, zeros where the bitmap byte has no bit. Reads 8 halves at vals.
inline __m256 ExpandRow(unsigned mask8, const uint16_t* vals) {
  const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(vals));
  const __m128i idx = _mm_load_si128(reinterpret_cast<const __m128i*>(kExpand.idx[mask8]));
  return _mm256_cvtph_ps(_mm_shuffle_epi8(raw, idx));
}

// Tile t's values, readable kHalvesSlack halves past their end: in place, or (near the end of the
// values array) copied to the scratch with zeros after.
const uint16_t* TileHalves(const Problem& p, int64_t t, const Scratch& s) {
  const int64_t begin = p.tile_offsets[t], end = p.tile_offsets[t + 1];
  if (end + kHalvesSlack <= p.values_len) return p.values + begin;
  const int64_t count = end - begin < kDecElems ? end - begin : kDecElems;
  if (count > 0) std::memcpy(s.halves, p.values + begin, size_t(count) * sizeof(uint16_t));
  std::memset(s.halves + count, 0, kHalvesSlack * sizeof(uint16_t));
  return s.halves;
}

// off[b] = first value of block b inside the tile (a popcount prefix over the 64 bitmaps).
void BlockOffsets(const uint64_t* bm, uint32_t (&off)[kBlocksPerTile]) {
  uint32_t run = 0;
  for (int b = 0; b < kBlocksPerTile; ++b) {
    off[b] = run;
    run += uint32_t(_mm_popcnt_u64(bm[b]));
  }
}

// Block of half group hg, k16 step st, column half fh: b = (group·4 + st)·4 + f, f = (hg & 1) + 2·fh.
constexpr int HalfGroupBlock(int hg, int st, int fh) { return ((hg >> 1) * 4 + st) * 4 + (hg & 1) + 2 * fh; }
constexpr int BlockCol(int st, int fh) { return 16 * st + 8 * fh; }

// ------------------------------------------------------------------------- bitmap, direct (m = 1)
void BitmapDirect(const Problem& p, int64_t slab, int64_t i0, float* c, const Scratch& s) {
  uint32_t off[kBlocksPerTile];
  for (int64_t kt = 0; kt < p.k_tiles; ++kt) {
    const int64_t t = slab * p.k_tiles + kt;
    const uint64_t* bm = p.bitmaps + t * kBlocksPerTile;
    const uint16_t* v = TileHalves(p, t, s);
    BlockOffsets(bm, off);
    const float* x = p.x + i0 * p.k_pad + kt * kTileDim;
    for (int hg = 0; hg < kHalfGroups; ++hg) {
      float* cr = c + hg * kRowsPerBlock * kRowLanes;
      __m256 acc[kRowsPerBlock];
#pragma GCC unroll 8
      for (int r = 0; r < kRowsPerBlock; ++r) acc[r] = _mm256_load_ps(cr + r * kRowLanes);
#pragma GCC unroll 4
      for (int st = 0; st < 4; ++st)
#pragma GCC unroll 2
        for (int fh = 0; fh < 2; ++fh) {
          const int b = HalfGroupBlock(hg, st, fh);
          const __m256 xv = _mm256_loadu_ps(x + BlockCol(st, fh));
          const uint16_t* vb = v + off[b];
          const uint64_t bits = bm[b];
#pragma GCC unroll 8
          for (int r = 0; r < kRowsPerBlock; ++r) {
            const unsigned mask = unsigned(bits >> (8 * r)) & 0xFFu;
            acc[r] = _mm256_fmadd_ps(ExpandRow(mask, vb), xv, acc[r]);
            vb += _mm_popcnt_u32(mask);
          }
        }
#pragma GCC unroll 8
      for (int r = 0; r < kRowsPerBlock; ++r) _mm256_store_ps(cr + r * kRowLanes, acc[r]);
    }
  }
}

// ----------------------------------------------------------------------- buffered (any m)
// c rows [0, MR) += one 4-row quarter of half group hg of the expanded tile dec.
template <int MR>
void QuarterRows(const float* x, int64_t ld_x, const float* dec, int hg, int r0, float* c) {
  __m256 acc[MR][kQuarterRows];
#pragma GCC unroll 3
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int r = 0; r < kQuarterRows; ++r) acc[i][r] = _mm256_load_ps(c + i * kSlabCFloats + r * kRowLanes);
#pragma GCC unroll 4
  for (int st = 0; st < 4; ++st)
#pragma GCC unroll 2
    for (int fh = 0; fh < 2; ++fh) {
      const float* db = dec + HalfGroupBlock(hg, st, fh) * kBlockElems + r0 * kLanes;
      __m256 xv[MR];
#pragma GCC unroll 3
      for (int i = 0; i < MR; ++i) xv[i] = _mm256_loadu_ps(x + i * ld_x + BlockCol(st, fh));
#pragma GCC unroll 4
      for (int r = 0; r < kQuarterRows; ++r) {
        const __m256 w = _mm256_load_ps(db + r * kLanes);
#pragma GCC unroll 3
        for (int i = 0; i < MR; ++i) acc[i][r] = _mm256_fmadd_ps(w, xv[i], acc[i][r]);
      }
    }
#pragma GCC unroll 3
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int r = 0; r < kQuarterRows; ++r) _mm256_store_ps(c + i * kSlabCFloats + r * kRowLanes, acc[i][r]);
}

// c += the expanded tile kt for X rows [i_begin, i_end): per 4-row quarter of each half group,
// X rows in blocks of up to kMaxMr (12 accumulators + 3 x + 1 weight = the 16 ymm).
void AccumulateTile(const Problem& p, int64_t kt, int64_t i_begin, int64_t i_end, const float* dec, float* c) {
  for (int hg = 0; hg < kHalfGroups; ++hg)
    for (int r0 = 0; r0 < kRowsPerBlock; r0 += kQuarterRows)
      for (int64_t i = i_begin; i < i_end; i += kMaxMr) {
        const float* x = p.x + i * p.k_pad + kt * kTileDim;
        float* ci = c + (i - i_begin) * kSlabCFloats + (hg * kRowsPerBlock + r0) * kRowLanes;
        switch (i_end - i < kMaxMr ? i_end - i : kMaxMr) {
          case 1: QuarterRows<1>(x, p.k_pad, dec, hg, r0, ci); break;
          case 2: QuarterRows<2>(x, p.k_pad, dec, hg, r0, ci); break;
          default: QuarterRows<kMaxMr>(x, p.k_pad, dec, hg, r0, ci); break;
        }
      }
}

void BitmapBuffered(const Problem& p, int64_t slab, int64_t i_begin, int64_t i_end, float* c, const Scratch& s) {
  for (int64_t kt = 0; kt < p.k_tiles; ++kt) {
    const int64_t t = slab * p.k_tiles + kt;
    const uint64_t* bm = p.bitmaps + t * kBlocksPerTile;
    const uint16_t* vb = TileHalves(p, t, s);
    for (int b = 0; b < kBlocksPerTile; ++b) {
      const uint64_t bits = bm[b];
#pragma GCC unroll 8
      for (int r = 0; r < kRowsPerBlock; ++r) {
        const unsigned mask = unsigned(bits >> (8 * r)) & 0xFFu;
        _mm256_store_ps(s.dec + b * kBlockElems + r * kLanes, ExpandRow(mask, vb));
        vb += _mm_popcnt_u32(mask);
      }
    }
    AccumulateTile(p, kt, i_begin, i_end, s.dec, c);
  }
  // dec holds the last tile; the contract is an all-zero dec on return.
  for (int e = 0; e < kDecElems; e += kLanes) _mm256_store_ps(s.dec + e, _mm256_setzero_ps());
}

void BitmapSlab(const Problem& p, int64_t slab, int64_t i_begin, int64_t i_end, float* c, const Scratch& s) {
  if (i_end - i_begin == 1) return BitmapDirect(p, slab, i_begin, c, s);
  BitmapBuffered(p, slab, i_begin, i_end, c, s);
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

}  // namespace sparq::cpu::sparse::avx2
