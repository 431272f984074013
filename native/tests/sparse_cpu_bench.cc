// native/tests/sparse_cpu_bench.cc: sparse.matmul CPU timings against our dense fp16 CPU matmul
// timed in the same run (not a test: no pass/fail).
//   sparse_cpu_bench [isa] [reps] [threads] [sparsities] [ms]   isa: scalar|avx2|avx512 (default:
//   best); reps 9; sparsities a comma list (default 0.5,0.7,0.8,0.9,0.95); ms a comma list of X
//   rows, each 1..64 (default 1,8,16,32,64)
// Shapes n×k ∈ {4096×4096, 14336×4096}, random masks at those sparsities, both formats (with the
// cpu row lists the cpu backend builds; SPARQ_SPARSE_SKIP picks the kernels as in the library),
// m ∈ {1, 8, 16, 32, 64} unless named. Every weight buffer (dense and sparse) rotates over copies totalling
// ≥ 640 MB, so the L3 (260 MB on the CI VM's host) does not hold them between reps. Reports the
// median ms, the dense median for the same (shape, m), their ratio (> 1: sparse faster), encoded
// bytes and the weight GB/s. Each (shape, sparsity, format) is checked once against the dense
// result on the same pruned weights (relative norm), so a fast wrong kernel shows.
// Built only when named, in a tree configured with -DSPARQ_NATIVE_TESTS=ON:
//   cmake --build <build> --target sparse_cpu_bench
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "sparq/cpu.h"
#include "sparq/dense.h"
#include "sparq/sparse.h"

namespace {

constexpr double kRotateBytes = 640.0 * 1024 * 1024;
constexpr int kWarmup = 2;
constexpr int kMaxRows = 64;  // X holds this many rows; every timed m is a prefix of it

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// "0.5,0.7" → {0.5, 0.7}
std::vector<double> CommaList(const char* c) {
  std::vector<double> out;
  while (*c != 0) {
    char* end = nullptr;
    out.push_back(std::strtod(c, &end));
    if (end == c) break;
    c = *end == ',' ? end + 1 : end;
  }
  return out;
}

int CopiesFor(double bytes) { return std::max(2, int(std::ceil(kRotateBytes / bytes))); }

template <typename Fn>
double TimeMs(int reps, int copies, Fn&& run) {
  std::vector<double> ms;
  for (int r = 0; r < reps + kWarmup; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    run(r % copies);
    const auto t1 = std::chrono::steady_clock::now();
    if (r >= kWarmup) ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  return Median(ms);
}

float F(uint16_t b) {
  _Float16 h;
  std::memcpy(&h, &b, 2);
  return static_cast<float>(h);
}

// ‖a − b‖ / ‖b‖ over fp16 outputs.
double RelNorm(const std::vector<uint16_t>& a, const std::vector<uint16_t>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = double(F(a[i])) - double(F(b[i]));
    num += d * d;
    den += double(F(b[i])) * double(F(b[i]));
  }
  return std::sqrt(num / (den > 0 ? den : 1));
}

}  // namespace

int main(int argc, char** argv) {
  sparq::cpu::Isa isa = sparq::cpu::BestSupportedIsa();
  if (argc > 1) {
    const sparq::Status st = sparq::cpu::ResolveIsa(argv[1], &isa);
    if (!st.ok()) {
      std::fprintf(stderr, "%s\n", st.message.c_str());
      return 2;
    }
  }
  const int reps = argc > 2 ? std::max(1, std::atoi(argv[2])) : 9;
  const int threads = argc > 3 ? std::max(1, std::atoi(argv[3])) : sparq::cpu::DefaultThreadCount();
  sparq::cpu::ThreadPool pool(threads);
  const std::vector<double> sparsities = CommaList(argc > 4 ? argv[4] : "0.5,0.7,0.8,0.9,0.95");
  std::vector<int64_t> ms;
  for (double m : CommaList(argc > 5 ? argv[5] : "1,8,16,32,64")) {
    if (m < 1 || m > kMaxRows) {
      std::fprintf(stderr, "ms: each X row count must be 1..%d, got %g\n", kMaxRows, m);
      return 2;
    }
    ms.push_back(int64_t(m));
  }
  std::printf("# sparse cpu bench: isa=%s threads=%d reps=%d (median after %d warm-up), weights rotated over >= %.0f MB\n",
              sparq::cpu::IsaName(isa), pool.size(), reps, kWarmup, kRotateBytes / 1048576.0);
  std::printf("| n x k | sparsity | format | m | ms | dense ms | dense/sparse | W MB | W GB/s | check |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|\n");
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> val(0.05f, 1.0f);
  const int64_t shapes[][2] = {{4096, 4096}, {14336, 4096}};
  for (const auto& sh : shapes) {
    const int64_t n = sh[0], k = sh[1];
    std::vector<uint16_t> w(size_t(n * k));
    for (auto& h : w) {
      const float f = (rng() & 1) ? val(rng) : -val(rng);
      const _Float16 hf = static_cast<_Float16>(f);
      std::memcpy(&h, &hf, 2);
    }
    std::vector<uint16_t> x(size_t(kMaxRows * k));
    for (auto& h : x) {
      const _Float16 hf = static_cast<_Float16>(val(rng));
      std::memcpy(&h, &hf, 2);
    }
    // dense baseline, same run
    std::vector<double> dense_ms(ms.size());
    {
      const int copies = CopiesFor(2.0 * double(n * k));
      std::vector<std::vector<uint16_t>> wc(size_t(copies), w);
      for (size_t mi = 0; mi < ms.size(); ++mi) {
        std::vector<uint16_t> y(size_t(ms[mi] * n));
        dense_ms[mi] = TimeMs(reps, copies, [&](int c) {
          sparq::DenseMatmulArgs a;
          a.w = wc[size_t(c)].data();
          a.x = x.data();
          a.y = y.data();
          a.m = ms[mi];
          a.n = n;
          a.k = k;
          sparq::cpu::DenseMatmulF16(a, isa, pool);
        });
      }
    }
    for (double sparsity : sparsities) {
      std::vector<uint16_t> wp = w;
      std::bernoulli_distribution drop(sparsity);
      for (auto& h : wp)
        if (drop(rng)) h = 0;
      // the reference for the check: dense on the same pruned weights, m = 8
      std::vector<uint16_t> y_dense(size_t(8 * n)), y_sparse(size_t(8 * n));
      {
        sparq::DenseMatmulArgs a;
        a.w = wp.data();
        a.x = x.data();
        a.y = y_dense.data();
        a.m = 8;
        a.n = n;
        a.k = k;
        sparq::cpu::DenseMatmulF16(a, isa, pool);
      }
      for (sparq::SparseFormat f : {sparq::SparseFormat::kBitmap, sparq::SparseFormat::kTiledCsl}) {
        sparq::SparseEncoded enc;
        sparq::Status st = sparq::SparseEncode(wp.data(), n, k, f, &enc);
        if (st.ok())
          st = sparq::SparseBuildCpuRows(wp.data(), n, k, &enc.cpu_rows, "sparse.encode",
                                         isa == sparq::cpu::Isa::kAvx512 && sparq::sparse::LanesPreferred()
                                             ? sparq::CpuLanes::kAuto
                                             : sparq::CpuLanes::kNone);
        if (!st.ok()) {
          std::fprintf(stderr, "%s\n", st.message.c_str());
          return 1;
        }
        sparq::SparseMatmulCpu(enc.view(), x.data(), nullptr, y_sparse.data(), 8, isa, pool);
        const double rel = RelNorm(y_sparse, y_dense);
        const int copies = CopiesFor(double(enc.bytes() + enc.cpu_rows.size()));
        std::vector<sparq::SparseEncoded> ec(size_t(copies), enc);
        for (size_t mi = 0; mi < ms.size(); ++mi) {
          std::vector<uint16_t> y(size_t(ms[mi] * n));
          const double t = TimeMs(reps, copies, [&](int c) {
            sparq::SparseMatmulCpu(ec[size_t(c)].view(), x.data(), nullptr, y.data(), ms[mi], isa, pool);
          });
          std::printf("| %lldx%lld | %.0f%% | %s | %lld | %.3f | %.3f | %.2f | %.1f | %.1f | %s %.1e |\n",
                      (long long)n, (long long)k, sparsity * 100, sparq::SparseFormatName(f), (long long)ms[mi], t,
                      dense_ms[mi], dense_ms[mi] / t, double(enc.bytes()) / 1e6, double(enc.bytes()) / t / 1e6,
                      rel <= 2e-3 ? "ok" : "BAD", rel);
          std::fflush(stdout);
        }
      }
    }
  }
  return 0;
}
