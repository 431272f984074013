// native/cpu/sparse_cpu_avx512vbmi2.cc: the AVX-512 bitmap kernel with AVX512_VBMI2 expands
// (layout and paths: sparse_cpu.h; body: sparse_avx512_body.inc). A block's 64 fp16 values are
// expanded by two vpexpandw (32 halves each) straight from the encoded values and widened by four
// vcvtph2ps, where the plain AVX-512 kernel converts the tile to fp32 and runs four vexpandps.
// Same products, same order, same bits; which is faster depends on the core (docs/kernels.md):
// the driver picks this one on AMD for the direct path (≤ 6 X rows per unit), where it was
// measured faster.
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

// Block b expanded: w[q] = rows 2q, 2q+1 (zeros where no bit).
inline void ExpandBlock(const uint64_t* bm, int b, const uint16_t* vals, __m512 (&w)[4]) {
  const MaskBits* masks = reinterpret_cast<const MaskBits*>(bm + b);
  const int upper = _mm_popcnt_u32(uint32_t(bm[b]));
  const __m512i rows03 = _mm512_maskz_expandloadu_epi16(_load_mask32(const_cast<MaskBits*>(masks + 0)), vals);
  const __m512i rows47 = _mm512_maskz_expandloadu_epi16(_load_mask32(const_cast<MaskBits*>(masks + 1)), vals + upper);
  w[0] = _mm512_cvtph_ps(_mm512_castsi512_si256(rows03));
  w[1] = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(rows03, 1));
  w[2] = _mm512_cvtph_ps(_mm512_castsi512_si256(rows47));
  w[3] = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(rows47, 1));
}

#include "cpu/sparse_avx512_body.inc"

}  // namespace

SlabFn BitmapSlabFn() { return &BitmapSlab; }

}  // namespace sparq::cpu::sparse::avx512vbmi2
