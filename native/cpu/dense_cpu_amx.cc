// native/cpu/dense_cpu_amx.cc: the dense fp16 GEMM on AMX-BF16 tiles, exactly (layout and driver:
// isa_kernels.h "dense AMX-BF16 prefill", dense_cpu.cc). AMX has no fp16 dot product on these CPUs
// (AMX-FP16 came later), and bf16 holds 8 significant bits where fp16 has 11; but every fp16 v is
// the exact sum of two bf16, hi = the top 16 bits of fp32(v) and lo = v − hi (at most 3
// significant bits), and TDPBF16PS multiplies bf16 exactly into fp32 sums. With A = W's (hi, lo)
// pairs and B = X's (x_hi, x_hi) pairs then (x_lo, x_lo) pairs, each C element gets
// w_hi·x_hi + w_lo·x_hi + w_hi·x_lo + w_lo·x_lo = w·x, every product exact, every sum fp32: the
// contract's fp32 accumulation, at 4 bf16 products per fp16 one — still several times the fp32
// FMA rate of the AVX-512 path (docs/kernels.md has the measurements).
// GCC 12's AVX-512 headers seed unused lanes with a self-initialized `__Y = __Y`, which
// -W(maybe-)uninitialized reports at every inlined intrinsic; the lanes are never read.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include "cpu/isa_kernels.h"

// AMX intrinsics need GCC 11 or Clang 12; an older compiler (a user building without a prebuild)
// gets Built() == false and the driver never asks for tiles.
#if (defined(__clang__) && __clang_major__ >= 12) || (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 11)
#define SPARQ_AMX_BUILT 1
#else
#define SPARQ_AMX_BUILT 0
#endif

#if SPARQ_AMX_BUILT
// After every #include: only this file's own functions get the ISA (STYLE.md §11).
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c,amx-tile,amx-bf16")
#endif

namespace sparq::cpu::amx {
#if SPARQ_AMX_BUILT
namespace {

constexpr int kT = kAmxTile;        // rows of every tile; n, m or k pairs per tile side
constexpr int kTileWords = kT * kT;  // 32-bit words per tile (1 KiB)
// How far ahead along a W row the panel packing prefetches (fp16 elements): packing waited on
// DRAM for half its time without it (perf, 4096², m = 32, one thread).
constexpr int64_t kPackPrefetchElems = 1024;
// Not std::min: no template from a header may be instantiated under this file's target (STYLE.md §11).
constexpr int64_t Min(int64_t a, int64_t b) { return a < b ? a : b; }

// Tile registers, by number (GCC's tile intrinsics paste the number into the instruction, so it
// must be a literal): tmm0 = C(n block 0, m block 0), tmm1 = C(1, 0), tmm2 = C(0, 1), tmm3 = C(1, 1),
// tmm4 / tmm5 = A of n blocks 0 / 1, tmm6 / tmm7 = B_hi / B_lo of the current m block.

#include "cpu/amx_tiles.inc"

__mmask16 TailMask(int64_t left) {
  return left >= kT ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << left) - 1u);
}

// 16 fp16 → 16 words, each the bf16 pair (hi, lo) of one value: hi in the low half (the even
// element TDPBF16PS pairs first), lo in the high half, hi + lo == the value exactly. `special` gets
// the lanes that were inf or NaN: their pairs are not exact (inf − inf makes lo a NaN, a NaN whose
// payload sits in the 3 bits hi drops reads as an inf), and an infinity would meet the other
// operand's zero lo part anyway (inf·0 = NaN where the product is inf), so the driver recomputes
// whatever such inputs touch (dense_cpu.cc, RecomputeInfNan) and these lanes' values never reach Y.
__m512i SplitPairs(__m512 v, __mmask16& special) {
  const __m512i bits = _mm512_castps_si512(v);
  const __m512i top = _mm512_set1_epi32(static_cast<int>(0xFFFF0000u));
  const __m512 hi = _mm512_castsi512_ps(_mm512_and_si512(bits, top));
  const __m512i lo = _mm512_and_si512(_mm512_castps_si512(_mm512_sub_ps(v, hi)), top);
  constexpr int kNanOrInf = 0x01 | 0x08 | 0x10 | 0x80;  // vfpclassps categories: QNaN, ±inf, SNaN
  special = _mm512_fpclass_ps_mask(v, kNanOrInf);
  return _mm512_or_si512(_mm512_srli_epi32(bits, 16), lo);
}

// 16 fp16 at src (the first `left` of them; zeros after) as fp32.
__m512 LoadF16(const uint16_t* src, int64_t left) {
  if (left >= kT) return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src)));
  return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(TailMask(left), src));
}

// A panel: n blocks 2p and 2p+1, k blocks [kb0, kb0 + kbs): tile (nb, t) at panel + (nb·kc_blocks +
// t)·256, row i = W row 16·(2p + nb) + i, word j = the pair of k = 16·(kb0 + t) + j. Each W row is
// read front to back over the chunk; rows past n and k past the end are zeros.
void PackPanel(const DenseAmxArgs& a, int64_t p, int64_t kb0, int64_t kbs, uint32_t* panel) {
  for (int nb = 0; nb < 2; ++nb) {
    for (int i = 0; i < kT; ++i) {
      const int64_t n = (2 * p + nb) * kT + i;
      uint32_t* dst = panel + nb * a.kc_blocks * kTileWords + i * kT;
      if (n >= a.n) {
        for (int64_t t = 0; t < kbs; ++t) _mm512_store_si512(dst + t * kTileWords, _mm512_setzero_si512());
        continue;
      }
      const uint16_t* row = a.w + n * a.k;
      __mmask16 special = 0, any = 0;
      for (int64_t t = 0; t < kbs; ++t) {
        const int64_t k0 = (kb0 + t) * kT;
        // W comes from DRAM once; past the row's end this runs on into the next row (rows are contiguous).
        _mm_prefetch(reinterpret_cast<const char*>(row + k0 + kPackPrefetchElems), _MM_HINT_T0);
        _mm512_store_si512(dst + t * kTileWords, SplitPairs(LoadF16(row + k0, a.k - k0), special));
        any |= special;
      }
      if (any != 0) a.w_special[n] = 1;
    }
  }
}

// Y rows [m0, m0 + 16) × columns [n0, n0 + 16) from one C tile stored as ct[n][m] (+ bias, one
// rounding to fp16).
void WriteTile(const DenseAmxArgs& a, const float* ct, int64_t n0, int64_t m0) {
  if (n0 >= a.n) return;
  const __mmask16 cols = TailMask(a.n - n0);
  const __m512 bias = a.bias != nullptr ? _mm512_maskz_loadu_ps(cols, a.bias + n0) : _mm512_setzero_ps();
  const __m512i column = _mm512_setr_epi32(0, 16, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240);
  for (int mm = 0; mm < kT && m0 + mm < a.m; ++mm) {
    const __m512 v = _mm512_add_ps(_mm512_i32gather_ps(column, ct + mm, 4), bias);
    const __m256i h = _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm256_mask_storeu_epi16(a.y + (m0 + mm) * a.n + n0, cols, h);
  }
}

// The C tiles of n pair p and m blocks [mb, mb + MBS) over k blocks [kb0, kb0 + kbs): from zero
// (first chunk) or cs, then to Y (last chunk) or back to cs ([MBS][2][256] floats).
template <int MBS>
void PairStep(const DenseAmxArgs& a, const uint32_t* panel, int64_t p, int64_t mb, int64_t kb0, int64_t kbs,
              float* cs, bool first, bool last) {
  if (first) {
    _tile_zero(0);
    _tile_zero(1);
    if (MBS == 2) {
      _tile_zero(2);
      _tile_zero(3);
    }
  } else {
    _tile_loadd(0, cs, 64);
    _tile_loadd(1, cs + kTileWords, 64);
    if (MBS == 2) {
      _tile_loadd(2, cs + 2 * kTileWords, 64);
      _tile_loadd(3, cs + 3 * kTileWords, 64);
    }
  }
  for (int64_t t = 0; t < kbs; ++t) {
    _tile_loadd(4, panel + t * kTileWords, 64);
    _tile_loadd(5, panel + (a.kc_blocks + t) * kTileWords, 64);
    const uint32_t* xb = a.xp + ((kb0 + t) * a.m_blocks + mb) * 2 * kTileWords;
    _tile_loadd(6, xb, 64);
    _tile_loadd(7, xb + kTileWords, 64);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 5, 6);
    _tile_dpbf16ps(0, 4, 7);
    _tile_dpbf16ps(1, 5, 7);
    if (MBS == 2) {
      _tile_loadd(6, xb + 2 * kTileWords, 64);
      _tile_loadd(7, xb + 3 * kTileWords, 64);
      _tile_dpbf16ps(2, 4, 6);
      _tile_dpbf16ps(3, 5, 6);
      _tile_dpbf16ps(2, 4, 7);
      _tile_dpbf16ps(3, 5, 7);
    }
  }
  if (!last) {
    _tile_stored(0, cs, 64);
    _tile_stored(1, cs + kTileWords, 64);
    if (MBS == 2) {
      _tile_stored(2, cs + 2 * kTileWords, 64);
      _tile_stored(3, cs + 3 * kTileWords, 64);
    }
    return;
  }
  alignas(64) float ct[4 * kTileWords];
  _tile_stored(0, ct, 64);
  _tile_stored(1, ct + kTileWords, 64);
  if (MBS == 2) {
    _tile_stored(2, ct + 2 * kTileWords, 64);
    _tile_stored(3, ct + 3 * kTileWords, 64);
  }
  for (int j = 0; j < MBS; ++j)
    for (int nb = 0; nb < 2; ++nb) WriteTile(a, ct + (2 * j + nb) * kTileWords, (2 * p + nb) * kT, (mb + j) * kT);
}

}  // namespace

void PackX(const uint16_t* x, int64_t m, int64_t k, int64_t m_blocks, uint32_t* xp, int64_t kb_begin, int64_t kb_end) {
  // Word c of row r of a B tile is m = 16·mb + c at k = 16·kb + r: one X row fills one column.
  const __m512i rows = _mm512_setr_epi32(0, 16, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240);
  const __m512i low = _mm512_set1_epi32(0xFFFF), high = _mm512_set1_epi32(static_cast<int>(0xFFFF0000u));
  for (int64_t kb = kb_begin; kb < kb_end; ++kb) {
    const int64_t k0 = kb * kT;
    for (int64_t mb = 0; mb < m_blocks; ++mb) {
      uint32_t* hi = xp + (kb * m_blocks + mb) * 2 * kTileWords;
      uint32_t* lo = hi + kTileWords;
      for (int c = 0; c < kT; ++c) {
        const int64_t r = mb * kT + c;
        __m512i hi_pairs = _mm512_setzero_si512(), lo_pairs = _mm512_setzero_si512();
        if (r < m) {
          __mmask16 special;  // the driver finds X's inf and NaN rows itself
          const __m512i pairs = SplitPairs(LoadF16(x + r * k + k0, k - k0), special);
          hi_pairs = _mm512_or_si512(_mm512_and_si512(pairs, low), _mm512_slli_epi32(pairs, 16));   // (x_hi, x_hi)
          lo_pairs = _mm512_or_si512(_mm512_srli_epi32(pairs, 16), _mm512_and_si512(pairs, high));  // (x_lo, x_lo)
        }
        _mm512_i32scatter_epi32(hi + c, rows, hi_pairs, 4);
        _mm512_i32scatter_epi32(lo + c, rows, lo_pairs, 4);
      }
    }
  }
}

void Gemm(const DenseAmxArgs& a, uint32_t* panel, float* cacc, int64_t p_begin, int64_t p_end) {
  ConfigureTiles();
  for (int64_t kb0 = 0; kb0 < a.k_blocks; kb0 += a.kc_blocks) {
    const int64_t kbs = Min(a.kc_blocks, a.k_blocks - kb0);
    const bool first = kb0 == 0, last = kb0 + kbs == a.k_blocks;
    for (int64_t p = p_begin; p < p_end; ++p) {
      PackPanel(a, p, kb0, kbs, panel);
      for (int64_t mb = 0; mb < a.m_blocks; mb += 2) {
        float* cs = last && first ? nullptr : cacc + ((p - p_begin) * a.m_blocks + mb) * 2 * kTileWords;
        if (mb + 1 < a.m_blocks) PairStep<2>(a, panel, p, mb, kb0, kbs, cs, first, last);
        else PairStep<1>(a, panel, p, mb, kb0, kbs, cs, first, last);
      }
    }
  }
  _tile_release();
}

bool Built() { return true; }
#else
void PackX(const uint16_t*, int64_t, int64_t, int64_t, uint32_t*, int64_t, int64_t) {}
void Gemm(const DenseAmxArgs&, uint32_t*, float*, int64_t, int64_t) {}
bool Built() { return false; }
#endif

}  // namespace sparq::cpu::amx
