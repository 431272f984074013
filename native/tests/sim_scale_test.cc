// native/tests/sim_scale_test.cc: the simulator at a real GPU's size. An H200 has 132 SMs, so the
// W4A16 launcher plans a grid of 128 CTAs x 256 threads for n = 512, k = 2048: 33k simulated
// threads. On a 2-core host that once ended in a false "bar.sync: deadlock (timeout after 10 s)"
// (the wall-clock limit, not a hang). Now deadlocks are found by counting runnable threads, the
// livelock limit counts from the last progress anywhere, and at most max_resident_ctas CTAs have
// threads at once (the others wait for a free simulated SM; the launcher still sees 132 SMs).
// Checked against a float64 reference on the dequantised weights; prints the wall time.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "sparq/half.h"
#include "sparq/sim.h"
#include "sparq/w4a16.h"
#include "sim_test_util.h"

using sparq_test::Check;
using namespace sparq;

namespace {

// The case of issue 8 item 7 (the jest reproduction's inputs): W[j][i] = sin(j·k + i), x = cos.
void W4A16On132Sms() {
  if (!sparq_test::TakeCase()) return;
  const int64_t n = 512, k = 2048, m = 3;
  const int g = W4A16DefaultGroupSize(k);
  std::vector<uint16_t> w(size_t(n * k)), x(size_t(m * k));
  for (size_t i = 0; i < w.size(); ++i) w[i] = F32ToF16Bits(float(std::sin(double(i))));
  for (size_t i = 0; i < x.size(); ++i) x[i] = F32ToF16Bits(float(std::cos(double(i))));
  std::vector<uint8_t> codes;
  std::vector<uint16_t> scales;
  W4A16Packed pk;
  Status s = W4A16QuantizeRtn(w.data(), n, k, g, &codes, &scales);
  if (s.ok()) s = W4A16Pack(codes.data(), scales.data(), n, k, g, &pk, W4A16Layout::kGpu);
  Check(s.ok(), "quantize and pack 512x2048 for the tensor-core layout", "'%s'", s.message.c_str());
  if (!s.ok()) return;

  sim::SimOptions opt;
  opt.sm_count = 132;  // what the launcher plans for; max_resident_ctas (default) of them run at once
  std::vector<uint16_t> y(size_t(m * n), 0x7e00);
  W4A16MatmulArgs a;
  a.weight = pk.view();
  a.x = x.data();
  a.y = y.data();
  a.m = m;
  LaunchInfo info;
  const auto t0 = std::chrono::steady_clock::now();
  s = sim::W4A16Matmul(a, opt, &info);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("     132 simulated SMs, %d resident at once: %s, grid %lld CTAs, %.1f s\n", opt.max_resident_ctas,
              info.config.c_str(), (long long)info.grid_x, secs);
  Check(s.ok(), "W4A16 m=3 n=512 k=2048 on 132 simulated SMs runs to the end (no false deadlock)", "'%s'",
        s.message.c_str());
  if (!s.ok()) return;
  Check(info.grid_x > opt.max_resident_ctas && info.config.find("stripes=128x1") != std::string::npos,
        "the launcher planned for 132 SMs: 128 one-tile CTAs, more than run at once", "grid %lld, '%s'",
        (long long)info.grid_x, info.config.c_str());

  std::vector<double> ref(size_t(m * n));
  std::vector<float> got(ref.size());
  for (int64_t j = 0; j < n; ++j) {
    std::vector<double> wj(static_cast<size_t>(k));
    for (int64_t i = 0; i < k; ++i) {
      const float sc = F16BitsToF32(scales[size_t(j * (k / g) + i / g)]);
      wj[size_t(i)] = F16BitsToF32(F32ToF16Bits(float(int(codes[size_t(j * k + i)]) - 8) * sc));
    }
    for (int64_t r = 0; r < m; ++r) {
      double acc = 0;
      for (int64_t i = 0; i < k; ++i) acc += double(F16BitsToF32(x[size_t(r * k + i)])) * wj[size_t(i)];
      ref[size_t(r * n + j)] = acc;
      got[size_t(r * n + j)] = F16BitsToF32(y[size_t(r * n + j)]);
    }
  }
  const double err = sparq_test::RelFrobenius(ref, got);
  Check(err <= 2e-3, "y matches the float64 reference on the dequantised weights, every element written",
        "relative Frobenius error %.3g", err);
}

}  // namespace

int main() {
  W4A16On132Sms();
  return sparq_test::Summary();
}
