// native/sim/sim_warp.cc: warp collectives (mma.sync, ldmatrix, shfl.sync, vote.sync,
// bar.warp.sync) and the f16/bf16 number formats.
//
// A collective is a rendezvous of the lanes named in its member mask. Each lane deposits its
// operands; the last to arrive checks that all lanes reached the same primitive and variant,
// computes every lane's result from the PTX ISA fragment layouts (native/cuda/layouts.cuh) and
// wakes the others. A lane named in the mask that has exited or waits at bar.sync is a located
// failure naming the primitive and the missing lanes; so is a CTA whose live threads are all
// blocked (CtaState::runnable reaches 0), and, as a last resort, a wait during which nothing
// progressed anywhere for timeout_s.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "cuda/layouts.cuh"
#include "sparq/half.h"
#include "sim/sim_internal.h"

namespace sparq::sim {

// ---------------------------------------------------------------- number formats
// fp16 <-> fp32 is sparq/half.h's, the one the CPU path and the quantizer use.
float F16ToF32(uint16_t h) { return F16BitsToF32(h); }

uint16_t F32ToF16(float f) { return F32ToF16Bits(f); }

// One rounding from f64 (f16 arithmetic is computed exactly in f64): round to odd into f32, then
// the shared f32 -> f16 round-to-nearest-even. f32 keeps 13 significand bits more than f16 (2
// suffice), so the two steps give the correctly rounded f16 (Boldo & Melquiond, "Emulation of FMA
// and correctly rounded sums: proved algorithms using rounding to odd", IEEE Trans. Comput. 2008).
uint16_t F64ToF16(double d) {
  if (std::isnan(d)) return 0x7e00;  // canonical NaN
  d = std::fmax(-65536.0, std::fmin(65536.0, d));  // keeps float(d) defined; all of it rounds to Inf
  float f = float(d);
  if (double(f) != d) {  // inexact: of the two f32 neighbours of d, take the one with an odd last bit
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    if (std::fabs(double(f)) > std::fabs(d)) --bits;  // the neighbour toward zero (sign-magnitude)
    bits |= 1u;
    std::memcpy(&f, &bits, 4);
  }
  return F32ToF16Bits(f);
}

float BF16ToF32(uint16_t h) {
  const uint32_t bits = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t F32ToBF16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if (std::isnan(f)) return uint16_t((bits >> 16) | 0x40u);
  const uint32_t round = 0x7fffu + ((bits >> 16) & 1u);  // round-to-nearest-even
  return uint16_t((bits + round) >> 16);
}

// ---------------------------------------------------------------- rendezvous
enum Op : int { kOpSyncWarp = 1, kOpShfl, kOpVote, kOpLdmatrix, kOpMma };

// Computes every lane's result from all deposited slots; returns an error text or "".
using ComputeFn = std::string (*)(Round& r, uint32_t mask, const void* arg);

// Lanes in `mask` that are blocked at bar.sync right now (they can never come to this collective).
static uint32_t LanesAtBarrier(CtaState& c, int warp, uint32_t lanes) {
  uint32_t at = 0;
  for (int l = 0; l < 32; ++l) {
    if (!((lanes >> l) & 1u)) continue;
    const int t = warp * 32 + l;
    if (t >= c.nthreads) continue;
    const uint64_t w = c.barrier_wait[t].load(std::memory_order_seq_cst);
    const uint64_t g = c.gen.load(std::memory_order_seq_cst);
    if (w != 0 && w == g + 1) at |= 1u << l;
  }
  return at;
}

bool SameSite(const Site& a, const Site& b) {
  return a.line == b.line && (a.file == b.file || std::strcmp(a.file, b.file) == 0);
}

// Two lanes of one round at different call sites (sim::Site; only .aligned collectives record
// one): the lanes grouped by site, or "" when they all came from one place (the common case,
// checked first without allocating: every completed mma and ldmatrix round passes here).
static std::string DivergentSites(const Round& r, uint32_t mask) {
  const Site& first = r.site[__builtin_ctz(mask)];
  if (first.file == nullptr) return {};
  bool diverged = false;
  for (int l = 0; l < 32 && !diverged; ++l) diverged = ((mask >> l) & 1u) && !SameSite(r.site[l], first);
  if (!diverged) return {};
  std::vector<std::pair<Site, uint32_t>> sites;
  for (int l = 0; l < 32; ++l) {
    if (!((mask >> l) & 1u)) continue;
    auto it = std::find_if(sites.begin(), sites.end(), [&](const auto& e) { return SameSite(e.first, r.site[l]); });
    if (it == sites.end()) sites.push_back({r.site[l], 1u << l});
    else it->second |= 1u << l;
  }
  std::string what = "an .aligned collective reached from different places: ";
  for (size_t i = 0; i < sites.size(); ++i) {
    what += (i ? "; " : "") + std::string("lanes ") + LaneList(sites[i].second) + " at " + sites[i].first.file + ":" +
            std::to_string(sites[i].first.line);
  }
  return what + " (on a GPU these are different instructions: the warp must execute one of them converged)";
}

static void Collective(const char* prim, int op, int variant, uint32_t mask, const CollectiveSlot& in,
                       uint32_t* out, int nout, ComputeFn compute, const void* arg, Site site = {}) {
  ThreadCtx& t = Ctx();
  CheckAbort();
  const uint32_t me = 1u << t.lane;
  if (!(mask & me)) {
    std::string what = "member mask " + LaneList(mask) + " does not name the calling lane " + std::to_string(t.lane);
    Fail(prim, what.c_str());
  }
  WarpState& w = *t.cta->warps[t.warp];
  std::unique_lock<std::mutex> lk(w.m);
  std::string problem;
  if (mask & w.exited) {
    problem = "partial-warp collective: lanes " + LaneList(mask & w.exited) + " named in the mask " + LaneList(mask) +
              " have exited";
    lk.unlock();
    Fail(prim, problem.c_str());
  }
  CtaState& c = *t.cta;
  Round& r = w.rounds[mask];
  if (r.leaving) {  // the previous round on this mask is still handing out results
    SetPhase(Phase::kCollective, prim);
    ++r.leave_waiters;
    if (c.runnable.fetch_sub(1, std::memory_order_acq_rel) == 1) {  // cannot happen: the leavers run
      lk.unlock();
      FailAllBlocked(prim);
    }
    const bool ok = WaitForRelease(w.cv, lk, [&] { return r.leaving == 0; });
    if (t.launch->aborted.load()) throw SimAbort{};
    if (!ok) {
      lk.unlock();
      FailNoProgress(prim, "lanes of the previous round on this mask never picked up their results");
    }
  }
  r.slot[t.lane] = in;
  r.op[t.lane] = op;
  r.variant[t.lane] = variant;
  r.prim[t.lane] = prim;
  r.site[t.lane] = site;
  r.arrived |= me;
  if (r.arrived == mask) {
    for (int l = 0; l < 32; ++l) {
      if (!((mask >> l) & 1u)) continue;
      if (r.op[l] != op || r.variant[l] != variant) {
        problem = std::string("warp divergence: lane ") + std::to_string(l) + " is in " + r.prim[l] + " while lane " +
                  std::to_string(t.lane) + " is in " + prim + " (mask " + LaneList(mask) + ")";
        break;
      }
    }
    if (problem.empty()) problem = DivergentSites(r, mask);
    if (problem.empty()) problem = compute(r, mask, arg);
    if (!problem.empty()) {
      lk.unlock();
      Fail(prim, problem.c_str());
    }
    r.arrived = 0;
    r.leaving = __builtin_popcount(mask) - 1;
    c.runnable.fetch_add(r.leaving, std::memory_order_acq_rel);  // the waiting lanes are released
    ++r.gen;
    std::memcpy(out, r.slot[t.lane].out, sizeof(uint32_t) * nout);
    lk.unlock();
    w.cv.notify_all();
    NoteProgress();
    SetPhase(Phase::kRunning, nullptr);
    return;
  }
  const uint64_t g = r.gen;
  SetPhase(Phase::kCollective, prim);
  const bool last_runnable = c.runnable.fetch_sub(1, std::memory_order_acq_rel) == 1;
  lk.unlock();
  // Lanes named in the mask that wait at bar.sync can never arrive: report at once.
  // (Only if this round is still pending: it may have completed since, its lanes moving on.)
  if (uint32_t at = LanesAtBarrier(*t.cta, t.warp, mask & ~me)) {
    lk.lock();
    const bool pending = r.gen == g;
    const uint32_t arrived = r.arrived;
    lk.unlock();
    at &= ~arrived;
    if (pending && at) {
      problem = "partial-warp collective: lanes " + LaneList(arrived) + " reached " + prim + " (mask " +
                LaneList(mask) + ") but lanes " + LaneList(at) + " wait at bar.sync instead";
      Fail(prim, problem.c_str());
    }
  }
  if (last_runnable) FailAllBlocked(prim);
  lk.lock();
  const bool done = WaitForRelease(w.cv, lk, [&] { return r.gen != g || (mask & w.exited) != 0; });
  if (t.launch->aborted.load()) throw SimAbort{};
  if (r.gen == g) {
    const uint32_t arrived = r.arrived;
    if (done) {
      problem = "partial-warp collective: lanes " + LaneList(mask & w.exited) + " named in the mask " +
                LaneList(mask) + " have exited while lanes " + LaneList(arrived) + " wait; missing lanes " +
                LaneList(mask & ~arrived);
    } else {
      lk.unlock();
      FailNoProgress(prim, "lanes " + LaneList(arrived) + " wait in " + prim + " with mask " + LaneList(mask) +
                               ", missing lanes " + LaneList(mask & ~arrived) +
                               ", which run without progress (a wait on a flag read with plain loads?)");
    }
    lk.unlock();
    Fail(prim, problem.c_str());
  }
  std::memcpy(out, r.slot[t.lane].out, sizeof(uint32_t) * nout);
  const bool last = --r.leaving == 0;
  if (last && r.leave_waiters) {  // release the next round's lanes that waited for this one to drain
    c.runnable.fetch_add(r.leave_waiters, std::memory_order_acq_rel);
    r.leave_waiters = 0;
  }
  lk.unlock();
  SetPhase(Phase::kRunning, nullptr);
  if (last) w.cv.notify_all();
}

// ---------------------------------------------------------------- bar.warp.sync
static std::string ComputeNothing(Round&, uint32_t, const void*) { return {}; }

void SyncWarp(uint32_t mask) {
  // bar.warp.sync orders memory among the lanes it names: each lane's global stores become visible
  // to its CTA before the rendezvous (to the whole CTA: over-, never under-synchronizing).
  ThreadCtx& t = Ctx();
  if (WeakMemory(*t.launch)) ShareStoresWithCta(t);
  CollectiveSlot in{};
  uint32_t out[1];
  Collective("bar.warp.sync", kOpSyncWarp, 0, mask, in, out, 0, ComputeNothing, nullptr);
}

// ---------------------------------------------------------------- shfl.sync
static std::string ComputeShfl(Round& r, uint32_t mask, const void* arg) {
  const ShflMode mode = *static_cast<const ShflMode*>(arg);
  for (int l = 0; l < 32; ++l) {
    if (!((mask >> l) & 1u)) continue;
    const int b = int(r.slot[l].in[1]);
    int src = l;
    switch (mode) {
      case ShflMode::kBfly: src = l ^ (b & 31); break;
      case ShflMode::kDown: src = l + b > 31 ? l : l + b; break;
      case ShflMode::kUp: src = l - b < 0 ? l : l - b; break;
      case ShflMode::kIdx: src = b & 31; break;
    }
    if (!((mask >> src) & 1u))
      return "lane " + std::to_string(l) + " reads lane " + std::to_string(src) + ", which is not in the member mask " +
             LaneList(mask) + " (undefined value on a GPU)";
    r.slot[l].out[0] = uint32_t(r.slot[src].in[0]);
  }
  return {};
}

uint32_t Shfl(ShflMode mode, uint32_t mask, uint32_t value, int b) {
  static const char* names[] = {"shfl.sync.bfly.b32", "shfl.sync.down.b32", "shfl.sync.up.b32", "shfl.sync.idx.b32"};
  CollectiveSlot in{};
  in.in[0] = value;
  in.in[1] = uint64_t(uint32_t(b));
  uint32_t out[1];
  Collective(names[int(mode)], kOpShfl, int(mode), mask, in, out, 1, ComputeShfl, &mode);
  return out[0];
}

// ---------------------------------------------------------------- vote.sync
static std::string ComputeVote(Round& r, uint32_t mask, const void* arg) {
  const VoteMode mode = *static_cast<const VoteMode*>(arg);
  uint32_t ballot = 0;
  for (int l = 0; l < 32; ++l)
    if (((mask >> l) & 1u) && r.slot[l].in[0]) ballot |= 1u << l;
  uint32_t v = ballot;
  if (mode == VoteMode::kAny) v = ballot != 0;
  if (mode == VoteMode::kAll) v = ballot == mask;
  for (int l = 0; l < 32; ++l) r.slot[l].out[0] = v;
  return {};
}

uint32_t Vote(VoteMode mode, uint32_t mask, bool pred) {
  static const char* names[] = {"vote.sync.ballot.b32", "vote.sync.any.pred", "vote.sync.all.pred"};
  CollectiveSlot in{};
  in.in[0] = pred ? 1 : 0;
  uint32_t out[1];
  Collective(names[int(mode)], kOpVote, int(mode), mask, in, out, 1, ComputeVote, &mode);
  return out[0];
}

// ---------------------------------------------------------------- ldmatrix
struct LdmatrixArg {
  int num;
  bool trans;
};

static std::string ComputeLdmatrix(Round& r, uint32_t, const void* arg) {
  const LdmatrixArg& a = *static_cast<const LdmatrixArg*>(arg);
  for (int l = 0; l < 32; ++l) {
    for (int j = 0; j < a.num; ++j) {
      uint32_t reg = 0;
      for (int h = 0; h < 2; ++h) {
        const RowCol e = layout::ldmatrix_elem(l, h, a.trans);
        const auto* row = reinterpret_cast<const uint16_t*>(uintptr_t(r.slot[layout::ldmatrix_addr_lane(j, e.row)].in[0]));
        uint16_t v;
        std::memcpy(&v, row + e.col, 2);
        reg |= uint32_t(v) << (16 * h);
      }
      r.slot[l].out[j] = reg;
    }
  }
  return {};
}

bool SmemContains(CtaState& c, const void* p, size_t bytes);  // sim_memory.cc

void Ldmatrix(int num, bool trans, const void* s_row, uint32_t* d, Site site) {
  static const char* names[2][3] = {
      {"ldmatrix.sync.aligned.m8n8.x1.shared.b16", "ldmatrix.sync.aligned.m8n8.x2.shared.b16",
       "ldmatrix.sync.aligned.m8n8.x4.shared.b16"},
      {"ldmatrix.sync.aligned.m8n8.x1.trans.shared.b16", "ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16",
       "ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16"}};
  const char* prim = names[trans][num == 1 ? 0 : num == 2 ? 1 : 2];
  ThreadCtx& t = Ctx();
  if (t.lane < 8 * num) {  // lanes beyond 8*num give no address
    if (reinterpret_cast<uintptr_t>(s_row) & 15) {
      std::string what = "misaligned row address " + DescribeAddress(*t.launch, s_row) + ": must be 16-byte aligned";
      Fail(prim, what.c_str());
    }
    if (!SmemContains(*t.cta, s_row, 16)) {
      std::string what = "row address " + DescribeAddress(*t.launch, s_row) +
                         " is not 16 bytes inside this CTA's shared memory";
      Fail(prim, what.c_str());
    }
  }
  CollectiveSlot in{};
  in.in[0] = reinterpret_cast<uintptr_t>(s_row);
  const LdmatrixArg arg{num, trans};
  Collective(prim, kOpLdmatrix, num * 2 + (trans ? 1 : 0), 0xffffffffu, in, d, num, ComputeLdmatrix, &arg, site);
}

// ---------------------------------------------------------------- mma.sync
// In: a0..a3 in in[0..3], b0..b1 in in[4..5], c0..c3 (bits) in in[6..9]. Products of f16/bf16 and
// of s8 are exact in f32/s32; the f32 sum runs in k order (hardware order differs: tolerances).
static std::string ComputeMmaM16N8K16(Round& r, uint32_t, const void* arg) {
  const MmaKind kind = *static_cast<const MmaKind*>(arg);
  float A[16][16], B[16][8];
  auto cvt = [kind](uint16_t h) { return kind == MmaKind::kF16 ? F16ToF32(h) : BF16ToF32(h); };
  for (int l = 0; l < 32; ++l) {
    for (int e = 0; e < 8; ++e) {
      const RowCol rc = layout::mma_m16n8k16_a(l, e);
      A[rc.row][rc.col] = cvt(uint16_t(r.slot[l].in[e >> 1] >> (16 * (e & 1))));
    }
    for (int e = 0; e < 4; ++e) {
      const RowCol rc = layout::mma_m16n8k16_b(l, e);
      B[rc.row][rc.col] = cvt(uint16_t(r.slot[l].in[4 + (e >> 1)] >> (16 * (e & 1))));
    }
  }
  for (int l = 0; l < 32; ++l) {
    for (int e = 0; e < 4; ++e) {
      const RowCol rc = layout::mma_m16n8_c(l, e);
      uint32_t cbits = uint32_t(r.slot[l].in[6 + e]);
      float acc;
      std::memcpy(&acc, &cbits, 4);
      for (int k = 0; k < 16; ++k) acc += A[rc.row][k] * B[k][rc.col];
      std::memcpy(&r.slot[l].out[e], &acc, 4);
    }
  }
  return {};
}

void MmaM16N8K16(MmaKind kind, float* d, const uint32_t* a, const uint32_t* b, const float* c, Site site) {
  CollectiveSlot in{};
  for (int i = 0; i < 4; ++i) in.in[i] = a[i];
  for (int i = 0; i < 2; ++i) in.in[4 + i] = b[i];
  for (int i = 0; i < 4; ++i) {
    uint32_t bits;
    std::memcpy(&bits, &c[i], 4);
    in.in[6 + i] = bits;
  }
  uint32_t out[4];
  const char* prim = kind == MmaKind::kF16 ? "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32"
                                           : "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32";
  Collective(prim, kOpMma, kind == MmaKind::kF16 ? 16816 : 16817, 0xffffffffu, in, out, 4, ComputeMmaM16N8K16, &kind,
             site);
  std::memcpy(d, out, 16);
}

static std::string ComputeMmaM16N8K32S8(Round& r, uint32_t, const void*) {
  int32_t A[16][32], B[32][8];
  for (int l = 0; l < 32; ++l) {
    for (int e = 0; e < 16; ++e) {
      const RowCol rc = layout::mma_m16n8k32_a(l, e);
      A[rc.row][rc.col] = int8_t(uint8_t(r.slot[l].in[e >> 2] >> (8 * (e & 3))));
    }
    for (int e = 0; e < 8; ++e) {
      const RowCol rc = layout::mma_m16n8k32_b(l, e);
      B[rc.row][rc.col] = int8_t(uint8_t(r.slot[l].in[4 + (e >> 2)] >> (8 * (e & 3))));
    }
  }
  for (int l = 0; l < 32; ++l) {
    for (int e = 0; e < 4; ++e) {
      const RowCol rc = layout::mma_m16n8_c(l, e);
      int64_t acc = int32_t(uint32_t(r.slot[l].in[6 + e]));
      for (int k = 0; k < 32; ++k) acc += int64_t(A[rc.row][k]) * B[k][rc.col];
      r.slot[l].out[e] = uint32_t(int32_t(acc));  // wraps like the hardware (no .satfinite)
    }
  }
  return {};
}

void MmaM16N8K32S8(int32_t* d, const uint32_t* a, const uint32_t* b, const int32_t* c, Site site) {
  CollectiveSlot in{};
  for (int i = 0; i < 4; ++i) in.in[i] = a[i];
  for (int i = 0; i < 2; ++i) in.in[4 + i] = b[i];
  for (int i = 0; i < 4; ++i) in.in[6 + i] = uint32_t(c[i]);
  uint32_t out[4];
  Collective("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32", kOpMma, 16832, 0xffffffffu, in, out, 4,
             ComputeMmaM16N8K32S8, nullptr, site);
  std::memcpy(d, out, 16);
}

}  // namespace sparq::sim
