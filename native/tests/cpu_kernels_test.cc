// native/tests/cpu_kernels_test.cc: the CPU backend's conversions, dense fp16 GEMM, thread pool
// and ISA resolution, on every ISA this CPU runs. The references here are written independently
// of the library (double arithmetic and table search), so a shared bug cannot hide.
// Prints one line per check, then "N passed, M failed"; exits 0 only when M == 0.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "cpu/aligned_array.h"
#include "cpu/cpu_switches.h"
#include "cpu/isa_kernels.h"
#include "sparq/cpu.h"
#include "test_shard.h"

using sparq::cpu::Isa;

namespace {

int g_passed = 0, g_failed = 0;

void Check(bool ok, const std::string& what) {
  std::printf("%s %s\n", ok ? "PASS" : "FAIL", what.c_str());
  (ok ? g_passed : g_failed)++;
}

uint32_t Bits(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }
float FromBits(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }

std::vector<Isa> SupportedIsas() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512})
    if (sparq::cpu::IsaSupported(isa)) out.push_back(isa);
  return out;
}

// ------------------------------------------------------------ independent reference formats
// A binary16-like format described by its field widths; values computed in double.
struct Format {
  const char* name;
  int exp_bits, mant_bits;
  int bias() const { return (1 << (exp_bits - 1)) - 1; }
  uint16_t exp_max() const { return static_cast<uint16_t>((1 << exp_bits) - 1); }
};
constexpr Format kF16{"f16", 5, 10};
constexpr Format kBF16{"bf16", 8, 7};

bool IsNanPattern(const Format& f, uint16_t h) {
  return ((h >> f.mant_bits) & f.exp_max()) == f.exp_max() && (h & ((1u << f.mant_bits) - 1)) != 0;
}

// Exact value of a non-NaN pattern.
double DecodeRef(const Format& f, uint16_t h) {
  const int sign_shift = f.exp_bits + f.mant_bits;
  const double sign = (h >> sign_shift) & 1 ? -1.0 : 1.0;
  const int e = (h >> f.mant_bits) & f.exp_max();
  const int mant = h & ((1 << f.mant_bits) - 1);
  if (e == f.exp_max()) return sign * std::numeric_limits<double>::infinity();
  if (e == 0) return sign * std::ldexp(static_cast<double>(mant), 1 - f.bias() - f.mant_bits);
  return sign * std::ldexp(static_cast<double>(mant + (1 << f.mant_bits)), e - f.bias() - f.mant_bits);
}

// The expected fp32 bits of decoding a NaN: sign, quiet bit, payload shifted to the top.
uint32_t DecodeNanRef(const Format& f, uint16_t h) {
  const uint32_t sign = (h >> (f.exp_bits + f.mant_bits)) & 1u;
  const uint32_t payload = h & ((1u << f.mant_bits) - 1u);
  return (sign << 31) | 0x7F800000u | 0x00400000u | (payload << (23 - f.mant_bits));
}

uint16_t EncodeNanRef(const Format& f, float v) {
  const uint32_t x = Bits(v);
  const uint32_t sign = x >> 31;
  const uint32_t top_payload = (x & 0x7FFFFFu) >> (23 - f.mant_bits);
  return static_cast<uint16_t>((sign << (f.exp_bits + f.mant_bits)) | (uint32_t{f.exp_max()} << f.mant_bits) |
                               (1u << (f.mant_bits - 1)) | top_payload);
}

// Positive finite values of a format in increasing order (index == bit pattern).
std::vector<double> PositiveTable(const Format& f) {
  std::vector<double> t;
  const uint16_t inf = static_cast<uint16_t>(f.exp_max() << f.mant_bits);
  for (uint32_t h = 0; h < inf; ++h) t.push_back(DecodeRef(f, static_cast<uint16_t>(h)));
  return t;
}

// Round-to-nearest-even by search: the nearest entry; a tie picks the even pattern; beyond the
// largest value, the overflow threshold is the midpoint to the next power (max + ulp/2).
uint16_t EncodeRef(const Format& f, const std::vector<double>& table, float v) {
  if (std::isnan(v)) return EncodeNanRef(f, v);
  const uint16_t sign = std::signbit(v) ? static_cast<uint16_t>(1u << (f.exp_bits + f.mant_bits)) : 0;
  const double a = std::fabs(static_cast<double>(v));
  const uint16_t inf = static_cast<uint16_t>(f.exp_max() << f.mant_bits);
  const double max = table.back(), ulp_top = max - table[table.size() - 2];
  if (a >= max + ulp_top / 2) return sign | inf;  // the tie at max + ulp/2 goes to the even "Inf"
  const size_t hi = static_cast<size_t>(std::lower_bound(table.begin(), table.end(), a) - table.begin());
  if (hi == 0) return sign;
  if (hi == table.size()) return static_cast<uint16_t>(sign | (table.size() - 1));
  const size_t lo = hi - 1;
  const double d_lo = a - table[lo], d_hi = table[hi] - a;
  size_t pick = d_lo < d_hi ? lo : d_hi < d_lo ? hi : ((lo & 1) == 0 ? lo : hi);
  return static_cast<uint16_t>(sign | pick);
}

using DecodeFn = void (*)(const uint16_t*, float*, size_t, Isa);
using EncodeFn = void (*)(const float*, uint16_t*, size_t, Isa);

void CheckDecodeAll(const Format& f, DecodeFn decode, Isa isa) {
  std::vector<uint16_t> src(65536);
  for (uint32_t i = 0; i < 65536; ++i) src[i] = static_cast<uint16_t>(i);
  // Odd offsets and lengths reach the tails of the SIMD loops.
  for (size_t offset : {size_t{0}, size_t{3}}) {
    const size_t n = src.size() - offset;
    std::vector<float> dst(n);
    decode(src.data() + offset, dst.data(), n, isa);
    int bad = 0;
    uint16_t first_bad = 0;
    for (size_t i = 0; i < n; ++i) {
      const uint16_t h = src[offset + i];
      const uint32_t want = IsNanPattern(f, h) ? DecodeNanRef(f, h) : Bits(static_cast<float>(DecodeRef(f, h)));
      if (Bits(dst[i]) != want && bad++ == 0) first_bad = h;
    }
    char msg[160];
    std::snprintf(msg, sizeof msg, "decode %s [%s] all 65536 patterns (offset %zu): exact%s", f.name,
                  sparq::cpu::IsaName(isa), offset, bad ? "" : "");
    std::string what = msg;
    if (bad) what += " -- " + std::to_string(bad) + " wrong, first pattern 0x" + [&] {
      char b[8]; std::snprintf(b, sizeof b, "%04x", first_bad); return std::string(b); }();
    Check(bad == 0, what);
  }
}

// Values whose rounding is pinned down: every representable value, its float neighbours, the
// exact midpoints to the next value and their neighbours, both signs; then edges and NaNs.
std::vector<float> EncodeProbes(const Format& f, const std::vector<double>& table) {
  std::vector<float> v;
  const float inf = std::numeric_limits<float>::infinity();
  for (size_t i = 0; i < table.size(); ++i) {
    const float x = static_cast<float>(table[i]);
    v.insert(v.end(), {x, std::nextafter(x, inf), std::nextafter(x, -inf)});
    const double next = i + 1 < table.size() ? table[i + 1] : table[i] + (table[i] - table[i - 1]);
    const float mid = static_cast<float>((table[i] + next) / 2);  // exact: one more bit than the format
    v.insert(v.end(), {mid, std::nextafter(mid, inf), std::nextafter(mid, -inf)});
  }
  v.insert(v.end(), {inf, std::numeric_limits<float>::max(), std::numeric_limits<float>::denorm_min(),
                     std::numeric_limits<float>::min(), 1e30f, 65504.0f, 65519.99f, 65520.0f, 65536.0f,
                     std::ldexp(1.0f, -25), std::ldexp(1.0f, -24), std::ldexp(1.5f, -25)});
  if (f.exp_bits == 5) {  // the fp16 overflow edge, spelled out
    v.insert(v.end(), {std::nextafter(65520.0f, 0.0f), std::nextafter(65520.0f, inf)});
  }
  const size_t positives = v.size();
  for (size_t i = 0; i < positives; ++i) v.push_back(-v[i]);
  // NaNs: quiet and signalling, payloads at the top and bottom, both signs.
  for (uint32_t payload : {0x400000u, 0x000001u, 0x200000u, 0x7FFFFFu, 0x3FE000u, 0x001000u, 0x555555u})
    for (uint32_t sign : {0u, 0x80000000u}) v.push_back(FromBits(sign | 0x7F800000u | payload));
  // Random bit patterns cover everything else (fp32 subnormals, huge values).
  std::mt19937 rng(12345);
  for (int i = 0; i < 200000; ++i) v.push_back(FromBits(static_cast<uint32_t>(rng())));
  return v;
}

void CheckEncode(const Format& f, EncodeFn encode, Isa isa, const std::vector<double>& table,
                 const std::vector<float>& probes) {
  std::vector<uint16_t> got(probes.size());
  encode(probes.data(), got.data(), probes.size(), isa);
  int bad = 0;
  std::string first;
  for (size_t i = 0; i < probes.size(); ++i) {
    const uint16_t want = EncodeRef(f, table, probes[i]);
    if (got[i] != want && bad++ == 0) {
      char b[120];
      std::snprintf(b, sizeof b, " -- first: %a (0x%08x) gave 0x%04x, want 0x%04x", probes[i], Bits(probes[i]), got[i], want);
      first = b;
    }
  }
  char msg[160];
  std::snprintf(msg, sizeof msg, "encode %s [%s] %zu probes (values, neighbours, midpoints, edges, NaN): RNE exact",
                f.name, sparq::cpu::IsaName(isa), probes.size());
  Check(bad == 0, std::string(msg) + (bad ? " -- " + std::to_string(bad) + " wrong" + first : ""));
}

// ------------------------------------------------------------ dense GEMM
struct DenseCase {
  int64_t m, n, k;
  bool bias;
};

uint16_t RandomF16NonZero(std::mt19937& rng, const std::vector<double>& table) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (;;) {
    const uint16_t h = EncodeRef(kF16, table, dist(rng));
    if ((h & 0x7FFF) != 0) return h;
  }
}

bool AmxRuns() { return sparq::cpu::HasAmxBf16() && sparq::cpu::amx::Built(); }

// The dense paths to test: every supported ISA, and AVX-512 twice where the CPU has AMX-BF16
// (the AVX-512 prefill, and the opt-in AMX one: SPARQ_DENSE_AMX=1).
struct DenseMode {
  Isa isa;
  bool amx;
  std::string name;
  // Sets SPARQ_DENSE_AMX for this mode (read by the driver at every call).
  void Select() const { setenv("SPARQ_DENSE_AMX", amx ? "1" : "0", 1); }
};

std::vector<DenseMode> DenseModes(const std::vector<Isa>& isas) {
  std::vector<DenseMode> modes;
  for (Isa isa : isas) {
    modes.push_back({isa, false, sparq::cpu::IsaName(isa)});
    if (isa == Isa::kAvx512 && AmxRuns()) modes.push_back({isa, true, "avx512+amx"});
  }
  if (!AmxRuns()) std::printf("SKIP dense [avx512+amx]: this CPU, OS or compiler has no AMX-BF16\n");
  return modes;
}

void CheckDense(const DenseCase& c, const std::vector<DenseMode>& modes, sparq::cpu::ThreadPool& pool,
                const std::vector<double>& f16_table, std::mt19937& rng) {
  if (!sparq_test::TakeCase()) return;
  std::vector<uint16_t> w(c.n * c.k), x(c.m * c.k), bias(c.n);
  for (auto& v : w) v = RandomF16NonZero(rng, f16_table);
  for (auto& v : x) v = RandomF16NonZero(rng, f16_table);
  for (auto& v : bias) v = RandomF16NonZero(rng, f16_table);
  std::vector<double> wd(w.size()), xd(x.size());
  for (size_t i = 0; i < w.size(); ++i) wd[i] = DecodeRef(kF16, w[i]);
  for (size_t i = 0; i < x.size(); ++i) xd[i] = DecodeRef(kF16, x[i]);
  std::vector<double> ref(c.m * c.n);
  double ref_norm2 = 0;
  for (int64_t i = 0; i < c.m; ++i)
    for (int64_t j = 0; j < c.n; ++j) {
      double s = c.bias ? DecodeRef(kF16, bias[j]) : 0.0;
      const double* xr = &xd[i * c.k];
      const double* wr = &wd[j * c.k];
      for (int64_t kk = 0; kk < c.k; ++kk) s += xr[kk] * wr[kk];
      ref[i * c.n + j] = s;
      ref_norm2 += s * s;
    }
  for (const DenseMode& mode : modes) {
    mode.Select();
    std::vector<uint16_t> y(c.m * c.n, 0x7E00);  // NaN poison: every element must be written
    sparq::DenseMatmulArgs args;
    args.w = w.data();
    args.x = x.data();
    args.bias = c.bias ? bias.data() : nullptr;
    args.y = y.data();
    args.m = c.m;
    args.n = c.n;
    args.k = c.k;
    sparq::cpu::DenseMatmulF16(args, mode.isa, pool);
    int64_t unwritten = 0;
    double err2 = 0;
    for (size_t i = 0; i < y.size(); ++i) {
      if (IsNanPattern(kF16, y[i])) {
        ++unwritten;
        continue;
      }
      const double d = DecodeRef(kF16, y[i]) - ref[i];
      err2 += d * d;
    }
    const double rel = ref_norm2 > 0 ? std::sqrt(err2 / ref_norm2) : std::sqrt(err2);
    char msg[200];
    std::snprintf(msg, sizeof msg, "dense [%s] m=%lld n=%lld k=%lld%s threads=%d: rel err %.2e <= 2e-3, all written%s",
                  mode.name.c_str(), static_cast<long long>(c.m), static_cast<long long>(c.n),
                  static_cast<long long>(c.k), c.bias ? " +bias" : "", pool.size(), rel,
                  unwritten ? (" -- " + std::to_string(unwritten) + " unwritten").c_str() : "");
    Check(unwritten == 0 && rel <= 2e-3, msg);
  }
}

// Random nonzero fp16 W [n][k] and X [m][k], and args over them (y and bias are the caller's).
struct DenseProblem {
  std::vector<uint16_t> w, x;
  sparq::DenseMatmulArgs args;
  DenseProblem(int64_t m, int64_t n, int64_t k, const std::vector<double>& f16_table, std::mt19937& rng)
      : w(size_t(n * k)), x(size_t(m * k)) {
    for (auto& v : w) v = RandomF16NonZero(rng, f16_table);
    for (auto& v : x) v = RandomF16NonZero(rng, f16_table);
    args.w = w.data();
    args.x = x.data();
    args.m = m;
    args.n = n;
    args.k = k;
  }
};

// The same inputs on 1 and 3 threads give the same bits (n is split, never k).
// m = 35: the AVX-512 prefill's last block of 3 tail rows; 37: AVX2's of 5.
void CheckDenseDeterministic(const DenseMode& mode, int64_t m, const std::vector<double>& f16_table, std::mt19937& rng) {
  mode.Select();
  const int64_t n = 301;
  DenseProblem prob(m, n, 513, f16_table, rng);
  sparq::DenseMatmulArgs& args = prob.args;
  std::vector<uint16_t> y1(m * n, 0x7E00), y3(m * n, 0x7E01);
  sparq::cpu::ThreadPool one(1), three(3);
  args.y = y1.data();
  sparq::cpu::DenseMatmulF16(args, mode.isa, one);
  args.y = y3.data();
  sparq::cpu::DenseMatmulF16(args, mode.isa, three);
  Check(y1 == y3, "dense [" + mode.name + "] m=" + std::to_string(m) + " n=301 k=513: 1 and 3 threads give identical bits");
}

// fp16 ulp at |v| (subnormals: 2^-24).
double UlpF16(double v) {
  const double a = std::fabs(v);
  if (a < std::ldexp(1.0, -14)) return std::ldexp(1.0, -24);
  return std::ldexp(1.0, std::ilogb(a) - 10);
}

// Each output against the float64 result: within half an fp16 ulp (the one rounding) plus the
// rounding of fp32 sums over k exact products (4·sqrt(k)·2^-24·Σ|x·w|, a statistical bound a fp32
// accumulation meets with margin). Where an input is ±inf or NaN the float64 sum says what the
// output is: NaN stays NaN, ±inf that inf. This is what "exact products, fp32 accumulation" means;
// the 2e-3 relative check above would let through a kernel that rounded W or X to bf16 (2^-9).
void CheckDenseExactness(const DenseMode& mode, int64_t m, const std::vector<double>& f16_table, std::mt19937& rng) {
  mode.Select();
  const int64_t n = 45, k = 300;
  DenseProblem prob(m, n, k, f16_table, rng);
  std::vector<uint16_t>& w = prob.w;
  std::vector<uint16_t>& x = prob.x;
  std::vector<uint16_t> bias(n);
  for (auto& v : bias) v = RandomF16NonZero(rng, f16_table);
  // Special values: x row 3 has +inf at k = 7; W row 5 a NaN whose payload is only in its lowest bit
  // (0x7C01: dropping fp32's low 16 bits would make it an infinity); W row 11 has −inf at k = 2
  // and X's last row a 0 there (inf·0 = NaN); a few subnormals and a −0.
  x[3 * k + 7] = 0x7C00;
  w[5 * k + 9] = 0x7C01;
  w[11 * k + 2] = 0xFC00;
  x[(m - 1) * k + 2] = 0x0000;
  x[1 * k + 4] = 0x0001;
  w[2 * k + 4] = 0x03FF;
  x[(m - 2) * k + 5] = 0x8000;
  // An inf at the start of the last row: past m = 16 it lies just past the end of the row before
  // it where the prefills' tail kernels read X's tail rows row after row, k apart (k = 300 is not
  // padded; its last k block, 44, ends in a partial 16-k and 8-k step), so a tail kernel reading
  // past k there turns that row's outputs to NaN.
  if (m > 16) x[(m - 1) * k + 1] = 0x7C00;
  int64_t bad = 0;
  std::string first;
  std::vector<uint16_t> y(m * n, 0x7E00);
  sparq::DenseMatmulArgs& args = prob.args;
  args.bias = bias.data();
  args.y = y.data();
  sparq::cpu::ThreadPool pool(2);
  sparq::cpu::DenseMatmulF16(args, mode.isa, pool);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = DecodeRef(kF16, bias[j]), mag = std::fabs(s);
      for (int64_t kk = 0; kk < k; ++kk) {
        const double xv = IsNanPattern(kF16, x[i * k + kk]) ? NAN : DecodeRef(kF16, x[i * k + kk]);
        const double wv = IsNanPattern(kF16, w[j * k + kk]) ? NAN : DecodeRef(kF16, w[j * k + kk]);
        s += xv * wv;
        mag += std::fabs(xv * wv);
      }
      const uint16_t got = y[i * n + j];
      bool ok;
      if (std::isnan(s)) {
        ok = IsNanPattern(kF16, got);
      } else if (std::isinf(s)) {
        ok = !IsNanPattern(kF16, got) && DecodeRef(kF16, got) == s;
      } else {
        const double g = IsNanPattern(kF16, got) ? NAN : DecodeRef(kF16, got);
        ok = std::fabs(g - s) <= 0.5 * UlpF16(std::max(std::fabs(s), std::fabs(g))) + 4 * std::sqrt(double(k)) * std::ldexp(mag, -24);
      }
      if (!ok && bad++ == 0) {
        char b[160];
        std::snprintf(b, sizeof b, " (first: y[%lld][%lld] = 0x%04x, float64 %.9g)", static_cast<long long>(i),
                      static_cast<long long>(j), got, s);
        first = b;
      }
    }
  Check(bad == 0, "dense [" + mode.name + "] m=" + std::to_string(m) + " n=45 k=300 with inf, NaN, 0, -0, subnormal inputs: each output within "
                  "half an fp16 ulp + fp32 sum rounding of float64, NaN and inf where float64 has them" +
                  (bad ? " -- " + std::to_string(bad) + " wrong" + first : ""));
}

// The AMX path is what ran: its sums are grouped differently from the AVX-512 path's, so on a large
// enough case some bits differ (both within the contract, checked above).
void CheckAmxRan(const std::vector<double>& f16_table, std::mt19937& rng) {
  if (!AmxRuns()) return;
  const int64_t m = 33, n = 64;
  DenseProblem prob(m, n, 1000, f16_table, rng);
  sparq::DenseMatmulArgs& args = prob.args;
  std::vector<uint16_t> y_amx(m * n, 0x7E00), y_avx(m * n, 0x7E01);
  sparq::cpu::ThreadPool pool(2);
  setenv("SPARQ_DENSE_AMX", "1", 1);
  args.y = y_amx.data();
  sparq::cpu::DenseMatmulF16(args, Isa::kAvx512, pool);
  setenv("SPARQ_DENSE_AMX", "0", 1);
  args.y = y_avx.data();
  sparq::cpu::DenseMatmulF16(args, Isa::kAvx512, pool);
  int64_t differ = 0;
  for (size_t i = 0; i < y_amx.size(); ++i) differ += y_amx[i] != y_avx[i];
  Check(differ > 0, "dense [avx512+amx] m=33 n=64 k=1000: SPARQ_DENSE_AMX switches the path (" + std::to_string(differ) +
                        " of " + std::to_string(y_amx.size()) + " outputs round differently from the AVX-512 path's)");
}

// ------------------------------------------------------------ thread pool and ISA
void CheckThreadPool(int threads) {
  sparq::cpu::ThreadPool pool(threads);
  Check(pool.size() == threads, "thread pool(" + std::to_string(threads) + "): size() == " + std::to_string(threads));
  for (int64_t n : {0, 1, 2, 3, 7, 1000, 100003}) {
    std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
    for (auto& h : hits) h = 0;
    pool.ParallelFor(n, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[i]++;
    });
    bool once = true;
    for (auto& h : hits) once = once && h == 1;
    Check(once, "thread pool(" + std::to_string(threads) + ") ParallelFor n=" + std::to_string(n) + ": every index exactly once");
  }
  bool caught = false;
  try {
    pool.ParallelFor(10, [&](int64_t b, int64_t) {
      if (b == 0) throw std::runtime_error("chunk failed");
    });
  } catch (const std::runtime_error& e) {
    caught = std::string(e.what()) == "chunk failed";
  }
  Check(caught, "thread pool(" + std::to_string(threads) + "): an exception in a chunk reaches the caller");
  std::atomic<int64_t> sum{0};
  for (int rep = 0; rep < 200; ++rep)
    pool.ParallelFor(5, [&](int64_t b, int64_t e) { sum += e - b; });
  Check(sum == 1000, "thread pool(" + std::to_string(threads) + "): 200 back-to-back jobs after an exception all complete");
  // A capped job runs on at most max_chunks threads (its seats), and jobs of every cap back to back
  // (seats left unclaimed, workers still asleep or still spinning from the job before) all finish
  // with every index once: the seat bookkeeping under TSan in the sanitizer builds.
  bool capped_ok = true, capped_once = true;
  for (int rep = 0; rep < 300; ++rep) {
    const int64_t cap = 1 + rep % (threads + 1);
    std::mutex mu;
    std::set<std::thread::id> ran_on;
    std::vector<std::atomic<int>> hits(64);
    for (auto& h : hits) h = 0;
    pool.ParallelFor(64, [&](int64_t b, int64_t e) {
      {
        std::lock_guard<std::mutex> lock(mu);
        ran_on.insert(std::this_thread::get_id());
      }
      for (int64_t i = b; i < e; ++i) hits[i]++;
    }, cap);
    capped_ok = capped_ok && int64_t(ran_on.size()) <= cap;
    for (auto& h : hits) capped_once = capped_once && h == 1;
  }
  Check(capped_ok && capped_once, "thread pool(" + std::to_string(threads) +
                                      "): 300 jobs capped at 1.." + std::to_string(threads + 1) +
                                      " chunks each ran on at most that many threads, every index once");
}

// The diagnostic switches: every documented value parsed from the environment, anything else the
// default, and an installed snapshot (an op's, taken on the JS thread) wins over the environment.
void CheckCpuSwitches() {
  using S = sparq::cpu::CpuSwitches;
  const char* names[] = {"SPARQ_SPARSE_SKIP", "SPARQ_SPARSE_EXPAND", "SPARQ_DENSE_AMX", "SPARQ_INT8_AMX", "SPARQ_W4A16_GEMV",
                         "SPARQ_W4A16_NO_AVXVNNI"};
  for (const char* n : names) unsetenv(n);
  S none = sparq::cpu::CpuSwitchesFromEnvironment();
  Check(none.sparse_skip == S::SparseSkip::kAuto && none.sparse_expand == S::SparseExpand::kAuto && !none.dense_amx &&
            !none.int8_vnni && none.w4a16_gemv == S::W4a16Gemv::kAuto && !none.w4a16_no_avxvnni,
        "cpu switches: none set, every one its default");
  const std::pair<const char*, S::SparseSkip> skips[] = {{"off", S::SparseSkip::kOff},       {"on", S::SparseSkip::kOn},
                                                         {"rows", S::SparseSkip::kRows},     {"lists", S::SparseSkip::kLists},
                                                         {"bitmap", S::SparseSkip::kBitmap}, {"lanes", S::SparseSkip::kLanes},
                                                         {"Rows", S::SparseSkip::kAuto},     {"rows ", S::SparseSkip::kAuto},
                                                         {"", S::SparseSkip::kAuto}};
  for (const auto& [v, want] : skips) {
    setenv("SPARQ_SPARSE_SKIP", v, 1);
    Check(sparq::cpu::CpuSwitchesFromEnvironment().sparse_skip == want, std::string("cpu switches: SPARQ_SPARSE_SKIP='") + v + "'");
  }
  unsetenv("SPARQ_SPARSE_SKIP");
  setenv("SPARQ_SPARSE_SKIPX", "off", 1);  // another variable whose name starts the same
  Check(sparq::cpu::CpuSwitchesFromEnvironment().sparse_skip == S::SparseSkip::kAuto, "cpu switches: SPARQ_SPARSE_SKIPX is not SPARQ_SPARSE_SKIP");
  unsetenv("SPARQ_SPARSE_SKIPX");
  setenv("SPARQ_SPARSE_EXPAND", "word", 1);
  setenv("SPARQ_DENSE_AMX", "on", 1);
  setenv("SPARQ_INT8_AMX", "0", 1);
  setenv("SPARQ_W4A16_GEMV", "vbmi", 1);
  setenv("SPARQ_W4A16_NO_AVXVNNI", "", 1);
  S set = sparq::cpu::CpuSwitchesFromEnvironment();
  Check(set.sparse_expand == S::SparseExpand::kWord && set.dense_amx && set.int8_vnni && set.w4a16_gemv == S::W4a16Gemv::kVbmi &&
            set.w4a16_no_avxvnni,
        "cpu switches: word, on, 0, vbmi and an empty NO_AVXVNNI all read");
  setenv("SPARQ_SPARSE_EXPAND", "float", 1);
  setenv("SPARQ_DENSE_AMX", "1", 1);
  setenv("SPARQ_INT8_AMX", "1", 1);
  setenv("SPARQ_W4A16_GEMV", "plain", 1);
  set = sparq::cpu::CpuSwitchesFromEnvironment();
  Check(set.sparse_expand == S::SparseExpand::kFloat && set.dense_amx && !set.int8_vnni && set.w4a16_gemv == S::W4a16Gemv::kPlain,
        "cpu switches: float, 1, 1 (AMX kept) and plain read");
  setenv("SPARQ_SPARSE_EXPAND", "bits", 1);
  Check(sparq::cpu::CpuSwitchesFromEnvironment().sparse_expand == S::SparseExpand::kBits, "cpu switches: SPARQ_SPARSE_EXPAND=bits read");
  setenv("SPARQ_SPARSE_EXPAND", "Bits", 1);
  Check(sparq::cpu::CpuSwitchesFromEnvironment().sparse_expand == S::SparseExpand::kAuto, "cpu switches: SPARQ_SPARSE_EXPAND=Bits is not bits");
  setenv("SPARQ_DENSE_AMX", "yes", 1);
  Check(!sparq::cpu::CpuSwitchesFromEnvironment().dense_amx, "cpu switches: SPARQ_DENSE_AMX=yes is not on");
  for (const char* n : names) unsetenv(n);
  // Installed: the snapshot, not the environment; nested scopes restore the outer one.
  setenv("SPARQ_SPARSE_SKIP", "off", 1);
  S rows;
  rows.sparse_skip = S::SparseSkip::kRows;
  S lanes;
  lanes.sparse_skip = S::SparseSkip::kLanes;
  bool inner_ok = false, outer_ok = false;
  {
    const sparq::cpu::ScopedCpuSwitches a(rows);
    {
      const sparq::cpu::ScopedCpuSwitches b(lanes);
      inner_ok = sparq::cpu::CurrentCpuSwitches().sparse_skip == S::SparseSkip::kLanes;
    }
    outer_ok = sparq::cpu::CurrentCpuSwitches().sparse_skip == S::SparseSkip::kRows;
    std::thread other([&] { outer_ok = outer_ok && sparq::cpu::CurrentCpuSwitches().sparse_skip == S::SparseSkip::kOff; });
    other.join();
  }
  Check(inner_ok && outer_ok, "cpu switches: an installed snapshot wins over the environment, on its own thread only, and nests");
  Check(sparq::cpu::CurrentCpuSwitches().sparse_skip == S::SparseSkip::kOff, "cpu switches: none installed, the environment again");
  unsetenv("SPARQ_SPARSE_SKIP");
}

void CheckIsa() {
  Isa best = sparq::cpu::BestSupportedIsa();
  std::printf("info: best ISA %s, threads %d\n", sparq::cpu::IsaName(best), sparq::cpu::DefaultThreadCount());
  Isa out = Isa::kScalar;
  Check(sparq::cpu::ResolveIsa(nullptr, &out).ok() && out == best, "ResolveIsa(null): best supported");
  Check(sparq::cpu::ResolveIsa("", &out).ok() && out == best, "ResolveIsa(\"\"): best supported");
  Check(sparq::cpu::ResolveIsa("scalar", &out).ok() && out == Isa::kScalar, "ResolveIsa(\"scalar\"): scalar");
  sparq::Status s = sparq::cpu::ResolveIsa("sse", &out);
  Check(s.code == sparq::StatusCode::kArgument && s.argument == "SPARQ_CPU_ISA" &&
            s.message == "SPARQ_CPU_ISA must be one of scalar, avx2, avx512, got \"sse\"",
        "ResolveIsa(\"sse\"): kArgument, message " + s.message);
  for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
    s = sparq::cpu::ResolveIsa(sparq::cpu::IsaName(isa), &out);
    const bool want_ok = sparq::cpu::IsaSupported(isa);
    Check(want_ok ? (s.ok() && out == isa) : (s.code == sparq::StatusCode::kBackend),
          std::string("ResolveIsa(\"") + sparq::cpu::IsaName(isa) + "\"): " + (want_ok ? "ok" : "kBackend: " + s.message));
  }
  Check(sparq::cpu::IsaSupported(Isa::kScalar), "scalar is always supported");
  // CpuFamily and the vendor (sparse dispatch rules key on them) against the kernel's own decoding
  // of CPUID in /proc/cpuinfo.
  if (FILE* f = std::fopen("/proc/cpuinfo", "r")) {
    char line[256];
    int family = -1;
    std::string vendor;
    while ((family < 0 || vendor.empty()) && std::fgets(line, sizeof line, f) != nullptr) {
      if (std::strncmp(line, "cpu family", 10) == 0) family = std::atoi(std::strchr(line, ':') + 1);
      if (std::strncmp(line, "vendor_id", 9) == 0) {
        vendor = std::strchr(line, ':') + 1;
        vendor.erase(0, vendor.find_first_not_of(" \t"));
        vendor.erase(vendor.find_last_not_of(" \t\n") + 1);
      }
    }
    std::fclose(f);
    if (family >= 0)
      Check(sparq::cpu::CpuFamily() == family, "CpuFamily() " + std::to_string(sparq::cpu::CpuFamily()) +
                                                   " equals /proc/cpuinfo's cpu family " + std::to_string(family));
    if (!vendor.empty()) {
      Check(sparq::cpu::IsAmdCpu() == (vendor == "AuthenticAMD"), "IsAmdCpu() agrees with vendor_id " + vendor);
      Check(sparq::cpu::IsIntelCpu() == (vendor == "GenuineIntel"), "IsIntelCpu() agrees with vendor_id " + vendor);
    }
  }
}

}  // namespace

// The drivers' per-call buffers (aligned_array.h, block_cache.cc): aligned, reused for the same
// size, a tiny request does not pin a large block, bounded per thread, freed at thread exit, and
// a request past any size gives std::bad_alloc.
void CheckBlockCache() {
  using sparq::cpu::AllocAligned;
  using sparq::cpu::ThisThreadBlockCache;
  std::thread([] {  // a fresh thread: its cache starts empty and is gone with it
    void* first = nullptr;
    void* small_block = nullptr;
    {
      auto a = AllocAligned<float>(100000);
      first = a.get();
      Check(reinterpret_cast<uintptr_t>(a.get()) % 64 == 0, "block cache: 64-byte aligned");
      std::memset(a.get(), 0x5A, 100000 * sizeof(float));  // writable to its end (ASan checks)
    }
    Check(ThisThreadBlockCache().blocks == 1 && ThisThreadBlockCache().bytes >= 400000,
          "block cache: a freed block is kept");
    {
      auto b = AllocAligned<float>(99000);  // within 2x: the same block again
      Check(b.get() == first, "block cache: a request of about the same size reuses it");
      Check(ThisThreadBlockCache().blocks == 0, "block cache: a block in use is not in the cache");
      auto c = AllocAligned<uint8_t>(1000);
      small_block = c.get();
      Check(c.get() != first, "block cache: two live blocks differ");
    }
    {
      auto tiny = AllocAligned<uint8_t>(64);  // cached now: the ~400 KB and ~1 KB blocks, both > 2x
      Check(tiny.get() != first && tiny.get() != small_block,
            "block cache: a tiny request takes neither cached block (both are over twice its size)");
    }
    std::vector<sparq::cpu::AlignedArray<uint8_t>> many;
    for (int i = 0; i < 12; ++i) many.push_back(AllocAligned<uint8_t>(int64_t(3) << 20));  // 36 MiB live
    many.clear();
    const auto held = ThisThreadBlockCache();
    Check(held.blocks <= 8 && held.bytes <= (size_t(16) << 20),
          "block cache: bounded (" + std::to_string(held.blocks) + " blocks, " + std::to_string(held.bytes) + " bytes)");
    {
      // From 4 MiB a block starts on a 2 MiB boundary (huge pages): the pointer is one header line past it.
      const int64_t bytes = (int64_t(5) << 20) + 3;
      auto h = AllocAligned<uint8_t>(bytes);
      Check((reinterpret_cast<uintptr_t>(h.get()) - 64) % (uintptr_t(2) << 20) == 0,
            "block cache: a block of 4 MiB or more starts on a 2 MiB boundary");
      std::memset(h.get(), 0x3C, size_t(bytes));  // writable to its end (ASan checks)
      auto s = AllocAligned<uint8_t>(int64_t(3) << 20);
      Check(reinterpret_cast<uintptr_t>(s.get()) % 64 == 0, "block cache: a 3 MiB block is 64-byte aligned");
    }
    { auto big = AllocAligned<uint8_t>(int64_t(40) << 20); big[0] = 1; }
    Check(ThisThreadBlockCache().bytes <= (size_t(16) << 20), "block cache: a block over the bound is not kept");
    // Sizes refused before any allocator sees them (ASan aborts on a merely huge one).
    int threw = 0;
    for (int64_t count : {std::numeric_limits<int64_t>::max(), int64_t(-1)}) {
      try {
        auto huge = AllocAligned<float>(count);
      } catch (const std::bad_alloc&) {
        ++threw;
      }
    }
    try {
      void* p = sparq::cpu::AcquireAlignedBlock(SIZE_MAX - 8);
      sparq::cpu::ReleaseAlignedBlock(p);
    } catch (const std::bad_alloc&) {
      ++threw;
    }
    Check(threw == 3, "block cache: an overflowing or negative size throws std::bad_alloc");
    auto poisoned = AllocAligned<float>(1000);
    poisoned[0] = 1.0f;  // still usable after a failed request
    Check(poisoned[0] == 1.0f, "block cache: usable after std::bad_alloc");
  }).join();
  // An op's output: taken on the JS thread, freed on the stream's worker. The freed block waits in
  // the shared cache and the taking thread's next request of that size gets it back.
  std::thread([] {
    void* first = nullptr;
    {
      auto a = AllocAligned<uint8_t>(777777);
      first = a.get();
      std::memset(a.get(), 0x11, 777777);
      std::thread([blk = std::move(a)]() mutable { blk.reset(); }).join();
    }
    Check(ThisThreadBlockCache().blocks == 0, "block cache: a block freed on another thread is not in this thread's cache");
    auto again = AllocAligned<uint8_t>(777777);
    Check(again.get() == first, "block cache: a block freed on another thread comes back to the next request of its size");
    std::memset(again.get(), 0x22, 777777);  // writable to its end (ASan checks)
  }).join();
}

int main() {
  CheckBlockCache();
  CheckIsa();
  CheckCpuSwitches();
  const std::vector<Isa> isas = SupportedIsas();
  const std::vector<double> f16_table = PositiveTable(kF16), bf16_table = PositiveTable(kBF16);
  const std::vector<float> f16_probes = EncodeProbes(kF16, f16_table), bf16_probes = EncodeProbes(kBF16, bf16_table);
  for (Isa isa : isas) {
    CheckDecodeAll(kF16, sparq::cpu::F16ToF32, isa);
    CheckDecodeAll(kBF16, sparq::cpu::BF16ToF32, isa);
    CheckEncode(kF16, sparq::cpu::F32ToF16, isa, f16_table, f16_probes);
    CheckEncode(kBF16, sparq::cpu::F32ToBF16, isa, bf16_table, bf16_probes);
  }
  CheckThreadPool(1);
  CheckThreadPool(3);
  CheckThreadPool(8);  // more workers than this box has cores: seats left to sleepers

  std::mt19937 rng(2024);
  std::vector<DenseCase> cases;
  const int64_t small[] = {1, 3, 17, 64, 129};
  int idx = 0;
  for (int64_t m : small)
    for (int64_t n : small)
      for (int64_t k : small) cases.push_back({m, n, k, (idx++ % 2) == 0});
  for (int64_t a : {1, 1000})  // every corner of the {1, 1000} cube
    for (int64_t b : {1, 1000})
      for (int64_t c : {1, 1000}) cases.push_back({a, b, c, (idx++ % 2) == 0});
  for (int64_t other : {3, 17, 129}) {  // 1000 in one dimension against the middle sizes
    cases.push_back({1000, other, other, true});
    cases.push_back({other, 1000, other, false});
    cases.push_back({other, other, 1000, true});
  }
  for (int64_t m : {2, 4, 5, 8, 12, 13, 16, 32, 48, 80})  // each side of the GEMV and tile-shape switches
    cases.push_back({m, 200, 300, (m % 2) == 0});
  for (int64_t m : {6, 7, 9})  // the two-pass GEMV's second passes (AVX-512: m <= 8), the first m past it
    cases.push_back({m, 203, 301, (m % 2) == 0});
  for (int64_t m = 17; m <= 31; ++m)  // a tail of 1–15 rows past 16 (AVX2: <= 8 on one ymm)
    cases.push_back({m, 203, 301, (m % 2) == 1});
  for (int64_t m : {34, 35, 50})  // AVX-512 past the in-place rows: a last block of 2, 3, 2 rows (the tail kernel)
    cases.push_back({m, 203, 301, (m % 2) == 1});
  // AVX-512's filled panels in each form (PanelKGroup): quads at 36, 41, 44 (a last block of 4, 9,
  // 12 rows), pairs at 40, 45, 52 (8, 13 rows; 4 rows after 3 whole blocks: one zmm of 8)
  for (int64_t m : {36, 40, 41, 44, 45, 52}) cases.push_back({m, 203, 301, (m % 2) == 0});
  for (int64_t m : {17, 19})  // k = 277: a last k block of 21, an odd count of 8-k steps (AVX2's one-row tail alternates sets)
    cases.push_back({m, 67, 277, m == 17});
  sparq::cpu::ThreadPool pool1(1), pool3(3);
  const std::vector<DenseMode> modes = DenseModes(isas);
  for (size_t i = 0; i < cases.size(); ++i) CheckDense(cases[i], modes, i % 2 ? pool1 : pool3, f16_table, rng);
  for (const DenseMode& mode : modes) {
    for (int64_t m : {35, 37, 44}) CheckDenseDeterministic(mode, m, f16_table, rng);
    // the GEMV; the prefill (17–19, 34, 35: its tail kernels, each ISA's; 36, 44 quads and 40, 45
    // pairs over AVX-512's filled panels)
    for (int64_t m : {5, 17, 18, 19, 21, 24, 25, 34, 35, 36, 40, 44, 45}) CheckDenseExactness(mode, m, f16_table, rng);
  }
  CheckAmxRan(f16_table, rng);
  unsetenv("SPARQ_DENSE_AMX");

  sparq_test::PrintShard();
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
