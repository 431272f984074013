// native/tests/sim_dense_test.cc: the tensor-core GEMM (native/cuda/kernels/dense.cuh) on the
// simulator through sparq::sim::DenseMatmul, against a float64 reference: fresh random inputs,
// NaN-poisoned outputs, ragged shapes reaching every tail path, every template instance the
// launcher can choose, both grid modes, split-K (bit-identical whatever the arrival order, its
// counters re-zeroed); every element against its own bound; the bytes each buffer is read, exactly.
#include <cmath>
#include <cstring>
#include <memory>

#include "cuda/dense_plan.cuh"
#include "cuda/kernels/dense_bias_epilogue.cuh"
#include "sim/sim_launch.h"
#include "sim/sim_device.h"
#include "sim/sim_target.h"
#include "sim_test_util.h"
#include "sparq/sim.h"

using sparq_test::Check;
using namespace sparq;

namespace {

struct Case {
  int m, n, k;
  bool bias;
  int x_offset_elems;       // shifts X off 16-byte alignment to reach the 4-byte / 2-byte copy paths
  const char* want_config;  // substring of LaunchInfo::config
  int launcher_sms = 0;     // SimOptions::launcher_sms: > sm_count plans grids larger than what runs at once
};

uint32_t g_seed = 1234;

// One case's inputs (fresh random, exactly sized heap buffers so ASan sees any overrun) and its
// float64 reference with each element's magnitude Σ|x·w| + |bias|.
struct Inputs {
  Case c;
  std::unique_ptr<uint16_t[]> x_store, w, bias;
  uint16_t* x = nullptr;
  std::vector<double> ref, mag;
};

Inputs MakeInputs(const Case& c) {
  std::mt19937 rng(g_seed++);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  Inputs in;
  in.c = c;
  const size_t mk = size_t(c.m) * c.k, nk = size_t(c.n) * c.k, mn = size_t(c.m) * c.n;
  in.x_store.reset(new uint16_t[mk + c.x_offset_elems]);
  in.w.reset(new uint16_t[nk]);
  in.bias.reset(new uint16_t[c.n]);
  in.x = in.x_store.get() + c.x_offset_elems;
  for (size_t i = 0; i < mk; ++i) in.x[i] = sim::F32ToF16(u(rng));
  for (size_t i = 0; i < nk; ++i) in.w[i] = sim::F32ToF16(u(rng));
  for (int i = 0; i < c.n; ++i) in.bias[i] = sim::F32ToF16(u(rng));
  in.ref.assign(mn, 0.0);
  in.mag.assign(mn, 0.0);
  for (int i = 0; i < c.m; ++i)
    for (int j = 0; j < c.n; ++j) {
      double acc = c.bias ? sim::F16ToF32(in.bias[j]) : 0.0, mag = std::fabs(acc);
      for (int kk = 0; kk < c.k; ++kk) {
        const double p = double(sim::F16ToF32(in.x[size_t(i) * c.k + kk])) * sim::F16ToF32(in.w[size_t(j) * c.k + kk]);
        acc += p;
        mag += std::fabs(p);
      }
      in.ref[size_t(i) * c.n + j] = acc;
      in.mag[size_t(i) * c.n + j] = mag;
    }
  return in;
}

// Y into a NaN-poisoned buffer (every element must be written).
std::vector<uint16_t> Run(const Inputs& in, bool concurrent, LaunchInfo* info, Status* status) {
  const Case& c = in.c;
  std::unique_ptr<uint16_t[]> y(new uint16_t[size_t(c.m) * c.n]);
  for (size_t i = 0; i < size_t(c.m) * c.n; ++i) y[i] = 0x7e00;
  DenseMatmulArgs args;
  args.w = in.w.get();
  args.x = in.x;
  args.bias = c.bias ? in.bias.get() : nullptr;
  args.y = y.get();
  args.m = c.m;
  args.n = c.n;
  args.k = c.k;
  sim::SimOptions o;
  o.concurrent_ctas = concurrent;
  o.launcher_sms = c.launcher_sms;
  *status = sim::DenseMatmul(args, o, info);
  return std::vector<uint16_t>(y.get(), y.get() + size_t(c.m) * c.n);
}

// Elements outside |y - ref| <= 2^-10 |ref| + 2^-22 (k + 16) Σ|x·w| + 2^-24: the fp16 rounding
// (half an ulp is 2^-11 relative), fp32 accumulation over k plus the split-K sum of at most 16
// slots, and the subnormal spacing. Returns the first offender's index, or -1.
int64_t FirstOutOfBound(const Inputs& in, const std::vector<uint16_t>& y) {
  for (size_t i = 0; i < y.size(); ++i) {
    const double got = sim::F16ToF32(y[i]);
    const double bound = std::ldexp(std::fabs(in.ref[i]), -10) + std::ldexp((in.c.k + 16) * in.mag[i], -22) + std::ldexp(1.0, -24);
    if (!(std::fabs(got - in.ref[i]) <= bound)) return int64_t(i);
  }
  return -1;
}

uint64_t BytesRead(const LaunchInfo& info, const char* buffer) {
  for (auto& [buf, bytes] : info.bytes_read)
    if (buf == buffer) return bytes;
  return 0;
}

int SplitsOf(const LaunchInfo& info) { return info.grid_z > 0 ? info.grid_z : 1; }

void RunCase(const Case& c, bool concurrent) {
  if (!sparq_test::TakeCase()) return;
  const Inputs in = MakeInputs(c);
  LaunchInfo info;
  Status s;
  const std::vector<uint16_t> y = Run(in, concurrent, &info, &s);
  std::vector<float> got(y.size());
  for (size_t i = 0; i < y.size(); ++i) got[i] = sim::F16ToF32(y[i]);
  const double err = sparq_test::RelFrobenius(in.ref, got);
  const int64_t bad = FirstOutOfBound(in, y);
  char name[320];
  std::snprintf(name, sizeof name, "dense m=%d n=%d k=%d%s%s %s [%s]: every element within its bound, rel err <= 2e-3",
                c.m, c.n, c.k, c.bias ? " +bias" : "", c.x_offset_elems ? " (X misaligned)" : "",
                concurrent ? "concurrent" : "sequential", info.config.c_str());
  Check(s.ok() && bad < 0 && err <= 2e-3 && sparq_test::Contains(info.config, c.want_config), name,
        "status '%s', rel err %g, element %lld got %g want %g, config '%s' (want '%s')", s.message.c_str(), err,
        (long long)bad, bad < 0 ? 0.0 : got[size_t(bad)], bad < 0 ? 0.0 : in.ref[size_t(bad)], info.config.c_str(),
        c.want_config);

  // Traffic: X once per CTA column, W and bias once per CTA row (the k splits of a tile partition
  // k; only a tile's last arrival reads bias), Y never read, each tile's partials by its last
  // arrival only: its k_splits slots of TILE_M*TILE_N f32.
  const size_t mk = size_t(c.m) * c.k, nk = size_t(c.n) * c.k;
  const uint64_t tile_elems = sparq_test::Contains(info.config, "small_m") ? 16 * 64 : 64 * 64;
  const uint64_t want_x = uint64_t(info.grid_x) * mk * 2, want_w = uint64_t(info.grid_y) * nk * 2,
                 want_bias = c.bias ? uint64_t(info.grid_y) * c.n * 2 : 0,
                 want_partials = SplitsOf(info) > 1 ? uint64_t(info.grid_x) * info.grid_y * SplitsOf(info) * tile_elems * 4 : 0;
  const uint64_t got_x = BytesRead(info, "x"), got_w = BytesRead(info, "w"), got_bias = BytesRead(info, "bias"),
                 got_y = BytesRead(info, "y"), got_partials = BytesRead(info, "partials");
  std::snprintf(name, sizeof name,
                "dense m=%d n=%d k=%d %s traffic: x %llu = %d x m*k*2, w %llu = %d x n*k*2, partials %llu, y 0", c.m,
                c.n, c.k, concurrent ? "concurrent" : "sequential", (unsigned long long)want_x, info.grid_x,
                (unsigned long long)want_w, info.grid_y, (unsigned long long)want_partials);
  Check(got_x == want_x && got_w == want_w && got_bias == want_bias && got_y == 0 && got_partials == want_partials,
        name, "read x %llu w %llu bias %llu (want %llu) partials %llu y %llu", (unsigned long long)got_x,
        (unsigned long long)got_w, (unsigned long long)got_bias, (unsigned long long)want_bias,
        (unsigned long long)got_partials, (unsigned long long)got_y);
}

// Split-K sums the slots in slot order, so Y is the same bits whichever CTA arrives last: three
// runs with different arrival orders (two concurrent, one in blockIdx order) must agree exactly.
void RunDeterminism(const Case& c) {
  if (!sparq_test::TakeCase()) return;
  const Inputs in = MakeInputs(c);
  LaunchInfo i1, i2, i3;
  Status s1, s2, s3;
  const std::vector<uint16_t> y1 = Run(in, true, &i1, &s1), y2 = Run(in, true, &i2, &s2), y3 = Run(in, false, &i3, &s3);
  size_t diff = 0;
  for (size_t i = 0; i < y1.size(); ++i) diff += (y1[i] != y2[i]) + (y1[i] != y3[i]);
  char name[256];
  std::snprintf(name, sizeof name, "dense m=%d n=%d k=%d split_k=%d: bit-identical over 3 runs (2 concurrent, 1 sequential)",
                c.m, c.n, c.k, SplitsOf(i1));
  Check(s1.ok() && s2.ok() && s3.ok() && SplitsOf(i1) > 1 && diff == 0, name, "status '%s' '%s' '%s', %zu elements differ",
        s1.message.c_str(), s2.message.c_str(), s3.message.c_str(), diff);
}

// The CUDA workspace outlives a launch: its counters must be zero again after each one, or the
// next launch's last-arrival test is off. Two launches on one counters block through the plan.
void RunCountersReset(const Case& c) {
  if (!sparq_test::TakeCase()) return;
  const Inputs in = MakeInputs(c);
  std::unique_ptr<uint16_t[]> y(new uint16_t[size_t(c.m) * c.n]);
  DenseMatmulArgs args;
  args.w = in.w.get();
  args.x = in.x;
  args.bias = c.bias ? in.bias.get() : nullptr;
  args.y = y.get();
  args.m = c.m;
  args.n = c.n;
  args.k = c.k;
  sim::SimOptions o;
  sim::SimTarget target(o);
  const dense_plan::DensePlan plan = dense_plan::MakePlan(args, target.sm_count());
  std::vector<uint32_t> counters(size_t(plan.counters_bytes / 4) + 1, 0u);
  std::vector<float> partials(size_t(plan.partials_bytes / 4) + 1, 0.f);
  std::vector<uint16_t> first;
  bool ok = plan.k_splits > 1, same = true, zero = true;
  for (int launch = 0; launch < 2 && ok; ++launch) {
    ok = dense_plan::RunPlan(args, plan, counters.data(), partials.data(), target, nullptr).ok();
    for (uint32_t v : counters) zero = zero && v == 0;
    std::vector<uint16_t> now(y.get(), y.get() + size_t(c.m) * c.n);
    if (launch == 0) first = now;
    else same = now == first;
  }
  char name[256];
  std::snprintf(name, sizeof name, "dense m=%d n=%d k=%d split_k=%d: counters zero after each launch, relaunch same Y",
                c.m, c.n, c.k, plan.k_splits);
  Check(ok && zero && same, name, "ok %d, counters zero %d, same %d", ok, zero, same);
}


// The cuBLAS-with-bias epilogue (kernels/dense_bias_epilogue.cuh): fp32 accumulators + an fp16 bias
// per column, rounded once. Fewer CTAs than elements / threads, so the grid-stride loop wraps;
// ragged m and n; y poisoned first. The want is fp16(acc + bias) with the sum in fp32 (the
// contract), and within half an fp16 ulp of the float64 sum.
void RunBiasEpilogue(int m, int n, unsigned ctas) {
  std::mt19937 rng(g_seed++);
  std::uniform_real_distribution<float> u(-2.f, 2.f);
  std::vector<float> acc(size_t(m) * n);
  std::vector<uint16_t> bias(n), y(size_t(m) * n, 0xFFFF);
  for (float& v : acc) v = u(rng);
  for (uint16_t& b : bias) b = sparq_test::ToF16Bits(u(rng) * 0.5f);
  sim::Launch launch("dense_bias_epilogue_kernel", sim::SimOptions{});
  launch.RegisterBuffer("acc", acc.data(), acc.size() * 4);
  launch.RegisterBuffer("bias", bias.data(), bias.size() * 2);
  launch.RegisterBuffer("y", y.data(), y.size() * 2);
  Status s = launch.Run(dim3(ctas), dim3(kBiasEpilogueThreads), 0, &dense_bias_epilogue_kernel,
                        static_cast<const float*>(acc.data()), static_cast<const uint16_t*>(bias.data()), int64_t(m),
                        int64_t(n), y.data());
  int wrong = 0, far = 0;
  for (int r = 0; r < m; ++r)
    for (int c = 0; c < n; ++c) {
      const size_t e = size_t(r) * n + c;
      const float b = sparq_test::FromF16Bits(bias[c]);
      wrong += y[e] != sparq_test::ToF16Bits(acc[e] + b);
      const double exact = double(acc[e]) + double(b), got = sparq_test::FromF16Bits(y[e]);
      const double half_ulp = std::ldexp(1.0, std::ilogb(exact == 0 ? 1e-8 : exact) - 11);
      far += !(std::fabs(got - exact) <= half_ulp * 1.0001);
    }
  const auto traffic = launch.BytesRead();
  uint64_t acc_bytes = 0, bias_bytes = 0;
  for (const auto& t : traffic) {
    if (t.first == "acc") acc_bytes = t.second;
    if (t.first == "bias") bias_bytes = t.second;
  }
  Check(s.ok() && wrong == 0 && far == 0 && acc_bytes == acc.size() * 4,
        "dense bias epilogue m=" + std::to_string(m) + " n=" + std::to_string(n) + " ctas=" + std::to_string(ctas) +
            ": y = fp16(acc + bias) per element, each accumulator read once",
        "%d differ from fp16(acc + bias), %d beyond half an ulp of the float64 sum, acc read %llu of %zu bytes, bias %llu: '%s'",
        wrong, far, (unsigned long long)acc_bytes, acc.size() * 4, (unsigned long long)bias_bytes, s.message.c_str());
}

}  // namespace

int main() {
  // (m, n, k): m <= 16 -> small_m, else large; k % 8 == 0 and 16-B aligned -> 16-B cp.async,
  // k even -> 4-B cp.async, odd k -> guarded 2-byte loads. The simulator has 4 SMs: a grid of
  // fewer output tiles than that splits k (8 CTAs wanted, >= 2 k tiles per split, <= 16 splits).
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
      {64, 129, 136, true, 0, "large TILE_M=64 TILE_N=64 TILE_K=32 STAGES=4 WARPS=4 K_CHUNK_ELEMS=8 split_k=2"},
      {33, 65, 3, false, 0, "large TILE_M=64 TILE_N=64 TILE_K=32 STAGES=4 WARPS=4 K_CHUNK_ELEMS=1"},
      {20, 9, 40, true, 1, "large TILE_M=64 TILE_N=64 TILE_K=32 STAGES=4 WARPS=4 K_CHUNK_ELEMS=1"},
      // split-K: small m, large k, every copy width, uneven k ranges (9 tiles over 4 splits)
      {3, 40, 520, true, 0, "small_m TILE_M=16 TILE_N=64 TILE_K=64 STAGES=4 WARPS=4 K_CHUNK_ELEMS=8 split_k=4"},
      {16, 130, 392, true, 0, "small_m TILE_M=16 TILE_N=64 TILE_K=64 STAGES=4 WARPS=4 K_CHUNK_ELEMS=8 split_k=3"},
      {1, 1, 301, false, 0, "small_m TILE_M=16 TILE_N=64 TILE_K=64 STAGES=4 WARPS=4 K_CHUNK_ELEMS=1 split_k=2"},
      {7, 65, 258, true, 2, "small_m TILE_M=16 TILE_N=64 TILE_K=64 STAGES=4 WARPS=4 K_CHUNK_ELEMS=2 split_k=2"},
      {40, 20, 200, true, 0, "large TILE_M=64 TILE_N=64 TILE_K=32 STAGES=4 WARPS=4 K_CHUNK_ELEMS=8 split_k=3"},
      {100, 64, 256, false, 0, "large TILE_M=64 TILE_N=64 TILE_K=32 STAGES=4 WARPS=4 K_CHUNK_ELEMS=8 split_k=4"},
      // planned for 32 SMs, 4 simulated: 16 CTAs of one tile, most of them never co-resident
      {2, 64, 2048, true, 0, "small_m TILE_M=16 TILE_N=64 TILE_K=64 STAGES=4 WARPS=4 K_CHUNK_ELEMS=8 split_k=16", 32},
      // X 8-byte but not 16-byte aligned with k % 8 == 0: only the 4-byte path is legal
      {17, 64, 64, true, 4, "large TILE_M=64 TILE_N=64 TILE_K=32 STAGES=4 WARPS=4 K_CHUNK_ELEMS=2"},
  };
  for (const Case& c : cases) RunCase(c, true);
  // one-CTA-at-a-time mode on a multi-CTA subset
  RunCase(cases[3], false);
  RunCase(cases[8], false);
  RunCase(cases[12], false);
  RunCase(cases[13], false);
  RunCase(cases[19], false);
  for (int i : {13, 14, 17, 19}) RunDeterminism(cases[i]);
  RunCountersReset(cases[14]);
  RunCountersReset(cases[18]);
  RunBiasEpilogue(37, 129, 3);
  RunBiasEpilogue(1, 4096, 2);
  RunBiasEpilogue(5, 1, 1);
  return sparq_test::Summary();
}
