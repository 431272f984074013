// native/tests/sim_schedule_test.cc: the simulator's seeded schedule fuzzing
// (SimOptions::schedule_seed) and its check that an .aligned collective is reached from one place
// (sim::Site). Each has a kernel with the bug it exists for, which the simulator without it lets
// pass, and the correct form, which passes under every seed. Then the W4A16 and dense sim ops
// under several seeds: the float64 reference's tolerance, and the same bits as the unfuzzed run.
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "cuda/ptx_prims.cuh"
#include "sim/sim_launch.h"
#include "sim_test_util.h"
#include "sparq/dense.h"
#include "sparq/half.h"
#include "sparq/w4a16.h"

namespace sparq::sched {

// ---- CTA dispatch order ---------------------------------------------------------------------
constexpr int kCtas = 8;
constexpr uint32_t Value(int b) { return 100u + 7u * uint32_t(b); }

// BUG: CTA b waits for CTA b - 1 (CTA 0 starts the chain). It finishes only if every CTA's
// predecessor was dispatched before it or runs beside it; a GPU dispatches CTAs in no promised
// order, so with fewer SMs than CTAs a waiting CTA can hold the SM its predecessor needs.
__global__ void chain_kernel(uint32_t* flags, uint32_t* out) {
  const int b = int(blockIdx.x);
  if (threadIdx.x != 0) return;
  if (b > 0)
    while (ld_acquire_gpu_u32(&flags[b - 1]) == 0u) {
    }
  g_store(&out[b], Value(b));
  st_release_gpu_u32(&flags[b], 1u);
}

// Correct: no CTA waits for another. Each stores its value and counts in (acq_rel); the one that
// arrives last has acquired every other CTA's release and writes the sum.
__global__ void last_arrival_kernel(uint32_t* counter, uint32_t* out) {
  const int b = int(blockIdx.x);
  if (threadIdx.x != 0) return;
  g_store(&out[b], Value(b));
  fence_acq_rel_gpu();
  if (atom_add_acq_rel_gpu_u32(counter, 1u) == uint32_t(kCtas - 1)) {
    uint32_t sum = 0;
    for (int i = 0; i < kCtas; ++i) sum += g_load(&out[i]);
    g_store(&out[kCtas], sum);
  }
}

// ---- thread start order ---------------------------------------------------------------------
constexpr int kRaceThreads = 64;
constexpr uint32_t kRaceValue = 0x1234u;

// BUG: thread 0 (warp 0) fills a shared word that thread 32 (warp 1) reads with no bar.sync in
// between. Threads are created in threadIdx order, so thread 0 has often written it by the time
// thread 32 starts: unfuzzed, the simulator shows the bug in some runs only (2 of 4 when written).
__global__ void smem_race_kernel(const uint32_t* src, uint32_t* out, int with_barrier) {
  SPARQ_SMEM(uint32_t, s_word, 1);
  const int t = int(threadIdx.x);
  if (t == 0) s_word[0] = g_load(&src[0]);
  if (with_barrier) syncthreads();
  if (t == 32) g_store(&out[0], s_word[0]);
}

// ---- .aligned collectives reached from two places ---------------------------------------------
enum SiteVariant : int {
  kLdmatrixOnce = 0,  // correct: one call site after the branch
  kLdmatrixTwice,     // BUG: the same ldmatrix in both arms of a branch on the lane
  kMmaTwice,          // BUG: the same mma in both arms
  kBarrierOnce,       // correct
  kBarrierTwice,      // BUG: a __syncthreads in each arm of a branch on the warp
};

__global__ void site_kernel(uint32_t* out, int variant) {
  SPARQ_SMEM(uint16_t, s_tile, 8 * 8);
  const int t = int(threadIdx.x), lane = t % 32;
  if (t < 64) s_tile[t] = uint16_t(0x3c00u + t);  // 1.0 + a little, as f16 bits
  syncthreads();
  uint32_t d[1] = {0};
  const void* row = &s_tile[8 * (lane % 8)];
  switch (variant) {
    case kLdmatrixOnce:
      ldmatrix_m8n8_x1_b16(d, row);
      break;
    case kLdmatrixTwice:
      if (lane < 16) ldmatrix_m8n8_x1_b16(d, row);
      else ldmatrix_m8n8_x1_b16(d, row);
      break;
    case kMmaTwice: {
      FragA_F16 a{};
      FragB_F16 b{};
      FragC_F32 c{};
      if (lane & 1) mma_m16n8k16_f32_f16_f16_f32(c, a, b, c);
      else mma_m16n8k16_f32_f16_f16_f32(c, a, b, c);
      d[0] = uint32_t(c.x[0]);
      break;
    }
    case kBarrierOnce:
      syncthreads();
      break;
    case kBarrierTwice:
      if (t < 32) syncthreads();
      else syncthreads();
      break;
    default:
      break;
  }
  g_store(&out[t], d[0]);
}

}  // namespace sparq::sched

using sparq_test::Check;
using sparq_test::Contains;
using namespace sparq;

namespace {

sim::SimOptions Options(uint64_t seed) {
  sim::SimOptions o;
  o.sm_count = 2;  // two CTAs at a time: fewer SMs than CTAs
  o.timeout_s = 1;
  o.schedule_seed = seed;
  return o;
}

Status RunChain(uint64_t seed, std::vector<uint32_t>* out) {
  std::vector<uint32_t> flags(sched::kCtas, 0);
  out->assign(sched::kCtas, 0);
  sim::Launch l("chain_kernel", Options(seed));
  l.RegisterBuffer("flags", flags.data(), flags.size() * 4);
  l.RegisterBuffer("out", out->data(), out->size() * 4);
  return l.Run(dim3(sched::kCtas), dim3(32), 0, &sched::chain_kernel, flags.data(), out->data());
}

void DispatchOrder() {
  std::vector<uint32_t> out;
  Status s = RunChain(0, &out);
  bool values = s.ok();
  for (int b = 0; b < sched::kCtas && values; ++b) values = out[b] == sched::Value(b);
  Check(values, "unfuzzed (blockIdx-order dispatch): the chain that relies on it passes, the bug fuzzing exists for",
        "'%s'", s.message.c_str());

  int caught = 0;
  uint64_t first = 0;
  std::string message;
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    s = RunChain(seed, &out);
    if (s.ok()) continue;
    ++caught;
    if (first == 0) {
      first = seed;
      message = s.message;
    }
  }
  std::printf("     chain kernel failed under %d of 4 seeds; first (seed %llu): %s\n", caught, (unsigned long long)first,
              message.c_str());
  Check(caught > 0 && Contains(message, ("schedule seed " + std::to_string(first)).c_str()) &&
            Contains(message, ("SPARQ_SIM_SEED=" + std::to_string(first)).c_str()),
        "seeded dispatch order: the chain fails under some seed, and the message names it", "%d of 4; '%s'", caught,
        message.c_str());
  if (first != 0) {
    s = RunChain(first, &out);
    Check(!s.ok(), "the failing seed fails again (its CTA order repeats)", "seed %llu passed the second time",
          (unsigned long long)first);
  }

  int correct = 0;
  for (uint64_t seed = 0; seed <= 8; ++seed) {
    std::vector<uint32_t> counter(1, 0), sums(sched::kCtas + 1, 0);
    sim::Launch l("last_arrival_kernel", Options(seed));
    l.RegisterBuffer("counter", counter.data(), 4);
    l.RegisterBuffer("out", sums.data(), sums.size() * 4);
    s = l.Run(dim3(sched::kCtas), dim3(32), 0, &sched::last_arrival_kernel, counter.data(), sums.data());
    uint32_t want = 0;
    for (int b = 0; b < sched::kCtas; ++b) want += sched::Value(b);
    correct += s.ok() && sums[sched::kCtas] == want && counter[0] == uint32_t(sched::kCtas);
  }
  Check(correct == 9, "the last-arrival protocol passes unfuzzed and under seeds 1-8", "%d of 9", correct);
}

// 1: out[0] was the shared word's value; 0: it was not (read before the write: the poison).
int RunRace(uint64_t seed, bool with_barrier, Status* status) {
  std::vector<uint32_t> src(1, sched::kRaceValue), out(1, 0);
  sim::Launch l("smem_race_kernel", Options(seed));
  l.RegisterBuffer("src", src.data(), 4);
  l.RegisterBuffer("out", out.data(), 4);
  *status = l.Run(dim3(1), dim3(sched::kRaceThreads), 0, &sched::smem_race_kernel, src.data(), out.data(),
                  with_barrier ? 1 : 0);
  return out[0] == sched::kRaceValue ? 1 : 0;
}

void StartOrder() {
  if (sparq_test::kTsanLight) {  // a real race on the host too, which TSan reports
    std::printf("skip the shared-memory race under TSan (the plain and ASan builds run it)\n");
    return;
  }
  Status s;
  int unfuzzed_ok = 0;
  for (int i = 0; i < 4; ++i) unfuzzed_ok += RunRace(0, false, &s);
  std::printf("     missing bar.sync, unfuzzed: the reader saw the value in %d of 4 runs (the bug hidden)\n",
              unfuzzed_ok);
  int caught = 0;
  for (uint64_t seed = 1; seed <= 24; ++seed) caught += RunRace(seed, false, &s) == 0;
  std::printf("     missing bar.sync, seeds 1-24: the reader saw the poison in %d\n", caught);
  Check(caught > 0, "seeded thread start delays: a read before the write shows under some seed", "0 of 24 seeds");
  int correct = 0;
  for (uint64_t seed = 0; seed <= 8; ++seed) correct += RunRace(seed, true, &s) == 1 && s.ok();
  Check(correct == 9, "with the bar.sync it passes unfuzzed and under seeds 1-8", "%d of 9", correct);
}

Status RunSites(int variant, uint64_t seed) {
  std::vector<uint32_t> out(64, 0);
  sim::Launch l("site_kernel", Options(seed));
  l.RegisterBuffer("out", out.data(), out.size() * 4);
  return l.Run(dim3(1), dim3(64), 0, &sched::site_kernel, out.data(), variant);
}

void AlignedSites() {
  struct Case {
    int variant;
    const char* name;
    const char* prim;  // "" = must pass
  };
  const Case cases[] = {
      {sched::kLdmatrixOnce, "ldmatrix from one place passes", ""},
      {sched::kLdmatrixTwice, "ldmatrix from both arms of a branch fails, naming both lines", "ldmatrix.sync.aligned"},
      {sched::kMmaTwice, "mma from both arms of a branch fails, naming both lines", "mma.sync.aligned"},
      {sched::kBarrierOnce, "bar.sync from one place passes", ""},
      {sched::kBarrierTwice, "bar.sync from both arms of a branch fails, naming both lines", "bar.sync"},
  };
  for (const Case& c : cases) {
    for (uint64_t seed : {uint64_t(0), uint64_t(3)}) {
      const Status s = RunSites(c.variant, seed);
      const std::string name = std::string(c.name) + (seed ? " (seed 3)" : "");
      if (*c.prim == '\0') {
        Check(s.ok(), name, "'%s'", s.message.c_str());
        continue;
      }
      const size_t first = s.message.find("sim_schedule_test.cc:");
      const bool two_lines = first != std::string::npos &&
                             s.message.find("sim_schedule_test.cc:", first + 1) != std::string::npos;
      Check(!s.ok() && Contains(s.message, c.prim) && Contains(s.message, "different places") && two_lines, name,
            "'%s'", s.message.c_str());
      if (std::getenv("SPARQ_TEST_VERBOSE")) std::fprintf(stderr, "     %s\n", s.message.c_str());
    }
  }
}

// ---- the library's sim ops under seeds ------------------------------------------------------
std::vector<uint16_t> RandomHalfs(size_t count, uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-scale, scale);
  std::vector<uint16_t> v(count);
  for (auto& h : v) h = F32ToF16Bits(u(rng));
  return v;
}

// The float64 product and, per element, sum |x·w| (the scale of fp32 accumulation error).
struct Reference {
  std::vector<double> y, mag;
};
Reference MakeReference(int64_t m, int64_t n, int64_t k, const std::function<double(int64_t, int64_t, int64_t)>& xw) {
  Reference ref{std::vector<double>(size_t(m * n)), std::vector<double>(size_t(m * n))};
  for (int64_t r = 0; r < m; ++r)
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0, a = 0;
      for (int64_t i = 0; i < k; ++i) {
        const double p = xw(r, j, i);
        acc += p;
        a += std::fabs(p);
      }
      ref.y[size_t(r * n + j)] = acc;
      ref.mag[size_t(r * n + j)] = a;
    }
  return ref;
}

// |y - ref| <= 2e-3 * (sum |x||w| + |ref|) per element: fp32 accumulation and one fp16 rounding.
bool CloseToReference(const std::vector<uint16_t>& y, const Reference& ref, std::string* why) {
  for (size_t i = 0; i < y.size(); ++i) {
    const double got = F16BitsToF32(y[i]);
    if (!(std::fabs(got - ref.y[i]) <= 2e-3 * (ref.mag[i] + std::fabs(ref.y[i])))) {
      *why = "element " + std::to_string(i) + ": " + std::to_string(got) + " vs " + std::to_string(ref.y[i]);
      return false;
    }
  }
  return true;
}

// run(seed, y) unfuzzed (seed 0) and under 3 seeds (1 under TSan), y NaN-poisoned each time: within
// the reference's tolerance every time, and the same bits as the unfuzzed run.
void UnderSeeds(const std::string& name, const Reference& ref,
                const std::function<Status(uint64_t, std::vector<uint16_t>&)>& run) {
  std::vector<uint16_t> first;
  const int seeds = sparq_test::kTsanLight ? 2 : 4;
  for (uint64_t seed = 0; seed < uint64_t(seeds); ++seed) {
    std::vector<uint16_t> y(ref.y.size(), 0x7e00);
    const auto t0 = std::chrono::steady_clock::now();
    const Status s = run(seed, y);
    std::printf("     %s seed %llu: %.1f s\n", name.c_str(), (unsigned long long)seed,
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    std::string why;
    Check(s.ok() && CloseToReference(y, ref, &why), name + ", seed " + std::to_string(seed) + ": float64 reference",
          "'%s' %s", s.message.c_str(), why.c_str());
    if (seed == 0) first = y;
    else Check(y == first, name + ", seed " + std::to_string(seed) + ": the same bits as unfuzzed");
  }
}

void W4A16UnderSeeds() {
  const int64_t n = 256, k = 512, m = 3;
  const int g = 128;
  const std::vector<uint16_t> w = RandomHalfs(size_t(n * k), 11, 1.0f), x = RandomHalfs(size_t(m * k), 12, 1.0f);
  std::vector<uint8_t> codes;
  std::vector<uint16_t> scales;
  W4A16Packed pk;
  Status s = W4A16QuantizeRtn(w.data(), n, k, g, &codes, &scales);
  if (s.ok()) s = W4A16Pack(codes.data(), scales.data(), n, k, g, &pk, W4A16Layout::kGpu);
  Check(s.ok(), "w4a16: quantize and pack 256x512", "'%s'", s.message.c_str());
  if (!s.ok()) return;
  const Reference ref = MakeReference(m, n, k, [&](int64_t r, int64_t j, int64_t i) {
    const float scale = F16BitsToF32(scales[size_t(j * (k / g) + i / g)]);
    const double wq = F16BitsToF32(F32ToF16Bits(float(int(codes[size_t(j * k + i)]) - 8) * scale));
    return double(F16BitsToF32(x[size_t(r * k + i)])) * wq;
  });
  UnderSeeds("w4a16 sim m=3 256x512, grid for 16 SMs on 4", ref, [&](uint64_t seed, std::vector<uint16_t>& y) {
    sim::SimOptions o;
    o.sm_count = 4;
    o.launcher_sms = 16;  // a grid planned for 16 SMs on 4: more CTAs than run at once
    o.schedule_seed = seed;
    W4A16MatmulArgs a;
    a.weight = pk.view();
    a.x = x.data();
    a.y = y.data();
    a.m = m;
    return sim::W4A16Matmul(a, o, nullptr);
  });
}

void DenseUnderSeeds() {
  const int64_t n = 192, k = 320, m = 5;
  const std::vector<uint16_t> w = RandomHalfs(size_t(n * k), 21, 0.5f), x = RandomHalfs(size_t(m * k), 22, 1.0f);
  const Reference ref = MakeReference(m, n, k, [&](int64_t r, int64_t j, int64_t i) {
    return double(F16BitsToF32(x[size_t(r * k + i)])) * F16BitsToF32(w[size_t(j * k + i)]);
  });
  UnderSeeds("dense sim m=5 192x320 (split-K)", ref, [&](uint64_t seed, std::vector<uint16_t>& y) {
    sim::SimOptions o;
    o.sm_count = 4;
    o.schedule_seed = seed;
    DenseMatmulArgs a;
    a.w = w.data();
    a.x = x.data();
    a.y = y.data();
    a.m = m;
    a.n = n;
    a.k = k;
    return sim::DenseMatmul(a, o, nullptr);
  });
}

void Timed(const char* name, void (*section)()) {
  const auto t0 = std::chrono::steady_clock::now();
  section();
  std::printf("     %s: %.1f s\n", name,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

}  // namespace

int main() {
  Timed("dispatch order", DispatchOrder);
  Timed("start order", StartOrder);
  Timed("aligned sites", AlignedSites);
  Timed("w4a16 under seeds", W4A16UnderSeeds);
  Timed("dense under seeds", DenseUnderSeeds);
  return sparq_test::Summary();
}
