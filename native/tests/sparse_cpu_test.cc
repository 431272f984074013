// native/tests/sparse_cpu_test.cc: the sparse matmul's CPU kernels (every ISA this CPU runs, both
// formats) against a float64 reference computed here from the dense matrix the test drew, never
// from the encoding: Y[i][j] = Σ_k X[i][k]·W[j][k] + bias[j], each element within its own bound.
// The encoder (formats/) is the library's; the buffers are copied into exactly sized allocations
// so a sanitizer sees any read past them. y is poisoned (NaN) before every run, with a guard after.
// Prints one line per check, then "N passed, M failed"; exits 0 only when M == 0.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "sparq/cpu.h"
#include "sparq/sparse.h"
#include "test_shard.h"

using sparq::CpuLanes;
using sparq::SparseEncoded;
using sparq::SparseFormat;
using sparq::SparseWeightView;
using sparq::Status;
using sparq::cpu::Isa;

namespace {

int g_passed = 0, g_failed = 0;
void Check(bool ok, const std::string& what) {
  std::printf("%s %s\n", ok ? "PASS" : "FAIL", what.c_str());
  (ok ? g_passed : g_failed)++;
}

std::mt19937_64 g_rng(20261201);

// ------------------------------------------------------------------ fp16 via _Float16 (RNE)
uint16_t H(double f) {
  _Float16 h = static_cast<_Float16>(static_cast<float>(f));
  uint16_t b;
  std::memcpy(&b, &h, 2);
  return b;
}
double F(uint16_t b) {
  _Float16 h;
  std::memcpy(&h, &b, 2);
  return static_cast<double>(h);
}
constexpr uint16_t kNanBits = 0x7e00;
constexpr const char* kOp = "sparse.encode";
constexpr uint16_t kGuardBits = 0x5a5a;
constexpr int kGuardElems = 64;

// One kernel to run: an ISA, and on AVX-512 which expand (SPARQ_SPARSE_EXPAND, read at every call):
// "float" (vexpandps) and, where the CPU has VBMI2, "word" (vpexpandw, widened by vcvtph2ps) and
// "bits" (vpexpandw, widened by placing the bits: where the weight has no Inf or NaN and DAZ is
// clear, else the driver keeps vcvtph2ps) too; and the two skip kernels
// (SPARQ_SPARSE_SKIP): "bitmap" (bitmap only: tiled-CSL runs "float" there), "rows" (the rows
// kernel over the lanes every view here carries, built at every sparsity with CpuLanes::kAlways),
// "lists" (the rows kernel over the row lists the views carry too) and "lanes" (the lanes kernel).
struct Kernel {
  Isa isa;
  const char* expand;        // null: leave SPARQ_SPARSE_EXPAND unset
  const char* skip = "off";  // SPARQ_SPARSE_SKIP
  bool skips() const { return std::strcmp(skip, "off") != 0; }
  Isa Use() const {
    if (expand != nullptr) setenv("SPARQ_SPARSE_EXPAND", expand, 1);
    else unsetenv("SPARQ_SPARSE_EXPAND");
    setenv("SPARQ_SPARSE_SKIP", skip, 1);
    return isa;
  }
  std::string Name() const {
    const bool word = expand != nullptr && std::strcmp(expand, "word") == 0, bits = expand != nullptr && std::strcmp(expand, "bits") == 0;
    return std::string(sparq::cpu::IsaName(isa)) + (word ? " vbmi2" : bits ? " vbmi2 bits" : "") +
           (skips() ? std::string(" skip ") + skip : "");
  }
};

std::vector<Kernel> SupportedKernels() {
  std::vector<Kernel> out;
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (!sparq::cpu::IsaSupported(isa)) continue;
    if (isa != Isa::kAvx512) {
      out.push_back({isa, nullptr});
      if (isa == Isa::kAvx2) out.push_back({isa, nullptr, "rows"});
      continue;
    }
    out.push_back({isa, "float"});
    if (sparq::cpu::HasAvx512Vbmi2()) {
      out.push_back({isa, "word"});
      out.push_back({isa, "bits"});
    }
    out.push_back({isa, "float", "bitmap"});
    out.push_back({isa, "float", "rows"});
    out.push_back({isa, "float", "lists"});
    out.push_back({isa, "float", "lanes"});
  }
  return out;
}

// Random non-zero fp16 in ±[lo, hi).
uint16_t RandomNonZero(double lo, double hi) {
  std::uniform_real_distribution<double> mag(lo, hi);
  std::bernoulli_distribution neg(0.5);
  uint16_t h = 0;
  while (h == 0 || h == 0x8000) h = H(neg(g_rng) ? -mag(g_rng) : mag(g_rng));
  return h;
}
std::vector<uint16_t> RandomHalves(size_t count) {
  std::vector<uint16_t> v(count);
  for (auto& h : v) h = RandomNonZero(0.05, 1.0);
  return v;
}

// Exactly round(sparsity·n·k) entries are zero, at random places; the rest random non-zero.
std::vector<uint16_t> RandomSparse(int64_t n, int64_t k, double sparsity) {
  std::vector<uint16_t> w = RandomHalves(size_t(n * k));
  std::vector<size_t> order(w.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), g_rng);
  const size_t zeros = size_t(std::llround(sparsity * double(w.size())));
  for (size_t i = 0; i < zeros; ++i) w[order[i]] = 0;
  return w;
}

// The encoding's three buffers and its row lists copied into allocations of exactly their size
// (values as uint32 words: 4-byte aligned at least, and a valid encoding's values are a whole
// number of words; the lists are a whole number of 8-byte words by their layout).
struct ExactCopy {
  std::unique_ptr<uint64_t[]> bitmaps;
  std::unique_ptr<uint32_t[]> values;
  std::unique_ptr<uint32_t[]> offsets;
  std::unique_ptr<uint64_t[]> rows;
  SparseWeightView view;
  explicit ExactCopy(const SparseEncoded& e) {
    if (!e.cpu_rows.empty()) {
      rows.reset(new uint64_t[(e.cpu_rows.size() + 7) / 8]);
      std::memcpy(rows.get(), e.cpu_rows.data(), e.cpu_rows.size());
    }
    if (!e.bitmaps.empty()) {
      bitmaps.reset(new uint64_t[e.bitmaps.size()]);
      std::memcpy(bitmaps.get(), e.bitmaps.data(), e.bitmaps.size() * 8);
    }
    if (!e.values.empty()) {
      values.reset(new uint32_t[(e.values.size() + 3) / 4]);
      std::memcpy(values.get(), e.values.data(), e.values.size());
    }
    offsets.reset(new uint32_t[e.tile_offsets.size()]);
    std::memcpy(offsets.get(), e.tile_offsets.data(), e.tile_offsets.size() * 4);
    view = e.view(bitmaps.get(), values.get(), offsets.get(), rows.get());
  }
};

struct Problem {
  int64_t m = 0, n = 0, k = 0;
  std::vector<uint16_t> w, x, bias;  // bias empty: none
};

// A random weight of the given sparsity and a random X.
Problem RandomProblem(int64_t m, int64_t n, int64_t k, double sparsity) {
  Problem p;
  p.m = m;
  p.n = n;
  p.k = k;
  p.w = RandomSparse(n, k, sparsity);
  p.x = RandomHalves(size_t(m * k));
  return p;
}

// float64 reference and each element's bound: 2^-10·|ref| (the final rounding to fp16, with
// room) + k·2^-23·Σ|x·w| (fp32 accumulation in any order) + 2^-24 (fp16's subnormal spacing).
void Reference(const Problem& p, std::vector<double>& ref, std::vector<double>& tol) {
  ref.assign(size_t(p.m * p.n), 0.0);
  tol.assign(size_t(p.m * p.n), 0.0);
  for (int64_t i = 0; i < p.m; ++i)
    for (int64_t j = 0; j < p.n; ++j) {
      double s = 0, a = 0;
      for (int64_t kk = 0; kk < p.k; ++kk) {
        const uint16_t wb = p.w[size_t(j * p.k + kk)];
        if (wb == 0) continue;
        const double prod = F(p.x[size_t(i * p.k + kk)]) * F(wb);
        s += prod;
        a += std::fabs(prod);
      }
      if (!p.bias.empty()) {
        s += F(p.bias[size_t(j)]);
        a += std::fabs(F(p.bias[size_t(j)]));
      }
      ref[size_t(i * p.n + j)] = s;
      tol[size_t(i * p.n + j)] = std::ldexp(std::fabs(s), -10) + double(p.k + 1) * std::ldexp(a, -23) + std::ldexp(1.0, -24);
    }
}

// Runs the kernel on a poisoned y; "" when every element is within its bound and the guard holds,
// else the first problem found. y_out gets the result.
std::string RunAndCompare(const Problem& p, const SparseWeightView& view, Isa isa, sparq::cpu::ThreadPool& pool,
                          const std::vector<double>& ref, const std::vector<double>& tol,
                          std::vector<uint16_t>* y_out = nullptr) {
  std::vector<uint16_t> y(size_t(p.m * p.n) + kGuardElems, kNanBits);
  std::fill(y.end() - kGuardElems, y.end(), kGuardBits);
  const Status st = sparq::SparseMatmulCpu(view, p.x.data(), p.bias.empty() ? nullptr : p.bias.data(), y.data(), p.m,
                                           isa, pool);
  if (!st.ok()) return "status: " + st.message;
  for (int g = 0; g < kGuardElems; ++g)
    if (y[size_t(p.m * p.n + g)] != kGuardBits) return "wrote past y";
  for (int64_t e = 0; e < p.m * p.n; ++e) {
    const double got = F(y[size_t(e)]);
    if (!(std::fabs(got - ref[size_t(e)]) <= tol[size_t(e)])) {
      char buf[200];
      std::snprintf(buf, sizeof buf, "y[%lld][%lld] = %.8g (bits 0x%04x), ref %.8g, tol %.3g", (long long)(e / p.n),
                    (long long)(e % p.n), got, unsigned(y[size_t(e)]), ref[size_t(e)], tol[size_t(e)]);
      return buf;
    }
  }
  if (y_out) y_out->assign(y.begin(), y.end() - kGuardElems);
  return "";
}

const char* FormatName(SparseFormat f) { return f == SparseFormat::kBitmap ? "bitmap" : "tiled-csl"; }

std::string CaseName(const Kernel& kern, SparseFormat f, int64_t m, int64_t n, int64_t k, double sparsity) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "sparse.matmul [cpu %s] %s m=%lld %lldx%lld sparsity %.2f", kern.Name().c_str(),
                FormatName(f), (long long)m, (long long)n, (long long)k, sparsity);
  return buf;
}

// One matrix, every m, with and without bias, on 1 and 3 threads (bit-identical between them).
void CheckMatrix(const std::vector<uint16_t>& w, int64_t n, int64_t k, double sparsity, const std::vector<int64_t>& ms,
                 const std::string& label, sparq::cpu::ThreadPool& pool1, sparq::cpu::ThreadPool& pool3) {
  if (!sparq_test::TakeCase()) return;
  for (SparseFormat f : {SparseFormat::kBitmap, SparseFormat::kTiledCsl}) {
    SparseEncoded enc;
    Status st = sparq::SparseEncode(w.data(), n, k, f, &enc);
    if (st.ok()) st = sparq::SparseBuildCpuRows(w.data(), n, k, &enc.cpu_rows, kOp, CpuLanes::kAlways);
    if (!st.ok()) {
      Check(false, std::string("encode ") + FormatName(f) + " " + label + ": " + st.message);
      continue;
    }
    ExactCopy copy(enc);
    for (int64_t m : ms) {
      Problem p;
      p.m = m;
      p.n = n;
      p.k = k;
      p.w = w;
      p.x = RandomHalves(size_t(m * k));
      const std::vector<uint16_t> bias = RandomHalves(size_t(n));
      std::vector<uint16_t> y_avx512;  // the first AVX-512 kernel's bits: every expand gives the same
      for (const Kernel& kern : SupportedKernels()) {
        const Isa isa = kern.Use();
        std::string err;
        for (bool with_bias : {false, true}) {
          p.bias = with_bias ? bias : std::vector<uint16_t>();
          std::vector<double> ref, tol;
          Reference(p, ref, tol);
          std::vector<uint16_t> y1, y3;
          err = RunAndCompare(p, copy.view, isa, pool1, ref, tol, &y1);
          if (err.empty()) err = RunAndCompare(p, copy.view, isa, pool3, ref, tol, &y3);
          if (err.empty() && y1 != y3) err = "1 and 3 threads differ";
          if (err.empty() && isa == Isa::kAvx512 && with_bias) {
            if (y_avx512.empty()) y_avx512 = y1;
            else if (y1 != y_avx512) err = "differs in bits from the vexpandps kernel";
          }
          // The skip kernels' claim (finite X: the same bits as the expanding kernels) on every
          // config, without bias too.
          if (err.empty() && kern.skips() && !with_bias) {
            setenv("SPARQ_SPARSE_SKIP", "off", 1);
            std::vector<uint16_t> y_float;
            err = RunAndCompare(p, copy.view, isa, pool3, ref, tol, &y_float);
            setenv("SPARQ_SPARSE_SKIP", kern.skip, 1);
            if (err.empty() && y_float != y1) err = "skip kernel differs in bits from the vexpandps kernel";
          }
          if (!err.empty()) {
            err = (with_bias ? "bias: " : "no bias: ") + err;
            break;
          }
        }
        Check(err.empty(), CaseName(kern, f, m, n, k, sparsity) + label + ": matches the float64 reference" +
                               (err.empty() ? "" : " -- " + err));
      }
    }
  }
}

// The brief's grid: sparsity × shape × m, both formats, every ISA.
void CheckGrid(sparq::cpu::ThreadPool& pool1, sparq::cpu::ThreadPool& pool3) {
  const int64_t shapes[][2] = {{129, 200}, {1, 1}, {67, 1000}};
  for (double sparsity : {0.0, 0.3, 0.5, 0.8, 0.99, 1.0})
    for (const auto& sh : shapes) {
      const std::vector<uint16_t> w = RandomSparse(sh[0], sh[1], sparsity);
      CheckMatrix(w, sh[0], sh[1], sparsity, {1, 2, 3, 7, 16, 33, 64}, "", pool1, pool3);
    }
  // k past one and two lane chunks (2048 columns): column indices j ≥ 128 and runs across chunks
  CheckMatrix(RandomSparse(33, 2049, 0.5), 33, 2049, 0.5, {1, 2}, " (k past a lane chunk)", pool1, pool3);
  CheckMatrix(RandomSparse(67, 4200, 0.8), 67, 4200, 0.8, {1, 3, 17}, " (k past two lane chunks)", pool1, pool3);
  // every tail of 1–15 X rows past 16: where the rows kernel runs, the tail as its own units on the
  // kernel the driver picks for that many rows, or in the rows kernel (over the lanes: on ymm up to
  // 8 rows); one thread (one unit of all whole blocks) and three (units of 16 rows)
  for (double sparsity : {0.5, 0.8})
    CheckMatrix(RandomSparse(129, 1000, sparsity), 129, 1000, sparsity,
                {17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 40, 49}, " (a tail past 16 rows)", pool1, pool3);
  // many X rows over few slabs: rows split across work units, capped per unit
  CheckMatrix(RandomSparse(64, 130, 0.6), 64, 130, 0.6, {150}, " (row split)", pool1, pool3);
}

// A fully dense 64×64 block inside a 95%-sparse matrix: aligned to the tiles, and straddling four.
void CheckDenseBlock(sparq::cpu::ThreadPool& pool1, sparq::cpu::ThreadPool& pool3) {
  const int64_t n = 200, k = 300;
  for (int64_t r0 : {64, 10}) {
    const int64_t c0 = r0 == 64 ? 128 : 30;
    std::vector<uint16_t> w = RandomSparse(n, k, 0.95);
    for (int64_t r = r0; r < r0 + 64; ++r)
      for (int64_t c = c0; c < c0 + 64; ++c) w[size_t(r * k + c)] = RandomNonZero(0.05, 1.0);
    CheckMatrix(w, n, k, 0.95, {1, 5, 16}, r0 == 64 ? " (dense tile)" : " (dense 64x64 across tiles)", pool1, pool3);
  }
}

// The bits widening (SPARQ_SPARSE_EXPAND=bits) is exact only for finite weights and with MXCSR.DAZ
// clear; where either fails the driver must keep vcvtph2ps. Without the NaN, on a thread with DAZ
// set (pool1 runs on this thread), the subnormal weight's product (3·2^-24 · 30000) must still show:
// a bits kernel would read that weight as a denormal, which DAZ makes 0. With DAZ clear, the bits
// kernel must give the vcvtph2ps kernel's bits on the same weight.
void CheckPlacedBitsGuards(const std::vector<uint16_t>& w_nan, const Problem& p, sparq::cpu::ThreadPool& pool1) {
  if (!sparq::cpu::HasAvx512Vbmi2()) return;
  std::vector<uint16_t> w = w_nan;
  for (auto& v : w)
    if ((v & 0x7c00) == 0x7c00) v = 0;
  Problem q = p;
  q.w = w;
  std::vector<double> ref, tol;
  Reference(q, ref, tol);
  SparseEncoded enc;
  if (!sparq::SparseEncode(w.data(), q.n, q.k, SparseFormat::kBitmap, &enc).ok() ||
      !sparq::SparseBuildCpuRows(w.data(), q.n, q.k, &enc.cpu_rows, kOp, CpuLanes::kAlways).ok()) {
    Check(false, "encode placed-bits guard case");
    return;
  }
  ExactCopy copy(enc);
  setenv("SPARQ_SPARSE_SKIP", "off", 1);
  const auto run = [&](const char* expand, std::vector<uint16_t>& y) {
    setenv("SPARQ_SPARSE_EXPAND", expand, 1);
    return RunAndCompare(q, copy.view, Isa::kAvx512, pool1, ref, tol, &y);
  };
  std::vector<uint16_t> y_word, y_bits, y_daz;
  std::string err = run("word", y_word);
  if (err.empty()) err = run("bits", y_bits);
  if (err.empty() && y_bits != y_word) err = "bits differ from vcvtph2ps";
  Check(err.empty(), "sparse.matmul [cpu avx512 vbmi2 bits] subnormal and −0 weights, a subnormal product × 30000: "
                     "vcvtph2ps's bits" + (err.empty() ? "" : " -- " + err));
  constexpr unsigned kDaz = 1u << 6;
  const unsigned csr = _mm_getcsr();
  _mm_setcsr(csr | kDaz);
  err = run("bits", y_daz);
  _mm_setcsr(csr);
  Check(err.empty(), "sparse.matmul [cpu avx512 vbmi2 bits] with MXCSR.DAZ set: the subnormal weight still counts" +
                         (err.empty() ? "" : " -- " + err));
  unsetenv("SPARQ_SPARSE_EXPAND");
}

// Stored −0, subnormal and NaN weights are used as given: a NaN poisons only its own output row.
void CheckSpecialValues(sparq::cpu::ThreadPool& pool1) {
  const int64_t n = 70, k = 90, m = 3;
  std::vector<uint16_t> w = RandomSparse(n, k, 0.7);
  w[size_t(5 * k + 7)] = 0x8000;   // −0: stored
  w[size_t(6 * k + 8)] = 0x0003;   // subnormal 3·2^-24
  w[size_t(6 * k + 9)] = 0x8201;   // negative subnormal
  w[size_t(66 * k + 80)] = kNanBits;
  Problem p;
  p.m = m;
  p.n = n;
  p.k = k;
  p.w = w;
  p.x = RandomHalves(size_t(m * k));
  p.x[size_t(0 * k + 8)] = H(30000.0);  // subnormal·large x: exact in fp32, visible in y
  for (SparseFormat f : {SparseFormat::kBitmap, SparseFormat::kTiledCsl}) {
    SparseEncoded enc;
    if (!sparq::SparseEncode(w.data(), n, k, f, &enc).ok() ||
        !sparq::SparseBuildCpuRows(w.data(), n, k, &enc.cpu_rows, kOp, CpuLanes::kAlways).ok()) {
      Check(false, std::string("encode special values ") + FormatName(f));
      continue;
    }
    ExactCopy copy(enc);
    for (const Kernel& kern : SupportedKernels()) {
      const Isa isa = kern.Use();
      Problem q = p;
      q.w[size_t(66 * k + 80)] = 0;  // reference without the NaN, compared on the other rows
      std::vector<double> ref, tol;
      Reference(q, ref, tol);
      std::vector<uint16_t> y(size_t(m * n), kNanBits);
      const Status st = sparq::SparseMatmulCpu(copy.view, p.x.data(), nullptr, y.data(), m, isa, pool1);
      bool ok = st.ok();
      for (int64_t i = 0; i < m && ok; ++i)
        for (int64_t j = 0; j < n && ok; ++j) {
          const double got = F(y[size_t(i * n + j)]);
          ok = j == 66 ? std::isnan(got) : std::fabs(got - ref[size_t(i * n + j)]) <= tol[size_t(i * n + j)];
        }
      Check(ok, CaseName(kern, f, m, n, k, 0.7) + " with −0, subnormal and NaN weights: each used as stored");
    }
  }
  CheckPlacedBitsGuards(w, p, pool1);
}

// An Inf or NaN in X keeps the skip kernel out (there 0·Inf = NaN on the expanding kernels, which
// a skipped zero cannot give): with SPARQ_SPARSE_SKIP=on the bits still equal the vexpandps
// kernel's, NaN rows included.
void CheckSkipNonFinite(sparq::cpu::ThreadPool& pool1) {
  const int64_t n = 70, k = 90, m = 20;
  const std::vector<uint16_t> w = RandomSparse(n, k, 0.7);
  std::vector<uint16_t> x = RandomHalves(size_t(m * k));
  x[size_t(3 * k + 10)] = 0x7c00;   // +Inf
  x[size_t(17 * k + 40)] = 0xfe00;  // NaN
  SparseEncoded enc;
  if (!sparq::SparseEncode(w.data(), n, k, SparseFormat::kBitmap, &enc).ok() ||
      !sparq::SparseBuildCpuRows(w.data(), n, k, &enc.cpu_rows, kOp, CpuLanes::kAlways).ok()) {
    Check(false, "encode non-finite X case");
    return;
  }
  ExactCopy copy(enc);
  unsetenv("SPARQ_SPARSE_EXPAND");
  const struct {
    Isa isa;
    const char* skip;
  } kernels[] = {{Isa::kAvx512, "bitmap"}, {Isa::kAvx512, "rows"}, {Isa::kAvx512, "lists"}, {Isa::kAvx512, "lanes"},
                 {Isa::kAvx2, "rows"}};
  for (const auto& kern : kernels) {
    if (!sparq::cpu::IsaSupported(kern.isa)) continue;
    std::vector<uint16_t> y_float(size_t(m * n), 0x1234), y_skip(size_t(m * n), kNanBits);
    setenv("SPARQ_SPARSE_SKIP", "off", 1);
    const Status s2 = sparq::SparseMatmulCpu(copy.view, x.data(), nullptr, y_float.data(), m, kern.isa, pool1);
    bool nan_rows = true;
    for (int64_t j = 0; j < n; ++j) nan_rows = nan_rows && !std::isfinite(F(y_float[size_t(3 * n + j)]));
    setenv("SPARQ_SPARSE_SKIP", kern.skip, 1);
    const Status s1 = sparq::SparseMatmulCpu(copy.view, x.data(), nullptr, y_skip.data(), m, kern.isa, pool1);
    Check(s1.ok() && s2.ok() && y_skip == y_float && nan_rows,
          std::string("sparse.matmul [cpu ") + sparq::cpu::IsaName(kern.isa) + "] SPARQ_SPARSE_SKIP=" + kern.skip +
              " with Inf/NaN in X: the expanding kernel's bits (row 3 all Inf or NaN)");
  }
}

// The check above can fail: one stored value changed in a copy of the encoding must be caught.
void CheckTheCheck(sparq::cpu::ThreadPool& pool1) {
  const int64_t n = 65, k = 70, m = 2;
  const Problem p = RandomProblem(m, n, k, 0.5);
  std::vector<double> ref, tol;
  Reference(p, ref, tol);
  for (SparseFormat f : {SparseFormat::kBitmap, SparseFormat::kTiledCsl}) {
    SparseEncoded enc;
    if (!sparq::SparseEncode(p.w.data(), n, k, f, &enc).ok() ||
        !sparq::SparseBuildCpuRows(p.w.data(), n, k, &enc.cpu_rows, kOp, CpuLanes::kAlways).ok()) {
      Check(false, std::string("encode mutant ") + FormatName(f));
      continue;
    }
    // the 10th stored entry of tile 0 becomes 64 (the draws are below 1 in magnitude), and so
    // does the 10th slot of the row lists
    const size_t at = f == SparseFormat::kBitmap ? 2 * 10 : 4 * 10;
    const uint16_t big = H(64.0);
    std::memcpy(&enc.values[at], &big, 2);
    const sparq::sparse::CpuRows lists = sparq::sparse::CpuRowsAt(enc.cpu_rows.data());
    const size_t slot_at = size_t(reinterpret_cast<const uint8_t*>(lists.values + 10) - enc.cpu_rows.data());
    std::memcpy(&enc.cpu_rows[slot_at], &big, 2);
    // and the first stored weight of the lanes
    uint16_t* lane_value = const_cast<uint16_t*>(lists.lane_values);
    uint16_t* const lanes_end = lane_value + lists.header->lane_slots;
    while (lane_value < lanes_end && *lane_value == 0) ++lane_value;
    if (lane_value < lanes_end) std::memcpy(lane_value, &big, 2);
    ExactCopy copy(enc);
    for (const Kernel& kern : SupportedKernels())
      Check(!RunAndCompare(p, copy.view, kern.Use(), pool1, ref, tol).empty(),
            "sparse.matmul [cpu " + kern.Name() + "] " + FormatName(f) +
                " with one stored value changed: the reference check fails");
  }
}

// The lanes kernel reads the lanes: one stored weight changed in them alone is caught with
// SPARQ_SPARSE_SKIP=lanes (and unforced too, where the driver takes them by default: m = 1 and 3
// here, on a core where LanesPreferred()) and not seen by the expanding kernels.
void CheckLanesAreRead(sparq::cpu::ThreadPool& pool1) {
  if (!sparq::cpu::IsaSupported(Isa::kAvx512)) return;
  const int64_t n = 70, k = 2100;
  for (int64_t m : {1, 3}) {
    const Problem p = RandomProblem(m, n, k, 0.8);
    std::vector<double> ref, tol;
    Reference(p, ref, tol);
    SparseEncoded enc;
    if (!sparq::SparseEncode(p.w.data(), n, k, SparseFormat::kBitmap, &enc).ok() ||
        !sparq::SparseBuildCpuRows(p.w.data(), n, k, &enc.cpu_rows, kOp, CpuLanes::kAuto).ok()) {
      Check(false, "encode lanes mutant");
      return;
    }
    const sparq::sparse::CpuRows lists = sparq::sparse::CpuRowsAt(enc.cpu_rows.data());
    Check(lists.header->lane_chunks == 2, "80%-sparse weight: CpuLanes::kAuto builds the lanes (2 chunks for k = 2100)");
    if (lists.lane_values == nullptr) return;
    uint16_t* lane_value = const_cast<uint16_t*>(lists.lane_values) + 7 * sparq::sparse::kLanesRows;
    uint16_t* const lanes_end = const_cast<uint16_t*>(lists.lane_values) + lists.header->lane_slots;
    while (lane_value < lanes_end && *lane_value == 0) ++lane_value;
    if (lane_value == lanes_end) {
      Check(false, "lanes mutant: no stored lane after step 7");
      return;
    }
    const uint16_t big = H(64.0);
    std::memcpy(lane_value, &big, 2);
    ExactCopy copy(enc);
    setenv("SPARQ_SPARSE_SKIP", "lanes", 1);
    const bool forced = !RunAndCompare(p, copy.view, Isa::kAvx512, pool1, ref, tol).empty();
    unsetenv("SPARQ_SPARSE_SKIP");
    const bool unforced = !RunAndCompare(p, copy.view, Isa::kAvx512, pool1, ref, tol).empty();
    setenv("SPARQ_SPARSE_SKIP", "off", 1);
    const bool expanding = RunAndCompare(p, copy.view, Isa::kAvx512, pool1, ref, tol).empty();
    const bool by_default = m <= 6 && sparq::sparse::LanesPreferred();  // the driver's kLanesMaxRows
    Check(forced && unforced == by_default && expanding,
          "sparse.matmul [cpu avx512] m=" + std::to_string(m) +
              " with one lane weight changed: caught by the lanes kernel (forced; unforced on a core where "
              "LanesPreferred()), unseen by the expanding kernel");
  }
}

// CpuLanes::kAuto builds the lanes instead of the lists where enough weights are zero, and the
// lists instead of the lanes for a weight that is not sparse enough or whose rows are so uneven
// that the lanes would be mostly padding (one dense row in every 32).
void CheckLanesOrLists() {
  const auto built = [](const std::vector<uint16_t>& w, int64_t n, int64_t k, bool want_lanes) {
    std::vector<uint8_t> bytes;
    const Status st = sparq::SparseBuildCpuRows(w.data(), n, k, &bytes);
    if (!st.ok()) return false;
    const sparq::sparse::CpuRows r = sparq::sparse::CpuRowsAt(bytes.data());
    return r.has_lanes() == want_lanes && r.has_lists() == !want_lanes && (!want_lanes || r.header->groups == 0) &&
           (r.lane_values != nullptr) == want_lanes;
  };
  Check(built(RandomSparse(64, 300, 0.5), 64, 300, false), "50%-sparse weight: CpuLanes::kAuto builds the lists, no lanes");
  Check(built(RandomSparse(64, 300, 0.75), 64, 300, true), "75%-sparse weight: CpuLanes::kAuto builds the lanes, no lists");
  std::vector<uint16_t> uneven = RandomSparse(128, 1024, 0.99);
  for (int64_t r = 0; r < 128; r += 32)
    for (int64_t c = 0; c < 1024; ++c) uneven[size_t(r * 1024 + c)] = RandomNonZero(0.05, 1.0);
  Check(built(uneven, 128, 1024, false), "one dense row in every 32, ~96% sparse: CpuLanes::kAuto builds the lists, no lanes");
}

// A weight with lanes and no lists (what sparse.encode builds on a Zen 5 cpu context): every
// SPARQ_SPARSE_SKIP choice meets the reference and gives the expanding kernels' bits (`off`, run
// first), `lists` falling back to them; the rows kernel over the lanes at 8 (ymm), 16 and 40 (zmm,
// three X blocks, row units of 16) rows, and 17–31 (a last block of 1, 8, 9 or 15 rows: ymm up to 8).
void CheckLanesOnlyWeight(sparq::cpu::ThreadPool& pool1, sparq::cpu::ThreadPool& pool3) {
  if (!sparq::cpu::IsaSupported(Isa::kAvx512)) return;
  const int64_t n = 97, k = 2300;
  for (double sparsity : {0.7, 0.9})
    for (int64_t m : {1, 8, 16, 17, 24, 25, 31, 40}) {
      const Problem p = RandomProblem(m, n, k, sparsity);
      std::vector<double> ref, tol;
      Reference(p, ref, tol);
      SparseEncoded enc;
      if (!sparq::SparseEncode(p.w.data(), n, k, SparseFormat::kBitmap, &enc).ok() ||
          !sparq::SparseBuildCpuRows(p.w.data(), n, k, &enc.cpu_rows, kOp, CpuLanes::kAuto).ok() ||
          sparq::sparse::CpuRowsAt(enc.cpu_rows.data()).has_lists()) {
        Check(false, "encode a lanes-only weight");
        unsetenv("SPARQ_SPARSE_SKIP");
        return;
      }
      ExactCopy copy(enc);
      std::vector<uint16_t> y_off;
      for (const char* skip : {"off", "", "on", "rows", "lists", "lanes", "bitmap"}) {
        if (*skip != 0) setenv("SPARQ_SPARSE_SKIP", skip, 1);
        else unsetenv("SPARQ_SPARSE_SKIP");
        std::vector<uint16_t> y1, y3;
        std::string err = RunAndCompare(p, copy.view, Isa::kAvx512, pool1, ref, tol, &y1);
        if (err.empty()) err = RunAndCompare(p, copy.view, Isa::kAvx512, pool3, ref, tol, &y3);
        if (y_off.empty()) y_off = y1;
        if (err.empty() && (y1 != y_off || y3 != y_off)) err = "bits differ from SPARQ_SPARSE_SKIP=off";
        Check(err.empty(), "sparse.matmul [cpu avx512] lanes-only weight m=" + std::to_string(m) + " " +
                               std::to_string(n) + "x" + std::to_string(k) + " sparsity " + std::to_string(sparsity) +
                               " SPARQ_SPARSE_SKIP=" + (*skip != 0 ? skip : "(unset)") + ": matches the float64 reference" +
                               (err.empty() ? "" : " -- " + err));
      }
    }
  unsetenv("SPARQ_SPARSE_SKIP");
}

}  // namespace

int main() {
  std::printf("# ISAs on this CPU:");
  for (const Kernel& kern : SupportedKernels()) std::printf(" %s", kern.Name().c_str());
  std::printf("\n");
  sparq::cpu::ThreadPool pool1(1), pool3(3);
  CheckGrid(pool1, pool3);
  CheckDenseBlock(pool1, pool3);
  CheckSpecialValues(pool1);
  CheckSkipNonFinite(pool1);
  CheckTheCheck(pool1);
  CheckLanesAreRead(pool1);
  CheckLanesOrLists();
  CheckLanesOnlyWeight(pool1, pool3);
  sparq_test::PrintShard();
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
