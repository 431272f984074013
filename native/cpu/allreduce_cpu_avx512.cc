// native/cpu/allreduce_cpu_avx512.cc: the allreduceRmsnorm row kernels on zmm (passes and exactness:
// allreduce_cpu_kernels.h). 16 elements per vector, two vectors per loop step so the four fp64
// sum-of-squares chains (two per vector: its low and high 8 squares) overlap; the tail of a row is
// one masked vector (zero-masked loads: its dead lanes add 0 to the sums and are never stored).
// GCC 12's AVX-512 headers seed unused lanes with a self-initialized `__Y = __Y`, which
// -W(maybe-)uninitialized reports at every inlined intrinsic; the lanes are never read.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include "cpu/allreduce_cpu_kernels.h"

// After every #include: only this file's own functions get the ISA (STYLE.md §11).
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c")

namespace sparq::cpu::allreduce_rows::avx512 {
namespace {

constexpr int64_t kLanes = 16;  // fp32 per zmm
constexpr __mmask16 kAll = 0xFFFF;

__mmask16 TailMask(int64_t left) {
  return left >= kLanes ? kAll : static_cast<__mmask16>((1u << left) - 1u);
}

// One cache line into L2 (prefetcht1): a whole row ahead would crowd L1.
void PrefetchLine(const void* p) { _mm_prefetch(static_cast<const char*>(p), _MM_HINT_T1); }

// Whole vectors (kWhole) take plain loads and stores; only a row's last, partial vector is masked.
// An all-ones mask kept the masked forms (GCC does not drop it), and on Zen 5 the whole op ran 1-14%
// slower for it (2026-12-06, docs/benchmarks.md allreduceRmsnorm).
template <bool kWhole>
__m512 LoadF32(const float* p, __mmask16 m) {
  return kWhole ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(m, p);
}
template <bool kWhole>
void StoreF32(float* p, __m512 v, __mmask16 m) {
  if (kWhole) _mm512_storeu_ps(p, v);
  else _mm512_mask_storeu_ps(p, m, v);
}
template <bool kWhole>
__m512 LoadF16(const uint16_t* p, __mmask16 m) {
  return _mm512_cvtph_ps(kWhole ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)) : _mm256_maskz_loadu_epi16(m, p));
}

// 16 fp16 to p: a non-temporal store when asked and the vector is whole and 32-byte aligned (rows
// start 16-byte aligned; a row that is not 32-byte aligned just keeps ordinary stores).
template <bool kWhole>
void StoreF16(uint16_t* p, __m256i h, __mmask16 m, bool stream) {
  if (kWhole && stream && (reinterpret_cast<uintptr_t>(p) & 31) == 0)
    _mm256_stream_si256(reinterpret_cast<__m256i*>(p), h);
  else if (kWhole)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), h);
  else
    _mm256_mask_storeu_epi16(p, m, h);
}

// x_0 + … + x_{R−1} at element j, fp32, rank order.
template <bool kWhole>
__m512 SumRanks(const uint16_t* const* x, int x_ranks, int64_t j, __mmask16 m) {
  __m512 s = LoadF16<kWhole>(x[0] + j, m);
  for (int r = 1; r < x_ranks; ++r) s = _mm512_add_ps(s, LoadF16<kWhole>(x[r] + j, m));
  return s;
}

// Pass 1 on the vector at element j; adds its 16 squares into acc_lo (lanes 0–7) and acc_hi.
template <bool kWhole>
inline void ResidualVector(const ResidualRow& a, int64_t j, __mmask16 m, __m512d& acc_lo, __m512d& acc_hi) {
  __m512 s;
  if (a.x_ranks > 0) {
    s = SumRanks<kWhole>(a.x, a.x_ranks, j, m);
    if (a.s_out != nullptr) StoreF32<kWhole>(a.s_out + j, s, m);
  } else {
    s = LoadF32<kWhole>(a.s + j, m);
  }
  // residual is read before residual_out is written: they may be one buffer
  const __m256i rounded = _mm512_cvtps_ph(_mm512_add_ps(s, LoadF16<kWhole>(a.residual + j, m)), _MM_FROUND_TO_NEAREST_INT);
  StoreF16<kWhole>(a.residual_out + j, rounded, m, a.stream_out);
  const __m512 res = _mm512_cvtph_ps(rounded);
  StoreF32<kWhole>(a.res + j, res, m);
  const __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(res));
  const __m512d hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(res), 1)));
  acc_lo = _mm512_fmadd_pd(lo, lo, acc_lo);  // lo·lo is exact in fp64: the fma rounds only the add
  acc_hi = _mm512_fmadd_pd(hi, hi, acc_hi);
}

double ResidualSquares(const ResidualRow& a) {
  const int64_t n = a.hidden;
  __m512d acc0 = _mm512_setzero_pd(), acc1 = _mm512_setzero_pd();
  __m512d acc2 = _mm512_setzero_pd(), acc3 = _mm512_setzero_pd();
  int64_t j = 0;
  for (; j + 2 * kLanes <= n; j += 2 * kLanes) {  // 2 vectors of fp16 = one cache line per plane
    if (a.prefetch_elems > 0) {
      const int64_t ahead = j + a.prefetch_elems;
      PrefetchLine(a.residual + ahead);
      if (a.residual_out != a.residual && !a.stream_out) PrefetchLine(a.residual_out + ahead);
      for (int r = 0; r < a.x_ranks; ++r) PrefetchLine(a.x[r] + ahead);
    }
    ResidualVector<true>(a, j, kAll, acc0, acc1);
    ResidualVector<true>(a, j + kLanes, kAll, acc2, acc3);
  }
  if (j + kLanes <= n) {  // a whole vector left after the pairs
    ResidualVector<true>(a, j, kAll, acc0, acc1);
    j += kLanes;
  }
  if (j < n) ResidualVector<false>(a, j, TailMask(n - j), acc0, acc1);
  if (a.stream_out) _mm_sfence();  // the non-temporal stores are ordered before the pool's hand-off
  return _mm512_reduce_add_pd(_mm512_add_pd(_mm512_add_pd(acc0, acc1), _mm512_add_pd(acc2, acc3)));
}

// (res · rstd) · gamma: two fp32 products in that order, then one rounding to fp16.
template <bool kWhole>
inline void NormVector(const float* res, __m512 rstd, const float* gamma, uint16_t* out, int64_t j, __mmask16 m,
                       bool stream) {
  const __m512 a = _mm512_mul_ps(LoadF32<kWhole>(res + j, m), rstd);
  const __m512 y = _mm512_mul_ps(a, LoadF32<kWhole>(gamma + j, m));
  StoreF16<kWhole>(out + j, _mm512_cvtps_ph(y, _MM_FROUND_TO_NEAREST_INT), m, stream);
}

void NormRow(const float* res, float rstd, const float* gamma, uint16_t* out, int64_t n, int64_t prefetch_elems,
             bool stream) {
  const __m512 r = _mm512_set1_ps(rstd);
  int64_t j = 0;
  for (; j + 2 * kLanes <= n; j += 2 * kLanes) {
    if (prefetch_elems > 0 && !stream) PrefetchLine(out + j + prefetch_elems);
    NormVector<true>(res, r, gamma, out, j, kAll, stream);
    NormVector<true>(res, r, gamma, out, j + kLanes, kAll, stream);
  }
  if (j + kLanes <= n) {  // a whole vector left after the pairs
    NormVector<true>(res, r, gamma, out, j, kAll, stream);
    j += kLanes;
  }
  if (j < n) NormVector<false>(res, r, gamma, out, j, TailMask(n - j), stream);
  if (stream) _mm_sfence();
}

// fp16(x_0 + … + x_{R−1}) of the vector at element j, to every dst.
template <bool kWhole>
inline void RankSumVector(const uint16_t* const* x, int x_ranks, uint16_t* const* dst, int dsts, int64_t j, __mmask16 m) {
  const __m256i h = _mm512_cvtps_ph(SumRanks<kWhole>(x, x_ranks, j, m), _MM_FROUND_TO_NEAREST_INT);
  for (int d = 0; d < dsts; ++d) StoreF16<kWhole>(dst[d] + j, h, m, false);
}

void RankSumF16(const uint16_t* const* x, int x_ranks, uint16_t* const* dst, int dsts, int64_t n,
                int64_t prefetch_elems) {
  for (int64_t j = 0; j < n; j += kLanes) {
    if (prefetch_elems > 0 && j % (2 * kLanes) == 0) {  // once per cache line of fp16
      for (int r = 0; r < x_ranks; ++r) PrefetchLine(x[r] + j + prefetch_elems);
      for (int d = 0; d < dsts; ++d) PrefetchLine(dst[d] + j + prefetch_elems);
    }
    const __mmask16 m = TailMask(n - j);
    if (m == kAll) RankSumVector<true>(x, x_ranks, dst, dsts, j, m);
    else RankSumVector<false>(x, x_ranks, dst, dsts, j, m);
  }
}

}  // namespace

const KernelSet& Kernels() {
  static const KernelSet set = {"avx512", ResidualSquares, NormRow, RankSumF16};
  return set;
}

}  // namespace sparq::cpu::allreduce_rows::avx512
