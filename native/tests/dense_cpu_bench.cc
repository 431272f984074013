// native/tests/dense_cpu_bench.cc: times DenseMatmulF16 on the layer shapes the CPU targets are
// stated for (Llama-style 4096/14336), per ISA. Not a test: never run under a time limit.
//   dense_cpu_bench [--threads N] [--runs R] [--isa scalar,avx2,avx512] [--m 8,16,...] [--rotate N]
// Prints one line per (ISA, shape): median ms over R runs after warm-up (GFLOP/s and weight GB/s
// from it), the fastest run, and (at --threads 1) the median CPU time of the calling thread, which
// leaves out time lost to other jobs on a shared machine.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <time.h>
#include <vector>

#include "sparq/cpu.h"

using sparq::cpu::Isa;

namespace {

struct Shape {
  int64_t m, n, k;
};

double ThreadCpuMs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

double MedianMs(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int threads = sparq::cpu::DefaultThreadCount();
  int runs = 15;
  int copies = 1;  // --rotate N: cycle through N weight copies, so W comes from memory, not cache
  std::string isa_list = "avx2,avx512";
  std::vector<Shape> shapes = {{1, 4096, 4096}, {16, 4096, 4096}, {64, 4096, 4096}, {16, 14336, 4096}, {16, 4096, 14336}};
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--threads") == 0) threads = std::atoi(argv[i + 1]);
    else if (std::strcmp(argv[i], "--runs") == 0) runs = std::atoi(argv[i + 1]);
    else if (std::strcmp(argv[i], "--isa") == 0) isa_list = argv[i + 1];
    else if (std::strcmp(argv[i], "--rotate") == 0) copies = std::max(1, std::atoi(argv[i + 1]));
    else if (std::strcmp(argv[i], "--m") == 0) {  // comma list of m, all on 4096 x 4096
      shapes.clear();
      for (const char* p = argv[i + 1]; *p != '\0';) {
        char* end = nullptr;
        shapes.push_back({std::strtoll(p, &end, 10), 4096, 4096});
        p = *end == ',' ? end + 1 : end;
      }
    }
  }
  sparq::cpu::ThreadPool pool(threads);
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::printf("%-7s %7s %6s %6s %7s %9s %9s %9s %9s %9s\n", "isa", "threads", "m", "n", "k", "ms", "GFLOP/s", "W GB/s", "min ms", "cpu ms");
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (isa_list.find(sparq::cpu::IsaName(isa)) == std::string::npos || !sparq::cpu::IsaSupported(isa)) continue;
    for (const Shape& s : shapes) {
      std::vector<float> wf(s.n * s.k), xf(s.m * s.k);
      for (auto& v : wf) v = dist(rng);
      for (auto& v : xf) v = dist(rng);
      std::vector<uint16_t> w(wf.size()), x(xf.size()), bias(s.n), y(s.m * s.n);
      sparq::cpu::F32ToF16(wf.data(), w.data(), wf.size(), Isa::kScalar);
      std::vector<std::vector<uint16_t>> w_copies(static_cast<size_t>(copies), w);
      sparq::cpu::F32ToF16(xf.data(), x.data(), xf.size(), Isa::kScalar);
      sparq::cpu::F32ToF16(wf.data(), bias.data(), bias.size(), Isa::kScalar);
      sparq::DenseMatmulArgs args;
      args.w = w.data();
      args.x = x.data();
      args.bias = bias.data();
      args.y = y.data();
      args.m = s.m;
      args.n = s.n;
      args.k = s.k;
      for (int i = 0; i < 3; ++i) sparq::cpu::DenseMatmulF16(args, isa, pool);  // warm-up
      std::vector<double> ms, cpu_ms;
      for (int i = 0; i < runs; ++i) {
        args.w = w_copies[static_cast<size_t>(i % copies)].data();
        const double c0 = ThreadCpuMs();
        const auto t0 = std::chrono::steady_clock::now();
        sparq::cpu::DenseMatmulF16(args, isa, pool);
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        cpu_ms.push_back(ThreadCpuMs() - c0);
      }
      const double med = MedianMs(ms);
      const double gflops = 2.0 * s.m * s.n * s.k / (med * 1e6);
      const double w_gbs = 2.0 * s.n * s.k / (med * 1e6);
      std::printf("%-7s %7d %6lld %6lld %7lld %9.3f %9.1f %9.1f %9.3f %9.3f\n", sparq::cpu::IsaName(isa), threads,
                  static_cast<long long>(s.m), static_cast<long long>(s.n), static_cast<long long>(s.k), med, gflops, w_gbs,
                  *std::min_element(ms.begin(), ms.end()), MedianMs(cpu_ms));
      std::fflush(stdout);
    }
  }
  return 0;
}
