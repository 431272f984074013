// native/tests/w4a16_test.cc: W4A16 quantizer, packers, CPU kernels (every ISA this CPU runs) and
// the CUDA kernel on the SIMT simulator. References are written here independently of the library:
// fp16 via the compiler's _Float16, the packed layouts decoded in memory order from the mma
// fragment description, matmul in float64 on the dequantised weights.
// Prints one line per check, then "N passed, M failed"; exits 0 only when M == 0.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cpu/w4a16_cpu.h"
#include "cuda/w4a16_knobs.h"
#include "cuda/w4a16_layout.cuh"
#include "sparq/cpu.h"
#include "sparq/w4a16.h"
#include "sim_test_util.h"
#if defined(SPARQ_HAVE_SIM)
#include "sparq/sim.h"
#endif

using sparq::Status;
using sparq::StatusCode;
using sparq::W4A16Layout;
using sparq::W4A16Packed;
using sparq::cpu::Isa;
using sparq_test::kTsanLight;

namespace {

int g_passed = 0, g_failed = 0;
void Check(bool ok, const std::string& what) {
  std::printf("%s %s\n", ok ? "PASS" : "FAIL", what.c_str());
  (ok ? g_passed : g_failed)++;
}

std::mt19937_64 g_rng(20240611);

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
const uint16_t kNanBits = 0x7e00;

std::vector<uint16_t> RandomHalves(size_t count, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<uint16_t> v(count);
  for (auto& h : v) {
    float f = d(g_rng);
    if (f == 0.0f) f = 0.25f;  // never zeros
    h = H(f);
  }
  return v;
}

// ------------------------------------------------------------------ independent RTN
void RtnRef(const std::vector<uint16_t>& w, int64_t n, int64_t k, int64_t g, std::vector<uint8_t>& q,
            std::vector<uint16_t>& s) {
  const int64_t groups = k / g;
  q.assign(size_t(n * k), 0);
  s.assign(size_t(n * groups), 0);
  for (int64_t j = 0; j < n; ++j)
    for (int64_t gi = 0; gi < groups; ++gi) {
      float mx = -INFINITY, mn = INFINITY;
      for (int64_t i = 0; i < g; ++i) {
        const float v = F(w[size_t(j * k + gi * g + i)]);
        mx = std::fmax(mx, v);
        mn = std::fmin(mn, v);
      }
      const float a = mx / 7.0f, b = -mn / 8.0f;
      float s32 = std::fmax(a, b);
      if (s32 == 0.0f) s32 = 0.0f;  // contract: an all-zero group has scale +0 (fmax(0, -0) may give either)
      const uint16_t sb = H(s32);
      s[size_t(j * groups + gi)] = sb;
      const float sf = F(sb);
      for (int64_t i = 0; i < g; ++i) {
        int code = 8;
        if (sf != 0.0f) {
          const float r = w[size_t(j * k + gi * g + i)] == 0 ? 0.0f : F(w[size_t(j * k + gi * g + i)]) / sf;
          // round half to even by hand
          const float fl = std::floor(r);
          const float frac = r - fl;
          float rr = fl;
          if (frac > 0.5f || (frac == 0.5f && std::fmod(fl, 2.0f) != 0.0f)) rr = fl + 1.0f;
          code = int(rr) + 8;
          code = code < 0 ? 0 : (code > 15 ? 15 : code);
        }
        q[size_t(j * k + gi * g + i)] = uint8_t(code);
      }
    }
}

// ------------------------------------------------------------------ independent layout decoders
// kGpu, walked in memory order: 4096-B tiles column-major over (n/128, k/64); inside, chunk w
// (warp w) = k16 step w/2, n64 half w%2; lane l (g = l/4, t = l%4), u32 j, nibble p: the mma B
// fragment element (reg = p&1, half = p>>2) of n8 tile 2j + ((p>>1)&1); B element e = 2·reg+half
// of lane l is at (k = 2t + (e&1) + 8(e>>1), n = g) [PTX ISA m16n8k16 B fragment].
void DecodeGpu(const W4A16Packed& pk, std::vector<uint8_t>& codes_padded) {
  const int64_t k_tiles = pk.k_pad / 64, n_tiles = pk.n_pad / 128;
  codes_padded.assign(size_t(pk.n_pad * pk.k_pad), 0xff);
  const uint8_t* bytes = pk.qweight.data();
  size_t off = 0;
  for (int64_t nt = 0; nt < n_tiles; ++nt)
    for (int64_t kt = 0; kt < k_tiles; ++kt)
      for (int w = 0; w < 8; ++w)
        for (int l = 0; l < 32; ++l)
          for (int j = 0; j < 4; ++j) {
            uint32_t word;
            std::memcpy(&word, bytes + off, 4);
            off += 4;
            for (int p = 0; p < 8; ++p) {
              const int reg = p & 1, half = p >> 2, tile = 2 * j + ((p >> 1) & 1);
              const int e = 2 * reg + half, g = l / 4, t = l % 4;
              const int kk = int(kt * 64) + (w / 2) * 16 + 2 * t + (e & 1) + 8 * (e >> 1);
              const int64_t nn = nt * 128 + (w % 2) * 64 + tile * 8 + g;
              codes_padded[size_t(nn * pk.k_pad + kk)] = uint8_t((word >> (4 * p)) & 15);
            }
          }
}
// kGpu scales in memory order: per (n tile, group) 2 halves × 8 g × 8 n8 tiles.
// The op's args struct for a packed weight and host pointers (what the sim backend is handed).
sparq::W4A16MatmulArgs MatmulArgs(const W4A16Packed& pk, const uint16_t* x, const uint16_t* bias, uint16_t* y, int64_t m) {
  sparq::W4A16MatmulArgs a;
  a.weight = pk.view();
  a.x = x;
  a.bias = bias;
  a.y = y;
  a.m = m;
  return a;
}

void DecodeGpuScales(const W4A16Packed& pk, std::vector<uint16_t>& s_padded) {
  s_padded.assign(size_t(pk.n_pad * pk.groups_pad), 0xffff);
  const uint16_t* s = reinterpret_cast<const uint16_t*>(pk.scales.data());
  size_t i = 0;
  for (int64_t nt = 0; nt < pk.n_pad / 128; ++nt)
    for (int64_t gr = 0; gr < pk.groups_pad; ++gr)
      for (int half = 0; half < 2; ++half)
        for (int g = 0; g < 8; ++g)
          for (int tile = 0; tile < 8; ++tile)
            s_padded[size_t((nt * 128 + half * 64 + tile * 8 + g) * pk.groups_pad + gr)] = s[i++];
}
// kCpu in memory order: column blocks of 4; per 32 k, 4 × 16 B; byte i = (k0+i) | (k0+16+i) << 4.
void DecodeCpu(const W4A16Packed& pk, std::vector<uint8_t>& codes_padded) {
  codes_padded.assign(size_t(pk.n_pad * pk.k_pad), 0xff);
  size_t off = 0;
  for (int64_t cb = 0; cb < pk.n_pad / 4; ++cb)
    for (int64_t ch = 0; ch < pk.k_pad / 32; ++ch)
      for (int c = 0; c < 4; ++c)
        for (int i = 0; i < 16; ++i) {
          const uint8_t b = pk.qweight[off++];
          codes_padded[size_t((cb * 4 + c) * pk.k_pad + ch * 32 + i)] = b & 15;
          codes_padded[size_t((cb * 4 + c) * pk.k_pad + ch * 32 + 16 + i)] = b >> 4;
        }
}

std::vector<uint8_t> RandomCodes(int64_t n, int64_t k) {
  std::uniform_int_distribution<int> d(0, 15);
  std::vector<uint8_t> c(size_t(n * k));
  for (auto& v : c) v = uint8_t(d(g_rng));
  return c;
}

void CheckLayout(int64_t n, int64_t k, int g, W4A16Layout layout) {
  const std::vector<uint8_t> codes = RandomCodes(n, k);
  const std::vector<uint16_t> scales = RandomHalves(size_t(n * (k / g)), 0.001f, 0.1f);
  W4A16Packed pk;
  Status st = sparq::W4A16Pack(codes.data(), scales.data(), n, k, g, &pk, layout);
  const char* lname = layout == W4A16Layout::kGpu ? "gpu" : "cpu";
  const std::string tag = std::string(lname) + " n=" + std::to_string(n) + " k=" + std::to_string(k) +
                          " g=" + std::to_string(g);
  if (!st.ok()) { Check(false, "w4a16 pack " + tag + ": " + st.message); return; }
  std::vector<uint8_t> dec;
  if (layout == W4A16Layout::kGpu) DecodeGpu(pk, dec); else DecodeCpu(pk, dec);
  bool codes_ok = true;
  for (int64_t nn = 0; nn < pk.n_pad && codes_ok; ++nn)
    for (int64_t kk = 0; kk < pk.k_pad; ++kk) {
      const uint8_t want = (nn < n && kk < k) ? codes[size_t(nn * k + kk)] : 8;
      if (dec[size_t(nn * pk.k_pad + kk)] != want) { codes_ok = false; break; }
    }
  Check(codes_ok, "w4a16 layout " + tag + ": every nibble where the independent decoder expects it (pad = 8)");
  std::vector<uint16_t> sdec;
  const int64_t groups = k / g;
  if (layout == W4A16Layout::kGpu) {
    DecodeGpuScales(pk, sdec);
  } else {
    const uint16_t* s = reinterpret_cast<const uint16_t*>(pk.scales.data());
    sdec.assign(s, s + pk.n_pad * pk.groups_pad);
  }
  bool s_ok = pk.groups_pad * pk.group_size_eff == pk.k_pad;
  for (int64_t nn = 0; nn < pk.n_pad && s_ok; ++nn)
    for (int64_t gr = 0; gr < pk.groups_pad; ++gr) {
      const uint16_t want = (nn < n && gr < groups) ? scales[size_t(nn * groups + gr)] : 0;
      if (sdec[size_t(nn * pk.groups_pad + gr)] != want) { s_ok = false; break; }
    }
  Check(s_ok, "w4a16 layout " + tag + ": scales reordered as documented (pad = 0)");
  std::vector<uint8_t> c2;
  std::vector<uint16_t> s2;
  st = sparq::W4A16Unpack(pk, &c2, &s2);
  Check(st.ok() && c2 == codes && s2 == scales, "w4a16 unpack " + tag + ": exact inverse of pack");
  Check(pk.bytes() == size_t(pk.n_pad * pk.k_pad / 2 + pk.n_pad * pk.groups_pad * 2),
        "w4a16 bytes " + tag + ": qweight + scales");
}

// ------------------------------------------------------------------ float64 reference
std::vector<double> Reference(const std::vector<uint8_t>& codes, const std::vector<uint16_t>& scales,
                              const std::vector<uint16_t>& x, const std::vector<uint16_t>* bias, int64_t m,
                              int64_t n, int64_t k, int64_t g) {
  std::vector<double> w(size_t(n * k));
  for (int64_t j = 0; j < n; ++j)
    for (int64_t i = 0; i < k; ++i)
      w[size_t(j * k + i)] = F(H(float(int(codes[size_t(j * k + i)]) - 8) * F(scales[size_t(j * (k / g) + i / g)])));
  std::vector<double> y(size_t(m * n));
  for (int64_t r = 0; r < m; ++r)
    for (int64_t j = 0; j < n; ++j) {
      double acc = bias ? F((*bias)[size_t(j)]) : 0.0;
      for (int64_t i = 0; i < k; ++i) acc += double(F(x[size_t(r * k + i)])) * w[size_t(j * k + i)];
      y[size_t(r * n + j)] = acc;
    }
  return y;
}

// ‖y − ref‖/‖ref‖ and whether every element was written (no NaN left from the poison).
double RelErr(const std::vector<uint16_t>& y, const std::vector<double>& ref, bool* all_written) {
  double num = 0, den = 0;
  *all_written = true;
  for (size_t i = 0; i < y.size(); ++i) {
    const float v = F(y[i]);
    if (std::isnan(v)) { *all_written = false; continue; }
    num += (v - ref[i]) * (v - ref[i]);
    den += ref[i] * ref[i];
  }
  return std::sqrt(num / (den > 0 ? den : 1));
}

struct Case {
  int64_t m, n, k;
  int g;
  bool bias;
};

struct Inputs {
  std::vector<uint8_t> codes;
  std::vector<uint16_t> scales, x, bias;
};
Inputs MakeInputs(const Case& c) {
  Inputs in;
  in.codes = RandomCodes(c.n, c.k);
  in.scales = RandomHalves(size_t(c.n * (c.k / c.g)), 0.002f, 0.05f);
  in.x = RandomHalves(size_t(c.m * c.k), -1.0f, 1.0f);
  if (c.bias) in.bias = RandomHalves(size_t(c.n), -0.5f, 0.5f);
  return in;
}

std::string CaseName(const Case& c) {
  return "m=" + std::to_string(c.m) + " n=" + std::to_string(c.n) + " k=" + std::to_string(c.k) +
         " g=" + (c.g == c.k ? std::string("k") : std::to_string(c.g)) + (c.bias ? " bias" : "");
}

void CheckCpuMatmul(const Case& c, Isa isa, sparq::cpu::ThreadPool& pool) {
  if (!sparq_test::TakeCase()) return;
  const Inputs in = MakeInputs(c);
  W4A16Packed pk;
  Status st = sparq::W4A16Pack(in.codes.data(), in.scales.data(), c.n, c.k, c.g, &pk, W4A16Layout::kCpu);
  std::vector<uint16_t> y(size_t(c.m * c.n), kNanBits);
  if (st.ok())
    st = sparq::W4A16MatmulCpu(pk.view(), in.x.data(), c.bias ? in.bias.data() : nullptr, y.data(), c.m, isa, pool);
  const std::vector<double> ref = Reference(in.codes, in.scales, in.x, c.bias ? &in.bias : nullptr, c.m, c.n, c.k, c.g);
  bool written = false;
  const double err = RelErr(y, ref, &written);
  char buf[64];
  std::snprintf(buf, sizeof buf, " (rel %.2e)", err);
  Check(st.ok() && written && err <= 2e-3,
        std::string("w4a16 [cpu/") + sparq::cpu::IsaName(isa) + "] " + CaseName(c) +
            ": matches the float64 reference, every element written" + buf);
}

// Codes 15, scale 1 − 2^-11: (q−8)·s = 6.99658203125 is not an fp16; the contract's fp16 rounding
// makes each weight 6.99609375, so Σ over k = 1024 ones is 7164 and with bias −7164 Y is exactly 0.
// Scaling after accumulation (or keeping the product in fp32) would give 0.5 instead.
struct Crafted {
  int64_t m = 3, n = 8, k = 1024;
  std::vector<uint8_t> codes;
  std::vector<uint16_t> scales, x, bias;
  Crafted(int g) {
    codes.assign(size_t(n * k), 15);
    scales.assign(size_t(n * (k / g)), 0x3bff);
    x.assign(size_t(m * k), H(1.0f));
    bias.assign(size_t(n), H(-7164.0f));
  }
};

void CheckCraftedCpu(Isa isa, sparq::cpu::ThreadPool& pool, int g) {
  Crafted cr(g);
  W4A16Packed pk;
  Status st = sparq::W4A16Pack(cr.codes.data(), cr.scales.data(), cr.n, cr.k, g, &pk, W4A16Layout::kCpu);
  std::vector<uint16_t> y(size_t(cr.m * cr.n), kNanBits);
  if (st.ok()) st = sparq::W4A16MatmulCpu(pk.view(), cr.x.data(), cr.bias.data(), y.data(), cr.m, isa, pool);
  bool zero = st.ok();
  for (uint16_t v : y) zero = zero && (v == 0 || v == 0x8000);
  Check(zero && F(H(7.0f * F(0x3bff) * 1024.0f - 7164.0f)) == 0.5f,
        std::string("w4a16 [cpu/") + sparq::cpu::IsaName(isa) + "] crafted g=" + std::to_string(g) +
            ": (q-8)*s rounded to fp16 before the sum (Y = 0, not 0.5)");
}

void CheckRtn(int64_t n, int64_t k, int g) {
  std::vector<uint16_t> w = RandomHalves(size_t(n * k), -2.0f, 2.0f);
  // special groups: row 0 group 0 all zero; row 1 group 0 negative-dominant; row 2 tiny values
  // (scale subnormal); row 3 group 0 all positive.
  for (int64_t i = 0; i < g; ++i) {
    w[size_t(i)] = 0;
    if (n > 1) w[size_t(k + i)] = H(i == 3 ? -3.0f : 0.3f * float(i % 5) - 0.6f);
    if (n > 2) w[size_t(2 * k + i)] = H(1e-6f * float(i % 7) - 2e-6f);
    if (n > 3) w[size_t(3 * k + i)] = H(0.01f + 0.02f * float(i % 9));
  }
  std::vector<uint8_t> q, qr;
  std::vector<uint16_t> s, sr;
  Status st = sparq::W4A16QuantizeRtn(w.data(), n, k, g, &q, &s);
  RtnRef(w, n, k, g, qr, sr);
  std::string where;
  for (size_t i = 0; i < q.size() && i < qr.size() && where.empty(); ++i)
    if (q[i] != qr[i])
      where = " [first code mismatch at " + std::to_string(i) + ": " + std::to_string(q[i]) + " vs " +
              std::to_string(qr[i]) + ", w=" + std::to_string(F(w[i])) + "]";
  for (size_t i = 0; i < s.size() && i < sr.size() && where.empty(); ++i)
    if (s[i] != sr[i]) where = " [first scale mismatch at " + std::to_string(i) + "]";
  Check(st.ok() && q == qr && s == sr && where.empty(),
        "w4a16 quantize n=" + std::to_string(n) + " k=" + std::to_string(k) + " g=" + std::to_string(g) +
            ": codes and scales bit-identical to the independent RTN (zero, negative-dominant, subnormal groups)" + where);
}

void CheckErrors() {
  std::vector<uint8_t> codes = RandomCodes(4, 64);
  std::vector<uint16_t> scales(4 * 2, H(0.01f));
  W4A16Packed pk;
  codes[size_t(3 * 64 + 5)] = 17;
  Status st = sparq::W4A16Pack(codes.data(), scales.data(), 4, 64, 32, &pk);
  Check(st.code == StatusCode::kArgument && st.argument == "codes" &&
            st.message == "w4a16.fromCodes: codes must be values in 0..15, got 17 at [3, 5]",
        "w4a16 fromCodes: code 17 rejected with index and value (" + st.message + ")");
  codes[size_t(3 * 64 + 5)] = 1;
  st = sparq::W4A16Pack(codes.data(), scales.data(), 2, 96, 64, &pk);
  Check(st.code == StatusCode::kShape && st.argument == "shape",
        "w4a16 fromCodes: k % groupSize != 0 is a shape error (" + st.message + ")");
  st = sparq::W4A16Pack(codes.data(), scales.data(), 4, 64, 48, &pk);
  Check(st.code == StatusCode::kArgument && st.argument == "groupSize",
        "w4a16 fromCodes: groupSize 48 rejected (" + st.message + ")");
  st = sparq::W4A16Pack(codes.data(), scales.data(), 4, 64, 16, &pk);
  Check(st.code == StatusCode::kArgument && st.argument == "groupSize", "w4a16 fromCodes: groupSize 16 rejected");
  std::vector<uint16_t> w(4 * 64, H(0.5f));
  std::vector<uint16_t> s;
  st = sparq::W4A16QuantizeRtn(w.data(), 4, 64, 256, &codes, &s);
  Check(st.code == StatusCode::kArgument && st.argument == "groupSize",
        "w4a16 quantize: groupSize 256 != k rejected (" + st.message + ")");
  st = sparq::W4A16QuantizeRtn(w.data(), 2, 96, 64, &codes, &s);
  Check(st.code == StatusCode::kShape, "w4a16 quantize: k % groupSize != 0 rejected");
  W4A16Packed gpu;
  std::vector<uint8_t> c8 = RandomCodes(4, 64);
  sparq::W4A16Pack(c8.data(), scales.data(), 4, 64, 32, &gpu, W4A16Layout::kGpu);
  sparq::cpu::ThreadPool pool(1);
  std::vector<uint16_t> x(64, H(1.0f)), y(4);
  st = sparq::W4A16MatmulCpu(gpu.view(), x.data(), nullptr, y.data(), 1, Isa::kScalar, pool);
  Check(st.code == StatusCode::kArgument, "w4a16 cpu matmul: a gpu-layout weight is rejected, not misread");
}

// The AVX-512 and AVX2 dequantisation tables as the kernels build them (GroupTablesForTest: the
// scale's fraction row of ScaleTables with ±2^(e − 15) added to its bits, or the direct product and RNE for
// zero, subnormal, huge, inf and NaN scales) against fp16((q − 8)·s) computed here with _Float16,
// for every one of the 65 536 scale patterns: bit for bit (NaN: both NaN).
void CheckTablesEveryScale() {
  for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
    if (!sparq::cpu::IsaSupported(isa)) {
      std::printf("SKIP w4a16 [cpu/%s] tables: this CPU lacks it\n", sparq::cpu::IsaName(isa));
      continue;
    }
    int64_t bad = 0, first_bad = -1;
    float tables[4 * 16];
    uint16_t tables_f16[4 * 16];
    for (uint32_t s0 = 0; s0 < 65536; s0 += 4) {
      const uint16_t s4[4] = {uint16_t(s0), uint16_t(s0 + 1), uint16_t(s0 + 2), uint16_t(s0 + 3)};
      if (isa == Isa::kAvx512) sparq::cpu::w4a16::avx512::GroupTablesForTest(s4, tables);
      else sparq::cpu::w4a16::avx2::GroupTablesForTest(s4, tables_f16);
      for (int c = 0; c < 4; ++c) {
        for (int q = 0; q < 16; ++q) {
          const float want = F(H(float(q - 8) * F(s4[c])));  // the product is exact in fp32
          const float got = isa == Isa::kAvx512 ? tables[c * 16 + q] : F(tables_f16[c * 16 + q]);
          const bool same = std::isnan(want) ? std::isnan(got) : std::memcmp(&want, &got, sizeof got) == 0;
          if (!same && bad++ == 0) first_bad = int64_t(s4[c]) * 16 + q;
        }
      }
    }
    char first[128] = "";
    if (bad) std::snprintf(first, sizeof first, " (%lld wrong, first scale 0x%04llx code %lld)", static_cast<long long>(bad),
                           static_cast<long long>(first_bad / 16), static_cast<long long>(first_bad % 16));
    Check(bad == 0, std::string("w4a16 [cpu/") + sparq::cpu::IsaName(isa) +
                        "] tables: fp16((q − 8)·s) bit for bit for all 65536 scale patterns x 16 codes" + first);
  }
  // The AVX-512 gemm's panel tables (BuildLut on each scale): the same check.
  if (sparq::cpu::IsaSupported(Isa::kAvx512)) {
    int64_t bad = 0, first_bad = -1;
    float tables[4 * 16];
    for (uint32_t s0 = 0; s0 < 65536; s0 += 4) {
      const uint16_t s4[4] = {uint16_t(s0), uint16_t(s0 + 1), uint16_t(s0 + 2), uint16_t(s0 + 3)};
      sparq::cpu::w4a16::avx512::PanelTablesForTest(s4, tables);
      for (int c = 0; c < 4; ++c)
        for (int q = 0; q < 16; ++q) {
          const float want = F(H(float(q - 8) * F(s4[c])));
          const float got = tables[c * 16 + q];
          const bool same = std::isnan(want) ? std::isnan(got) : std::memcmp(&want, &got, sizeof got) == 0;
          if (!same && bad++ == 0) first_bad = int64_t(s4[c]) * 16 + q;
        }
    }
    char first[128] = "";
    if (bad) std::snprintf(first, sizeof first, " (%lld wrong, first scale 0x%04llx code %lld)", static_cast<long long>(bad),
                           static_cast<long long>(first_bad / 16), static_cast<long long>(first_bad % 16));
    Check(bad == 0, std::string("w4a16 [cpu/avx512] gemm panel tables: fp16((q − 8)·s) bit for bit for all 65536 scale patterns x 16 codes") +
                        first);
  }
  // The AVX-512 gemv's converted tables (single-row passes at every group size, 4-row passes at
  // group 32; scales converted a window at a time, then multiplied and rounded): the same check,
  // windows of every length 1..256 (the masked tail).
  if (sparq::cpu::IsaSupported(Isa::kAvx512)) {
    int64_t bad = 0, first_bad = -1;
    std::vector<uint16_t> row(256);
    std::vector<float> tables(256 * 16);
    int64_t count = 1;
    for (uint32_t s0 = 0; s0 < 65536; s0 += uint32_t(count), count = count % 256 + 1) {
      const int64_t n = std::min<int64_t>(count, 65536 - s0);
      for (int64_t i = 0; i < n; ++i) row[size_t(i)] = uint16_t(s0 + i);
      sparq::cpu::w4a16::avx512::ConvertedTablesForTest(row.data(), n, tables.data());
      for (int64_t i = 0; i < n; ++i)
        for (int q = 0; q < 16; ++q) {
          const float want = F(H(float(q - 8) * F(row[size_t(i)])));
          const float got = tables[size_t(i * 16 + q)];
          const bool same = std::isnan(want) ? std::isnan(got) : std::memcmp(&want, &got, sizeof got) == 0;
          if (!same && bad++ == 0) first_bad = int64_t(row[size_t(i)]) * 16 + q;
        }
    }
    char first[128] = "";
    if (bad) std::snprintf(first, sizeof first, " (%lld wrong, first scale 0x%04llx code %lld)", static_cast<long long>(bad),
                           static_cast<long long>(first_bad / 16), static_cast<long long>(first_bad % 16));
    Check(bad == 0, std::string("w4a16 [cpu/avx512] converted tables: fp16((q − 8)·s) bit for bit for all 65536 scale "
                                "patterns x 16 codes, windows of 1..256 scales") + first);
  }
}

// Every build of the AVX-512 gemv this CPU runs — plain (broadcast + shift), VBMI (vpermb) and
// AVX512-FP16 (tables by vmulph) — gives the plain one's bits: the same contract w, the same lanes
// and order. Scales of both signs, subnormal, zero, at both ends of the table's exponent range
// (fields 1 and 27) and past it (28, where 8·s reaches 65536, and 30). Called directly: the
// driver picks one per call (SPARQ_W4A16_GEMV).
void CheckDecodeGemvsSameBits() {
  if (!sparq::cpu::IsaSupported(Isa::kAvx512)) {
    std::printf("SKIP w4a16 [cpu/avx512] gemv builds: this CPU has no AVX-512\n");
    return;
  }
  namespace cw = sparq::cpu::w4a16;
  struct Build {
    const char* name;
    cw::ColumnsFn gemv;
  };
  std::vector<Build> builds;
  // Single-row passes (every group size) and 4-row passes at group 32 build their tables by
  // conversion (w4a16_gemv_avx512.inc): the table route, which the other passes take, must give
  // the same bits.
  builds.push_back({"avx512 (tables from ScaleTables for every group size)", cw::avx512::TableGemvForTest()});
  if (sparq::cpu::HasAvx512Vbmi()) builds.push_back({"avx512vbmi (vpermb)", cw::avx512vbmi::DecodeGemv()});
  else std::printf("SKIP w4a16 [cpu/avx512vbmi]: this CPU has no AVX512_VBMI\n");
  if (sparq::cpu::HasAvx512Fp16() && cw::avx512fp16::DecodeGemv() != nullptr)
    builds.push_back({"avx512fp16 (vmulph tables)", cw::avx512fp16::DecodeGemv()});
  else std::printf("SKIP w4a16 [cpu/avx512fp16]: this CPU or compiler has no AVX512-FP16\n");
  const uint16_t kExponents[] = {0, 1, 27, 28, 30};
  for (int64_t m : {1, 2, 3, 5}) {
    // g = 0: per-channel (one group of k), at k = 1000 (k_pad past k) and 4096
    for (int group : {32, 64, 128, 0}) {
      // 4 groups; at group 32 also 300 (more than one 256-group window of converted scales)
      for (int64_t groups : {4, 300}) {
        if (groups == 300 && ((group != 32 && group != 0) || m == 3)) continue;
        const int64_t n = m % 2 ? 37 : 24, k = group > 0 ? groups * group : groups == 4 ? 1000 : 4096;
        const int g = group > 0 ? group : int(k);
        std::vector<uint8_t> codes = RandomCodes(n, k);
        std::vector<uint16_t> scales(size_t(n * (k / g)));
        for (size_t i = 0; i < scales.size(); ++i) {
          const uint16_t sign = uint16_t(g_rng() & 0x8000), mant = uint16_t(g_rng() & 0x3ff);
          const uint16_t exp = i % 3 == 0 ? kExponents[(i / 3) % 5] : uint16_t(8 + g_rng() % 10);
          scales[i] = uint16_t(sign | exp << 10 | (i % 31 == 0 ? 0 : mant));  // some ±0 and powers of two
        }
        W4A16Packed pk;
        Status st = sparq::W4A16Pack(codes.data(), scales.data(), n, k, g, &pk, W4A16Layout::kCpu);
        const sparq::W4A16WeightView v = pk.view();
        // 64-byte aligned, as the driver's X (the gemv uses aligned loads)
        std::vector<float> x_store(size_t(m * v.k_pad) + 16);
        float* x = x_store.data() + (16 - (reinterpret_cast<uintptr_t>(x_store.data()) / sizeof(float)) % 16) % 16;
        for (int64_t i = 0; i < m * v.k_pad; ++i) x[i] = F(H(std::uniform_real_distribution<float>(-1, 1)(g_rng)));
        cw::Problem p = cw::ProblemFor(v, m);
        p.x = x;
        const int64_t blocks = v.n_pad / sparq::w4a16::kCpuColBlock;
        std::vector<uint16_t> y_plain(size_t(m * n), kNanBits);
        p.y = y_plain.data();
        cw::avx512::Kernels().gemv(p, 0, blocks);
        for (const Build& b : builds) {
          std::vector<uint16_t> y(size_t(m * n), kNanBits);
          p.y = y.data();
          b.gemv(p, 0, blocks);
          Check(st.ok() && std::memcmp(y_plain.data(), y.data(), y.size() * 2) == 0,
                std::string("w4a16 [cpu/") + b.name + "] m=" + std::to_string(m) + " g=" + std::to_string(g) +
                    " k=" + std::to_string(k) + ": the plain AVX-512 gemv's bits (signed, zero, subnormal, edge and overflowing scales)");
        }
      }
    }
  }
}

}  // namespace

void RunSimChecks();  // below, when the simulator is built

int main() {
  // ---------------------------------------------------------------- quantizer
  for (int g : {32, 64, 128}) CheckRtn(7, 384, g);
  CheckRtn(5, 96, 96);    // per-channel, k not a multiple of 64
  CheckRtn(3, 4096, 4096);
  // ---------------------------------------------------------------- layouts
  for (W4A16Layout layout : {W4A16Layout::kGpu, W4A16Layout::kCpu}) {
    CheckLayout(128, 64, 32, layout);
    CheckLayout(131, 96, 32, layout);   // n tail, k tail (k_pad 128 on gpu), padded scale group
    CheckLayout(37, 256, 128, layout);
    CheckLayout(200, 192, 64, layout);
    CheckLayout(9, 50, 50, layout);     // per-channel, k = 50
    CheckLayout(260, 320, 320, layout); // per-channel, several tiles
  }
  CheckErrors();
  // ---------------------------------------------------------------- cpu matmul, every ISA
  sparq::cpu::ThreadPool pool(2);
  // Under TSan (see sim_test_util.h) the cpu matmuls run on the best ISA only, at three m (the
  // gemv path, one tile row with a tail, several tiles): the threads split work the same way
  // whatever the ISA, and the plain and ASan runs cover every ISA and m for values.
  std::vector<Isa> isas;
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512})
    if (sparq::cpu::IsaSupported(isa) && (!kTsanLight || isa == sparq::cpu::BestSupportedIsa())) isas.push_back(isa);
  std::vector<Case> cases;
  for (int64_t m : {1, 5, 16, 33, 64, 100}) {
    if (kTsanLight && m != 1 && m != 33 && m != 100) continue;
    for (int g : {32, 64, 128, 0}) {
      const int64_t k = g == 0 ? 200 : 3 * g + (g == 32 ? 32 : 0);
      cases.push_back({m, m % 2 ? 37 : 131, k, g == 0 ? int(k) : g, m % 3 != 0});
    }
  }
  cases.push_back({7, 1029, 96, 32, true});   // odd n, k tail
  cases.push_back({3, 13, 1024, 128, true});
  // Each side of the AVX-512 decode path's last m (14: passes of 4, 4, 4 and 2) and the gemm's first.
  for (int64_t m : {14, 15}) cases.push_back({m, 37, 320, 64, m == 14});
  // The gemm's last row block of a few rows (the tail kernels: AVX-512 1–3 rows, AVX2 1–13 and
  // every row at m = 5–13), k over several blocks; AVX-512's two forms (PanelKGroup: quads at
  // 20, 28, 36, 44 — a last block of 4 or 12 rows —, pairs at 29, 31, 35 and 40 below).
  if (!kTsanLight)
    for (int64_t m : {9, 13, 17, 18, 20, 28, 29, 31, 35, 36, 44}) cases.push_back({m, 37, 640, 128, m != 18});
  // The AVX-512 gemm's chunks of panels (PanelChunk: 16 at m = 40, 8 at m = 150): several
  // chunks per thread, k blocks with a tail, a last panel of 2 (then 1) column blocks.
  if (!kTsanLight) {
    cases.push_back({40, 1003, 640, 128, true});
    cases.push_back({150, 301, 576, 64, false});
  }
  for (Isa isa : isas) {
    for (const Case& c : cases) CheckCpuMatmul(c, isa, pool);
    CheckCraftedCpu(isa, pool, 128);
    CheckCraftedCpu(isa, pool, 1024);
  }
  CheckTablesEveryScale();
  CheckDecodeGemvsSameBits();
  RunSimChecks();
  sparq_test::PrintShard();
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}

#if !defined(SPARQ_HAVE_SIM)
void RunSimChecks() { std::printf("SKIP w4a16 [sim]: built without the simulator (SPARQ_SIM=OFF)\n"); }
#else
namespace {

uint64_t BytesOf(const sparq::LaunchInfo& info, const std::string& name) {
  for (const auto& [n, b] : info.bytes_read)
    if (n == name) return b;
  return ~uint64_t{0};
}

struct SimCase {
  int64_t m, n, k;
  int g;
  int sm_count;
  const char* what;
};

void CheckSimCase(const SimCase& c, int stages, sparq::cpu::ThreadPool& pool) {
  if (!sparq_test::TakeCase()) return;
  const Case cc{c.m, c.n, c.k, c.g, true};
  const Inputs in = MakeInputs(cc);
  W4A16Packed pk, pk_cpu;
  Status st = sparq::W4A16Pack(in.codes.data(), in.scales.data(), c.n, c.k, c.g, &pk, W4A16Layout::kGpu);
  if (st.ok()) st = sparq::W4A16Pack(in.codes.data(), in.scales.data(), c.n, c.k, c.g, &pk_cpu, W4A16Layout::kCpu);
  sparq::sim::SimOptions opt;
  opt.sm_count = c.sm_count;
  std::vector<uint16_t> y(size_t(c.m * c.n), kNanBits), y2(size_t(c.m * c.n), kNanBits), yc(size_t(c.m * c.n), kNanBits);
  sparq::LaunchInfo info, info2;
  if (st.ok()) st = sparq::sim::W4A16MatmulStages(MatmulArgs(pk, in.x.data(), in.bias.data(), y.data(), c.m), stages, opt, &info);
  const std::string tag = std::string("w4a16 [sim] ") + CaseName(cc) + " stages=" + std::to_string(stages) +
                          " sms=" + std::to_string(c.sm_count) + " (" + c.what + ")";
  if (!st.ok()) { Check(false, tag + ": " + st.message); return; }
  const std::vector<double> ref = Reference(in.codes, in.scales, in.x, &in.bias, c.m, c.n, c.k, c.g);
  bool written = false;
  const double err = RelErr(y, ref, &written);
  char buf[96];
  std::snprintf(buf, sizeof buf, " (rel %.2e; %s)", err, info.config.c_str());
  Check(written && err <= 2e-3, tag + ": matches the float64 reference, every element written" + buf);
  const bool want_w_as_a = c.m <= 8 && sparq::w4a16::TimingKnobs().w_as_a;
  Check((info.config.find("W_AS_A") != std::string::npos) == want_w_as_a,
        tag + (want_w_as_a ? ": ran with W as the mma's A operand" : ": ran the plain form (X as the A operand)"));
  sparq::W4A16MatmulCpu(pk_cpu.view(), in.x.data(), in.bias.data(), yc.data(), c.m, sparq::cpu::BestSupportedIsa(), pool);
  std::vector<double> cpu_d(yc.size());
  for (size_t i = 0; i < yc.size(); ++i) cpu_d[i] = F(yc[i]);
  const double err_cpu = RelErr(y, cpu_d, &written);
  Check(err_cpu <= 2e-3, tag + ": agrees with the cpu backend");
  st = sparq::sim::W4A16MatmulStages(MatmulArgs(pk, in.x.data(), in.bias.data(), y2.data(), c.m), stages, opt, &info2);
  Check(st.ok() && y == y2, tag + ": same bits on a second run (fixed reduction order)");
  const uint64_t slabs = uint64_t((c.m + 63) / 64);
  Check(BytesOf(info, "qweight") == slabs * pk.qweight.size(),
        tag + ": every packed weight byte fetched exactly once per m-slab (" + std::to_string(BytesOf(info, "qweight")) +
            " = " + std::to_string(slabs) + " x " + std::to_string(pk.qweight.size()) + ")");
}

void CheckSimCrafted(int g) {
  Crafted cr(g);
  W4A16Packed pk;
  Status st = sparq::W4A16Pack(cr.codes.data(), cr.scales.data(), cr.n, cr.k, g, &pk, W4A16Layout::kGpu);
  std::vector<uint16_t> y(size_t(cr.m * cr.n), kNanBits);
  sparq::sim::SimOptions opt;
  opt.sm_count = 4;
  if (st.ok()) st = sparq::sim::W4A16Matmul(MatmulArgs(pk, cr.x.data(), cr.bias.data(), y.data(), cr.m), opt, nullptr);
  bool zero = st.ok();
  for (uint16_t v : y) zero = zero && (v == 0 || v == 0x8000);
  Check(zero, "w4a16 [sim] crafted g=" + std::to_string(g) + ": (q-8)*s rounded to fp16 before the sum (Y = 0, not 0.5)" +
                  (st.ok() ? "" : " " + st.message));
}

}  // namespace

void RunSimChecks() {
  sparq::cpu::ThreadPool pool(2);
  const SimCase cases[] = {
      {1, 200, 320, 64, 3, "n tail; stripes 4 tiles: split columns, k tail inside a stripe"},
      {20, 64, 640, 32, 4, "one column, 4 contributors, group 32 = 2 scale rows per tile"},
      {40, 300, 256, 128, 4, "3 columns, group 128 spans tiles"},
      {64, 131, 100, 100, 2, "per-channel, k % 8 != 0: padded x copy"},
      {100, 136, 192, 64, 3, "two m-slabs (64 + 36)"},
      // 16 tiles through one CTA: the cp.async ring wraps 4× (4 stages) / 2× (8 stages), so a
      // stage reused before everyone is past it reads the next tile's bytes
      {16, 128, 1024, 128, 1, "ring wraps (16 tiles on 1 SM)"},
      // k % 64 != 0 with k % 8 == 0 and x aligned: no padded copy, the tile's k tail is guarded
      {5, 128, 96, 32, 2, "unpadded k tail (k = 96: x read in place, the tail zero-filled)"},
  };
  // Under TSan one pipeline depth: the ring-wrap case still wraps at 4 stages, and 8 adds no new
  // synchronization, only a longer ring.
  const std::vector<int> depths = kTsanLight ? std::vector<int>{4} : std::vector<int>{4, 8};
  for (int stages : depths)
    for (const SimCase& c : cases) CheckSimCase(c, stages, pool);
  // every M_BLOCKS instance (1..4) at both depths, on one small shape
  for (int stages : depths)
    for (int64_t m : {16, 17, 33, 49}) CheckSimCase({m, 130, 128, 64, 2, "instance sweep"}, stages, pool);
  // W as the mma's A operand (slabs of m ≤ 8): token counts 1..8 through the transposed
  // accumulators with split columns, group 32 (2 scale rows a tile), groups spanning tiles,
  // per-channel with a padded x, an n tail and a wrapping ring; then the same cases in the plain
  // form (SPARQ_W4A16_W_AS_A=0), which stays selectable so a GPU session can time both.
  const SimCase w_as_a[] = {
      {1, 136, 384, 128, 3, "W_AS_A: split columns, group 128 spans tiles"},
      {2, 64, 640, 32, 4, "W_AS_A: one column, 4 contributors, group 32"},
      {3, 131, 100, 100, 2, "W_AS_A: per-channel, k % 8 != 0: padded x"},
      {7, 200, 320, 64, 3, "W_AS_A: n tail, k tail inside a stripe"},
      {8, 128, 1024, 128, 1, "W_AS_A: ring wraps (16 tiles on 1 SM)"},
  };
  for (int stages : depths) {
    for (const SimCase& c : w_as_a) CheckSimCase(c, stages, pool);
    sparq::w4a16::TimingKnobs().w_as_a = false;
    for (const SimCase& c : w_as_a) CheckSimCase({c.m, c.n, c.k, c.g, c.sm_count, "plain form forced"}, stages, pool);
    sparq::w4a16::TimingKnobs().w_as_a = true;
  }
  // Two CTAs per SM (SPARQ_W4A16_CTAS_PER_SM=2, a GPU session's timing knob): twice the stripes,
  // more contributors per column, both forms.
  sparq::w4a16::TimingKnobs().ctas_per_sm = 2;
  for (const SimCase& c : {SimCase{1, 200, 320, 64, 3, "2 CTAs per SM"}, SimCase{20, 64, 640, 32, 4, "2 CTAs per SM"}})
    CheckSimCase(c, depths.back(), pool);
  sparq::w4a16::TimingKnobs().ctas_per_sm = 1;
  {  // one CTA at a time: columns split over CTAs still reduce (no CTA waits for another)
    const Inputs in = MakeInputs({5, 256, 192, 64, true});
    W4A16Packed pk;
    sparq::W4A16Pack(in.codes.data(), in.scales.data(), 256, 192, 64, &pk, W4A16Layout::kGpu);
    sparq::sim::SimOptions opt;
    opt.sm_count = 2;
    opt.concurrent_ctas = false;
    std::vector<uint16_t> y(5 * 256, kNanBits);
    Status st = sparq::sim::W4A16Matmul(MatmulArgs(pk, in.x.data(), in.bias.data(), y.data(), 5), opt, nullptr);
    bool written = false;
    const double err = RelErr(y, Reference(in.codes, in.scales, in.x, &in.bias, 5, 256, 192, 64), &written);
    Check(st.ok() && written && err <= 2e-3, "w4a16 [sim] sequential CTAs: split columns reduce without waiting, correct");
  }
  // More CTAs than can run at once (the plan sized for 16 or 132 SMs, 2 or 3 simulated): CTAs that
  // start late still complete their columns, because no CTA waits for another. Under the old
  // flag chain (lower CTAs spinning on higher ones) these grids deadlocked.
  for (const auto& [sms, planned] : {std::pair{2, 16}, std::pair{3, 132}}) {
    const Inputs in = MakeInputs({37, 384, 1024, 128, true});
    W4A16Packed pk;
    sparq::W4A16Pack(in.codes.data(), in.scales.data(), 384, 1024, 128, &pk, W4A16Layout::kGpu);
    sparq::sim::SimOptions opt;
    opt.sm_count = sms;
    opt.launcher_sms = planned;
    std::vector<uint16_t> y(37 * 384, kNanBits), y2(37 * 384, kNanBits);
    sparq::LaunchInfo info;
    Status st = sparq::sim::W4A16Matmul(MatmulArgs(pk, in.x.data(), in.bias.data(), y.data(), 37), opt, &info);
    if (st.ok()) st = sparq::sim::W4A16Matmul(MatmulArgs(pk, in.x.data(), in.bias.data(), y2.data(), 37), opt, nullptr);
    bool written = false;
    const double err = RelErr(y, Reference(in.codes, in.scales, in.x, &in.bias, 37, 384, 1024, 128), &written);
    Check(st.ok() && written && err <= 2e-3 && y == y2 && info.grid_x > sms,
          "w4a16 [sim] grid of " + std::to_string(info.grid_x) + " CTAs on " + std::to_string(sms) +
              " SMs (fewer resident than the grid): correct, same bits twice (" +
              (st.ok() ? info.config : st.message) + ")");
  }
  {  // x at an 8-byte offset with k % 8 == 0: its rows cannot feed 16-byte cp.async, so the plan
     // must copy it into the padded buffer first (the simulator rejects a misaligned cp.async)
    const Inputs in = MakeInputs({7, 160, 128, 64, true});
    W4A16Packed pk;
    sparq::W4A16Pack(in.codes.data(), in.scales.data(), 160, 128, 64, &pk, W4A16Layout::kGpu);
    std::vector<uint16_t> x_store(7 * 128 + 4);
    std::copy(in.x.begin(), in.x.end(), x_store.begin() + 4);  // vector storage is 16-B aligned: +8 bytes
    std::vector<uint16_t> y(7 * 160, kNanBits);
    sparq::LaunchInfo info;
    sparq::sim::SimOptions opt;
    Status st = sparq::sim::W4A16Matmul(MatmulArgs(pk, x_store.data() + 4, in.bias.data(), y.data(), 7), opt, &info);
    bool written = false;
    const double err = RelErr(y, Reference(in.codes, in.scales, in.x, &in.bias, 7, 160, 128, 64), &written);
    Check(st.ok() && written && err <= 2e-3 && info.config.find("x_padded") != std::string::npos,
          "w4a16 [sim] x 8-byte aligned, k % 8 == 0: copied to the padded buffer first, correct (" +
              (st.ok() ? info.config : st.message) + ")");
  }
  CheckSimCrafted(128);
  CheckSimCrafted(1024);
  {  // a cpu-layout weight is rejected by the sim backend
    std::vector<uint8_t> c8 = RandomCodes(4, 64);
    std::vector<uint16_t> s8(8, H(0.01f));
    W4A16Packed pk;
    sparq::W4A16Pack(c8.data(), s8.data(), 4, 64, 32, &pk, W4A16Layout::kCpu);
    std::vector<uint16_t> x(64, H(1.0f)), y(4);
    Status st = sparq::sim::W4A16Matmul(MatmulArgs(pk, x.data(), nullptr, y.data(), 1), sparq::sim::SimOptions{}, nullptr);
    Check(st.code == StatusCode::kArgument, "w4a16 [sim]: a cpu-layout weight is rejected, not misread");
  }
}
#endif
