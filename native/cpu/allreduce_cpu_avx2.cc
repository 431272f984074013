// native/cpu/allreduce_cpu_avx2.cc: the allreduceRmsnorm row kernels on ymm (passes and exactness:
// allreduce_cpu_kernels.h). 8 elements per vector (F16C vcvtph2ps/vcvtps2ph, round-to-nearest-even),
// two vectors per loop step so the four fp64 sum-of-squares chains (two per vector: its low and high
// 4 squares) overlap. hidden is a multiple of 8 for the op, so a row has no tail; any other length's
// last elements go through the scalar fp16 conversions one by one.
#include <immintrin.h>

#include "cpu/allreduce_cpu_kernels.h"
#include "cpu/isa_kernels.h"

// After every #include: only this file's own functions get the ISA (STYLE.md §11).
#pragma GCC target("avx2,fma,f16c")

namespace sparq::cpu::allreduce_rows::avx2 {
namespace {

constexpr int64_t kLanes = 8;  // fp32 per ymm

// One cache line into L2 (prefetcht1): a whole row ahead would crowd L1.
void PrefetchLine(const void* p) { _mm_prefetch(static_cast<const char*>(p), _MM_HINT_T1); }

__m256 LoadF16(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
void StoreF16(uint16_t* p, __m128i h) { _mm_storeu_si128(reinterpret_cast<__m128i*>(p), h); }
// A non-temporal store when asked and p is 16-byte aligned (rows of the op always are).
void StoreF16(uint16_t* p, __m128i h, bool stream) {
  if (stream && (reinterpret_cast<uintptr_t>(p) & 15) == 0)
    _mm_stream_si128(reinterpret_cast<__m128i*>(p), h);
  else
    StoreF16(p, h);
}

// x_0 + … + x_{R−1} at element j, fp32, rank order.
__m256 SumRanks(const uint16_t* const* x, int x_ranks, int64_t j) {
  __m256 s = LoadF16(x[0] + j);
  for (int r = 1; r < x_ranks; ++r) s = _mm256_add_ps(s, LoadF16(x[r] + j));
  return s;
}

// Pass 1 on the vector at element j; adds its 8 squares into acc_lo (lanes 0–3) and acc_hi.
inline void ResidualVector(const ResidualRow& a, int64_t j, __m256d& acc_lo, __m256d& acc_hi) {
  __m256 s;
  if (a.x_ranks > 0) {
    s = SumRanks(a.x, a.x_ranks, j);
    if (a.s_out != nullptr) _mm256_storeu_ps(a.s_out + j, s);
  } else {
    s = _mm256_loadu_ps(a.s + j);
  }
  // residual is read before residual_out is written: they may be one buffer
  const __m128i rounded = _mm256_cvtps_ph(_mm256_add_ps(s, LoadF16(a.residual + j)), _MM_FROUND_TO_NEAREST_INT);
  StoreF16(a.residual_out + j, rounded, a.stream_out);
  const __m256 res = _mm256_cvtph_ps(rounded);
  _mm256_storeu_ps(a.res + j, res);
  const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(res));
  const __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(res, 1));
  acc_lo = _mm256_fmadd_pd(lo, lo, acc_lo);  // lo·lo is exact in fp64: the fma rounds only the add
  acc_hi = _mm256_fmadd_pd(hi, hi, acc_hi);
}

// One element of pass 1 (a row's tail past the last full vector).
double ResidualElement(const ResidualRow& a, int64_t j) {
  float s;
  if (a.x_ranks > 0) {
    s = cpu::scalar::F16ToF32One(a.x[0][j]);
    for (int r = 1; r < a.x_ranks; ++r) s = s + cpu::scalar::F16ToF32One(a.x[r][j]);
    if (a.s_out != nullptr) a.s_out[j] = s;
  } else {
    s = a.s[j];
  }
  const uint16_t rounded = cpu::scalar::F32ToF16One(s + cpu::scalar::F16ToF32One(a.residual[j]));
  a.residual_out[j] = rounded;
  a.res[j] = cpu::scalar::F16ToF32One(rounded);
  const double d = a.res[j];
  return d * d;
}

double ResidualSquares(const ResidualRow& a) {
  const int64_t n = a.hidden;
  __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd();
  __m256d acc2 = _mm256_setzero_pd(), acc3 = _mm256_setzero_pd();
  int64_t j = 0;
  for (; j + 4 * kLanes <= n; j += 4 * kLanes) {  // 4 vectors of fp16 = one cache line per plane
    if (a.prefetch_elems > 0) {
      const int64_t ahead = j + a.prefetch_elems;
      PrefetchLine(a.residual + ahead);
      if (a.residual_out != a.residual && !a.stream_out) PrefetchLine(a.residual_out + ahead);
      for (int r = 0; r < a.x_ranks; ++r) PrefetchLine(a.x[r] + ahead);
    }
    ResidualVector(a, j, acc0, acc1);
    ResidualVector(a, j + kLanes, acc2, acc3);
    ResidualVector(a, j + 2 * kLanes, acc0, acc1);
    ResidualVector(a, j + 3 * kLanes, acc2, acc3);
  }
  for (; j + 2 * kLanes <= n; j += 2 * kLanes) {
    ResidualVector(a, j, acc0, acc1);
    ResidualVector(a, j + kLanes, acc2, acc3);
  }
  if (j + kLanes <= n) {
    ResidualVector(a, j, acc0, acc1);
    j += kLanes;
  }
  const __m256d acc = _mm256_add_pd(_mm256_add_pd(acc0, acc1), _mm256_add_pd(acc2, acc3));
  const __m128d pair = _mm_add_pd(_mm256_castpd256_pd128(acc), _mm256_extractf128_pd(acc, 1));
  double sum = _mm_cvtsd_f64(_mm_add_sd(pair, _mm_unpackhi_pd(pair, pair)));
  for (; j < n; ++j) sum += ResidualElement(a, j);
  if (a.stream_out) _mm_sfence();  // the non-temporal stores are ordered before the pool's hand-off
  return sum;
}

// (res · rstd) · gamma: two fp32 products in that order, then one rounding to fp16.
inline void NormVector(const float* res, __m256 rstd, const float* gamma, uint16_t* out, int64_t j, bool stream) {
  const __m256 a = _mm256_mul_ps(_mm256_loadu_ps(res + j), rstd);
  const __m256 y = _mm256_mul_ps(a, _mm256_loadu_ps(gamma + j));
  StoreF16(out + j, _mm256_cvtps_ph(y, _MM_FROUND_TO_NEAREST_INT), stream);
}

void NormRow(const float* res, float rstd, const float* gamma, uint16_t* out, int64_t n, int64_t prefetch_elems,
             bool stream) {
  const __m256 r = _mm256_set1_ps(rstd);
  int64_t j = 0;
  for (; j + 4 * kLanes <= n; j += 4 * kLanes) {  // 4 vectors of fp16 = one cache line of out
    if (prefetch_elems > 0 && !stream) PrefetchLine(out + j + prefetch_elems);
    for (int64_t v = 0; v < 4; ++v) NormVector(res, r, gamma, out, j + v * kLanes, stream);
  }
  for (; j + kLanes <= n; j += kLanes) NormVector(res, r, gamma, out, j, stream);
  for (; j < n; ++j) out[j] = cpu::scalar::F32ToF16One((res[j] * rstd) * gamma[j]);
  if (stream) _mm_sfence();
}

void RankSumF16(const uint16_t* const* x, int x_ranks, uint16_t* const* dst, int dsts, int64_t n,
                int64_t prefetch_elems) {
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    if (prefetch_elems > 0 && j % (4 * kLanes) == 0) {  // once per cache line of fp16
      for (int r = 0; r < x_ranks; ++r) PrefetchLine(x[r] + j + prefetch_elems);
      for (int d = 0; d < dsts; ++d) PrefetchLine(dst[d] + j + prefetch_elems);
    }
    const __m128i h = _mm256_cvtps_ph(SumRanks(x, x_ranks, j), _MM_FROUND_TO_NEAREST_INT);
    for (int d = 0; d < dsts; ++d) StoreF16(dst[d] + j, h);
  }
  for (; j < n; ++j) {
    float s = cpu::scalar::F16ToF32One(x[0][j]);
    for (int r = 1; r < x_ranks; ++r) s = s + cpu::scalar::F16ToF32One(x[r][j]);
    for (int d = 0; d < dsts; ++d) dst[d][j] = cpu::scalar::F32ToF16One(s);
  }
}

}  // namespace

const KernelSet& Kernels() {
  static const KernelSet set = {"avx2", ResidualSquares, NormRow, RankSumF16};
  return set;
}

}  // namespace sparq::cpu::allreduce_rows::avx2
