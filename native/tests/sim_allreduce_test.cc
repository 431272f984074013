// native/tests/sim_allreduce_test.cc: group.allreduceRmsnorm's CUDA kernel (native/cuda/kernels/
// allreduce_rmsnorm.cuh) on the simulator, through sim::AllreduceRmsnorm and the test hooks of
// sim/allreduce_sim.h (the plan the nvcc launcher runs: every rank's CTAs in one cooperative
// launch, the flag protocol under the weak global memory model).
//
// Asserted per case, for every rank: out and residual_out bit for bit equal to a plain host loop
// over the contract's scalar steps (sparq/allreduce.h ResidualOut, Square, Rstd, NormOut), and each
// element within its own bound of an independent float64 reference (plus the relative norm); the
// algorithm and grid reported; the bytes read of staging and sums (what each algorithm promises).
// Inputs: fresh random fp16 (never zeros) and integer-valued ones whose rank sums are exact; outputs
// NaN-poisoned first; "wide" x (2^-14..2^10) whose fp32 rank sums round, so their order shows.
// Cases: one-shot and two-shot, R ∈ {1,2,3,4,8}, tokens {1,7,64,130} (H = 8; up to 66 at larger H),
// hidden {8, 4104 (513 vectors: a tail past 512 threads), 8192}, in-place residual, forced CTAs,
// ≥ 200 back-to-back calls on one workspace (varying tokens, hidden, algorithm; epoch 1, 2, …), the
// same with every rank a separate launch on its own host thread (a rank may start call i+1 while a
// peer still runs call i: only the end barrier keeps it off the peer's staging), a workspace whose
// flags hold an older epoch or 0xffffffff (wrap to 1) and whose staging is NaN, a rank that never
// arrives (kDevice from the kernel's trap or from the livelock detector, never a hang), and a
// device too small for the cooperative grid (kDevice).
#include <algorithm>
#include <chrono>
#include <functional>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cuda/allreduce_plan.cuh"
#include "runtime/backend.h"
#include "runtime/comm_device.h"
#include "runtime/comm_host.h"
#include "runtime/comm_nccl.h"
#include "runtime/shm_comm.h"
#include "sim/allreduce_sim.h"
#include "sim_test_util.h"
#include "sparq/allreduce.h"
#include "sparq/half.h"
#include "sparq/sim.h"

using sparq_test::Check;
using namespace sparq;

namespace {

constexpr uint16_t kPoison = 0x7e00;  // fp16 NaN
uint32_t g_seed = 20261130;

using sparq_test::kTsanLight;

using Algo = allreduce::Algorithm;

const char* AlgoName(Algo a) { return a == Algo::kOneShot ? "one-shot" : a == Algo::kTwoShot ? "two-shot" : "auto"; }

// One workspace kept from call to call, like the Group's.
struct Workspace {
  std::vector<uint64_t> words;
  uint32_t epoch = 0;
  void Fit(int ranks, int64_t tokens, int64_t hidden) {
    const size_t need = size_t(allreduce::WorkspaceBytes(ranks, tokens, hidden) + 7) / 8;
    if (words.size() < need) words.resize(need, 0);  // grown: new bytes zero, flags kept
  }
  uint32_t Next() {
    if (++epoch == 0) epoch = 1;
    return epoch;
  }
};

struct Call {
  int ranks = 2;
  int64_t tokens = 1, hidden = 8;
  Algo algo = Algo::kAuto;
  bool in_place = false;
  bool integers = false;
  bool wide = false;  // x spread over 2^-14 .. 2^10: rank sums round in fp32, so their order shows
  float eps = 1e-6f;
  std::vector<std::vector<uint16_t>> x, residual, out, residual_out;
  std::vector<uint16_t> gamma;
  AllreduceRmsnormArgs args;

  std::string Name() const {
    return std::string(AlgoName(algo)) + " R=" + std::to_string(ranks) + " T=" + std::to_string(tokens) +
           " H=" + std::to_string(hidden) + (in_place ? " in-place" : "") + (integers ? " integers" : "") +
           (wide ? " wide" : "");
  }
};

uint16_t RandomNonZero(std::mt19937& rng, float lo, float hi) {
  std::uniform_real_distribution<float> u(lo, hi);
  for (;;) {
    const uint16_t h = F32ToF16Bits(u(rng));
    if ((h & 0x7fff) != 0) return h;
  }
}
// ±2^e·(1 + m), e uniform in [-14, 10], a full 10-bit mantissa: sums over ranks need more than
// fp32's 24 bits, so a different order of the rank sum rounds differently.
uint16_t RandomWide(std::mt19937& rng) {
  const int e = int(rng() % 25) - 14;
  const uint16_t mant = uint16_t(rng() & 0x3ff);
  return uint16_t((rng() & 1u) << 15 | uint16_t(e + 15) << 10 | mant);
}
uint16_t RandomInt(std::mt19937& rng, int lim) {
  std::uniform_int_distribution<int> u(-lim, lim);
  for (;;) {
    const int v = u(rng);
    if (v != 0) return F32ToF16Bits(float(v));
  }
}

// Fresh inputs, poisoned outputs, args pointing at them and at `ws`.
void Prepare(Call& c, Workspace& ws) {
  std::mt19937 rng(g_seed++);
  const size_t n = size_t(c.tokens * c.hidden);
  c.x.assign(size_t(c.ranks), std::vector<uint16_t>(n));
  c.residual.assign(size_t(c.ranks), std::vector<uint16_t>(n));
  c.out.assign(size_t(c.ranks), std::vector<uint16_t>(n, kPoison));
  c.residual_out.assign(size_t(c.ranks), std::vector<uint16_t>(c.in_place ? 0 : n, kPoison));
  for (int r = 0; r < c.ranks; ++r)
    for (size_t i = 0; i < n; ++i) {
      c.x[size_t(r)][i] = c.integers ? RandomInt(rng, 64) : c.wide ? RandomWide(rng) : RandomNonZero(rng, -2.f, 2.f);
      c.residual[size_t(r)][i] = c.integers ? RandomInt(rng, 64) : RandomNonZero(rng, -4.f, 4.f);
    }
  c.gamma.resize(size_t(c.hidden));
  for (auto& g : c.gamma) g = RandomNonZero(rng, 0.25f, 2.f);
  ws.Fit(c.ranks, c.tokens, c.hidden);
  AllreduceRmsnormArgs& a = c.args;
  a = AllreduceRmsnormArgs{};
  for (int r = 0; r < c.ranks; ++r) {
    a.x[r] = c.x[size_t(r)].data();
    a.residual[r] = c.residual[size_t(r)].data();
    a.out[r] = c.out[size_t(r)].data();
    a.residual_out[r] = c.in_place ? c.residual[size_t(r)].data() : c.residual_out[size_t(r)].data();
  }
  a.gamma = c.gamma.data();
  a.workspace = ws.words.data();
  a.workspace_bytes = int64_t(ws.words.size() * 8);
  a.tokens = c.tokens;
  a.hidden = c.hidden;
  a.eps = c.eps;
  a.ranks = c.ranks;
  a.algorithm = c.algo;
  a.epoch = ws.Next();
}

// The contract's scalar steps in a plain loop: what every backend must produce bit for bit.
struct Expected {
  std::vector<std::vector<uint16_t>> out, res;
};
Expected HostLoop(const Call& c, const std::vector<std::vector<uint16_t>>& residual_in) {
  Expected e;
  const int64_t T = c.tokens, H = c.hidden;
  e.out.assign(size_t(c.ranks), std::vector<uint16_t>(size_t(T * H)));
  e.res = e.out;
  for (int r = 0; r < c.ranks; ++r)
    for (int64_t t = 0; t < T; ++t) {
      double sumsq = 0;
      for (int64_t j = 0; j < H; ++j) {
        const size_t i = size_t(t * H + j);
        float s = F16BitsToF32(c.x[0][i]);
        for (int q = 1; q < c.ranks; ++q) s = s + F16BitsToF32(c.x[size_t(q)][i]);
        e.res[size_t(r)][i] = allreduce::ResidualOut(s, residual_in[size_t(r)][i]);
        sumsq += allreduce::Square(e.res[size_t(r)][i]);
      }
      const float rstd = allreduce::Rstd(sumsq, H, c.eps);
      for (int64_t j = 0; j < H; ++j) {
        const size_t i = size_t(t * H + j);
        e.out[size_t(r)][i] = allreduce::NormOut(e.res[size_t(r)][i], rstd, c.gamma[size_t(j)]);
      }
    }
  return e;
}

double Ulp16(double v) {  // fp16 spacing at |v|
  const double a = std::fabs(v);
  if (a < 6.103515625e-05) return 5.960464477539063e-08;
  return std::ldexp(1.0, std::ilogb(a) - 10);
}

// Independent float64 reference, each element within its own bound; returns "" or the first miss.
std::string CheckReference(const Call& c, const std::vector<std::vector<uint16_t>>& residual_in,
                           const std::vector<std::vector<uint16_t>>& got_res,
                           const std::vector<std::vector<uint16_t>>& got_out, double* frob) {
  const int64_t T = c.tokens, H = c.hidden;
  double num = 0, den = 0;
  for (int r = 0; r < c.ranks; ++r)
    for (int64_t t = 0; t < T; ++t) {
      std::vector<double> res(static_cast<size_t>(H));
      double sumsq = 0;
      for (int64_t j = 0; j < H; ++j) {
        const size_t i = size_t(t * H + j);
        double s = 0, mag = 0;
        for (int q = 0; q < c.ranks; ++q) {
          s += F16BitsToF32(c.x[size_t(q)][i]);
          mag += std::fabs(F16BitsToF32(c.x[size_t(q)][i]));
        }
        res[size_t(j)] = s + F16BitsToF32(residual_in[size_t(r)][i]);
        const double got = F16BitsToF32(got_res[size_t(r)][i]);
        // fp16 rounding; the fp32 rank sum's and the fp32 residual add's roundings (double rounding
        // can carry a value off an fp16 midpoint)
        const double bound = 0.5 * std::max(Ulp16(res[size_t(j)]), Ulp16(got)) +
                             (c.ranks * mag + std::fabs(res[size_t(j)])) * std::ldexp(1.0, -23) + 1e-12;
        if (!(std::fabs(got - res[size_t(j)]) <= bound))
          return "residual_out rank " + std::to_string(r) + " [" + std::to_string(t) + "," + std::to_string(j) +
                 "] = " + std::to_string(got) + ", reference " + std::to_string(res[size_t(j)]);
        sumsq += res[size_t(j)] * res[size_t(j)];
      }
      const double rstd = 1.0 / std::sqrt(sumsq / double(H) + double(c.eps));
      for (int64_t j = 0; j < H; ++j) {
        const size_t i = size_t(t * H + j);
        const double ref = res[size_t(j)] * rstd * F16BitsToF32(c.gamma[size_t(j)]);
        const double got = F16BitsToF32(got_out[size_t(r)][i]);
        // res_out's fp16 rounding (2^-11 relative, also in rstd), the output's rounding, fp32 steps
        const double bound = std::fabs(ref) * std::ldexp(1.0, -9) + Ulp16(ref) + 1e-7;
        if (!(std::fabs(got - ref) <= bound))
          return "out rank " + std::to_string(r) + " [" + std::to_string(t) + "," + std::to_string(j) +
                 "] = " + std::to_string(got) + ", reference " + std::to_string(ref);
        num += (got - ref) * (got - ref);
        den += ref * ref;
      }
    }
  *frob = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
  return "";
}

// "" or the first element whose bits differ.
std::string CompareBits(const char* what, const std::vector<std::vector<uint16_t>>& want,
                        const std::vector<std::vector<uint16_t>>& got, int64_t hidden) {
  for (size_t r = 0; r < want.size(); ++r)
    for (size_t i = 0; i < want[r].size(); ++i)
      if (want[r][i] != got[r][i]) {
        char buf[200];
        std::snprintf(buf, sizeof buf, "%s rank %zu [%lld,%lld]: 0x%04x, want 0x%04x", what, r,
                      (long long)(int64_t(i) / hidden), (long long)(int64_t(i) % hidden), got[r][i], want[r][i]);
        return buf;
      }
  return "";
}

const std::vector<std::vector<uint16_t>>& ResOut(const Call& c) { return c.in_place ? c.residual : c.residual_out; }

// Checks the results of a finished call (inputs saved before it ran: residual may be overwritten).
void Verify(const Call& c, const std::vector<std::vector<uint16_t>>& residual_in, const std::string& name,
            bool with_reference = true) {
  const Expected e = HostLoop(c, residual_in);
  std::string why = CompareBits("residual_out", e.res, ResOut(c), c.hidden);
  if (why.empty()) why = CompareBits("out", e.out, c.out, c.hidden);
  Check(why.empty(), name + ": out and residual_out bit for bit the host loop over the contract's steps", "%s",
        why.c_str());
  if (!with_reference) return;
  double frob = 0;
  why = CheckReference(c, residual_in, ResOut(c), c.out, &frob);
  Check(why.empty() && frob <= 2e-3, name + ": every element within its bound of the float64 reference",
        "%s (relative norm %.3g)", why.c_str(), frob);
}

uint64_t BytesOf(const LaunchInfo& info, const char* name) {
  for (const auto& [n, b] : info.bytes_read)
    if (n == name) return b;
  return 0;
}

sim::SimOptions Options(int sm_count) {
  sim::SimOptions o;
  o.sm_count = sm_count;
  return o;
}

// One call on a fresh workspace (or `ws`), checked.
void RunCase(Call c, int sm_count, int force_ctas = 0, Workspace* shared = nullptr) {
  Workspace own;
  Workspace& ws = shared ? *shared : own;
  Prepare(c, ws);
  const auto residual_in = c.residual;
  const std::string name = "allreduce [sim] " + c.Name() + (force_ctas ? " C=" + std::to_string(force_ctas) : "");
  sim::AllreduceForce force;
  force.ctas = force_ctas;
  LaunchInfo info;
  const Status s = sim::AllreduceRmsnormForced(c.args, force, Options(sm_count), &info);
  Check(s.ok(), name + ": runs", "%s", s.message.c_str());
  if (!s.ok()) return;
  const bool two = ar::ChooseTwoShot(c.args);
  const bool config_ok = info.config.rfind(two ? "TWO_SHOT R=" : "ONE_SHOT R=", 0) == 0 &&
                         info.grid_y == c.ranks && info.grid_x >= 1 && info.grid_x <= c.tokens &&
                         (force_ctas == 0 || info.grid_x == std::min<int64_t>(force_ctas, c.tokens) ||
                          info.grid_x == force_ctas);
  Check(config_ok, name + ": reports its algorithm and grid (C, R)", "config '%s' grid (%d,%d)", info.config.c_str(),
        info.grid_x, info.grid_y);
  // Traffic: one-shot reads R−1 peers' staged rows per rank; two-shot reads them once per row (by
  // the row's owner) and every rank its R copies of the row sums.
  const uint64_t rows = uint64_t(c.tokens * c.hidden * 2), R = uint64_t(c.ranks);
  const uint64_t staging = BytesOf(info, "staging"), sums = BytesOf(info, "sums");
  const bool traffic_ok = two ? staging == (R - 1) * rows && sums == R * rows * 2
                              : staging == R * (R - 1) * rows && sums == 0;
  Check(traffic_ok, name + ": reads staging and sums as its algorithm promises", "staging %llu, sums %llu bytes",
        (unsigned long long)staging, (unsigned long long)sums);
  Verify(c, residual_in, name);
}

// ------------------------------------------------------------------------------ the cases
void Layout() {
  bool same = true;
  for (int R = 1; R <= allreduce::kMaxRanks; ++R)
    for (int ph = 0; ph < allreduce::kFlagPhases; ++ph)
      for (int d = 0; d < R; ++d)
        for (int b = 0; b < allreduce::kMaxCtasPerRank; ++b)
          for (int s = 0; s < R; ++s) same = same && ar::FlagSlot(R, ph, d, b, s) == allreduce::FlagIndex(R, ph, d, b, s);
  bool in_bounds = true;
  for (int R = 1; R <= allreduce::kMaxRanks; ++R)
    in_bounds = in_bounds &&
                (ar::FlagSlot(R, 2, R - 1, allreduce::kMaxCtasPerRank - 1, R - 1) + 1) * 4 <= allreduce::FlagBytes(R);
  Check(same && in_bounds, "allreduce [sim] layout: the kernel's flag slots are sparq/allreduce.h FlagIndex, in the flags");
  bool rows = true;
  for (int64_t c = 1; c <= 9; ++c)
    for (int64_t lo = 0; lo < 30; ++lo)
      for (int64_t b = 0; b < c; ++b) {
        const int64_t t = ar::FirstRow(lo, b, c);
        rows = rows && t >= lo && t < lo + c && t % c == b;
      }
  Check(rows, "allreduce [sim] layout: FirstRow is the first row >= lo of CTA b");
  auto two = [](int R, int64_t T, int64_t H, Algo a) {
    AllreduceRmsnormArgs args;
    args.ranks = R;
    args.tokens = T;
    args.hidden = H;
    args.algorithm = a;
    return ar::ChooseTwoShot(args);
  };
  Check(!two(2, 4096, 8192, Algo::kAuto) && !two(8, 16, 8192, Algo::kAuto) && two(8, 17, 8192, Algo::kAuto) &&
            two(3, 32, 4104, Algo::kAuto) && !two(3, 31, 4104, Algo::kAuto) && two(1, 1, 8, Algo::kTwoShot) &&
            !two(8, 4096, 8192, Algo::kOneShot),
        "allreduce [sim] plan: auto is one-shot for R <= 2 or x <= 256 KiB, two-shot above; forced choices kept");
}

void Sweep() {
  const std::vector<int> ranks = {1, 2, 3, 4, 8};
  // hidden 8: every (R, T, algorithm); more CTAs per rank (sm_count 16)
  for (Algo a : {Algo::kOneShot, Algo::kTwoShot})
    for (int R : ranks)
      for (int64_t T : {1, 7, 64, 130}) {
        if (kTsanLight && T > 7 && R != 3) continue;
        Call c;
        c.ranks = R;
        c.tokens = T;
        c.hidden = 8;
        c.algo = a;
        c.in_place = (R + T) % 3 == 0;
        c.wide = (R + T) % 3 == 1;
        if (sparq_test::TakeCase()) RunCase(c, 16);
      }
  // hidden 4104 (513 vectors: 512 threads, thread 0 takes a second vector)
  struct Big {
    int R;
    int64_t T;
    Algo a;
    bool in_place, integers;
  };
  // (T = 33 at R = 4: auto picks two-shot, 33·4104·2 B > kOneShotMaxBytes)
  std::vector<Big> big = {{1, 7, Algo::kOneShot, false, false}, {2, 1, Algo::kTwoShot, false, true},
                          {2, 20, Algo::kAuto, true, false},    {3, 7, Algo::kOneShot, false, false},
                          {3, 7, Algo::kTwoShot, true, true},   {4, 33, Algo::kAuto, false, false},
                          {4, 1, Algo::kOneShot, false, true},  {8, 7, Algo::kTwoShot, false, false},
                          {8, 1, Algo::kOneShot, true, false},  {3, 66, Algo::kTwoShot, false, false}};
  if (kTsanLight) big = {{3, 7, Algo::kTwoShot, true, true}, {2, 1, Algo::kOneShot, false, false}};
  for (const Big& b : big) {
    Call c;
    c.ranks = b.R;
    c.tokens = b.T;
    c.hidden = 4104;
    c.algo = b.a;
    c.in_place = b.in_place;
    c.integers = b.integers;
    c.wide = !b.integers && b.R >= 3;
    if (sparq_test::TakeCase()) RunCase(c, 4);
  }
  if (kTsanLight) return;
  // hidden 8192 (1024 vectors, two per thread)
  for (const Big& b : std::vector<Big>{{2, 7, Algo::kOneShot, false, false}, {4, 3, Algo::kTwoShot, true, false},
                                       {3, 5, Algo::kAuto, false, true}}) {
    Call c;
    c.ranks = b.R;
    c.tokens = b.T;
    c.hidden = 8192;
    c.algo = b.a;
    c.in_place = b.in_place;
    c.integers = b.integers;
    if (sparq_test::TakeCase()) RunCase(c, 4);
  }
}

// Forced CTAs per rank: shards that start mid-cycle of the row partition, CTAs with no rows of a
// shard, T < R (empty shards).
void Forced() {
  struct F {
    int R;
    int64_t T, H;
    int ctas;
    Algo a;
  };
  std::vector<F> fs = {{3, 7, 16, 3, Algo::kTwoShot}, {4, 13, 8, 5, Algo::kTwoShot}, {4, 2, 24, 2, Algo::kTwoShot},
                       {8, 3, 8, 1, Algo::kTwoShot},  {2, 9, 40, 4, Algo::kOneShot}, {3, 64, 72, 6, Algo::kTwoShot}};
  if (kTsanLight) fs.resize(3);
  for (const F& f : fs) {
    Call c;
    c.ranks = f.R;
    c.tokens = f.T;
    c.hidden = f.H;
    c.algo = f.a;
    c.integers = f.ctas % 2 == 0;
    c.wide = !c.integers;
    if (sparq_test::TakeCase()) RunCase(c, 64, f.ctas);
  }
}

// Many calls on one workspace: flags reused with growing epochs, sizes and algorithms varying.
void BackToBack() {
  Workspace ws;
  std::mt19937 rng(g_seed++);
  const int calls = sparq_test::ShardLength(kTsanLight ? 30 : 220);
  int failed = 0;
  std::string first;
  for (int i = 0; i < calls; ++i) {
    Call c;
    c.ranks = 4;
    c.tokens = 1 + int64_t(rng() % 9);
    c.hidden = 8 * (1 + int64_t(rng() % 6));
    c.algo = Algo(rng() % 3);
    c.in_place = rng() % 4 == 0;
    c.integers = rng() % 5 == 0;
    c.wide = !c.integers && rng() % 2 == 0;
    Prepare(c, ws);
    const auto residual_in = c.residual;
    sim::AllreduceForce force;
    force.ctas = 1 + int(rng() % 4);
    const Status s = sim::AllreduceRmsnormForced(c.args, force, Options(32));
    const Expected e = HostLoop(c, residual_in);
    std::string why = s.ok() ? CompareBits("residual_out", e.res, ResOut(c), c.hidden) : s.message;
    if (why.empty()) why = CompareBits("out", e.out, c.out, c.hidden);
    if (!why.empty() && failed++ == 0) first = "call " + std::to_string(i) + " (" + c.Name() + "): " + why;
  }
  Check(failed == 0, "allreduce [sim] " + std::to_string(calls) +
                         " back-to-back calls on one workspace (R=4, T, H, algorithm, CTAs varying): all bit-exact",
        "%d failed; first: %s", failed, first.c_str());
}

// The same, each rank a separate launch on its own host thread (separate processes): rank r may
// begin call i+1 while its peers still compute call i.
void RankThreads() {
  Workspace ws;
  std::mt19937 rng(g_seed++);
  const int n = sparq_test::ShardLength(kTsanLight ? 12 : 60);
  std::vector<Call> calls(static_cast<size_t>(n));
  ws.Fit(3, 12, 64);
  for (int i = 0; i < n; ++i) {
    Call& c = calls[size_t(i)];
    c.ranks = 3;
    c.tokens = 1 + int64_t(rng() % 12);
    c.hidden = 8 * (1 + int64_t(rng() % 8));
    c.algo = i % 2 ? Algo::kTwoShot : Algo::kOneShot;
    c.in_place = i % 3 == 0;
    c.wide = i % 4 == 1;
    Prepare(c, ws);
  }
  std::vector<std::vector<std::vector<uint16_t>>> residual_in;
  std::vector<AllreduceRmsnormArgs> args;
  for (auto& c : calls) {
    residual_in.push_back(c.residual);
    args.push_back(c.args);
  }
  sim::AllreduceForce force;
  force.ctas = 2;
  const Status s = sim::AllreduceRmsnormRankThreads(args, force, Options(16));
  Check(s.ok(), "allreduce [sim] " + std::to_string(n) + " calls, each rank its own launches on its own thread: runs",
        "%s", s.message.c_str());
  int failed = 0;
  std::string first;
  for (int i = 0; i < n && s.ok(); ++i) {
    const Expected e = HostLoop(calls[size_t(i)], residual_in[size_t(i)]);
    std::string why = CompareBits("residual_out", e.res, ResOut(calls[size_t(i)]), calls[size_t(i)].hidden);
    if (why.empty()) why = CompareBits("out", e.out, calls[size_t(i)].out, calls[size_t(i)].hidden);
    if (!why.empty() && failed++ == 0) first = "call " + std::to_string(i) + " (" + calls[size_t(i)].Name() + "): " + why;
  }
  Check(s.ok() && failed == 0,
        "allreduce [sim] ranks as separate launches, calls back to back: every call bit-exact (the end barrier holds "
        "a fast rank off its peers' staging)",
        "%d failed; first: %s", failed, first.c_str());
}

// A workspace used before: flags at an older epoch, or at 0xffffffff with the next epoch 1 (the
// wrap skips 0); staging and sums NaN, so a read before the peer's copy shows.
void StaleWorkspace() {
  for (uint32_t old : {uint32_t(41), uint32_t(0xffffffffu)})
    for (Algo a : {Algo::kOneShot, Algo::kTwoShot}) {
      Call c;
      c.ranks = 4;
      c.tokens = 5;
      c.hidden = 24;
      c.algo = a;
      Workspace ws;
      ws.Fit(c.ranks, c.tokens, c.hidden);
      std::memset(ws.words.data(), 0xff, ws.words.size() * 8);  // NaN staging and sums
      const int64_t flag_words = allreduce::FlagBytes(c.ranks) / 4;
      uint32_t* flags = reinterpret_cast<uint32_t*>(ws.words.data());
      for (int64_t i = 0; i < flag_words; ++i) flags[i] = old;
      ws.epoch = old;
      Prepare(c, ws);
      const auto residual_in = c.residual;
      const Status s = sim::AllreduceRmsnormForced(c.args, sim::AllreduceForce{}, Options(16));
      const std::string name = std::string("allreduce [sim] ") + AlgoName(a) + " on a workspace whose flags hold " +
                               std::to_string(old) + ", epoch " + std::to_string(c.args.epoch);
      Check(s.ok(), name + ": runs", "%s", s.message.c_str());
      if (s.ok()) Verify(c, residual_in, name, false);
    }
}

// A rank that never arrives: kDevice, located, never a hang.
void MissingRank() {
  for (bool deadline : {true, false}) {
    if (kTsanLight && !deadline) continue;
    Call c;
    c.ranks = 3;
    c.tokens = 4;
    c.hidden = 16;
    c.algo = Algo::kOneShot;
    Workspace ws;
    Prepare(c, ws);
    sim::AllreduceForce force;
    force.launch_ranks = 2;
    force.spin_timeout_s = deadline ? 0.5 : 0;
    sim::SimOptions o = Options(16);
    o.timeout_s = deadline ? 30 : 1;
    const Status s = sim::AllreduceRmsnormForced(c.args, force, o);
    const bool ok = s.code == StatusCode::kDevice &&
                    (deadline ? sparq_test::Contains(s.message, "trap") && sparq_test::Contains(s.message, "never arrived")
                              : sparq_test::Contains(s.message, "deadlock"));
    Check(ok,
          std::string("allreduce [sim] rank 2 of 3 never launched: kDevice from ") +
              (deadline ? "the kernel's spin deadline (trap)" : "the simulator's livelock detector"),
          "code %d: %s", int(s.code), s.message.c_str());
  }
  // too small a device for the cooperative grid
  Call c;
  c.ranks = 8;
  c.tokens = 2;
  c.hidden = 8;
  Workspace ws;
  Prepare(c, ws);
  const Status s = sim::AllreduceRmsnormForced(c.args, sim::AllreduceForce{}, Options(1));
  Check(s.code == StatusCode::kDevice && sparq_test::Contains(s.message, "resident"),
        "allreduce [sim] 8 ranks on a one-SM device (2 CTAs resident at once): kDevice, no launch", "code %d: %s", int(s.code),
        s.message.c_str());
  // a workspace too small
  c.args.workspace_bytes = allreduce::WorkspaceBytes(8, 2, 8) - 1;
  const Status w = sim::AllreduceRmsnorm(c.args, Options(16), nullptr);
  Check(w.code == StatusCode::kArgument && w.argument == "workspace",
        "allreduce [sim] a workspace one byte short: kArgument 'workspace'", "code %d: %s", int(w.code),
        w.message.c_str());
}

}  // namespace

// sq.comm's kernel (sim::CommGatheredRmsnorm): each rank alone, on a staging filled by hand as the
// comm's transport would, against the same host loop and reference as the group. sm_count 1 or 2
// makes rows wrap round the CTAs (both row parities of s_part); wide x makes the rank order show.
void Gathered() {
  struct G {
    int R;
    int64_t T, H;
    int sms;
    bool in_place, integers, wide;
  };
  std::vector<G> cases = {{1, 3, 8, 4, false, false, false},  {2, 7, 24, 1, true, false, true},
                          {3, 64, 8, 2, false, false, true},  {8, 5, 8, 4, false, true, false},
                          {3, 9, 4104, 2, false, false, true}, {4, 2, 8192, 4, true, false, false}};
  if (kTsanLight) cases = {{3, 9, 24, 2, false, false, true}};
  for (const G& g : cases) {
    if (!sparq_test::TakeCase()) continue;
    Call c;
    c.ranks = g.R;
    c.tokens = g.T;
    c.hidden = g.H;
    c.in_place = g.in_place;
    c.integers = g.integers;
    c.wide = g.wide;
    Workspace ws;
    Prepare(c, ws);
    const auto residual_in = c.residual;
    const size_t n = size_t(g.T * g.H);
    std::vector<uint16_t> staging(size_t(g.R) * n);
    for (int q = 0; q < g.R; ++q) std::copy(c.x[size_t(q)].begin(), c.x[size_t(q)].end(), staging.begin() + q * n);
    const std::string name = "comm kernel [sim] R=" + std::to_string(g.R) + " T=" + std::to_string(g.T) +
                             " H=" + std::to_string(g.H) + " SMs=" + std::to_string(g.sms) +
                             (g.in_place ? " in-place" : "") + (g.integers ? " integers" : "") + (g.wide ? " wide" : "");
    bool ran = true, traffic_ok = true, grid_ok = true;
    for (int r = 0; r < g.R && ran; ++r) {
      ar::GatheredCall call;  // rank r's part of the group call Prepare made
      call.x = c.args.x[r];
      call.residual = c.args.residual[r];
      call.gamma = c.args.gamma;
      call.out = c.args.out[r];
      call.residual_out = c.args.residual_out[r];
      call.staging = staging.data();
      call.tokens = g.T;
      call.hidden = g.H;
      call.eps = c.eps;
      call.rank = r;
      call.ranks = g.R;
      LaunchInfo info;
      const Status s = sim::CommGatheredRmsnorm(call, Options(g.sms), &info);
      Check(s.ok(), name + " rank " + std::to_string(r) + ": runs", "%s", s.message.c_str());
      ran = s.ok();
      // the R−1 peers' rows once each from staging; this rank's own from x
      traffic_ok = traffic_ok && BytesOf(info, "staging") == uint64_t(g.R - 1) * n * 2 && BytesOf(info, "x") == n * 2;
      grid_ok = grid_ok && info.grid_x == int(std::min<int64_t>(g.T, int64_t(g.sms) * ar::kMinCtasPerSm)) &&
                info.grid_y == 1 && info.kernel == "allreduce_gathered_rmsnorm_kernel";
    }
    if (!ran) continue;
    Check(traffic_ok, name + ": reads each peer's rows once from staging, its own from x");
    Check(grid_ok, name + ": one rank, a CTA per row up to 2 per SM");
    Verify(c, residual_in, name);
  }
  // a staging the transport did not deliver is an argument error, not a launch
  ar::GatheredCall bad;
  bad.tokens = 1;
  bad.hidden = 8;
  bad.ranks = 2;
  const Status s = sim::CommGatheredRmsnorm(bad, Options(1));
  Check(s.code == StatusCode::kArgument, "comm kernel [sim]: a null staging is kArgument", "%s", s.message.c_str());
}

// Rank r's comm call on the group call Prepare made for `c`.
CommAllreduceRmsnormArgs RankCommArgs(const Call& c, int r, comm::ShmComm* comm) {
  CommAllreduceRmsnormArgs a;
  a.comm = comm;
  a.x = c.args.x[r];
  a.residual = c.args.residual[r];
  a.gamma = c.args.gamma;
  a.out = c.args.out[r];
  a.residual_out = c.args.residual_out[r];
  a.tokens = c.tokens;
  a.hidden = c.hidden;
  a.eps = c.eps;
  return a;
}

// comm.allreduceRmsnorm through a transport as a cuda or sim rank runs it: each rank a thread with
// its own sim backend, joined to one shared-memory comm; the host transport (runtime/comm_host.h:
// x brought to the host, the rows exchanged there) or the device transport (runtime/comm_device.h:
// x into the rank's slot, the peers' slots read in place — sim ranks of one process agree on it),
// then the gathered kernel — every rank's out and residual checked as the group's are. Two calls
// back to back on the same comm (the exchange's counters move on, the slots are reused).
// kNcclNodes: an NCCL comm whose ranks name their machines (`nodes`, one letter per rank): the
// hierarchical form where every node has as many ranks (≥ 2, ≥ 2 nodes), else the flat one.
enum class Via { kHost, kDevice, kNccl, kNcclNodes };

const char* ViaName(Via v) {
  return v == Via::kHost ? "host" : v == Via::kDevice ? "device" : v == Via::kNccl ? "nccl" : "nccl (named nodes)";
}

void Transports(Via via) {
  const bool device = via == Via::kDevice, nccl = via == Via::kNccl || via == Via::kNcclNodes;
  struct H {
    int R;
    int64_t T, H;
    int sms;
    bool in_place, wide;
    std::string nodes = "";  // kNcclNodes: rank r is on node nodes[r]
    bool hierarchical = false;
  };
  std::vector<H> cases = {{3, 7, 24, 2, false, true}, {2, 9, 4104, 4, true, false}};
  if (via != Via::kHost) cases.push_back({4, 3, 64, 1, false, false});
  if (via == Via::kNcclNodes)
    cases = {
        {4, 7, 24, 2, false, true, "abab", true},     // nodes interleaved in rank order
        {6, 9, 64, 2, true, false, "xyzzyx", true},   // 3 nodes × 2, in-place residual
        {4, 1, 32, 1, false, true, "aabb", true},     // one token: shard 0 of each node is empty
        {8, 3, 16, 1, false, false, "pqqpqppq", true},  // 2 nodes × 4, fewer tokens than ranks a node
        {3, 5, 24, 1, false, true, "aab", false},     // uneven nodes: flat
        {4, 4, 16, 1, false, false, "abcd", false},   // one rank a node: flat
    };
  if (kTsanLight) cases = {{3, 5, 24, 2, false, true}};
  if (kTsanLight && via == Via::kNcclNodes) cases = {{4, 5, 24, 2, false, true, "abba", true}};
  const std::string transport = ViaName(via);
  for (const H& h : cases) {
    if (!sparq_test::TakeCase()) continue;
    const std::string name = "comm " + transport + " transport [sim] R=" + std::to_string(h.R) + " T=" + std::to_string(h.T) +
                             " H=" + std::to_string(h.H) + (h.in_place ? " in-place" : "") + (h.wide ? " wide" : "") +
                             (h.nodes.empty() ? "" : " nodes " + h.nodes);
    std::vector<uint8_t> id = comm::NewId(uint64_t(h.T * h.H * 2));
    if (nccl) {
      const Status made = comm::NewNcclId(uint64_t(h.T * h.H * 2), "", &id);
      Check(made.ok(), name + ": an NCCL id from the double", "%s", made.message.c_str());
      if (!made.ok()) continue;
    }
    // joined by the first call, kept for the second
    std::vector<std::shared_ptr<comm::ShmComm>> comms(size_t(h.R));
    std::vector<std::shared_ptr<comm::NcclComm>> nccls(size_t(h.R));
    std::vector<std::shared_ptr<Backend>> backends(size_t(h.R));
    std::vector<std::shared_ptr<comm::DeviceTransport>> transports(size_t(h.R));
    for (int call = 0; call < 2; ++call) {
      Call c;
      c.ranks = h.R;
      c.tokens = h.T;
      c.hidden = h.H;
      c.in_place = h.in_place;
      c.wide = h.wide;
      Workspace ws;
      Prepare(c, ws);
      const auto residual_in = c.residual;
      std::vector<Status> status(size_t(h.R));
      std::vector<LaunchInfo> infos(size_t(h.R));
      std::vector<std::thread> ranks;
      for (int r = 0; r < h.R; ++r)
        ranks.emplace_back([&, r] {
          std::shared_ptr<Backend>& backend = backends[size_t(r)];
          Status s;
          if (call == 0) {
            BackendOptions o;
            o.sim_sms = h.sms;
            s = CreateSimBackend(o, &backend);
            if (s.ok() && nccl)
              s = comm::NcclComm::Join(backend, id, r, h.R, 10000, std::make_shared<std::atomic<bool>>(false), "",
                                       h.nodes.empty() ? "" : std::string(1, h.nodes[size_t(r)]), &nccls[size_t(r)]);
            else if (s.ok())
              s = comm::ShmComm::Join(id, r, h.R, 10000, std::make_shared<std::atomic<bool>>(false), &comms[size_t(r)]);
            if (s.ok() && device) s = comm::DeviceTransport::Agree(backend, comms[size_t(r)], true, &transports[size_t(r)]);
            if (s.ok() && device && !transports[size_t(r)])
              s = Status::Error(StatusCode::kBackend, "the ranks did not agree on the device transport");
          }
          const CommAllreduceRmsnormArgs a = RankCommArgs(c, r, comms[size_t(r)].get());
          if (s.ok())
            s = nccl     ? nccls[size_t(r)]->Allreduce(a, &infos[size_t(r)])
                : device ? transports[size_t(r)]->Allreduce(a, &infos[size_t(r)])
                         : comm::AllreduceThroughHost(*backend, a, &infos[size_t(r)]);
          status[size_t(r)] = s;
        });
      for (auto& t : ranks) t.join();
      bool ok = true;
      for (int r = 0; r < h.R; ++r) {
        Check(status[size_t(r)].ok(), name + " call " + std::to_string(call) + " rank " + std::to_string(r) + ": runs",
              "%s", status[size_t(r)].message.c_str());
        ok = ok && status[size_t(r)].ok();
      }
      if (!ok) break;
      if (via == Via::kNcclNodes && call == 0) {
        bool form = true;
        for (int r = 0; r < h.R; ++r) form = form && nccls[size_t(r)]->hierarchical() == h.hierarchical;
        Check(form, name + ": every rank took the " + std::string(h.hierarchical ? "hierarchical" : "flat") + " form");
      }
      bool kernels = true, traffic = true;
      const uint64_t rows = uint64_t(h.T * h.H * 2);
      for (const LaunchInfo& i : infos) {
        kernels = kernels && i.kernel == "allreduce_gathered_rmsnorm_kernel";
        traffic = traffic && BytesOf(i, "staging") == uint64_t(h.R - 1) * rows && BytesOf(i, "x") == rows;
      }
      Check(kernels, name + " call " + std::to_string(call) + ": every rank ran the gathered kernel");
      Check(traffic, name + " call " + std::to_string(call) + ": each peer's rows read once from staging, its own from x");
      Verify(c, residual_in, name + " call " + std::to_string(call));
    }
    // What the transports hold (each rank's slot, or NCCL staging) goes back to its backend with
    // them — the ranks let go together, as real ranks do: a slot is freed only once every peer
    // has closed it (one rank alone would keep its slot until the timeout, then leak it).
    if (via != Via::kHost) {
      std::vector<int64_t> live(size_t(h.R), -1);
      std::vector<std::thread> closers;
      for (int r = 0; r < h.R; ++r) {
        if (!backends[size_t(r)] || (device ? !transports[size_t(r)] : !nccls[size_t(r)])) continue;
        live[size_t(r)] = backends[size_t(r)]->LiveAllocations();
        closers.emplace_back([&, r] {
          transports[size_t(r)].reset();
          nccls[size_t(r)].reset();
        });
      }
      for (auto& t : closers) t.join();
      // a rank that let go before its peers frees its slot from a thread of its own, shortly after
      for (int wait = 0; wait < 200; ++wait) {
        bool all = true;
        for (int r = 0; r < h.R; ++r) all = all && (live[size_t(r)] < 0 || backends[size_t(r)]->LiveAllocations() == live[size_t(r)] - 1);
        if (all) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      for (int r = 0; r < h.R; ++r)
        if (live[size_t(r)] >= 0)
          Check(backends[size_t(r)]->LiveAllocations() == live[size_t(r)] - 1,
                name + " rank " + std::to_string(r) + ": what the transport holds (slot or staging) is freed with it",
                "%lld -> %lld", (long long)live[size_t(r)], (long long)backends[size_t(r)]->LiveAllocations());
    }
  }
}

// A sim backend with faults injected (which ones: the flags), for the transports' failure paths.
class Faulty : public Backend {
 public:
  enum Fault : unsigned { kCopyToHost = 1, kCopyOnDevice = 2, kOpenPeer = 4, kPeerSlots = 8 };
  Faulty(std::shared_ptr<Backend> inner, unsigned faults) : inner_(std::move(inner)), faults_(faults) {}
  const char* name() const override { return inner_->name(); }
  bool host_memory() const override { return true; }
  const char* cpu_isa() const override { return inner_->cpu_isa(); }
  int threads() const override { return 1; }
  Status Allocate(size_t bytes, void** ptr) override { return inner_->Allocate(bytes, ptr); }
  void Free(void* ptr) override { inner_->Free(ptr); }
  int64_t LiveAllocations() const override { return inner_->LiveAllocations(); }
  Status CopyToDevice(void* d, const void* s, size_t n) override { return inner_->CopyToDevice(d, s, n); }
  Status CopyToHost(void* d, const void* s, size_t n) override {
    if (faults_ & kCopyToHost) return Status::Error(StatusCode::kDevice, "injected: the copy to the host failed");
    return inner_->CopyToHost(d, s, n);
  }
  Status Fill(void* d, size_t n, uint8_t v) override { return inner_->Fill(d, n, v); }
  Status CopyOnDevice(void* d, const void* s, size_t n) override {
    if (faults_ & kCopyOnDevice) return Status::Error(StatusCode::kDevice, "injected: the copy on the device failed");
    return inner_->CopyOnDevice(d, s, n);
  }
  Status Synchronize() override { return Status::Ok(); }
  Status StreamTimeMs(double* ms) override { return inner_->StreamTimeMs(ms); }
  Status AllocatePeerSlot(size_t bytes, PeerSlot* slot) override {
    if (faults_ & kPeerSlots) return Status::Error(StatusCode::kOutOfMemory, "injected: no room for the slot");
    return inner_->AllocatePeerSlot(bytes, slot);
  }
  void FreePeerSlot(const PeerSlot& slot) override { inner_->FreePeerSlot(slot); }
  Status OpenPeerSlot(const PeerSlot& peer, const void** ptr) override {
    if (faults_ & kOpenPeer) return Status::Error(StatusCode::kDevice, "injected: the peer's slot would not map");
    return inner_->OpenPeerSlot(peer, ptr);
  }
  void ClosePeerSlot(const PeerSlot& peer, const void* ptr) override { inner_->ClosePeerSlot(peer, ptr); }
  Status AllreduceGathered(const AllreduceGatheredArgs& a, LaunchInfo* info) override {
    return inner_->AllreduceGathered(a, info);
  }
  const char* NcclFlavor() const override { return inner_->NcclFlavor(); }
  Status NcclStream(void** stream) override { return inner_->NcclStream(stream); }
  Status StreamIdle(bool* idle) override { return inner_->StreamIdle(idle); }
  // From the rank's own thread, between its join and its calls (a fault only its calls meet).
  void SetFaults(unsigned faults) { faults_ = faults; }

 private:
  std::shared_ptr<Backend> inner_;
  unsigned faults_;
};

// The comm cases' call: `ranks` ranks of 2 tokens × 16, prepared, and a shared-memory comm id sized
// for its fp16 x.
std::vector<uint8_t> PrepareSmallComm(int ranks, Call& c, Workspace& ws) {
  c.ranks = ranks;
  c.tokens = 2;
  c.hidden = 16;
  Prepare(c, ws);
  return comm::NewId(uint64_t(c.tokens * c.hidden * 2));
}

// The gathered op with peers_contiguous (what the NCCL transport passes: its all-gather's array):
// every rank reads its peers in place and gets the contract's bits; a peer row out of its place in
// that array is refused, never summed from wherever it points.
void GatheredInPlace() {
  if (!sparq_test::TakeCase()) return;
  constexpr int R = 3;
  Call c;
  Workspace ws;
  PrepareSmallComm(R, c, ws);
  const std::vector<std::vector<uint16_t>> residual_in = c.residual;
  std::shared_ptr<Backend> backend;
  Status made = CreateSimBackend(BackendOptions{}, &backend);
  Check(made.ok(), "gathered in place [sim]: a sim backend", "%s", made.message.c_str());
  if (!made.ok()) return;
  const size_t row = size_t(c.tokens * c.hidden);
  std::vector<uint16_t> gathered(size_t(R) * row);
  for (int q = 0; q < R; ++q) std::copy(c.x[size_t(q)].begin(), c.x[size_t(q)].end(), gathered.begin() + std::ptrdiff_t(size_t(q) * row));
  std::string failed;
  for (int r = 0; r < R && failed.empty(); ++r) {
    AllreduceGatheredArgs g = GatheredArgsOf(RankCommArgs(c, r, nullptr), r, R);
    for (int q = 0; q < R; ++q) g.peers[q] = gathered.data() + size_t(q) * row;
    g.peers_contiguous = 1;
    const Status s = backend->AllreduceGathered(g, nullptr);
    if (!s.ok()) failed = "rank " + std::to_string(r) + ": " + s.message;
  }
  Check(failed.empty(), "gathered in place [sim]: every rank runs", "%s", failed.c_str());
  if (failed.empty()) Verify(c, residual_in, "gathered in place [sim] R=3 T=2 H=16");
  AllreduceGatheredArgs g = GatheredArgsOf(RankCommArgs(c, 0, nullptr), 0, R);
  for (int q = 0; q < R; ++q) g.peers[q] = gathered.data() + size_t(q) * row;
  g.peers[2] = c.x[2].data();  // rank 2's row elsewhere: the flag would read the wrong rows
  g.peers_contiguous = 1;
  const Status s = backend->AllreduceGathered(g, nullptr);
  Check(s.code == StatusCode::kArgument && sparq_test::Contains(s.message, "peer 2's row is not at its place"),
        "gathered in place [sim]: a peer out of its place in the array is refused (kArgument)", "code %d: %s", int(s.code),
        s.message.c_str());
}

// A rank whose transport fails before it arrives (host: its x cannot be read from the device;
// device: it cannot be put in its slot) abandons the comm: the peers fail at once with the reason,
// well inside their timeout, and the comm stays broken for every rank.
void TransportAbandon(bool device) {
  if (!sparq_test::TakeCase()) return;
  const std::string transport = device ? "device" : "host";
  constexpr int R = 3;
  constexpr int64_t kTimeoutMs = 20000;
  Call c;
  Workspace ws;
  const std::vector<uint8_t> id = PrepareSmallComm(R, c, ws);
  std::vector<Status> status(R);
  std::vector<double> seconds(R, 0);
  std::vector<char> agreed(R, 0);  // not vector<bool>: ranks write their own entries concurrently
  // Every rank's comm outlives the calls (a real rank keeps it): the failing one must not count on
  // its teardown to release the peers.
  std::vector<std::shared_ptr<comm::ShmComm>> comms(R);
  std::vector<std::shared_ptr<comm::DeviceTransport>> transports(R);
  std::vector<std::thread> ranks;
  for (int r = 0; r < R; ++r)
    ranks.emplace_back([&, r] {
      std::shared_ptr<Backend> backend;
      Status s = CreateSimBackend(BackendOptions{}, &backend);
      if (s.ok() && r == 1) backend = std::make_shared<Faulty>(backend, device ? Faulty::kCopyOnDevice : Faulty::kCopyToHost);
      std::shared_ptr<comm::ShmComm>& comm = comms[size_t(r)];
      if (s.ok()) s = comm::ShmComm::Join(id, r, R, kTimeoutMs, std::make_shared<std::atomic<bool>>(false), &comm);
      if (s.ok() && device) s = comm::DeviceTransport::Agree(backend, comm, true, &transports[size_t(r)]);
      agreed[size_t(r)] = transports[size_t(r)] != nullptr;
      auto run = [&](const CommAllreduceRmsnormArgs& a) {
        return device && transports[size_t(r)] ? transports[size_t(r)]->Allreduce(a, nullptr)
                                               : comm::AllreduceThroughHost(*backend, a, nullptr);
      };
      const auto t0 = std::chrono::steady_clock::now();
      if (s.ok()) {
        const CommAllreduceRmsnormArgs a = RankCommArgs(c, r, comm.get());
        s = run(a);
        if (r == 0 && !s.ok()) {
          const Status again = run(a);
          if (again.code != StatusCode::kTimeout) s = Status::Error(StatusCode::kArgument, "second call: " + again.message);
        }
      }
      seconds[size_t(r)] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      status[size_t(r)] = s;
      transports[size_t(r)].reset();  // every rank lets go of its slot at once, as real ranks do
    });
  for (auto& t : ranks) t.join();
  const std::string name = "comm " + transport + " transport [sim]";
  if (device) Check(agreed[0] && agreed[1] && agreed[2], name + ": the ranks agreed on the device transport");
  Check(status[1].code == StatusCode::kDevice, name + ": the failing rank gets its own error", "%s", status[1].message.c_str());
  for (int r : {0, 2})
    Check(status[size_t(r)].code == StatusCode::kTimeout && sparq_test::Contains(status[size_t(r)].message, "rank 1") &&
              seconds[size_t(r)] < kTimeoutMs / 4000.0,
          name + ": peer " + std::to_string(r) + " fails at once naming rank 1, and stays failed", "%s (%.2f s)",
          status[size_t(r)].message.c_str(), seconds[size_t(r)]);
}

// A device-transport rank whose comm is broken writes nothing into its slot: its last call may
// have ended (its depart wait broken) while a peer still copied that slot, and its next queued x
// would land under the copy — the peer's call then resolved with the next x's sums (2026-12-05:
// 481–539 of 3000 rounds of a close mid-call, in node on sim).
void DeviceSlotUntouchedOnceBroken() {
  if (!sparq_test::TakeCase()) return;
  const std::string name = "comm device transport [sim]: a broken comm's next call leaves its slot as it was";
  constexpr int R = 2;
  Call c;
  Workspace ws;
  const std::vector<uint8_t> id = PrepareSmallComm(R, c, ws);
  std::vector<std::shared_ptr<Backend>> backends(R);
  std::vector<std::shared_ptr<comm::ShmComm>> comms(R);
  std::vector<std::shared_ptr<comm::DeviceTransport>> transports(R);
  std::vector<Status> first(R);
  std::vector<std::thread> ranks;
  for (int r = 0; r < R; ++r)
    ranks.emplace_back([&, r] {
      Status s = CreateSimBackend(BackendOptions{}, &backends[size_t(r)]);
      if (s.ok()) s = comm::ShmComm::Join(id, r, R, 20000, std::make_shared<std::atomic<bool>>(false), &comms[size_t(r)]);
      if (s.ok()) s = comm::DeviceTransport::Agree(backends[size_t(r)], comms[size_t(r)], true, &transports[size_t(r)]);
      if (s.ok() && !transports[size_t(r)]) s = Status::Error(StatusCode::kBackend, "the ranks took the host transport");
      if (s.ok()) s = transports[size_t(r)]->Allreduce(RankCommArgs(c, r, comms[size_t(r)].get()), nullptr);
      first[size_t(r)] = s;
    });
  for (auto& t : ranks) t.join();
  Check(first[0].ok() && first[1].ok(), name + ": the first call runs on the device transport", "%s / %s",
        first[0].message.c_str(), first[1].message.c_str());
  if (first[0].ok() && first[1].ok()) {
    PeerSlot slot;
    std::memcpy(&slot, comms[0]->Published(1), sizeof slot);  // rank 1's slot, as rank 0 reads it
    const size_t bytes = size_t(c.tokens * c.hidden * 2);
    const auto* p = reinterpret_cast<const uint8_t*>(uintptr_t(slot.ptr));
    const std::vector<uint8_t> before(p, p + bytes);
    comms[1]->Close();  // broken, as by a close() while rank 1's next call was queued
    CommAllreduceRmsnormArgs next = RankCommArgs(c, 1, comms[1].get());
    next.x = c.args.x[0];  // another x: it must not reach the slot
    const Status s = transports[1]->Allreduce(next, nullptr);
    Check(slot.kind == PeerSlot::kSim && s.code == StatusCode::kTimeout && std::memcmp(before.data(), p, bytes) == 0, name, "%s",
          s.message.c_str());
  }
  transports.clear();
}

// The ranks choose the device transport only together: a rank without a slot (a cpu rank, a full
// device, one whose user asked for the host transport) or one that cannot open a peer's makes
// every rank take the host transport, each rank's own slot and opened peers released again; and
// the comm then runs through host memory.
void TransportVotes() {
  struct V {
    const char* what;
    int odd_rank;
    unsigned faults;  // on odd_rank; 0 = a cpu backend there
  };
  constexpr unsigned kAskedForHost = 1u << 16;
  for (const V& v : {V{"a cpu rank", 2, 0}, V{"a rank without room for its slot", 0, Faulty::kPeerSlots},
                     V{"a rank that cannot open a peer's slot", 1, Faulty::kOpenPeer},
                     V{"a rank that asked for the host transport", 1, kAskedForHost}}) {
    if (!sparq_test::TakeCase()) continue;
    constexpr int R = 3;
    const std::string name = std::string("comm transport votes [sim]: ") + v.what;
    Call c;
    c.ranks = R;
    c.tokens = 3;
    c.hidden = 40;
    Workspace ws;
    Prepare(c, ws);
    const auto residual_in = c.residual;
    const std::vector<uint8_t> id = comm::NewId(uint64_t(c.tokens * c.hidden * 2));
    std::vector<Status> status(R);
    std::vector<int> agreed(R, -1);
    std::vector<int64_t> live_before(R, 0), live_after(R, -2);  // -2: not measured yet
    std::vector<std::shared_ptr<Backend>> backends(R);
    std::vector<std::thread> ranks;
    for (int r = 0; r < R; ++r)
      ranks.emplace_back([&, r] {
        std::shared_ptr<Backend>& backend = backends[size_t(r)];
        Status s = r == v.odd_rank && v.faults == 0 ? CreateCpuBackend(BackendOptions{}, &backend)
                                                     : CreateSimBackend(BackendOptions{}, &backend);
        if (s.ok() && r == v.odd_rank && v.faults != 0 && v.faults != kAskedForHost)
          backend = std::make_shared<Faulty>(backend, v.faults);
        std::shared_ptr<comm::ShmComm> comm;
        std::shared_ptr<comm::DeviceTransport> t;
        if (s.ok()) s = comm::ShmComm::Join(id, r, R, 10000, std::make_shared<std::atomic<bool>>(false), &comm);
        live_before[size_t(r)] = backend ? backend->LiveAllocations() : 0;
        if (s.ok()) s = comm::DeviceTransport::Agree(backend, comm, !(r == v.odd_rank && v.faults == kAskedForHost), &t);
        agreed[size_t(r)] = t ? 1 : 0;
        const CommAllreduceRmsnormArgs a = RankCommArgs(c, r, comm.get());
        if (s.ok())
          s = backend->Has(OpId::kCommAllreduceRmsnorm) ? backend->CommAllreduceRmsnorm(a, nullptr)
                                                        : comm::AllreduceThroughHost(*backend, a, nullptr);
        status[size_t(r)] = s;
      });
    for (auto& t : ranks) t.join();
    // a rank whose peers had not yet let go frees its slot from a thread of its own, shortly after
    for (int wait = 0; wait < 200 && live_after != live_before; ++wait) {
      if (wait > 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      for (int r = 0; r < R; ++r) live_after[size_t(r)] = backends[size_t(r)] ? backends[size_t(r)]->LiveAllocations() : 0;
    }
    bool ok = true;
    for (int r = 0; r < R; ++r) {
      Check(status[size_t(r)].ok(), name + ": rank " + std::to_string(r) + " runs", "%s", status[size_t(r)].message.c_str());
      ok = ok && status[size_t(r)].ok();
    }
    Check(agreed == std::vector<int>(R, 0), name + ": every rank takes the host transport", "%d %d %d", agreed[0], agreed[1],
          agreed[2]);
    Check(live_after == live_before, name + ": no rank keeps a slot");
    if (ok) Verify(c, residual_in, name);
  }
}

// A join refused for its rank (taken) or size (not the first rank's) leaves the comm its members
// share untouched — the refused rank's teardown must not close it (it maps the same segment).
void RefusedJoinLeavesTheComm() {
  if (!sparq_test::TakeCase()) return;
  const std::vector<uint8_t> id = comm::NewId(4096);
  std::vector<std::shared_ptr<comm::ShmComm>> comms(2);
  std::vector<Status> joined(2);
  std::vector<std::thread> ranks;
  for (int r = 0; r < 2; ++r)
    ranks.emplace_back([&, r] { joined[size_t(r)] = comm::ShmComm::Join(id, r, 2, 10000, nullptr, &comms[size_t(r)]); });
  for (auto& t : ranks) t.join();
  Check(joined[0].ok() && joined[1].ok(), "comm join refused: the two members join", "%s / %s", joined[0].message.c_str(),
        joined[1].message.c_str());
  if (!joined[0].ok() || !joined[1].ok()) return;
  std::shared_ptr<comm::ShmComm> again, bigger;
  const Status twice = comm::ShmComm::Join(id, 1, 2, 1000, nullptr, &again);
  const Status size = comm::ShmComm::Join(id, 0, 3, 1000, nullptr, &bigger);
  Check(twice.code == StatusCode::kArgument && twice.argument == "rank", "comm join refused: a rank joined twice is kArgument",
        "%s", twice.message.c_str());
  Check(size.code == StatusCode::kArgument && size.argument == "size", "comm join refused: another size is kArgument", "%s",
        size.message.c_str());
  // An id whose maxBytes (bytes 20..27) differs from the members': that rank would find every slot
  // at its own offsets (wrong sums, no error). Both a smaller and a larger one are refused.
  for (const uint64_t other : {uint64_t(2048), uint64_t(8192)}) {
    std::vector<uint8_t> id2 = id;
    for (int i = 0; i < 8; ++i) id2[size_t(20 + i)] = uint8_t(other >> (8 * i));
    std::shared_ptr<comm::ShmComm> odd;
    const Status slot = comm::ShmComm::Join(id2, 1, 2, 1000, nullptr, &odd);
    Check(slot.code == StatusCode::kArgument && slot.argument == "id" &&
              slot.message.find("maxBytes (" + std::to_string(other) + ") differs from the first rank's (4096)") != std::string::npos,
          "comm join refused: another maxBytes is kArgument naming id (" + std::to_string(other) + ")", "%s", slot.message.c_str());
  }
  Check(comms[0]->BrokenReason().empty() && comms[1]->BrokenReason().empty(),
        "comm join refused: the members' comm is still usable", "%s", comms[0]->BrokenReason().c_str());
}

// The NCCL transport's bounds, on the test double: a rank that never joins makes the others' join
// fail with kTimeout within their timeout (not hang); a rank that joins and never calls makes the
// others' call fail the same way and breaks their comms for good; a cpu rank is refused with
// kBackend (an NCCL comm needs device memory).
void NcclFailures() {
  if (!sparq_test::TakeCase()) return;
  constexpr int64_t kTimeoutMs = 1500;
  std::vector<uint8_t> id;
  Status s = comm::NewNcclId(4096, "", &id);
  Check(s.ok(), "comm nccl transport [sim]: an id", "%s", s.message.c_str());
  if (!s.ok()) return;
  {  // 2 of 3 ranks join
    std::vector<Status> status(2);
    std::vector<double> seconds(2, 0);
    std::vector<std::thread> ranks;
    for (int r = 0; r < 2; ++r)
      ranks.emplace_back([&, r] {
        std::shared_ptr<Backend> backend;
        std::shared_ptr<comm::NcclComm> c;
        const auto t0 = std::chrono::steady_clock::now();
        Status st = CreateSimBackend(BackendOptions{}, &backend);
        if (st.ok()) st = comm::NcclComm::Join(backend, id, r, 3, kTimeoutMs, nullptr, "", "", &c);
        seconds[size_t(r)] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        status[size_t(r)] = st;
      });
    for (auto& t : ranks) t.join();
    for (int r = 0; r < 2; ++r)
      Check(status[size_t(r)].code == StatusCode::kTimeout && sparq_test::Contains(status[size_t(r)].message, "did not come up") &&
                seconds[size_t(r)] < 3 * kTimeoutMs / 1000.0,
            "comm nccl transport [sim]: rank " + std::to_string(r) + "'s join fails with kTimeout when a rank never joins",
            "%s (%.2f s)", status[size_t(r)].message.c_str(), seconds[size_t(r)]);
  }
  {  // 3 ranks join; rank 2 never calls
    Status made = comm::NewNcclId(4096, "", &id);
    Call c;
    Workspace ws;
    PrepareSmallComm(3, c, ws);  // the id is NCCL's here
    std::vector<Status> status(3), again(3);
    std::vector<std::string> broken(3);
    std::vector<std::thread> ranks;
    for (int r = 0; r < 3; ++r)
      ranks.emplace_back([&, r] {
        std::shared_ptr<Backend> backend;
        std::shared_ptr<comm::NcclComm> nc;
        Status st = made.ok() ? CreateSimBackend(BackendOptions{}, &backend) : made;
        if (st.ok()) st = comm::NcclComm::Join(backend, id, r, 3, kTimeoutMs, nullptr, "", "", &nc);
        if (st.ok() && r < 2) {
          const CommAllreduceRmsnormArgs a = RankCommArgs(c, r, nullptr);
          st = nc->Allreduce(a, nullptr);
          broken[size_t(r)] = nc->BrokenReason();
          again[size_t(r)] = nc->Allreduce(a, nullptr);
        }
        status[size_t(r)] = st;
      });
    for (auto& t : ranks) t.join();
    Check(status[2].ok(), "comm nccl transport [sim]: the rank that never calls joined", "%s", status[2].message.c_str());
    for (int r = 0; r < 2; ++r)
      Check(status[size_t(r)].code == StatusCode::kTimeout && sparq_test::Contains(status[size_t(r)].message, "call 1") &&
                !broken[size_t(r)].empty() && again[size_t(r)].code == StatusCode::kTimeout,
            "comm nccl transport [sim]: rank " + std::to_string(r) + "'s call fails with kTimeout, and the comm stays broken",
            "%s / %s / %s", status[size_t(r)].message.c_str(), broken[size_t(r)].c_str(), again[size_t(r)].message.c_str());
  }
  {  // a cpu rank
    std::shared_ptr<Backend> cpu;
    std::shared_ptr<comm::NcclComm> nc;
    Status st = CreateCpuBackend(BackendOptions{}, &cpu);
    if (st.ok()) st = comm::NcclComm::Join(cpu, id, 0, 1, kTimeoutMs, nullptr, "", "", &nc);
    Check(st.code == StatusCode::kBackend && sparq_test::Contains(st.message, "cuda rank"),
          "comm nccl transport: a cpu rank is refused with kBackend", "%s", st.message.c_str());
  }
}

// 4 sim ranks, each a thread, join NCCL comm `id` as machines a, b, a, b (ranks 0 and 2 on a, 1 and
// 3 on b) and run `body(r, comm)` when the join succeeded; `before_join(r, &backend)` may wrap or
// delay a rank first. Every rank keeps its comm until all bodies are done, then they let go
// together, as real ranks do. Returns each rank's status (its join's, else its body's).
std::vector<Status> OnMachineRanks(const std::vector<uint8_t>& id, int64_t timeout_ms,
                                   const std::function<void(int, std::shared_ptr<Backend>*)>& before_join,
                                   const std::function<Status(int, comm::NcclComm&)>& body) {
  std::vector<Status> status(4);
  std::vector<std::shared_ptr<comm::NcclComm>> held(4);
  std::vector<std::thread> ranks;
  for (int r = 0; r < 4; ++r)
    ranks.emplace_back([&, r] {
      std::shared_ptr<Backend> backend;
      Status st = CreateSimBackend(BackendOptions{}, &backend);
      if (st.ok() && before_join) before_join(r, &backend);
      if (st.ok()) st = comm::NcclComm::Join(backend, id, r, 4, timeout_ms, nullptr, "", r % 2 ? "b" : "a", &held[size_t(r)]);
      status[size_t(r)] = st.ok() ? body(r, *held[size_t(r)]) : st;
    });
  for (auto& t : ranks) t.join();
  std::vector<std::thread> closers;
  for (auto& h : held) closers.emplace_back([&h] { h.reset(); });
  for (auto& t : closers) t.join();
  return status;
}

// The hierarchical form's bounds, on the double: rank 3 never calls — rank 1 (its machine peer)
// fails in the node exchange naming it, ranks 0 and 2 (the other machine) at their NCCL deadline;
// every comm broken after. Then a rank whose x cannot be read, and one that closes its comm: its
// machine peer fails at once naming it (ranks on the other machine make no call). Machines whose
// /dev/shm cannot hold the segment take the flat form; after a late join the calls keep the
// whole timeout.
void NcclNodeFailures() {
  if (!sparq_test::TakeCase()) return;
  constexpr int64_t kTimeoutMs = 1500, kLongTimeoutMs = 20000;
  const auto new_id = [](uint64_t max_bytes) {
    std::vector<uint8_t> id;
    const Status made = comm::NewNcclId(max_bytes, "", &id);
    Check(made.ok(), "comm nccl hierarchical [sim]: an id", "%s", made.message.c_str());
    return id;
  };
  const auto since = [](std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  Call c;
  c.ranks = 4;
  c.tokens = 3;
  c.hidden = 16;
  Workspace ws;
  Prepare(c, ws);
  std::vector<std::string> broken(4);
  std::vector<double> seconds(4, 0);
  std::vector<char> hierarchical(4, 0);  // not vector<bool>: ranks write their own entries concurrently

  std::vector<Status> status = OnMachineRanks(new_id(4096), kTimeoutMs, nullptr, [&](int r, comm::NcclComm& nc) {
    hierarchical[size_t(r)] = nc.hierarchical();
    if (r == 3) {
      std::this_thread::sleep_for(std::chrono::milliseconds(3 * kTimeoutMs));
      return Status::Ok();
    }
    const auto t0 = std::chrono::steady_clock::now();
    const Status st = nc.Allreduce(RankCommArgs(c, r, nullptr), nullptr);
    seconds[size_t(r)] = since(t0);
    broken[size_t(r)] = nc.BrokenReason();
    return st;
  });
  Check(status[3].ok() && hierarchical[0] && hierarchical[3], "comm nccl hierarchical [sim]: 4 ranks on 2 nodes joined, hierarchical",
        "%s", status[3].message.c_str());
  Check(status[1].code == StatusCode::kTimeout && sparq_test::Contains(status[1].message, "rank 3 did not arrive") &&
            sparq_test::Contains(status[1].message, "(rank 1 waited)"),
        "comm nccl hierarchical [sim]: rank 1's call fails naming its machine peer by its rank in the comm (3, not 1)", "%s",
        status[1].message.c_str());
  for (int r = 0; r < 3; ++r)
    Check(status[size_t(r)].code == StatusCode::kTimeout && !broken[size_t(r)].empty() && seconds[size_t(r)] < 3 * kTimeoutMs / 1000.0,
          "comm nccl hierarchical [sim]: rank " + std::to_string(r) + "'s call fails with kTimeout within its bound, comm broken",
          "%s / %s (%.2f s)", status[size_t(r)].message.c_str(), broken[size_t(r)].c_str(), seconds[size_t(r)]);

  std::shared_ptr<Faulty> faulty;  // rank 2's backend: its x cannot be read once it has joined
  status = OnMachineRanks(
      new_id(4096), kLongTimeoutMs,
      [&](int r, std::shared_ptr<Backend>* backend) {
        if (r == 2) *backend = faulty = std::make_shared<Faulty>(*backend, 0u);
      },
      [&](int r, comm::NcclComm& nc) {
        if (r == 2) faulty->SetFaults(Faulty::kCopyToHost);
        if (r % 2 != 0) return Status::Ok();
        const auto t0 = std::chrono::steady_clock::now();
        const Status st = nc.Allreduce(RankCommArgs(c, r, nullptr), nullptr);
        seconds[size_t(r)] = since(t0);
        return st;
      });
  Check(status[2].code == StatusCode::kDevice, "comm nccl hierarchical [sim]: the rank whose x cannot be read gets its own error",
        "%s", status[2].message.c_str());
  Check(status[0].code == StatusCode::kTimeout && sparq_test::Contains(status[0].message, "rank 2 could not read its x") &&
            seconds[0] < kLongTimeoutMs / 4000.0,
        "comm nccl hierarchical [sim]: its node peer fails at once naming it", "%s (%.2f s)", status[0].message.c_str(), seconds[0]);

  // A machine peer that closes its comm instead of calling (what close() and a context's close do
  // while a call waits): rank 0 fails at once naming it, not at its timeout.
  status = OnMachineRanks(new_id(4096), kLongTimeoutMs, nullptr, [&](int r, comm::NcclComm& nc) {
    if (r == 2) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      nc.Close();
    }
    if (r != 0) return Status::Ok();
    const auto t0 = std::chrono::steady_clock::now();
    const Status st = nc.Allreduce(RankCommArgs(c, 0, nullptr), nullptr);
    seconds[0] = since(t0);
    return st;
  });
  Check(status[0].code == StatusCode::kTimeout && sparq_test::Contains(status[0].message, "rank 2 closed the comm") &&
            seconds[0] < kLongTimeoutMs / 4000.0,
        "comm nccl hierarchical [sim]: a machine peer that closes its comm makes a waiting call fail at once, naming it", "%s (%.2f s)",
        status[0].message.c_str(), seconds[0]);

  // A machine's segment that /dev/shm could not hold (maxBytes 2^40: slots of 2 · 2^40 bytes):
  // every rank takes the flat form instead of a SIGBUS at the first large call.
  std::vector<char> flat(4, 0);
  status = OnMachineRanks(new_id(uint64_t(1) << 40), kTimeoutMs, nullptr, [&](int r, comm::NcclComm& nc) {
    flat[size_t(r)] = !nc.hierarchical();
    return Status::Ok();
  });
  Check(flat[0] && flat[1] && flat[2] && flat[3], "comm nccl hierarchical [sim]: machines whose /dev/shm cannot hold the segment: flat",
        "%s", status[0].message.c_str());

  // A rank that joins late leaves its peers' joins with little of their deadline; their calls
  // still get the whole timeout: rank 3 joins 0.7 × timeout late, then rank 2 comes to the first
  // call 0.5 × timeout after rank 0 (its machine peer), and every rank gets the contract's bits.
  constexpr int64_t kLateTimeoutMs = 2000;
  Call late;
  late.ranks = 4;
  late.tokens = 5;
  late.hidden = 16;
  late.wide = true;
  Workspace late_ws;
  Prepare(late, late_ws);
  const auto late_residual = late.residual;
  status = OnMachineRanks(
      new_id(4096), kLateTimeoutMs,
      [&](int r, std::shared_ptr<Backend>*) {
        if (r == 3) std::this_thread::sleep_for(std::chrono::milliseconds(kLateTimeoutMs * 7 / 10));
      },
      [&](int r, comm::NcclComm& nc) {
        if (r == 2) std::this_thread::sleep_for(std::chrono::milliseconds(kLateTimeoutMs / 2));
        return nc.Allreduce(RankCommArgs(late, r, nullptr), nullptr);
      });
  bool all = true;
  for (int r = 0; r < 4; ++r) {
    Check(status[size_t(r)].ok(), "comm nccl hierarchical [sim]: after a late join, rank " + std::to_string(r) +
                                      "'s call waits the whole timeout for a late machine peer",
          "%s", status[size_t(r)].message.c_str());
    all = all && status[size_t(r)].ok();
  }
  if (all) Verify(late, late_residual, "comm nccl hierarchical [sim] after a late join");
}

int main() {
  // The NCCL transport's tests load sparq's NCCL test double (fixtures/nccl_double.cc), never a real NCCL.
  setenv("SPARQ_NCCL_PATH", NCCL_DOUBLE_LIB, 1);
  Layout();
  Sweep();
  Forced();
  StaleWorkspace();
  BackToBack();
  RankThreads();
  MissingRank();
  Gathered();
  Transports(Via::kHost);
  Transports(Via::kDevice);
  Transports(Via::kNccl);
  Transports(Via::kNcclNodes);
  NcclFailures();
  NcclNodeFailures();
  TransportAbandon(false);
  TransportAbandon(true);
  GatheredInPlace();
  TransportVotes();
  DeviceSlotUntouchedOnceBroken();
  RefusedJoinLeavesTheComm();
  return sparq_test::Summary();
}
