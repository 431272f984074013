// native/cpu/fma_probe.cc: the benchmarks' CPU compute peak — every pool thread runs independent
// fp32 FMA chains in registers for a fixed count, so threads · iterations · flops per iteration /
// time (bench/harness/cpuPeak.ts times it between two stream marks) is the FMA throughput those
// threads can reach with the context's ISA: the bar for the prefill kernels (issue 13 item 3).
// 16 chains per thread: more than FMA latency × FMA ports (4 × 2 on the cores this targets), so
// the loop is bound by FMA issue alone. Each ISA's loop is one function with its target attribute
// (intrinsics only, nothing from a header instantiated under it: STYLE.md §11).
// GCC 12's AVX-512 intrinsics start from a self-initialised "undefined" vector and warn inside the
// header once inlined (_mm512_reduce_add_ps); the values are fully defined.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <cstdint>
#include <vector>

#include "sparq/cpu.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace sparq::cpu {
namespace {

constexpr int kChains = 16;
// a ← a·b + c converges to c / (1 − b) ≈ 0.1: normal numbers throughout, no denormal slowdowns.
constexpr float kMul = 0.999999f, kAdd = 1e-7f;

#if defined(__x86_64__)
__attribute__((target("avx512f,fma"))) float ChainsAvx512(int64_t iterations, float seed) {
  __m512 a[kChains];
  for (int i = 0; i < kChains; ++i) a[i] = _mm512_set1_ps(seed + 1e-3f * float(i));
  const __m512 b = _mm512_set1_ps(kMul), c = _mm512_set1_ps(kAdd);
  for (int64_t it = 0; it < iterations; ++it)
#pragma GCC unroll 16
    for (int i = 0; i < kChains; ++i) a[i] = _mm512_fmadd_ps(a[i], b, c);
  __m512 s = a[0];
  for (int i = 1; i < kChains; ++i) s = _mm512_add_ps(s, a[i]);
  return _mm512_reduce_add_ps(s);
}

// 12 chains: 16 ymm registers hold them and the two operands.
__attribute__((target("avx2,fma"))) float ChainsAvx2(int64_t iterations, float seed) {
  constexpr int kYmmChains = 12;
  __m256 a[kYmmChains];
  for (int i = 0; i < kYmmChains; ++i) a[i] = _mm256_set1_ps(seed + 1e-3f * float(i));
  const __m256 b = _mm256_set1_ps(kMul), c = _mm256_set1_ps(kAdd);
  for (int64_t it = 0; it < iterations; ++it)
#pragma GCC unroll 12
    for (int i = 0; i < kYmmChains; ++i) a[i] = _mm256_fmadd_ps(a[i], b, c);
  __m256 s = a[0];
  for (int i = 1; i < kYmmChains; ++i) s = _mm256_add_ps(s, a[i]);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, s);
  float sum = 0.0f;
  for (float v : lanes) sum += v;
  return sum;
}
#endif

}  // namespace

double FmaProbeFlopsPerIteration(Isa isa) {
  switch (isa) {
    case Isa::kAvx512: return 2.0 * 16 * kChains;  // 2 flops × 16 lanes × chains
    case Isa::kAvx2: return 2.0 * 8 * 12;
    case Isa::kScalar: break;
  }
  return 0.0;
}

double FmaProbe(int64_t iterations, Isa isa, ThreadPool& pool) {
  const int64_t threads = pool.size();
  std::vector<double> sums(size_t(threads), 0.0);
  pool.ParallelFor(threads, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
#if defined(__x86_64__)
      const float seed = 0.05f + 1e-4f * float(t);
      if (isa == Isa::kAvx512) sums[size_t(t)] = ChainsAvx512(iterations, seed);
      else if (isa == Isa::kAvx2) sums[size_t(t)] = ChainsAvx2(iterations, seed);
#else
      (void)t;
#endif
    }
  });
  double total = 0.0;
  for (double s : sums) total += s;
  return total;
}

}  // namespace sparq::cpu
