// native/tests/w4a16_cpu_bench.cc: W4A16 CPU matmul timings (not a test: no pass/fail).
//   w4a16_cpu_bench [isa] [reps] [exact|int8]   isa: scalar|avx2|avx512 (default: best); reps
//   default 9; int8: the `{ accuracy: 'int8' }` function (W4A16MatmulInt8Cpu) instead of the exact one
// Shapes n×k ∈ {4096×4096, 4096×14336, 14336×4096} at m ∈ {1, 4, 16, 64, 128}, group 128.
// Weights rotate over several copies so L2/L3 do not hold them between reps. Reports the median
// ms, GFLOP/s (2·m·n·k) and GB/s (packed weights + scales + X + Y).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "sparq/cpu.h"
#include "sparq/w4a16.h"

int main(int argc, char** argv) {
  sparq::cpu::Isa isa = sparq::cpu::BestSupportedIsa();
  if (argc > 1) {
    sparq::Status st = sparq::cpu::ResolveIsa(argv[1], &isa);
    if (!st.ok()) { std::fprintf(stderr, "%s\n", st.message.c_str()); return 2; }
  }
  const int reps = argc > 2 ? std::atoi(argv[2]) : 9;
  const bool int8 = argc > 3 && std::strcmp(argv[3], "int8") == 0;
  const auto matmul = int8 ? &sparq::W4A16MatmulInt8Cpu : &sparq::W4A16MatmulCpu;
  sparq::cpu::ThreadPool pool(sparq::cpu::DefaultThreadCount());
  std::printf("# w4a16 cpu bench: %s, isa=%s threads=%d group=128 reps=%d (median)\n",
              int8 ? "int8 activations" : "exact", sparq::cpu::IsaName(isa), pool.size(), reps);
  std::printf("| n x k | m | ms | GFLOP/s | GB/s |\n|---|---|---|---|---|\n");
  std::mt19937 rng(7);
  const int64_t shapes[][2] = {{4096, 4096}, {4096, 14336}, {14336, 4096}};
  for (const auto& sh : shapes) {
    const int64_t n = sh[0], k = sh[1];
    std::vector<uint8_t> codes(size_t(n * k));
    for (auto& c : codes) c = uint8_t(rng() & 15);
    std::vector<uint16_t> scales(size_t(n * (k / 128)), 0x2000);  // 2^-7
    // enough copies to exceed the L3 share a 2-core VM sees
    const int copies = std::max<int>(2, int(256ll * 1024 * 1024 / (n * k / 2)) + 1);
    std::vector<sparq::W4A16Packed> w(size_t(std::min(copies, 8)));
    for (auto& p : w) sparq::W4A16Pack(codes.data(), scales.data(), n, k, 128, &p, sparq::W4A16Layout::kCpu);
    for (int64_t m : {1, 4, 16, 64, 128}) {
      std::vector<uint16_t> x(size_t(m * k), 0x3800), y(size_t(m * n));
      std::vector<double> ms;
      for (int r = 0; r < reps + 2; ++r) {
        const auto& p = w[size_t(r) % w.size()];
        const auto t0 = std::chrono::steady_clock::now();
        matmul(p.view(), x.data(), nullptr, y.data(), m, isa, pool);
        const auto t1 = std::chrono::steady_clock::now();
        if (r >= 2) ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      }
      std::sort(ms.begin(), ms.end());
      const double med = ms[ms.size() / 2];
      const double flops = 2.0 * double(m) * double(n) * double(k);
      const double bytes = double(w[0].bytes()) + 2.0 * double(m) * double(k + n);
      std::printf("| %lldx%lld | %lld | %.3f | %.1f | %.2f |\n", (long long)n, (long long)k, (long long)m, med,
                  flops / med / 1e6, bytes / med / 1e6);
      std::fflush(stdout);
    }
  }
  return 0;
}
