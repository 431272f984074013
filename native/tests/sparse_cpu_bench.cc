// native/tests/sparse_cpu_bench.cc: sparse.matmul CPU timings against our dense fp16 CPU matmul
// timed in the same run (not a test: no pass/fail).
//   sparse_cpu_bench [isa] [reps] [threads] [sparsities] [ms]   isa: scalar|avx2|avx512 (default:
//   best); reps 9; sparsities a comma list (default 0.5,0.7,0.8,0.9,0.95); ms a comma list of X
//   rows, each 1..64 (default 1,8,16,32,64)
// Shapes n×k ∈ {4096×4096, 14336×4096}, random masks at those sparsities, both formats (with the
// cpu row lists the cpu backend builds; SPARQ_SPARSE_SKIP picks the kernels as in the library),
// m ∈ {1, 8, 16, 32, 64} unless named. Every weight buffer (dense and sparse) rotates over copies totalling
// ≥ 640 MB, so the L3 (260 MB on the CI VM's host) does not hold them between reps. Sparse and dense
// calls alternate (the order swapped every round), so a drift in the host's speed moves both alike.
// Reports the median ms, the dense median of the same rounds, their ratio (> 1: sparse faster),
// encoded bytes and the weight GB/s. Each (shape, sparsity, format) is checked once against the dense
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

// Our dense fp16 matmul, the baseline: y[m][n] = x[m][k] · w[n][k]ᵀ.
void DenseF16(const uint16_t* w, const uint16_t* x, uint16_t* y, int64_t m, int64_t n, int64_t k,
              sparq::cpu::Isa isa, sparq::cpu::ThreadPool& pool) {
  sparq::DenseMatmulArgs a;
  a.w = w;
  a.x = x;
  a.y = y;
  a.m = m;
  a.n = n;
  a.k = k;
  sparq::cpu::DenseMatmulF16(a, isa, pool);
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

// Medians of `a` and `b` (each given its rotation index), called in alternation: a then b in even
// rounds, b then a in odd ones.
template <typename FnA, typename FnB>
void TimeAlternatingMs(int reps, int copies_a, FnA&& a, int copies_b, FnB&& b, double* ms_a, double* ms_b) {
  std::vector<double> ta, tb;
  const auto time_one = [](auto&& run, int c) {
    const auto t0 = std::chrono::steady_clock::now();
    run(c);
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  };
  for (int r = 0; r < reps + kWarmup; ++r) {
    double da, db;
    if (r % 2 == 0) {
      da = time_one(a, r % copies_a);
      db = time_one(b, r % copies_b);
    } else {
      db = time_one(b, r % copies_b);
      da = time_one(a, r % copies_a);
    }
    if (r >= kWarmup) {
      ta.push_back(da);
      tb.push_back(db);
    }
  }
  *ms_a = Median(ta);
  *ms_b = Median(tb);
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
    // the dense baseline's weight copies, timed beside every sparse config
    const int dense_copies = CopiesFor(2.0 * double(n * k));
    const std::vector<std::vector<uint16_t>> wc(size_t(dense_copies), w);
    for (double sparsity : sparsities) {
      std::vector<uint16_t> wp = w;
      std::bernoulli_distribution drop(sparsity);
      for (auto& h : wp)
        if (drop(rng)) h = 0;
      // the reference for the check: dense on the same pruned weights, m = 8
      std::vector<uint16_t> y_dense(size_t(8 * n)), y_sparse(size_t(8 * n));
      DenseF16(wp.data(), x.data(), y_dense.data(), 8, n, k, isa, pool);
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
        for (int64_t m : ms) {
          std::vector<uint16_t> y(size_t(m * n)), y_d(size_t(m * n));
          double t = 0, t_dense = 0;
          TimeAlternatingMs(
              reps, copies,
              [&](int c) { sparq::SparseMatmulCpu(ec[size_t(c)].view(), x.data(), nullptr, y.data(), m, isa, pool); },
              dense_copies,
              [&](int c) { DenseF16(wc[size_t(c)].data(), x.data(), y_d.data(), m, n, k, isa, pool); },
              &t, &t_dense);
          std::printf("| %lldx%lld | %.0f%% | %s | %lld | %.3f | %.3f | %.2f | %.1f | %.1f | %s %.1e |\n",
                      (long long)n, (long long)k, sparsity * 100, sparq::SparseFormatName(f), (long long)m, t,
                      t_dense, t_dense / t, double(enc.bytes()) / 1e6, double(enc.bytes()) / t / 1e6,
                      rel <= 2e-3 ? "ok" : "BAD", rel);
          std::fflush(stdout);
        }
      }
    }
  }
  return 0;
}
