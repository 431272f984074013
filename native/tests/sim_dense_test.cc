// native/tests/sim_dense_test.cc: the tensor-core GEMM (native/cuda/kernels/dense.cuh) on the
// simulator through sparq::sim::DenseMatmul, against a float64 reference: fresh random inputs,
// NaN-poisoned outputs, ragged shapes reaching every tail path, every template instance the
// launcher can choose, both grid modes; and the bytes each buffer is read, asserted exactly.
#include <cstring>
#include <memory>

#include "sim/sim_device.h"
#include "sim_test_util.h"
#include "sparq/sim.h"

using sparq_test::Check;
using namespace sparq;

namespace {

struct Case {
  int m, n, k;
  bool bias;
  int x_offset_elems;  // shifts X off 16-byte alignment to reach the 4-byte / 2-byte copy paths
  const char* want_config;  // substring of LaunchInfo::config
};

uint32_t g_seed = 1234;

void RunCase(const Case& c, bool concurrent) {
  std::mt19937 rng(g_seed++);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  const size_t mk = size_t(c.m) * c.k, nk = size_t(c.n) * c.k, mn = size_t(c.m) * c.n;
  // exactly sized heap buffers (X shifted inside a larger one) so ASan sees any overrun
  std::unique_ptr<uint16_t[]> x_store(new uint16_t[mk + c.x_offset_elems]);
  std::unique_ptr<uint16_t[]> w(new uint16_t[nk]), bias(new uint16_t[c.n]), y(new uint16_t[mn]);
  uint16_t* x = x_store.get() + c.x_offset_elems;
  for (size_t i = 0; i < mk; ++i) x[i] = sim::F32ToF16(u(rng));
  for (size_t i = 0; i < nk; ++i) w[i] = sim::F32ToF16(u(rng));
  for (int i = 0; i < c.n; ++i) bias[i] = sim::F32ToF16(u(rng));
  for (size_t i = 0; i < mn; ++i) y[i] = 0x7e00;  // NaN: every element must be written

  DenseMatmulArgs args;
  args.w = w.get();
  args.x = x;
  args.bias = c.bias ? bias.get() : nullptr;
  args.y = y.get();
  args.m = c.m;
  args.n = c.n;
  args.k = c.k;
  sim::SimOptions o;
  o.concurrent_ctas = concurrent;
  LaunchInfo info;
  const Status s = sim::DenseMatmul(args, o, &info);

  std::vector<double> ref(mn);
  std::vector<float> got(mn);
  for (int i = 0; i < c.m; ++i)
    for (int j = 0; j < c.n; ++j) {
      double acc = c.bias ? sim::F16ToF32(bias[j]) : 0.0;
      for (int kk = 0; kk < c.k; ++kk) acc += double(sim::F16ToF32(x[size_t(i) * c.k + kk])) * sim::F16ToF32(w[size_t(j) * c.k + kk]);
      ref[size_t(i) * c.n + j] = acc;
      got[size_t(i) * c.n + j] = sim::F16ToF32(y[size_t(i) * c.n + j]);
    }
  const double err = sparq_test::RelFrobenius(ref, got);
  char name[256];
  std::snprintf(name, sizeof name, "dense m=%d n=%d k=%d%s%s %s [%s]: rel err <= 2e-3", c.m, c.n, c.k,
                c.bias ? " +bias" : "", c.x_offset_elems ? " (X misaligned)" : "", concurrent ? "concurrent" : "sequential",
                info.config.c_str());
  Check(s.ok() && err <= 2e-3 && sparq_test::Contains(info.config, c.want_config), name,
        "status '%s', rel err %g, config '%s' (want '%s')", s.message.c_str(), err, info.config.c_str(), c.want_config);

  // Traffic: X once per CTA column, W and bias once per CTA row, Y never read.
  const uint64_t want_x = uint64_t(info.grid_x) * mk * 2, want_w = uint64_t(info.grid_y) * nk * 2,
                 want_bias = c.bias ? uint64_t(info.grid_y) * c.n * 2 : 0;
  uint64_t got_x = ~0ull, got_w = ~0ull, got_bias = 0, got_y = ~0ull;
  for (auto& [buf, bytes] : info.bytes_read) {
    if (buf == "x") got_x = bytes;
    if (buf == "w") got_w = bytes;
    if (buf == "bias") got_bias = bytes;
    if (buf == "y") got_y = bytes;
  }
  std::snprintf(name, sizeof name, "dense m=%d n=%d k=%d %s traffic: x %llu = %d x m*k*2, w %llu = %d x n*k*2, y 0",
                c.m, c.n, c.k, concurrent ? "concurrent" : "sequential", (unsigned long long)want_x, info.grid_x,
                (unsigned long long)want_w, info.grid_y);
  Check(got_x == want_x && got_w == want_w && got_bias == want_bias && got_y == 0, name,
        "read x %llu w %llu bias %llu (want %llu) y %llu", (unsigned long long)got_x, (unsigned long long)got_w,
        (unsigned long long)got_bias, (unsigned long long)want_bias, (unsigned long long)got_y);
}

}  // namespace

int main() {
  // (m, n, k): m <= 16 -> small_m, else large; k % 8 == 0 and 16-B aligned -> 16-B cp.async,
  // k even -> 4-B cp.async, odd k -> guarded 2-byte loads.
  const Case cases[] = {
      {1, 1, 1, true, 0, "small_m TILE_M=16 TILE_N=64 TILE_K=64 STAGES=4 WARPS=4 K_CHUNK_ELEMS=1"},
      {3, 17, 17, true, 0, "small_m TILE_M=16 TILE_N=64 TILE_K=64 STAGES=4 WARPS=4 K_CHUNK_ELEMS=1"},
      {16, 64, 64, true, 0, "small_m TILE_M=16 TILE_N=64 TILE_K=64 STAGES=4 WARPS=4 K_CHUNK_ELEMS=8"},
      {1, 129, 136, false, 0, "small_m TILE_M=16 TILE_N=64 TILE_K=64 STAGES=4 WARPS=4 K_CHUNK_ELEMS=8"},
      {3, 3, 18, true, 0, "small_m TILE_M=16 TILE_N=64 TILE_K=64 STAGES=4 WARPS=4 K_CHUNK_ELEMS=2"},
      {16, 17, 64, true, 2, "small_m TILE_M=16 TILE_N=64 TILE_K=64 STAGES=4 WARPS=4 K_CHUNK_ELEMS=2"},
      {17, 3, 64, true, 0, "large TILE_M=64 TILE_N=64 TILE_K=32 STAGES=4 WARPS=4 K_CHUNK_ELEMS=8"},
      {64, 64, 64, false, 0, "large TILE_M=64 TILE_N=64 TILE_K=32 STAGES=4 WARPS=4 K_CHUNK_ELEMS=8"},
      {129, 129, 129, true, 0, "large TILE_M=64 TILE_N=64 TILE_K=32 STAGES=4 WARPS=4 K_CHUNK_ELEMS=1"},
      {129, 17, 18, true, 0, "large TILE_M=64 TILE_N=64 TILE_K=32 STAGES=4 WARPS=4 K_CHUNK_ELEMS=2"},
      {64, 129, 136, true, 0, "large TILE_M=64 TILE_N=64 TILE_K=32 STAGES=4 WARPS=4 K_CHUNK_ELEMS=8"},
      {33, 65, 3, false, 0, "large TILE_M=64 TILE_N=64 TILE_K=32 STAGES=4 WARPS=4 K_CHUNK_ELEMS=1"},
      {20, 9, 40, true, 1, "large TILE_M=64 TILE_N=64 TILE_K=32 STAGES=4 WARPS=4 K_CHUNK_ELEMS=1"},
  };
  for (const Case& c : cases) RunCase(c, true);
  // one-CTA-at-a-time mode on a multi-CTA subset
  RunCase(cases[3], false);
  RunCase(cases[8], false);
  RunCase(cases[12], false);
  return sparq_test::Summary();
}
