// native/cpu/sparse_cpu_avx512vbmi2.cc: the AVX-512 bitmap kernel with AVX512_VBMI2 expands
// (layout and paths: sparse_cpu.h; body: sparse_avx512_body.inc). A block's 64 fp16 values are
// expanded by two vpexpandw (32 halves each) straight from the encoded values, where the plain
// AVX-512 kernel converts the tile to fp32 and runs four vexpandps. Same products, same order, same
// bits; which is faster depends on the core (docs/kernels.md): the driver picks this one on AMD for
// the direct path (≤ 6 X rows per unit), where it was measured faster.
//
// Two ways to widen the expanded halves to fp32, in three builds of the body:
//   convert  four vcvtph2ps (and two extracts) a block;
//   bits     each half placed in the top of a dword by a vpermw that zeroes the low word (in
//            bits_one_row, for one X row per unit, by unpacks with zero instead), then moved
//            down 3 bits to where fp32 keeps its exponent and mantissa (vpsrad, and vpandd to clear
//            the sign's 3 copies): the fp32 whose bits those are is w·2^−112 exactly, for every
//            finite fp16 w (subnormals become fp32 denormals, ±0 stays ±0). X is read scaled by
//            2^112 (Problem::x is then the driver's X · kBitsXScale, exact: |x| ≤ 65504 stays
//            below 2^128), so each product w·2^−112 · x·2^112 is w·x exactly and every FMA rounds
//            to the same bits as the convert build's. Not exact for an Inf or NaN weight (its
//            exponent lands in fp32's range as a finite number) nor with MXCSR.DAZ set (the
//            denormals read as 0): the driver takes it only for weights without them
//            (CpuRowsHeader::nonfinite) and with DAZ clear.
// Why: on Zen 5 the conversions share pipes with the expands and the FMAs; the bits build's
// integer ops do not. One thread, 256×4096 at 50% (in L2), 2026-12-07: m = 1 0.054 → 0.051 ms,
// m = 4 0.101 → 0.090, m = 6 0.120 → 0.112; 4096² from DRAM, 2 threads: m = 1 7–10%, m = 4 8%,
// m = 6 6% faster (docs/kernels.md "Widening by placing bits").
// GCC 12's AVX-512 intrinsics start from a self-initialised "undefined" vector and warn inside
// the header once inlined; the values are fully defined.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include "cpu/sparse_cpu.h"

// After every #include: only this file's own functions get the ISA (STYLE.md §11).
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512vbmi2,fma,f16c,popcnt")

namespace sparq::cpu::sparse::avx512vbmi2 {
namespace {

// 32-bit masks read straight from the bitmap (rows 0–3, rows 4–7 of a block).
typedef uint32_t MaskBits __attribute__((may_alias));

// Blocks expand from the encoded fp16 values in place: the memory form of vpexpandw reads only as
// many halves as its mask has bits, so no expand reads past the tile's last value.
using TileValue = uint16_t;
const uint16_t* TileValues(const Problem& p, int64_t t, const Scratch&) { return p.values + p.tile_offsets[t]; }

// Block b's two 32-half expansions: rows 0–3 and rows 4–7 (zeros where no bit).
struct Expanded {
  __m512i rows03, rows47;
};
inline Expanded ExpandHalves(const uint64_t* bm, int b, const uint16_t* vals) {
  const MaskBits* masks = reinterpret_cast<const MaskBits*>(bm + b);
  const int upper = _mm_popcnt_u32(uint32_t(bm[b]));
  return {_mm512_maskz_expandloadu_epi16(_load_mask32(const_cast<MaskBits*>(masks + 0)), vals),
          _mm512_maskz_expandloadu_epi16(_load_mask32(const_cast<MaskBits*>(masks + 1)), vals + upper)};
}

// x[kk..kk+8) in both 256-bit halves: the columns of one block, once per row of a zmm (the
// builds whose w[q] hold two whole rows of the block).
inline __m512 BlockEightX(const float* x) { return _mm512_broadcast_f32x8(_mm256_loadu_ps(x)); }

namespace convert {

constexpr int kXForms = 1;
inline __m512 BlockXForm(const float* x, int) { return BlockEightX(x); }

// Block b expanded: w[q] = rows 2q, 2q+1 (zeros where no bit).
inline void ExpandBlock(const uint64_t* bm, int b, const uint16_t* vals, __m512 (&w)[4]) {
  const Expanded e = ExpandHalves(bm, b, vals);
  w[0] = _mm512_cvtph_ps(_mm512_castsi512_si256(e.rows03));
  w[1] = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(e.rows03, 1));
  w[2] = _mm512_cvtph_ps(_mm512_castsi512_si256(e.rows47));
  w[3] = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(e.rows47, 1));
}

#include "cpu/sparse_avx512_body.inc"

}  // namespace convert

// fp16 halves in the top word of each dword (low word zero) as the fp32 w·2^−112: shifted down 3
// with the sign copied, and the copies cleared (bits 28–30).
inline __m512 PlacedBits(__m512i top) {
  return _mm512_castsi512_ps(_mm512_and_si512(_mm512_srai_epi32(top, 3), _mm512_set1_epi32(int(0x8fffffffu))));
}

namespace bits {

// Block b expanded, as w·2^−112: w[q] = rows 2q, 2q+1 (zeros where no bit). Each half goes into
// a dword's top word by a vpermw that zeroes the low words; the word indices: halves 0–15 (rows
// 0–1 of an expansion) and 16–31 (rows 2–3).
inline void ExpandBlock(const uint64_t* bm, int b, const uint16_t* vals, __m512 (&w)[4]) {
  const Expanded e = ExpandHalves(bm, b, vals);
  constexpr __mmask32 kTopWords = 0xaaaaaaaau;
  const __m512i first = _mm512_set_epi16(15, 0, 14, 0, 13, 0, 12, 0, 11, 0, 10, 0, 9, 0, 8, 0, 7, 0, 6, 0, 5, 0, 4, 0,
                                         3, 0, 2, 0, 1, 0, 0, 0);
  const __m512i second = _mm512_add_epi16(first, _mm512_set1_epi16(16));
  w[0] = PlacedBits(_mm512_maskz_permutexvar_epi16(kTopWords, first, e.rows03));
  w[1] = PlacedBits(_mm512_maskz_permutexvar_epi16(kTopWords, second, e.rows03));
  w[2] = PlacedBits(_mm512_maskz_permutexvar_epi16(kTopWords, first, e.rows47));
  w[3] = PlacedBits(_mm512_maskz_permutexvar_epi16(kTopWords, second, e.rows47));
}

constexpr int kXForms = 1;
inline __m512 BlockXForm(const float* x, int) { return BlockEightX(x); }

#include "cpu/sparse_avx512_body.inc"

}  // namespace bits

namespace bits_one_row {

// Block b expanded, as w·2^−112, each 128-bit lane one row of the block: w[0] = rows 0–3 columns
// 0–3, w[1] = rows 0–3 columns 4–7, w[2] and w[3] the same of rows 4–7 (zeros where no bit); each
// half put in a dword's top word by vpunpck*wd with zero, which costs less than bits' vpermw but
// splits a row's columns over two vectors, so X takes two vectors a block (columns 0–3 and 4–7):
// a second broadcast load per X row and block, which costs more than it saves from 2 rows on.
inline void ExpandBlock(const uint64_t* bm, int b, const uint16_t* vals, __m512 (&w)[4]) {
  const Expanded e = ExpandHalves(bm, b, vals);
  const __m512i zero = _mm512_setzero_si512();
  w[0] = PlacedBits(_mm512_unpacklo_epi16(zero, e.rows03));
  w[1] = PlacedBits(_mm512_unpackhi_epi16(zero, e.rows03));
  w[2] = PlacedBits(_mm512_unpacklo_epi16(zero, e.rows47));
  w[3] = PlacedBits(_mm512_unpackhi_epi16(zero, e.rows47));
}

// Columns 0–3 (f = 0) or 4–7 (f = 1) of a block, in every 128-bit lane.
constexpr int kXForms = 2;
inline __m512 BlockXForm(const float* x, int f) { return _mm512_broadcast_f32x4(_mm_loadu_ps(x + 4 * f)); }

#include "cpu/sparse_avx512_body.inc"

}  // namespace bits_one_row

}  // namespace

SlabFn BitmapSlabFn() { return &convert::BitmapSlab; }
SlabFn BitmapBitsSlabFn() { return &bits::BitmapSlab; }
SlabFn BitmapBitsOneRowSlabFn() { return &bits_one_row::BitmapSlab; }

}  // namespace sparq::cpu::sparse::avx512vbmi2
