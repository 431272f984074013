// native/tests/w4a16_int8_cpu_test.cc: W4A16 with int8 activations (`{ accuracy: 'int8' }`,
// cpu/w4a16_int8_cpu.h) against a reference of its function written here from the logical codes
// [n][k] and scales [n][k/g] (not the packed layout): per-group absmax, RNE by hand, d as an int64
// Σ (q − 8)·xq, the fp32 steps spelled out, fp16 via the compiler's _Float16. Y bits must match
// for every kernel this CPU runs (each forced through its ISA), several thread counts and the
// context entry (cpu_ops). A second check bounds the error against the float64 product on the
// unquantized activations by the quantization's own error bound, so a function that is
// consistently wrong in both the library and the reference still fails.
// One line per check, then "N passed, M failed" (tests/sim_test_util.h); exit 0 only when M == 0.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "cpu/w4a16_int8_cpu.h"
#include "sparq/cpu.h"
#include "sparq/cpu_ops.h"
#include "sparq/w4a16.h"
#include "sim_test_util.h"

using sparq::Status;
using sparq::W4A16Layout;
using sparq::W4A16Packed;
using sparq::cpu::Isa;
using sparq::cpu::ThreadPool;

namespace {

using sparq_test::Check;
std::mt19937_64 g_rng(20261130);

uint16_t H(float f) { return sparq_test::ToF16Bits(f); }
float F(uint16_t b) { return sparq_test::FromF16Bits(b); }
constexpr uint16_t kNanBits = 0x7e00;

// Round half to even of |v| ≤ 128, by hand.
float RneRef(float v) {
  float fl = std::floor(v);
  const float d = v - fl;
  if (d > 0.5f || (d == 0.5f && std::fmod(fl, 2.0f) != 0.0f)) fl += 1.0f;
  return fl;
}

struct Case {
  int64_t n, k, g, m;  // g = 0: per-channel (k)
  bool bias;
  const char* special;  // "", "zero-group", "inf", "nan", "outliers"
};

struct Inputs {
  std::vector<uint8_t> codes;    // [n][k]
  std::vector<uint16_t> scales;  // [n][k/g]
  std::vector<uint16_t> x;       // [m][k]
  std::vector<uint16_t> bias;    // [n]
};

Inputs MakeInputs(const Case& c, int64_t g) {
  Inputs in;
  std::uniform_int_distribution<int> code(0, 15);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  in.codes.resize(size_t(c.n * c.k));
  for (auto& q : in.codes) q = uint8_t(code(g_rng));
  in.scales.resize(size_t(c.n * (c.k / g)));
  for (auto& s : in.scales) {
    float v = 0.02f * nd(g_rng);
    if (H(v) == H(0.0f) || H(v) == H(-0.0f)) v = 0.01f;
    s = H(v);
  }
  in.x.resize(size_t(c.m * c.k));
  for (auto& v : in.x) {
    float f = nd(g_rng);
    if (H(f) == H(0.0f)) f = 0.5f;
    v = H(f);
  }
  const std::string sp = c.special;
  if (sp == "outliers")  // a few columns ×20–60, as in LLM activations
    for (int64_t col = 3; col < c.k; col += 97)
      for (int64_t r = 0; r < c.m; ++r) in.x[size_t(r * c.k + col)] = H(F(in.x[size_t(r * c.k + col)]) * 40.0f);
  if (sp == "zero-group" && c.m > 1)
    for (int64_t i = 0; i < g; ++i) in.x[size_t(1 * c.k + i)] = H(0.0f);
  if (sp == "inf") in.x[size_t((c.m - 1) * c.k + c.k / 2)] = 0x7c00;
  if (sp == "nan") in.x[0] = kNanBits;
  in.bias.resize(size_t(c.n));
  for (auto& b : in.bias) b = H(nd(g_rng));
  return in;
}

// The function, from the logical codes; also the per-output quantization error bound
// Σ_g (xs_g / 2)·Σ_{k∈g} |w| (each |x − xq·xs| ≤ xs/2 up to fp32 rounding) for the accuracy check.
struct RefOut {
  std::vector<uint16_t> y;
  std::vector<double> bound;
};
RefOut Reference(const Case& c, int64_t g, const Inputs& in) {
  const int64_t groups = c.k / g;
  RefOut out;
  out.y.assign(size_t(c.m * c.n), 0);
  out.bound.assign(size_t(c.m * c.n), 0.0);
  for (int64_t r = 0; r < c.m; ++r) {
    std::vector<float> xs(static_cast<size_t>(groups), 0.0f);
    std::vector<int32_t> xq(static_cast<size_t>(c.k), 0);
    for (int64_t gi = 0; gi < groups; ++gi) {
      float a = 0.0f;
      bool bad = false;
      for (int64_t i = gi * g; i < (gi + 1) * g; ++i) {
        const float v = F(in.x[size_t(r * c.k + i)]);
        if (std::isnan(v) || std::isinf(v)) bad = true;
        else a = std::max(a, std::fabs(v));
      }
      if (bad) {
        xs[size_t(gi)] = std::numeric_limits<float>::quiet_NaN();
        continue;  // xq stays 0
      }
      if (a == 0.0f) continue;
      const float inv = 127.0f / a;
      xs[size_t(gi)] = a / 127.0f;
      for (int64_t i = gi * g; i < (gi + 1) * g; ++i) xq[size_t(i)] = int32_t(RneRef(F(in.x[size_t(r * c.k + i)]) * inv));
    }
    for (int64_t j = 0; j < c.n; ++j) {
      float acc = 0.0f;
      double bound = 0.0;
      for (int64_t gi = 0; gi < groups; ++gi) {
        int64_t d = 0;
        double wabs = 0.0;
        const float s = F(in.scales[size_t(j * groups + gi)]);
        for (int64_t i = gi * g; i < (gi + 1) * g; ++i) {
          const int q = in.codes[size_t(j * c.k + i)];
          d += int64_t(q - 8) * xq[size_t(i)];
          wabs += std::fabs(double(q - 8) * s);
        }
        const float t = float(d) * xs[size_t(gi)];
        acc = std::fma(t, s, acc);
        bound += double(xs[size_t(gi)]) * 0.5 * wabs;
      }
      if (c.bias) acc += F(in.bias[size_t(j)]);
      out.y[size_t(r * c.n + j)] = H(acc);
      out.bound[size_t(r * c.n + j)] = bound;
    }
  }
  return out;
}

// Σ x·w in float64 on the unquantized activations and the contract's weights fp16((q−8)·s).
double Exact64(const Case& c, int64_t g, const Inputs& in, int64_t r, int64_t j) {
  const int64_t groups = c.k / g;
  double s = c.bias ? double(F(in.bias[size_t(j)])) : 0.0;
  for (int64_t i = 0; i < c.k; ++i) {
    const float w = F(H(float(in.codes[size_t(j * c.k + i)] - 8) * F(in.scales[size_t(j * groups + i / g)])));
    s += double(F(in.x[size_t(r * c.k + i)])) * double(w);
  }
  return s;
}

// Every kernel this CPU runs: one per ISA, and on an AVX-VNNI CPU the avx2 ISA twice (AVX-VNNI,
// then the vpmaddubsw kernel with SPARQ_W4A16_NO_AVXVNNI set).
struct KernelChoice {
  Isa isa;
  bool no_avx_vnni;
};
void SetNoAvxVnni(bool on) {
  if (on) setenv("SPARQ_W4A16_NO_AVXVNNI", "1", 1);
  else unsetenv("SPARQ_W4A16_NO_AVXVNNI");
}
std::vector<KernelChoice> Kernels() {
  std::vector<KernelChoice> out = {{Isa::kScalar, false}};
  if (sparq::cpu::IsaSupported(Isa::kAvx2)) {
    out.push_back({Isa::kAvx2, false});
    SetNoAvxVnni(false);
    if (std::string(sparq::cpu::w4a16_int8::KernelNameFor(int(Isa::kAvx2))) == "avxvnni") out.push_back({Isa::kAvx2, true});
  }
  if (sparq::cpu::IsaSupported(Isa::kAvx512)) out.push_back({Isa::kAvx512, false});
  return out;
}

std::string Name(const Case& c) {
  return "n=" + std::to_string(c.n) + " k=" + std::to_string(c.k) + " g=" + (c.g ? std::to_string(c.g) : "k") +
         " m=" + std::to_string(c.m) + (c.bias ? " bias" : "") + (c.special[0] ? std::string(" ") + c.special : "");
}

bool SameBits(uint16_t a, uint16_t b) {
  const bool an = (a & 0x7c00) == 0x7c00 && (a & 0x3ff) != 0, bn = (b & 0x7c00) == 0x7c00 && (b & 0x3ff) != 0;
  return an || bn ? an && bn : a == b;  // any NaN matches any NaN (payloads are not part of the contract)
}

void RunCase(const Case& c, ThreadPool& pool1, ThreadPool& pool3) {
  const int64_t g = c.g ? c.g : c.k;
  const Inputs in = MakeInputs(c, g);
  W4A16Packed pk;
  Status st = sparq::W4A16Pack(in.codes.data(), in.scales.data(), c.n, c.k, int(g), &pk, W4A16Layout::kCpu);
  Check(st.ok(), Name(c) + ": pack (" + st.message + ")");
  if (!st.ok()) return;
  const RefOut ref = Reference(c, g, in);
  for (const KernelChoice& kc : Kernels())
    for (ThreadPool* pool : {&pool1, &pool3}) {
      const Isa isa = kc.isa;
      SetNoAvxVnni(kc.no_avx_vnni);
      std::vector<uint16_t> y(size_t(c.m * c.n), kNanBits);  // poisoned
      st = sparq::W4A16MatmulInt8Cpu(pk.view(), in.x.data(), c.bias ? in.bias.data() : nullptr, y.data(), c.m, isa,
                                     *pool);
      int64_t bad = 0, first = -1;
      for (size_t i = 0; i < y.size(); ++i)
        if (!SameBits(y[i], ref.y[i])) {
          if (first < 0) first = int64_t(i);
          ++bad;
        }
      std::string what = Name(c) + " kernel=" + sparq::cpu::w4a16_int8::KernelNameFor(int(isa)) +
                         " threads=" + std::to_string(pool == &pool1 ? 1 : 3) + ": Y bits equal the reference";
      if (bad > 0) {
        char buf[160];
        std::snprintf(buf, sizeof buf, " (%lld differ; first [%lld] got 0x%04x want 0x%04x)", (long long)bad,
                      (long long)first, y[size_t(first)], ref.y[size_t(first)]);
        what += buf;
      }
      Check(st.ok() && bad == 0, what);
    }
  SetNoAvxVnni(false);
  // Accuracy: within the quantization bound (+ fp32 accumulation and the fp16 store) of the float64
  // product. Rows with a non-finite input are NaN by the function and skipped here.
  const std::string sp = c.special;
  if (sp == "inf" || sp == "nan") {
    const int64_t row = sp == "nan" ? 0 : c.m - 1;
    bool all_nan = true;
    for (int64_t j = 0; j < c.n; ++j) all_nan = all_nan && std::isnan(F(ref.y[size_t(row * c.n + j)]));
    Check(all_nan, Name(c) + ": the row with a non-finite activation is NaN");
  }
  double worst = 0.0;
  for (int64_t r = 0; r < c.m; ++r) {
    if ((sp == "nan" && r == 0) || (sp == "inf" && r == c.m - 1)) continue;
    for (int64_t j = 0; j < c.n; ++j) {
      const double e = Exact64(c, g, in, r, j);
      const double got = F(ref.y[size_t(r * c.n + j)]);
      const double allowed = ref.bound[size_t(r * c.n + j)] * 1.001 + std::fabs(e) * 1e-3 + 1e-6;
      worst = std::max(worst, std::fabs(got - e) / allowed);
    }
  }
  char buf[96];
  std::snprintf(buf, sizeof buf, " (worst error / bound = %.3f)", worst);
  Check(worst <= 1.0, Name(c) + ": error against float64 within the int8 quantization bound" + buf);
}

void CheckContextEntry(ThreadPool& pool) {
  // The cpu backend's op entry (what the binding calls) runs the same function.
  const Case c{24, 64, 32, 3, true, ""};
  const Inputs in = MakeInputs(c, 32);
  W4A16Packed pk;
  Status st = sparq::W4A16Pack(in.codes.data(), in.scales.data(), c.n, c.k, 32, &pk, W4A16Layout::kCpu);
  const RefOut ref = Reference(c, 32, in);
  std::vector<uint16_t> y(size_t(c.m * c.n), kNanBits);
  sparq::W4A16MatmulInt8Args a;
  a.weight = pk.view();
  a.x = in.x.data();
  a.bias = in.bias.data();
  a.y = y.data();
  a.m = c.m;
  if (st.ok()) st = sparq::cpu_ops::W4A16MatmulInt8(a, sparq::cpu::Exec{sparq::cpu::BestSupportedIsa(), &pool}, nullptr);
  bool same = st.ok();
  for (size_t i = 0; i < y.size(); ++i) same = same && SameBits(y[i], ref.y[i]);
  Check(same, "cpu_ops::W4A16MatmulInt8 equals the reference");
  // The gpu layout is refused with a typed status, not read as cpu codes.
  W4A16Packed gpu;
  st = sparq::W4A16Pack(in.codes.data(), in.scales.data(), c.n, c.k, 32, &gpu, W4A16Layout::kGpu);
  if (st.ok()) st = sparq::W4A16MatmulInt8Cpu(gpu.view(), in.x.data(), nullptr, y.data(), c.m, Isa::kScalar, pool);
  Check(!st.ok() && st.code == sparq::StatusCode::kArgument, "the gpu layout is refused (kArgument)");
  // A per-channel group past kMaxGroupK (int32 sums) is refused, naming accuracy, before any work.
  const int64_t big_k = sparq::cpu::w4a16_int8::kMaxGroupK + 32;
  std::vector<uint8_t> codes(size_t(big_k), 9);
  std::vector<uint16_t> scale(1, H(0.01f));
  W4A16Packed big;
  st = sparq::W4A16Pack(codes.data(), scale.data(), 1, big_k, int(big_k), &big, W4A16Layout::kCpu);
  std::vector<uint16_t> xb(size_t(big_k), H(1.0f)), yb(1, kNanBits);
  if (st.ok()) st = sparq::W4A16MatmulInt8Cpu(big.view(), xb.data(), nullptr, yb.data(), 1, Isa::kScalar, pool);
  Check(!st.ok() && st.code == sparq::StatusCode::kArgument && st.argument == "accuracy",
        "a per-channel group of " + std::to_string(big_k) + " k is refused (kArgument, accuracy): " + st.message);
}

}  // namespace

int main() {
  std::printf("# w4a16 int8-activation kernels on this CPU:");
  for (const KernelChoice& kc : Kernels()) {
    SetNoAvxVnni(kc.no_avx_vnni);
    std::printf(" %s", sparq::cpu::w4a16_int8::KernelNameFor(int(kc.isa)));
  }
  SetNoAvxVnni(false);
  std::printf("\n");
  ThreadPool pool1(1), pool3(3);
  const Case cases[] = {
      {4, 32, 32, 1, false, ""},         // one block, one chunk
      {37, 96, 32, 1, true, ""},         // 10 blocks: 2 quads + a 2-block quad, tail columns
      {37, 96, 32, 5, true, "outliers"},  // 4-row pass + 1
      {64, 256, 128, 7, false, ""},      // 4 + 3 rows
      {52, 256, 64, 6, true, "zero-group"},
      {20, 100, 0, 2, true, ""},         // per-channel, k padded to 128
      {19, 1000, 0, 3, false, "outliers"},  // per-channel over a long k
      {300, 1024, 128, 17, true, "outliers"},
      {24, 1280, 64, 1, false, ""},       // 20 groups: the scale table's second 16-group block, a tail of 4
      {40, 2112, 64, 6, true, ""},        // 33 groups, quads of 4, 4 and 2 blocks, the split path
      {56, 256, 128, 2, true, ""},        // 14 blocks: far-apart quads of 4, 4, 3, 3 blocks (1 thread), 3 + 3 (a 6-block thread)
      {1300, 256, 64, 3, false, ""},      // 325 blocks: quarters of 82 blocks, the last quad of 3
      {48, 128, 64, 4, true, "inf"},
      {16, 64, 32, 3, false, "nan"},
  };
  for (const Case& c : cases) RunCase(c, pool1, pool3);
  CheckContextEntry(pool1);
  return sparq_test::Summary();
}
