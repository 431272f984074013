// native/tests/int8_cpu_bench.cc: int8 (LLM.int8()) CPU matmul timings (not a test: no pass/fail).
// Built only when named, in a tree configured with -DSPARQ_NATIVE_TESTS=ON:
//   cmake --build <build> --target int8_cpu_bench
//   int8_cpu_bench [kernel] [reps] [m,...]   kernel: scalar|avx2|avx512bw|avx512vnni|amx|all (default
//                                            all); reps default 9; m default 1,16,64
// n = k = 4096 at m ∈ {1, 16, 64}, threshold 6 with 4 planted outlier columns. Weights rotate over
// copies so the caches do not hold them between reps. Reports the median wall ms, the median CPU ms
// of the calling thread (with SPARQ_THREADS=1 that is the whole work, and unlike wall time it does
// not grow when a loaded machine deschedules the thread), GOP/s (2·m·n·k) and GB/s of the packed
// weight (codes + scb + row_sums) from the CPU time.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <ctime>
#include <string>
#include <vector>

#include "cpu/int8_cpu.h"
#include "sparq/cpu.h"
#include "sparq/int8.h"

using sparq::cpu::int8::Kernel;

int main(int argc, char** argv) {
  const std::string which = argc > 1 ? argv[1] : "all";
  const int reps = argc > 2 ? std::atoi(argv[2]) : 9;
  std::vector<int64_t> ms_list;
  for (const char* p = argc > 3 ? argv[3] : "1,16,64"; *p != 0;) {
    char* end = nullptr;
    ms_list.push_back(std::strtoll(p, &end, 10));
    p = *end == ',' ? end + 1 : end;
    if (end == p && *p != 0) return 2;
  }
  sparq::cpu::ThreadPool pool(sparq::cpu::DefaultThreadCount());
  std::printf("# int8 cpu bench: threads=%d reps=%d (median), threshold 6, 4 outlier columns\n", pool.size(), reps);
  std::printf("| kernel | n x k | m | wall ms | min wall ms | cpu ms | GOP/s | weight GB/s |\n|---|---|---|---|---|---|---|---|\n");
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  const int64_t n = 4096, k = 4096;
  std::vector<uint16_t> w(size_t(n * k));
  for (auto& h : w) h = sparq::F32ToF16Bits(u(rng));
  std::vector<int8_t> codes;
  std::vector<float> scb;
  if (!sparq::Int8QuantizeWeights(w.data(), n, k, &codes, &scb).ok()) return 1;
  constexpr int kCopies = 4;  // 4 × 16 MiB > L3 share of a few cores
  std::vector<sparq::Int8Packed> packs(kCopies);
  for (auto& p : packs)
    if (!sparq::Int8Pack(codes.data(), scb.data(), n, k, sparq::Int8Layout::kCpu, &p).ok()) return 1;
  for (Kernel kern : {Kernel::kScalar, Kernel::kAvx2, Kernel::kAvx512Bw, Kernel::kAvx512Vnni, Kernel::kAmx}) {
    if (which != "all" && which != sparq::cpu::int8::KernelName(kern)) continue;
    if (!sparq::cpu::int8::KernelSupported(kern)) {
      std::printf("| %s | (not on this CPU) |\n", sparq::cpu::int8::KernelName(kern));
      continue;
    }
    for (int64_t m : ms_list) {
      std::vector<uint16_t> x(size_t(m * k));
      for (auto& h : x) h = sparq::F32ToF16Bits(u(rng) * 2.0f);
      for (int64_t c : {7, 100, 2000, 4000}) x[size_t(c)] = sparq::F32ToF16Bits(40.0f);
      std::vector<uint16_t> y(size_t(m * n));
      std::vector<int32_t> cols(size_t(k + 1));
      sparq::Int8MatmulArgs a;
      a.x = x.data();
      a.y = y.data();
      a.outlier_cols = cols.data();
      a.m = m;
      a.threshold = 6.0f;
      std::vector<double> ms, cpu_ms;
      auto cpu_now = [] {
        timespec ts;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) * 1e-6;
      };
      for (int r = 0; r < reps + 1; ++r) {
        a.weight = packs[size_t(r % kCopies)].view();
        const double c0 = cpu_now();
        const auto t0 = std::chrono::steady_clock::now();
        sparq::cpu::int8::Int8MatmulCpu(a, kern, pool);
        const auto t1 = std::chrono::steady_clock::now();
        const double c1 = cpu_now();
        if (r > 0) {
          ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
          cpu_ms.push_back(c1 - c0);
        }
      }
      std::sort(ms.begin(), ms.end());
      std::sort(cpu_ms.begin(), cpu_ms.end());
      const double med = ms[ms.size() / 2], cpu_med = cpu_ms[cpu_ms.size() / 2];
      const double bytes = double(packs[0].bytes());
      std::printf("| %s | %lldx%lld | %lld | %.3f | %.3f | %.3f | %.1f | %.1f |\n", sparq::cpu::int8::KernelName(kern),
                  (long long)n, (long long)k, (long long)m, med, ms[0], cpu_med, 2.0 * m * n * k / cpu_med / 1e6,
                  bytes / cpu_med / 1e6);
    }
  }
  return 0;
}
