// native/cpu/sparse_cpu_avx512.cc: AVX-512 sparse matmul kernels (layout and paths: sparse_cpu.h).
// Bitmap: the body in sparse_avx512_body.inc, each block expanded by four vexpandps from the tile's
// values converted to fp32 once (AVX-512F only; sparse_cpu_avx512vbmi2.cc expands fp16 instead).
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

constexpr uint32_t kLocationMask = kDecElems - 1;

// Bits are read as 16-bit masks straight from memory (kmovw k, m16 keeps port 5 free for the
// expands and FMAs); the bitmap array is only ever read here.
typedef uint16_t MaskBits __attribute__((may_alias));

// The tile's `count` values as fp32 (count is a multiple of 8 in a valid encoding; any is fine).
void ConvertValues(const uint16_t* v, int64_t count, float* out) {
  constexpr int kLanes = 16;
  int64_t i = 0;
  for (; i + kLanes <= count; i += kLanes)
    _mm512_store_ps(out + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(v + i))));
  if (i < count) {
    const __mmask16 mask = static_cast<__mmask16>((1u << (count - i)) - 1u);
    _mm512_store_ps(out + i, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, v + i)));
  }
}

// Blocks expand from the tile's values converted to fp32 once (values32 has 16 floats of slack:
// each expand loads 16 from any offset).
using TileValue = float;
const float* TileValues(const Problem& p, int64_t t, const Scratch& s) {
  ConvertValues(p.values + p.tile_offsets[t], int64_t(p.tile_offsets[t + 1]) - p.tile_offsets[t], s.values32);
  return s.values32;
}

// Block b expanded: w[q] = rows 2q, 2q+1 (zeros where no bit), four vexpandps.
inline void ExpandBlock(const uint64_t* bm, int b, const float* vals, __m512 (&w)[4]) {
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
constexpr int kXForms = 1;
inline __m512 BlockXForm(const float* x, int) { return _mm512_broadcast_f32x8(_mm256_loadu_ps(x)); }

#include "cpu/sparse_avx512_body.inc"

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
