// native/tests/int8_cpu_test.cc: the LLM.int8() CPU backend against a reference of the whole
// contract (sparq/int8.h, DESIGN.md "int8") written here independently of the library: its own
// weight quantizer, outlier detection, rowStat, CA, int64 accumulation and the fp32 steps spelled
// out (std::fma where the contract says fma), fp16 via the compiler's _Float16, RNE by hand.
// Checks codes, the kCpu packing, every integer kernel's accumulators, every outlier-term kernel,
// and Y bits — for every kernel
// this CPU runs (scalar, avx2, avx512bw, avx512vnni, each forced through Int8MatmulCpu, plus the
// context ISAs through cpu_ops::Int8Matmul) and several thread counts.
// Prints one line per check, then "N passed, M failed"; exits 0 only when M == 0.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cpu/int8_cpu.h"
#include "sparq/cpu.h"
#include "sparq/cpu_ops.h"
#include "sparq/int8.h"
#include "test_shard.h"

using sparq::Int8Layout;
using sparq::Int8MatmulArgs;
using sparq::Int8Packed;
using sparq::Status;
using sparq::StatusCode;
using sparq::cpu::Isa;
using sparq::cpu::ThreadPool;
using sparq::cpu::int8::Kernel;

namespace {

int g_passed = 0, g_failed = 0;
void Check(bool ok, const std::string& what) {
  std::printf("%s %s\n", ok ? "PASS" : "FAIL", what.c_str());
  (ok ? g_passed : g_failed)++;
}

// CA + 128 as u8: the VNNI kernel's activation operand (int8_cpu.h), made by the driver in the op.
std::vector<uint8_t> Biased(const std::vector<int8_t>& ca) {
  std::vector<uint8_t> out(ca.size());
  for (size_t i = 0; i < ca.size(); ++i) out[i] = uint8_t(uint8_t(ca[i]) ^ 0x80u);
  return out;
}

std::mt19937_64 g_rng(20241130);

// ------------------------------------------------------------------ fp16 via _Float16 (RNE)
uint16_t H(float f) {
  _Float16 h = static_cast<_Float16>(f);
  uint16_t b;
  std::memcpy(&b, &h, 2);
  return b;
}
float F(uint16_t b) {
  _Float16 h;
  std::memcpy(&h, &b, 2);
  return static_cast<float>(h);
}
constexpr uint16_t kNanBits = 0x7e00;
constexpr int32_t kSentinel = -7;

std::vector<uint16_t> RandomHalves(size_t count, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<uint16_t> v(count);
  for (auto& h : v) {
    float f = d(g_rng);
    if (H(f) == H(0.0f) || H(f) == H(-0.0f)) f = 0.25f;  // never zeros
    h = H(f);
  }
  return v;
}

// ------------------------------------------------------------------ the reference
// Round half to even of |v| ≤ 128, by hand.
float RneRef(float v) {
  float fl = std::floor(v);
  const float d = v - fl;  // exact for |v| ≤ 128
  if (d > 0.5f || (d == 0.5f && std::fmod(fl, 2.0f) != 0.0f)) fl += 1.0f;
  return fl;
}

struct RefWeights {
  std::vector<int8_t> cb;  // [n][k]
  std::vector<float> scb;  // [n]
};
RefWeights QuantizeWeightsRef(const std::vector<uint16_t>& w, int64_t n, int64_t k) {
  RefWeights r;
  r.cb.assign(size_t(n * k), 0);
  r.scb.assign(size_t(n), 0.0f);
  for (int64_t j = 0; j < n; ++j) {
    float mx = 0.0f;
    for (int64_t c = 0; c < k; ++c) mx = std::max(mx, std::fabs(F(w[size_t(j * k + c)])));
    r.scb[size_t(j)] = mx;
    if (mx == 0.0f) continue;
    for (int64_t c = 0; c < k; ++c) {
      const float scaled = F(w[size_t(j * k + c)]) * 127.0f;
      const float q = scaled / mx;
      r.cb[size_t(j * k + c)] = int8_t(RneRef(q));
    }
  }
  return r;
}

struct RefResult {
  std::vector<int32_t> outliers;  // O, increasing
  std::vector<float> row_stat;    // [m]
  std::vector<int8_t> ca;         // [m][k]
  std::vector<int64_t> acc;       // [m][n]
  std::vector<uint16_t> y;        // [m][n]
};
RefResult MatmulRef(const std::vector<uint16_t>& x, int64_t m, int64_t k, float threshold, const RefWeights& w,
                    int64_t n, const uint16_t* bias) {
  RefResult r;
  std::vector<bool> is_out(size_t(k), false);
  if (threshold > 0.0f)
    for (int64_t c = 0; c < k; ++c) {
      for (int64_t i = 0; i < m; ++i)
        if (std::fabs(F(x[size_t(i * k + c)])) >= threshold) is_out[size_t(c)] = true;
      if (is_out[size_t(c)]) r.outliers.push_back(int32_t(c));
    }
  r.row_stat.assign(size_t(m), 0.0f);
  r.ca.assign(size_t(m * k), 0);
  for (int64_t i = 0; i < m; ++i) {
    float s = 0.0f;
    for (int64_t c = 0; c < k; ++c)
      if (!is_out[size_t(c)]) s = std::max(s, std::fabs(F(x[size_t(i * k + c)])));
    r.row_stat[size_t(i)] = s;
    if (s == 0.0f) continue;
    for (int64_t c = 0; c < k; ++c) {
      if (is_out[size_t(c)]) continue;
      const float scaled = F(x[size_t(i * k + c)]) * 127.0f;
      r.ca[size_t(i * k + c)] = int8_t(RneRef(scaled / s));
    }
  }
  r.acc.assign(size_t(m * n), 0);
  r.y.assign(size_t(m * n), 0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      int64_t acc = 0;
      for (int64_t c = 0; c < k; ++c) acc += int64_t(r.ca[size_t(i * k + c)]) * int64_t(w.cb[size_t(j * k + c)]);
      r.acc[size_t(i * n + j)] = acc;
      const float scb = w.scb[size_t(j)];
      const float a = float(acc), b = a * r.row_stat[size_t(i)], cc = b * scb, t = cc / 16129.0f;
      float o = 0.0f;
      for (int32_t c : r.outliers) {
        const float prod = float(w.cb[size_t(j * k + c)]) * scb;
        o = std::fma(F(x[size_t(i * k + c)]), prod / 127.0f, o);
      }
      float v = t + o;
      if (bias != nullptr) v = v + F(bias[j]);
      r.y[size_t(i * n + j)] = H(v);
    }
  return r;
}

// ------------------------------------------------------------------ kernels and pools
std::vector<Kernel> SupportedKernels() {
  std::vector<Kernel> out;
  for (Kernel k : {Kernel::kScalar, Kernel::kAvx2, Kernel::kAvx512Bw, Kernel::kAvx512Vnni, Kernel::kAmx})
    if (sparq::cpu::int8::KernelSupported(k)) out.push_back(k);
  return out;
}
std::vector<Isa> SupportedIsas() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512})
    if (sparq::cpu::IsaSupported(isa)) out.push_back(isa);
  return out;
}
sparq::cpu::int8::AccFn AccOf(Kernel k) {
  switch (k) {
    case Kernel::kScalar: return &sparq::cpu::int8::scalar::Acc;
    case Kernel::kAvx2: return &sparq::cpu::int8::avx2::Acc;
    case Kernel::kAvx512Bw: return &sparq::cpu::int8::avx512::AccBw;
    case Kernel::kAvx512Vnni: return &sparq::cpu::int8::avx512::AccVnni;
    case Kernel::kAmx: return &sparq::cpu::int8::amx::Acc;
  }
  return nullptr;
}

sparq::cpu::int8::OutlierFn OutlierOf(Kernel k) {
  switch (k) {
    case Kernel::kScalar: return &sparq::cpu::int8::scalar::Outlier;
    case Kernel::kAvx2: return &sparq::cpu::int8::avx2::Outlier;
    case Kernel::kAvx512Bw:
    case Kernel::kAvx512Vnni:
    case Kernel::kAmx: return &sparq::cpu::int8::avx512::Outlier;
  }
  return nullptr;
}

struct Pools {
  ThreadPool p1{1}, p2{2}, p3{3}, p7{7};
  std::vector<std::pair<int, ThreadPool*>> all() { return {{1, &p1}, {2, &p2}, {3, &p3}, {7, &p7}}; }
};

// ------------------------------------------------------------------ one case
struct Case {
  std::string name;
  int64_t m = 1, n = 1, k = 1;
  float threshold = 0.0f;
  std::vector<uint16_t> x, w, bias;  // bias empty: none
  // Expectations beyond the reference's: columns that must (not) be outliers; -1 = every column.
  std::vector<int32_t> must_out, must_not_out;
  bool all_outliers = false;
};

std::string Where(const Case& c) {
  return c.name + " m=" + std::to_string(c.m) + " n=" + std::to_string(c.n) + " k=" + std::to_string(c.k) +
         " t=" + std::to_string(c.threshold) + (c.bias.empty() ? "" : " +bias");
}

// First difference of y against the reference, "" when identical.
std::string CompareY(const std::vector<uint16_t>& y, const RefResult& ref, int64_t n) {
  for (size_t e = 0; e < y.size(); ++e)
    if (y[e] != ref.y[e]) {
      char buf[160];
      std::snprintf(buf, sizeof buf, " (y[%lld][%lld] = 0x%04x, ref 0x%04x = %g, acc %lld)", (long long)(e / n),
                    (long long)(e % n), y[e], ref.y[e], double(F(ref.y[e])), (long long)ref.acc[e]);
      return buf;
    }
  return "";
}
bool OutliersMatch(const std::vector<int32_t>& cols, const RefResult& ref) {
  if (cols[0] != int32_t(ref.outliers.size())) return false;
  for (size_t c = 0; c < ref.outliers.size(); ++c)
    if (cols[1 + c] != ref.outliers[c]) return false;
  for (size_t c = 1 + ref.outliers.size(); c < cols.size(); ++c)
    if (cols[c] != kSentinel) return false;  // entries past |O| are left as they were
  return true;
}

void RunCase(const Case& c, Pools& pools) {
  if (!sparq_test::TakeCase()) return;
  const std::string where = Where(c);
  // Weights: library quantizer vs the reference, then the kCpu packing.
  std::vector<int8_t> codes;
  std::vector<float> scb;
  Status st = sparq::Int8QuantizeWeights(c.w.data(), c.n, c.k, &codes, &scb);
  const RefWeights rw = QuantizeWeightsRef(c.w, c.n, c.k);
  bool same_scb = scb.size() == rw.scb.size();
  for (size_t j = 0; same_scb && j < scb.size(); ++j)
    same_scb = std::memcmp(&scb[j], &rw.scb[j], 4) == 0;
  Check(st.ok() && codes == rw.cb && same_scb, "int8 quantize codes+scb = reference: " + where);
  Int8Packed pk;
  st = sparq::Int8Pack(rw.cb.data(), rw.scb.data(), c.n, c.k, Int8Layout::kCpu, &pk);
  bool layout_ok = st.ok() && pk.layout == Int8Layout::kCpu && pk.n_pad == (c.n + 3) / 4 * 4 &&
                   pk.k_pad == (c.k + 63) / 64 * 64 && pk.codes.size() == size_t(pk.n_pad * pk.k_pad) &&
                   pk.scb.size() == size_t(pk.n_pad) && pk.row_sums.size() == size_t(pk.n_pad);
  for (int64_t j = 0; layout_ok && j < pk.n_pad; ++j) {
    int64_t sum = 0;
    for (int64_t cc = 0; cc < pk.k_pad; ++cc) {
      const int8_t want = (j < c.n && cc < c.k) ? rw.cb[size_t(j * c.k + cc)] : int8_t(0);
      layout_ok = layout_ok && pk.codes[size_t(j * pk.k_pad + cc)] == want;
      sum += want;
    }
    const float want_scb = j < c.n ? rw.scb[size_t(j)] : 0.0f;
    layout_ok = layout_ok && std::memcmp(&pk.scb[size_t(j)], &want_scb, 4) == 0 && pk.row_sums[size_t(j)] == sum;
  }
  Check(layout_ok, "int8 kCpu packing (codes, zero padding, scb, row_sums): " + where);
  if (!layout_ok) return;

  const uint16_t* bias = c.bias.empty() ? nullptr : c.bias.data();
  const RefResult ref = MatmulRef(c.x, c.m, c.k, c.threshold, rw, c.n, bias);
  if (!c.must_out.empty() || !c.must_not_out.empty() || c.all_outliers) {
    bool ok = !c.all_outliers || int64_t(ref.outliers.size()) == c.k;
    for (int32_t col : c.must_out) ok = ok && std::count(ref.outliers.begin(), ref.outliers.end(), col) == 1;
    for (int32_t col : c.must_not_out) ok = ok && std::count(ref.outliers.begin(), ref.outliers.end(), col) == 0;
    Check(ok, "int8 reference outlier set as planted: " + where);
  }

  // Accumulators of every kernel on the reference CA (padded to k_pad) and the packed codes.
  std::vector<int8_t> ca_pad(size_t(c.m * pk.k_pad), 0);
  for (int64_t i = 0; i < c.m; ++i) std::copy_n(&ref.ca[size_t(i * c.k)], c.k, &ca_pad[size_t(i * pk.k_pad)]);
  for (Kernel kern : SupportedKernels()) {
    std::vector<int32_t> acc(size_t(c.m * pk.n_pad), int32_t(0x5a5a5a5a));
    const std::vector<uint8_t> ca_biased = Biased(ca_pad);
    sparq::cpu::int8::AccTile t;
    t.ca = ca_pad.data();
    t.ca_biased = ca_biased.data();
    t.cb = pk.codes.data();
    t.row_sums = pk.row_sums.data();
    t.k_pad = pk.k_pad;
    t.rows = c.m;
    t.cols = pk.n_pad;
    t.acc = acc.data();
    t.ld_acc = pk.n_pad;
    AccOf(kern)(t);
    bool ok = true;
    for (int64_t i = 0; ok && i < c.m; ++i)
      for (int64_t j = 0; ok && j < c.n; ++j) ok = int64_t(acc[size_t(i * pk.n_pad + j)]) == ref.acc[size_t(i * c.n + j)];
    for (int64_t i = 0; ok && i < c.m; ++i)
      for (int64_t j = c.n; ok && j < pk.n_pad; ++j) ok = acc[size_t(i * pk.n_pad + j)] == 0;
    Check(ok, std::string("int8 acc [") + sparq::cpu::int8::KernelName(kern) + "] = int64 reference: " + where);
  }

  // The op: every kernel forced, every pool; then the context ISAs through cpu_ops.
  Int8MatmulArgs a;
  a.weight = pk.view();
  a.x = c.x.data();
  a.bias = bias;
  a.m = c.m;
  a.threshold = c.threshold;
  std::vector<uint16_t> y(size_t(c.m * c.n));
  std::vector<int32_t> cols(size_t(c.k + 1));
  auto poison = [&] {
    std::fill(y.begin(), y.end(), kNanBits);
    std::fill(cols.begin(), cols.end(), kSentinel);
    a.y = y.data();
    a.outlier_cols = cols.data();
  };
  for (Kernel kern : SupportedKernels()) {
    std::string diff;
    bool cols_ok = true, st_ok = true;
    for (auto& [threads, pool] : pools.all()) {
      poison();
      st = sparq::cpu::int8::Int8MatmulCpu(a, kern, *pool);
      st_ok = st_ok && st.ok();
      const std::string d = CompareY(y, ref, c.n);
      if (diff.empty() && !d.empty()) diff = " threads=" + std::to_string(threads) + d;
      cols_ok = cols_ok && OutliersMatch(cols, ref);
    }
    Check(st_ok && diff.empty(), std::string("int8.matmul [cpu ") + sparq::cpu::int8::KernelName(kern) +
                                     ", threads 1/2/3/7] Y bits = reference: " + where + diff);
    Check(cols_ok, std::string("int8.matmul [cpu ") + sparq::cpu::int8::KernelName(kern) +
                       "] outlier_cols = reference (" + std::to_string(ref.outliers.size()) + " columns): " + where);
  }
  for (Isa isa : SupportedIsas()) {
    poison();
    sparq::LaunchInfo info;
    st = sparq::cpu_ops::Int8Matmul(a, sparq::cpu::Exec{isa, &pools.p2}, &info);
    Check(st.ok() && CompareY(y, ref, c.n).empty() && OutliersMatch(cols, ref),
          std::string("cpu_ops::Int8Matmul [isa ") + sparq::cpu::IsaName(isa) + " → " +
              sparq::cpu::int8::KernelName(sparq::cpu::int8::KernelFor(int(isa))) + "] = reference: " + where);
  }
}

// ------------------------------------------------------------------ case builders
// Random X in [-2, 2] and W in [-1, 1] (never zeros), bias in [-1, 1].
Case RandomCase(const std::string& name, int64_t m, int64_t n, int64_t k, float threshold, bool with_bias) {
  Case c;
  c.name = name;
  c.m = m;
  c.n = n;
  c.k = k;
  c.threshold = threshold;
  c.x = RandomHalves(size_t(m * k), -2.0f, 2.0f);
  c.w = RandomHalves(size_t(n * k), -1.0f, 1.0f);
  if (with_bias) c.bias = RandomHalves(size_t(n), -1.0f, 1.0f);
  return c;
}

// A few columns of X scaled ×20–60 (LLM.int8()'s emergent features); returns those the plant
// pushed to |x| ≥ 6 in some row (a small entry × 20 may stay below).
std::vector<int32_t> PlantOutlierColumns(Case& c, int count) {
  std::vector<int32_t> planted;
  std::uniform_int_distribution<int64_t> col(0, c.k - 1);
  std::uniform_real_distribution<float> factor(20.0f, 60.0f);
  for (int p = 0; p < count && int64_t(planted.size()) < c.k; ++p) {
    const int32_t cc = int32_t(col(g_rng));
    if (std::count(planted.begin(), planted.end(), cc)) continue;
    planted.push_back(cc);
    const float f = factor(g_rng);
    for (int64_t i = 0; i < c.m; ++i) c.x[size_t(i * c.k + cc)] = H(F(c.x[size_t(i * c.k + cc)]) * f);
  }
  std::vector<int32_t> crossing;
  for (int32_t cc : planted)
    for (int64_t i = 0; i < c.m; ++i)
      if (std::fabs(F(c.x[size_t(i * c.k + cc)])) >= 6.0f) {
        crossing.push_back(cc);
        break;
      }
  return crossing;
}

void ZeroXRow(Case& c, int64_t i) {
  for (int64_t cc = 0; cc < c.k; ++cc) c.x[size_t(i * c.k + cc)] = (cc % 2) ? H(-0.0f) : H(0.0f);
}
void ZeroWRow(Case& c, int64_t j) {
  for (int64_t cc = 0; cc < c.k; ++cc) c.w[size_t(j * c.k + cc)] = (cc % 3) ? H(0.0f) : H(-0.0f);
}

void CheckGrid(Pools& pools) {
  struct Shape { int64_t n, k; };
  // {10, 2100}: k_pad 2112 cuts m into row blocks of 32 (one VNNI panel pair, whole k), so m = 33,
  // 64 and 100 also run several panel tiles and a dot-form tile of the rows left over.
  const Shape shapes[] = {{1, 1}, {5, 499}, {67, 130}, {13, 64}, {36, 257}, {10, 2100}};
  int variant = 0;
  // (17–31: the VNNI kernel's 16-row panels and a tail of up to 8 rows on the dot form, or a
  // padded second panel past 8)
  for (int64_t m : {1, 8, 17, 24, 25, 31, 33, 64, 100})
    for (const Shape& s : shapes) {
      const bool with_bias = (variant++ % 2) == 0;
      RunCase(RandomCase("random", m, s.n, s.k, 0.0f, with_bias), pools);
      Case c = RandomCase("planted", m, s.n, s.k, 6.0f, !with_bias);
      if (s.k >= 4) c.must_out = PlantOutlierColumns(c, 3);
      if (m > 2) ZeroXRow(c, m / 2);
      if (s.n > 2) ZeroWRow(c, s.n - 2);
      RunCase(c, pools);
    }
  // Decode sizes (m ≤ 4) at a k where W blocks grow past kBlockBytes' rows (int8_cpu.cc
  // kDecodeColBlock): 598 W rows (n_pad 600) in blocks of 128 rows on 1 thread, 72 on 2, 48 on 3,
  // the default 28 on 7; the last block shorter, the dot form's far-apart rows a quarter of each.
  for (int64_t m : {1, 3, 4}) {
    Case c = RandomCase("decode", m, 598, 4100, m == 3 ? 6.0f : 0.0f, m == 3);
    if (m == 3) c.must_out = PlantOutlierColumns(c, 2);
    RunCase(c, pools);
  }
  // The VNNI panel kernel's k-blocked form (k_pad 4224 > kPanelWholeKMax: four 1 KiB k blocks and
  // a 128-byte one) in its tiles: m = 133 is a 128-row tile of panels (4 pairs) and a 5-row
  // dot-form tile after it; n_pad 52 one 48-row W tile and a 4-row one. (The grid runs the whole-k
  // form: pairs, a single panel, pad lanes.)
  RunCase(RandomCase("random", 133, 50, 4200, 0.0f, true), pools);
  {
    Case c = RandomCase("planted", 133, 50, 4200, 6.0f, false);
    c.must_out = PlantOutlierColumns(c, 3);
    ZeroXRow(c, 130);
    ZeroWRow(c, 49);
    RunCase(c, pools);
  }
}

void CheckSpecialCases(Pools& pools) {
  // Every column an outlier (X never zero; every nonzero fp16 is ≥ 2⁻²⁴ > 5e-8): rowStat 0, CA all
  // 0, Y from the outlier term alone.
  for (int64_t m : {1, 8}) {
    Case c = RandomCase("all-outliers", m, 9, 70, 5e-8f, true);
    c.all_outliers = true;
    RunCase(c, pools);
  }
  // A value exactly at the threshold is an outlier; the fp16 just below it is not.
  {
    Case c = RandomCase("at-threshold", 5, 11, 100, 6.0f, false);
    c.x[size_t(2 * c.k + 17)] = H(6.0f);
    c.x[size_t(3 * c.k + 40)] = H(-6.0f);
    c.x[size_t(1 * c.k + 63)] = uint16_t(H(6.0f) - 1);  // 5.996…, largest fp16 below 6
    c.must_out = {17, 40};
    c.must_not_out = {63};
    RunCase(c, pools);
  }
  // Rounding ties: rowStat = SCB = 127, so CA = rne(x) and CB = rne(w) exactly; halves go to even.
  {
    Case c = RandomCase("rne-ties", 3, 6, 8, 0.0f, true);
    const float ties[] = {127.0f, 2.5f, 3.5f, -2.5f, 0.5f, 1.5f, -0.5f, 126.5f};
    for (int64_t i = 0; i < c.m; ++i)
      for (int64_t cc = 0; cc < c.k; ++cc) c.x[size_t(i * c.k + cc)] = H(ties[(cc + i) % 8]);
    for (int64_t j = 0; j < c.n; ++j)
      for (int64_t cc = 0; cc < c.k; ++cc) c.w[size_t(j * c.k + cc)] = H(ties[(cc + 2 * j) % 8]);
    RunCase(c, pools);
  }
  // Zero rows everywhere: all of X zero (rowStat 0) and all of W zero (SCB 0), with bias.
  {
    Case c = RandomCase("zero-x", 4, 7, 65, 6.0f, true);
    for (int64_t i = 0; i < c.m; ++i) ZeroXRow(c, i);
    RunCase(c, pools);
    Case d = RandomCase("zero-w", 4, 7, 65, 0.0f, true);
    for (int64_t j = 0; j < d.n; ++j) ZeroWRow(d, j);
    RunCase(d, pools);
  }
  // Several row and column blocks of the driver (k_pad 4160: 31-row CA blocks, 28-row W blocks),
  // and a wide n for the thread split.
  {
    Case c = RandomCase("blocks", 64, 67, 4099, 6.0f, true);
    c.must_out = PlantOutlierColumns(c, 4);
    RunCase(c, pools);
    RunCase(RandomCase("wide", 3, 1027, 96, 0.0f, false), pools);
  }
}

// The extreme accumulators at k = kMaxK: |acc| = 127·128·2¹⁷ = 2 130 706 432 (the VNNI biased sum
// wraps past 2³¹ and must come back exact).
void CheckExtremeAcc(Pools& pools) {
  const int64_t k = sparq::int8::kMaxK, n = 4;
  std::vector<int8_t> codes(size_t(n * k));
  std::vector<float> scb(size_t(n), 0.25f);
  for (int64_t c = 0; c < k; ++c) {
    codes[size_t(0 * k + c)] = -128;
    codes[size_t(1 * k + c)] = 127;
    codes[size_t(2 * k + c)] = int8_t(c % 2 ? -128 : 127);
    codes[size_t(3 * k + c)] = int8_t(c % 256 - 128);
  }
  Int8Packed pk;
  Status st = sparq::Int8Pack(codes.data(), scb.data(), n, k, Int8Layout::kCpu, &pk);
  Check(st.ok(), "int8 pack at k = kMaxK");
  if (!st.ok()) return;
  for (int sign : {1, -1}) {
    std::vector<int8_t> ca(size_t(k), int8_t(127 * sign));
    std::vector<int64_t> want(n, 0);
    for (int64_t j = 0; j < n; ++j)
      for (int64_t c = 0; c < k; ++c) want[size_t(j)] += int64_t(ca[size_t(c)]) * codes[size_t(j * k + c)];
    for (Kernel kern : SupportedKernels()) {
      std::vector<int32_t> acc(size_t(n), 0);
      const std::vector<uint8_t> ca_biased = Biased(ca);
      sparq::cpu::int8::AccTile t;
      t.ca = ca.data();
      t.ca_biased = ca_biased.data();
      t.cb = pk.codes.data();
      t.row_sums = pk.row_sums.data();
      t.k_pad = pk.k_pad;
      t.rows = 1;
      t.cols = n;
      t.acc = acc.data();
      t.ld_acc = n;
      AccOf(kern)(t);
      bool ok = true;
      for (int64_t j = 0; j < n; ++j) ok = ok && int64_t(acc[size_t(j)]) == want[size_t(j)];
      Check(ok, std::string("int8 acc [") + sparq::cpu::int8::KernelName(kern) + "] extreme at k = 2^17, CA = " +
                    std::to_string(127 * sign) + " (acc[0] = " + std::to_string(acc[0]) + ", want " +
                    std::to_string(want[0]) + ")");
    }
  }
  // The same through the op: X rows constant (CA = 127, then −127, everywhere), no outliers; Y
  // stays finite (|t| ≤ 2.2e9 · 0.5 · 0.25 / 16129).
  Case c;
  c.name = "extreme";
  c.m = 2;
  c.n = n;
  c.k = k;
  RefWeights rw{codes, scb};
  c.x.assign(size_t(c.m * k), H(0.5f));
  for (int64_t cc = 0; cc < k; ++cc) c.x[size_t(k + cc)] = H(-0.25f);
  const RefResult ref = MatmulRef(c.x, c.m, k, 0.0f, rw, n, nullptr);
  std::vector<uint16_t> y(size_t(c.m * n));
  std::vector<int32_t> cols(size_t(k + 1), kSentinel);
  Int8MatmulArgs a;
  a.weight = pk.view();
  a.x = c.x.data();
  a.y = y.data();
  a.outlier_cols = cols.data();
  a.m = c.m;
  for (Kernel kern : SupportedKernels()) {
    std::fill(y.begin(), y.end(), kNanBits);
    st = sparq::cpu::int8::Int8MatmulCpu(a, kern, pools.p2);
    Check(st.ok() && CompareY(y, ref, n).empty() && cols[0] == 0 && cols[1] == kSentinel,
          std::string("int8.matmul [cpu ") + sparq::cpu::int8::KernelName(kern) + "] extreme k = 2^17" +
              CompareY(y, ref, n));
  }
}

// A panel-kernel case: CA [rows][k_pad] and CB [cols][k_pad] with the driver's operands made from
// them (row sums, CA + 128, panels by MakePanel per 16 rows) and the int64 sums to meet.
struct PanelCase {
  int64_t rows = 0, cols = 0, k_pad = 0, rows_pad = 0;
  std::vector<int8_t> ca, cb;
  std::vector<int32_t> row_sums;
  std::vector<uint8_t> biased, panel;
  std::vector<int64_t> want;  // [rows][cols]
};
PanelCase MakePanelCase(std::vector<int8_t> ca, std::vector<int8_t> cb, int64_t rows, int64_t cols, int64_t k_pad) {
  PanelCase c;
  c.rows = rows;
  c.cols = cols;
  c.k_pad = k_pad;
  c.rows_pad = (rows + 15) / 16 * 16;
  c.ca = std::move(ca);
  c.cb = std::move(cb);
  c.row_sums.assign(size_t(cols), 0);
  for (int64_t j = 0; j < cols; ++j)
    for (int64_t k = 0; k < k_pad; ++k) c.row_sums[size_t(j)] += c.cb[size_t(j * k_pad + k)];
  c.biased.resize(size_t(rows * k_pad));
  c.panel.resize(size_t(c.rows_pad * k_pad));
  for (int64_t r0 = 0; r0 < rows; r0 += 16)
    sparq::cpu::int8::avx512::MakePanel(c.ca.data() + r0 * k_pad, std::min<int64_t>(16, rows - r0), k_pad,
                                        c.biased.data() + r0 * k_pad, c.panel.data() + r0 * k_pad);
  c.want.assign(size_t(rows * cols), 0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j)
      for (int64_t k = 0; k < k_pad; ++k)
        c.want[size_t(r * cols + j)] += int64_t(c.ca[size_t(r * k_pad + k)]) * c.cb[size_t(j * k_pad + k)];
  return c;
}

// One panel kernel on the case — w_rows > 0: AccVnni with that pair width; 0: amx::AccPanels — into
// poisoned acc and acc_t with kGuard words past each (AMX tile stores are inline asm, invisible to
// ASan); returns how many sums differ plus how many guard words were written.
int64_t RunPanelCase(const PanelCase& c, int w_rows) {
  constexpr int64_t kGuard = 64;
  std::vector<int32_t> acc(size_t(c.rows * c.cols + kGuard), int32_t(0x7eadbeef)),
      acc_t(size_t(c.rows_pad * c.cols + kGuard), -1);
  sparq::cpu::int8::AccTile t;
  t.ca = c.ca.data();
  t.ca_biased = c.biased.data();
  t.ca_panel = c.panel.data();
  t.acc_t = acc_t.data();
  t.panel_pair_w_rows = w_rows > 0 ? w_rows : 12;
  t.cb = c.cb.data();
  t.row_sums = c.row_sums.data();
  t.k_pad = c.k_pad;
  t.rows = c.rows;
  t.cols = c.cols;
  t.acc = acc.data();
  t.ld_acc = c.cols;
  if (w_rows > 0) sparq::cpu::int8::avx512::AccVnni(t);
  else sparq::cpu::int8::amx::AccPanels(t);
  int64_t bad = 0;
  for (size_t i = 0; i < c.want.size(); ++i) bad += int64_t(acc[i]) != c.want[i];
  for (int64_t g = 0; g < kGuard; ++g)
    bad += acc[size_t(c.rows * c.cols + g)] != int32_t(0x7eadbeef) || acc_t[size_t(c.rows_pad * c.cols + g)] != -1;
  return bad;
}

// The panel kernels at the extreme too: 16 CA rows (one panel) × 16 W rows (one whole AMX W block)
// at k = 2^17, CA ±127 by row and W rows of −128, 127, alternating and ramps. The biased sums reach
// 128·255·2^17 ≈ 4.3e9 (past int32): right only if TDPBSUD / vpdpbusd wrap and the correction
// unwraps them.
void CheckExtremePanels() {
  if (!sparq::cpu::int8::KernelSupported(Kernel::kAvx512Vnni)) return;
  const int64_t k = sparq::int8::kMaxK, rows = 16, cols = 16;
  std::vector<int8_t> ca(size_t(rows * k)), cb(size_t(cols * k));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < k; ++c) ca[size_t(r * k + c)] = int8_t(r % 2 ? -127 : 127);
  for (int64_t j = 0; j < cols; ++j)
    for (int64_t c = 0; c < k; ++c) {
      const int pattern = int(j % 4);
      cb[size_t(j * k + c)] = pattern == 0 ? int8_t(-128) : pattern == 1 ? int8_t(127) : pattern == 2 ? int8_t(c % 2 ? -128 : 127)
                                                                                                     : int8_t(c % 256 - 128);
    }
  const PanelCase pc = MakePanelCase(std::move(ca), std::move(cb), rows, cols, k);
  const bool amx = sparq::cpu::int8::KernelSupported(Kernel::kAmx);
  for (int w_rows : amx ? std::vector<int>{12, 0} : std::vector<int>{12}) {
    const int64_t bad = RunPanelCase(pc, w_rows);
    Check(bad == 0, std::string("int8 acc [") + (w_rows > 0 ? "avx512vnni" : "amx") + " panels] extreme at k = 2^17: " +
                        std::to_string(bad) + " of 256 differ");
  }
}

// The panel form at the tile level, VNNI and (where the CPU has AMX-INT8) AMX: groups of 4 panels
// and the 3, 2 or 1 left (rows 16, 32, 45 → 48 with pad lanes, 64, 100 → 64 + 48, 160 → 2 × 64 +
// 32), a VNNI pair's micro tiles at both widths (the driver picks one by the L1d's ways, so the
// op-level cases run only this machine's), column counts with 8- and 4-row tails, whole k and k
// blocks; AMX also on whole 16-row W blocks in pairs and alone (48, 80), with a VNNI remainder
// (28, 44), and on tiles of 6 and 12 rows (one padded panel; VNNI takes its dot form there).
// Random CA (codes −127..127); acc against the int64 sums, poisoned first.
void CheckPanelTiles() {
  if (!sparq::cpu::int8::KernelSupported(Kernel::kAvx512Vnni)) return;
  const bool amx = sparq::cpu::int8::KernelSupported(Kernel::kAmx);
  std::uniform_int_distribution<int> code(-127, 127);
  for (int64_t k_pad : {int64_t(256), int64_t(4096), int64_t(4224)})
    for (int64_t rows : {6, 12, 16, 32, 45, 64, 100, 160})
      for (int64_t cols : {4, 28, 44, 48, 80}) {
        const bool vnni_case = cols <= 44;
        if (!vnni_case && !amx) continue;
        std::vector<int8_t> ca(size_t(rows * k_pad)), cb(size_t(cols * k_pad));
        for (auto& v : ca) v = int8_t(code(g_rng));
        for (auto& v : cb) v = int8_t(code(g_rng));
        const PanelCase pc = MakePanelCase(std::move(ca), std::move(cb), rows, cols, k_pad);
        bool biased_ok = true;
        for (size_t i = 0; i < pc.ca.size(); ++i) biased_ok = biased_ok && pc.biased[i] == uint8_t(uint8_t(pc.ca[i]) ^ 0x80u);
        Check(biased_ok, "int8 MakePanel writes CA ^ 0x80: k_pad=" + std::to_string(k_pad) + " rows=" + std::to_string(rows));
        std::vector<int> variants;  // VNNI pair widths; 0: AMX
        if (vnni_case) variants = {12, 8};
        if (amx) variants.push_back(0);
        for (int w_rows : variants) {
          const int64_t bad = RunPanelCase(pc, w_rows);
          const std::string form = w_rows > 0 ? "avx512vnni panels, " + std::to_string(w_rows) + " W rows per pair tile" : "amx panels";
          Check(bad == 0, "int8 acc [" + form + "] = int64 sums: k_pad=" + std::to_string(k_pad) + " rows=" +
                              std::to_string(rows) + " cols=" + std::to_string(cols) + " (" + std::to_string(bad) + " differ)");
        }
      }
}

// Every outlier kernel against the fma chain written out, on fp32 values of mixed magnitudes and
// signs (so a missing fusion or a reordered chain changes bits), odd column counts for the tails.
void CheckOutlierKernels() {
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  for (int64_t n_out : {1, 3, 8, 70})
    for (int64_t rows : {1, 3, 4, 7})
      for (int64_t cols : {1, 5, 8, 13, 16}) {
        const int64_t ld_wo = 16, ld_xo = n_out + 1, ld_o = 17;
        std::vector<float> xo(size_t(rows * ld_xo)), wo(size_t(n_out * ld_wo));
        for (auto& v : xo) v = d(g_rng) * std::ldexp(1.0f, int(d(g_rng) * 12));
        for (auto& v : wo) v = d(g_rng) * std::ldexp(1.0f, int(d(g_rng) * 12));
        std::vector<float> want(size_t(rows * ld_o), 0.0f);
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t c = 0; c < cols; ++c) {
            float o = 0.0f;
            for (int64_t q = 0; q < n_out; ++q) o = std::fma(xo[size_t(r * ld_xo + q)], wo[size_t(q * ld_wo + c)], o);
            want[size_t(r * ld_o + c)] = o;
          }
        for (Kernel kern : SupportedKernels()) {
          std::vector<float> got(size_t(rows * ld_o), -7.0f);
          sparq::cpu::int8::OutlierTile t;
          t.xo = xo.data();
          t.ld_xo = ld_xo;
          t.wo = wo.data();
          t.ld_wo = ld_wo;
          t.n_out = n_out;
          t.rows = rows;
          t.cols = cols;
          t.o = got.data();
          t.ld_o = ld_o;
          OutlierOf(kern)(t);
          bool ok = true;
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t c = 0; c < ld_o; ++c) {
              const float e = c < cols ? want[size_t(r * ld_o + c)] : -7.0f;  // nothing written past cols
              ok = ok && std::memcmp(&got[size_t(r * ld_o + c)], &e, 4) == 0;
            }
          Check(ok, std::string("int8 outlier fma chains [") + sparq::cpu::int8::KernelName(kern) +
                        "] = std::fma reference: n_out=" + std::to_string(n_out) + " rows=" + std::to_string(rows) +
                        " cols=" + std::to_string(cols));
        }
      }
}

void CheckErrors(Pools& pools) {
  std::vector<int8_t> codes(size_t(8 * 64), 1);
  std::vector<float> scb(8, 1.0f);
  Int8Packed gpu;
  Status st = sparq::Int8Pack(codes.data(), scb.data(), 8, 64, Int8Layout::kGpu, &gpu);
  std::vector<uint16_t> x(64, H(1.0f)), y(8, kNanBits);
  std::vector<int32_t> cols(65, kSentinel);
  Int8MatmulArgs a;
  a.weight = gpu.view();
  a.x = x.data();
  a.y = y.data();
  a.outlier_cols = cols.data();
  a.m = 1;
  if (st.ok()) st = sparq::cpu_ops::Int8Matmul(a, sparq::cpu::Exec{Isa::kScalar, &pools.p1}, nullptr);
  Check(!st.ok() && st.code == StatusCode::kArgument && st.argument == "weight" && y[0] == kNanBits,
        "int8.matmul [cpu] rejects the kGpu layout with kArgument 'weight': " + st.message);
}

}  // namespace

int main() {
  std::printf("# int8 kernels on this CPU:");
  for (Kernel k : SupportedKernels()) std::printf(" %s", sparq::cpu::int8::KernelName(k));
  std::printf("\n");
  Pools pools;
  CheckGrid(pools);
  CheckSpecialCases(pools);
  CheckExtremeAcc(pools);
  CheckExtremePanels();
  CheckOutlierKernels();
  CheckPanelTiles();
  CheckErrors(pools);
  sparq_test::PrintShard();
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
