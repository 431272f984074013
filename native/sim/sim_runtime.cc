// native/sim/sim_runtime.cc: launches, CTAs, simulated threads, bar.sync, failure and unwinding.
//
// Model: each CUDA thread of a CTA is a fiber on its simulated SM's host thread (sim_fiber.h), or
// with SimOptions::fibers off (or SPARQ_SIM_THREADS=1) a std::thread. A grid runs either one CTA
// at a time or on min(sm_count, max_resident_ctas) simulated SMs (worker threads that each run one
// resident CTA at a time, taking CTAs in blockIdx order, or in a seeded random order under schedule
// fuzzing), so CTAs that wait on each other really run together; CTAs beyond that wait for a free
// SM, as on a GPU whose SMs are busy. A failed check records a located message on the launch, sets
// its abort flag and wakes every waiter; each simulated thread then unwinds by throwing SimAbort
// (caught at the thread's top), all threads end (fibers return, host threads are joined), and Run
// returns kDevice. Nothing ends the process.
//
// Deadlocks are found by lack of progress, not by the clock: each CTA counts its runnable threads
// (CtaState::runnable); the thread whose blocking takes it to 0 reports at once. A wall-clock
// limit (timeout_s) remains only for livelock, counted from the last progress anywhere.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "sim/sim_fiber.h"
#include "sim/sim_internal.h"
#include "sim/sim_launch.h"

namespace sparq::sim {

thread_local ThreadCtx* tls_ctx = nullptr;
std::atomic<uint64_t> g_progress{0};

ThreadCtx& Ctx() {
  if (!tls_ctx) throw std::logic_error("sparq sim: a device primitive was called outside a simulated launch");
  return *tls_ctx;
}

uint64_t FuzzNext(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// A seeded yield point: 1 in 32 a yield, 1 in 1024 a sleep of 20–300 µs (long enough for other
// threads or CTAs to overtake). Rare enough that a fuzzed W4A16 test case stays a few seconds: a
// warp collective waits for its slowest lane, so every sleep holds up the lane's whole warp.
// As a fiber: a hand-over, and for the sleep 1–8 of them (each lets every other fiber of the CTA
// run once; the scheduler also visits them in a seeded order).
static void FuzzYield(ThreadCtx& t) {
  const uint64_t r = FuzzNext(t.fuzz);
  const bool fiber = InFiber();
  if ((r & 31) == 0) {
    if (fiber) FiberYield(YieldKind::kRan);
    else std::this_thread::yield();
  } else if ((r & 1023) == 1) {
    if (fiber)
      for (uint64_t i = 0; i <= (r >> 32) % 8; ++i) FiberYield(YieldKind::kRan);
    else std::this_thread::sleep_for(std::chrono::microseconds(20 + (r >> 32) % 281));
  }
}

// A fiber hands over only where it waits, so one that never waits (a loop of plain loads on a flag:
// a kernel bug) would hold its SM's host thread for good; after this many primitives it yields,
// as a warp scheduler would switch warps, and the others' waits can time out and report it.
constexpr uint32_t kPreemptCalls = 4096;

void CheckAbort() {
  if (!tls_ctx) return;
  if (tls_ctx->launch->aborted.load(std::memory_order_acquire)) throw SimAbort{};
  if (tls_ctx->fuzz != 0) FuzzYield(*tls_ctx);
  if (++tls_ctx->calls_since_yield >= kPreemptCalls && InFiber()) FiberYield(YieldKind::kRan);
}

Clock::time_point Deadline() {
  const double s = tls_ctx ? tls_ctx->launch->options.timeout_s : 10.0;
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

bool WaitForRelease(std::condition_variable& cv, std::unique_lock<std::mutex>& lk, const std::function<bool()>& done) {
  const LaunchState& L = *Ctx().launch;
  uint64_t seen = g_progress.load(std::memory_order_relaxed);
  if (InFiber()) {  // no host thread to block: the CTA's other fibers get it until done() holds
    auto deadline = Deadline();
    YieldKind kind = YieldKind::kBlocked;
    for (;;) {
      if (done() || L.aborted.load(std::memory_order_relaxed)) return true;
      lk.unlock();  // never hand over holding a lock: the next fiber runs on this same host thread
      FiberYield(kind);
      kind = YieldKind::kPolled;
      lk.lock();
      if (Clock::now() < deadline) continue;
      const uint64_t now = g_progress.load(std::memory_order_relaxed);
      if (now == seen) return done() || L.aborted.load(std::memory_order_relaxed);
      seen = now;
      deadline = Deadline();
    }
  }
  for (;;) {
    if (cv.wait_until(lk, Deadline(), [&] { return done() || L.aborted.load(std::memory_order_relaxed); })) return true;
    const uint64_t now = g_progress.load(std::memory_order_relaxed);
    if (now == seen) return false;  // nothing anywhere moved for a whole timeout_s
    seen = now;
  }
}

void SetPhase(Phase p, const char* prim) {
  ThreadCtx& t = Ctx();
  t.cta->phase_prim[t.linear].store(prim, std::memory_order_relaxed);
  t.cta->phase[t.linear].store(static_cast<int>(p), std::memory_order_relaxed);
}

std::string LaneList(uint32_t mask) {
  std::string s;
  for (int l = 0; l < 32;) {
    if (!((mask >> l) & 1u)) { ++l; continue; }
    int e = l;
    while (e + 1 < 32 && ((mask >> (e + 1)) & 1u)) ++e;
    if (!s.empty()) s += ",";
    s += std::to_string(l);
    if (e > l) s += "-" + std::to_string(e);
    l = e + 1;
  }
  return s.empty() ? "none" : s;
}

// ---------------------------------------------------------------- failure
void LaunchState::RecordFailure(const std::string& message) {
  {
    std::lock_guard<std::mutex> lk(error_m);
    if (error.empty()) {
      error = message;
      if (options.schedule_seed != 0)
        error += " [schedule seed " + std::to_string(options.schedule_seed) + ": SPARQ_SIM_SEED=" +
                 std::to_string(options.schedule_seed) + " repeats this CTA order and these yields]";
    }
  }
  aborted.store(true, std::memory_order_release);
  WakeAll();
}

void LaunchState::WakeAll() {
  std::lock_guard<std::mutex> lk(live_m);
  for (CtaState* c : live_ctas) {
    { std::lock_guard<std::mutex> l(c->m); }
    c->cv.notify_all();
    for (auto& w : c->warps) {
      { std::lock_guard<std::mutex> l(w->m); }
      w->cv.notify_all();
    }
  }
}

static std::string Located(const ThreadCtx& t, const char* prim, const char* what) {
  std::ostringstream os;
  os << "sim: kernel " << t.launch->kernel << " block (" << t.cta->idx.x << "," << t.cta->idx.y << ","
     << t.cta->idx.z << ") thread (" << threadIdx.x << "," << threadIdx.y << "," << threadIdx.z << ") [warp "
     << t.warp << " lane " << t.lane << "]: " << prim << ": " << what;
  return os.str();
}

void Fail(const char* prim, const char* what) {
  ThreadCtx& t = Ctx();
  if (!t.launch->aborted.load(std::memory_order_acquire)) t.launch->RecordFailure(Located(t, prim, what));
  throw SimAbort{};
}

// ---------------------------------------------------------------- deadlock dumps
static const char* PhaseName(int p) {
  switch (static_cast<Phase>(p)) {
    case Phase::kRunning: return "running";
    case Phase::kBarrier: return "at bar.sync";
    case Phase::kCollective: return "in";
    case Phase::kSpin: return "spinning in";
    case Phase::kExited: return "exited";
  }
  return "?";
}

std::string DumpCta(CtaState& cta) {
  std::ostringstream os;
  {
    std::lock_guard<std::mutex> lk(cta.m);
    os << " | CTA (" << cta.idx.x << "," << cta.idx.y << "," << cta.idx.z << "): bar.sync " << cta.arrived << " of "
       << cta.expected << " live threads arrived";
  }
  for (size_t w = 0; w < cta.warps.size(); ++w) {
    // group lanes by (phase, primitive)
    std::vector<std::pair<std::string, uint32_t>> groups;
    for (int l = 0; l < 32; ++l) {
      const int t = int(w) * 32 + l;
      if (t >= cta.nthreads) break;
      const int p = cta.phase[t].load(std::memory_order_relaxed);
      const char* prim = cta.phase_prim[t].load(std::memory_order_relaxed);
      std::string key = PhaseName(p);
      if ((p == int(Phase::kCollective) || p == int(Phase::kSpin)) && prim) key += std::string(" ") + prim;
      auto it = std::find_if(groups.begin(), groups.end(), [&](auto& g) { return g.first == key; });
      if (it == groups.end()) groups.push_back({key, 1u << l});
      else it->second |= 1u << l;
    }
    os << " | warp " << w << ":";
    for (auto& g : groups) os << " lanes " << LaneList(g.second) << " " << g.first << ";";
    WarpState& ws = *cta.warps[w];
    std::lock_guard<std::mutex> lk(ws.m);
    for (auto& [mask, r] : ws.rounds) {
      if (!r.arrived) continue;
      int first = __builtin_ctz(r.arrived);
      os << " pending " << r.prim[first] << " mask " << std::hex << mask << std::dec << ": arrived lanes "
         << LaneList(r.arrived) << ", missing lanes " << LaneList(mask & ~r.arrived) << ";";
    }
  }
  return os.str();
}

// What the blocked threads wait for, per pending collective: the lanes it still misses and where
// those are (at bar.sync: a partial-warp collective; in another collective; exited).
static std::string DiagnoseBlocked(CtaState& c) {
  std::ostringstream os;
  const uint64_t g = c.gen.load(std::memory_order_seq_cst);
  for (size_t w = 0; w < c.warps.size(); ++w) {
    WarpState& ws = *c.warps[w];
    std::lock_guard<std::mutex> lk(ws.m);
    for (auto& [mask, r] : ws.rounds) {
      if (!r.arrived) continue;
      const uint32_t missing = mask & ~r.arrived;
      uint32_t at_bar = 0, in_coll = 0;
      for (int l = 0; l < 32; ++l) {
        const int t = int(w) * 32 + l;
        if (!((missing >> l) & 1u) || t >= c.nthreads) continue;
        if (c.barrier_wait[t].load(std::memory_order_seq_cst) == g + 1) at_bar |= 1u << l;
        else if (c.phase[t].load(std::memory_order_relaxed) == int(Phase::kCollective)) in_coll |= 1u << l;
      }
      os << "; warp " << w << ": " << (at_bar ? "partial-warp collective: " : "") << "lanes " << LaneList(r.arrived)
         << " wait in " << r.prim[__builtin_ctz(r.arrived)] << " (mask " << LaneList(mask) << "), missing lanes "
         << LaneList(missing) << " (";
      const char* sep = "";
      if (at_bar) os << sep << LaneList(at_bar) << " wait at bar.sync instead", sep = "; ";
      if (in_coll) os << sep << LaneList(in_coll) << " wait in a collective with another mask", sep = "; ";
      if (missing & ws.exited) os << sep << LaneList(missing & ws.exited) << " exited", sep = "; ";
      if (!*sep) os << "running";
      os << ")";
    }
  }
  const std::string s = os.str();
  return s.empty() ? "; the waits are all at bar.sync" : s;
}

void FailAllBlocked(const char* prim) {
  ThreadCtx& t = Ctx();
  CheckAbort();
  std::string msg =
      "deadlock: every live thread of the CTA is blocked (at bar.sync or in a warp collective) and none can release "
      "another; this thread blocked last";
  msg += DiagnoseBlocked(*t.cta);
  msg += DumpCta(*t.cta);
  Fail(prim, msg.c_str());
}

static std::string Seconds(double s) {
  std::ostringstream os;
  os << s;
  return os.str();
}

void FailNoProgress(const char* prim, const std::string& what) {
  ThreadCtx& t = Ctx();
  std::string msg = "deadlock (timeout: nothing progressed anywhere for " + Seconds(t.launch->options.timeout_s) +
                    " s): " + what;
  msg += DumpCta(*t.cta);
  Fail(prim, msg.c_str());
}

// ---------------------------------------------------------------- bar.sync
// Counts every non-exited thread of the CTA. A thread arriving while lanes of its own warp wait
// in a collective that names it can never be released: reported at once, not after a timeout.
static void CheckNotAwaitedByWarp(ThreadCtx& t, uint64_t barrier_gen) {
  WarpState& w = *t.cta->warps[t.warp];
  std::string problem;
  {
    std::lock_guard<std::mutex> lk(w.m);
    for (auto& [mask, r] : w.rounds) {
      if (r.arrived && ((mask >> t.lane) & 1u) && !((r.arrived >> t.lane) & 1u)) {
        const int first = __builtin_ctz(r.arrived);
        problem = std::string("partial-warp collective: lanes ") + LaneList(r.arrived) + " wait in " +
                  r.prim[first] + " (mask " + LaneList(mask) + "), but lane " + std::to_string(t.lane) +
                  " reached bar.sync instead; missing lanes " + LaneList(mask & ~r.arrived);
        break;
      }
    }
  }
  // The barrier may have completed meanwhile and the round belong to lanes already past it.
  if (!problem.empty() && t.cta->gen.load(std::memory_order_seq_cst) == barrier_gen) {
    const char* prim = "bar.sync";
    Fail(prim, problem.c_str());
  }
}

void SyncThreads(Site site) {
  ThreadCtx& t = Ctx();
  CheckAbort();
  CtaState& c = *t.cta;
  std::unique_lock<std::mutex> lk(c.m);
  const uint64_t g = c.gen.load(std::memory_order_relaxed);
  if (site.file != nullptr) {
    if (c.bar_site_thread < 0) {
      c.bar_site = site;
      c.bar_site_thread = t.linear;
    } else if (!SameSite(c.bar_site, site)) {
      const std::string what = "threads reached one barrier from different places: thread " +
                               std::to_string(c.bar_site_thread) + " at " + c.bar_site.file + ":" +
                               std::to_string(c.bar_site.line) + ", thread " + std::to_string(t.linear) + " at " +
                               site.file + ":" + std::to_string(site.line) +
                               " (bar.sync is .aligned: on a GPU every thread of the CTA must execute the same "
                               "barrier instruction; a __syncthreads in each branch of a divergent if is undefined)";
      lk.unlock();
      Fail("bar.sync", what.c_str());
    }
  }
  const bool weak = WeakMemory(*t.launch);
  if (weak) ArriveWithStores(t, c);  // its stores and acquires become the CTA's when the barrier completes
  if (++c.arrived == c.expected) {
    if (weak) CompleteBarrierMemory(c);
    c.runnable.fetch_add(c.arrived - 1, std::memory_order_acq_rel);  // the waiters are released
    c.arrived = 0;
    c.bar_site_thread = -1;
    c.gen.store(g + 1, std::memory_order_seq_cst);
    c.cv.notify_all();
    NoteProgress();
    return;
  }
  c.barrier_wait[t.linear].store(g + 1, std::memory_order_seq_cst);
  SetPhase(Phase::kBarrier, "bar.sync");
  const bool last_runnable = c.runnable.fetch_sub(1, std::memory_order_acq_rel) == 1;
  lk.unlock();
  CheckNotAwaitedByWarp(t, g);  // the sharper diagnosis first
  if (last_runnable) FailAllBlocked("bar.sync");
  lk.lock();
  const bool released = WaitForRelease(c.cv, lk, [&] { return c.gen.load(std::memory_order_relaxed) != g; });
  lk.unlock();
  CheckAbort();
  if (!released)
    FailNoProgress("bar.sync",
                   "not every live thread of the CTA reached __syncthreads, and those still running made no progress "
                   "(a wait on a flag read with plain loads?)");
  c.barrier_wait[t.linear].store(0, std::memory_order_seq_cst);
  SetPhase(Phase::kRunning, nullptr);
}

// ---------------------------------------------------------------- CTAs and threads
CtaState::~CtaState() {
  for (int i = 0; i < nsmem.load(); ++i) ::operator delete(smem[i].ptr, std::align_val_t(128));
  if (dyn_smem) ::operator delete(dyn_smem, std::align_val_t(128));
}

static void MarkExited(ThreadCtx& t) {
  CtaState& c = *t.cta;
  SetPhase(Phase::kExited, nullptr);
  WarpState& w = *c.warps[t.warp];
  {
    std::lock_guard<std::mutex> lk(w.m);
    w.exited |= 1u << t.lane;
    // Lanes waiting in a collective that names this lane wake up to report it (a failure).
    for (auto& [mask, r] : w.rounds)
      if (r.arrived && ((mask >> t.lane) & 1u)) c.runnable.fetch_add(__builtin_popcount(r.arrived));
  }
  w.cv.notify_all();
  bool deadlocked = false;
  {
    std::lock_guard<std::mutex> lk(c.m);
    const bool weak = WeakMemory(*t.launch);
    if (weak) ArriveWithStores(t, c);  // observed at the next bar.sync, published at the latest at the CTA's exit
    --c.expected;
    if (c.arrived && c.arrived == c.expected) {  // the exit completes a barrier the others wait on
      if (weak) CompleteBarrierMemory(c);
      c.runnable.fetch_add(c.arrived, std::memory_order_acq_rel);
      c.arrived = 0;
      c.bar_site_thread = -1;
      c.gen.fetch_add(1, std::memory_order_seq_cst);
    }
    // Exits are serialized here, so `expected` is exact when this was the last runnable thread:
    // threads left alive are all blocked and nothing can release them.
    deadlocked = c.runnable.fetch_sub(1, std::memory_order_acq_rel) == 1 && c.expected > 0;
  }
  c.cv.notify_all();
  NoteProgress();
  if (deadlocked && !t.launch->aborted.load(std::memory_order_acquire)) {
    std::string what =
        "deadlock: this thread exited and every live thread left in the CTA is blocked (at bar.sync or in a warp "
        "collective); none can release another";
    what += DiagnoseBlocked(c);
    what += DumpCta(c);
    t.launch->RecordFailure(Located(t, "exit", what.c_str()));
  }
}

static void ExitChecks(ThreadCtx& t) {
  size_t pending = t.open_group.size();
  for (auto& g : t.groups) pending += g.size();
  if (pending) {
    std::string what = std::to_string(pending) +
                       " cp.async copies were never waited for (the thread exited without cp.async.wait_group)";
    Fail("exit", what.c_str());
  }
}

static uint3 ThreadIndex(const dim3& block, int linear) {
  return uint3{unsigned(linear % block.x), unsigned(linear / block.x % block.y), unsigned(linear / (block.x * block.y))};
}

// The simulated thread the host thread runs now, in its thread_locals (tls_ctx, threadIdx; the CTA's
// blockIdx and dimensions with `launch`). Outside TSan's view: as fibers, every fiber of the host
// thread writes them on each switch (sim_fiber.h, SPARQ_SIM_NO_TSAN); kernels only read them.
SPARQ_SIM_NO_TSAN static void SetCurrentThread(ThreadCtx* ctx, int linear, const LaunchState* launch = nullptr,
                                               const CtaState* cta = nullptr) {
  tls_ctx = ctx;
  if (launch) {
    blockDim = launch->block;
    gridDim = launch->grid;
    blockIdx = cta->idx;
  }
  if (ctx) threadIdx = ThreadIndex(ctx->launch->block, linear);
}

// fiber_ctx: as a fiber, where to leave the address of its ThreadCtx for the scheduler's resume hook
// (which restores tls_ctx and threadIdx on each switch); nullptr as a host thread.
static void ThreadMain(LaunchState& L, CtaState& cta, int linear, ThreadCtx** fiber_ctx) {
  ThreadCtx t;
  if (fiber_ctx) *fiber_ctx = &t;
  t.launch = &L;
  t.cta = &cta;
  t.linear = linear;
  t.warp = linear / 32;
  t.lane = linear % 32;
  SetCurrentThread(&t, linear, &L, &cta);
  if (L.options.schedule_seed != 0) {
    // One stream per (seed, CTA, thread); never 0, which means off. The start delay reorders the
    // CTA's threads (otherwise they start in threadIdx order, ~10 µs apart); fibers need none, the
    // scheduler visits them in a seeded order.
    uint64_t seed =
        L.options.schedule_seed ^ (uint64_t(cta.linear) << 32) ^ uint64_t(linear) * 0x2545f4914f6cdd1dull;
    t.fuzz = FuzzNext(seed) | 1u;
  }
  if (L.options.schedule_seed != 0 && !fiber_ctx) {
    {  // blocked, not polling: 256 pollers on 2 cores starved the thread creating them (10x slower)
      std::unique_lock<std::mutex> lk(cta.start_m);
      cta.start_cv.wait(lk, [&] { return cta.all_started; });
    }
    std::this_thread::sleep_for(std::chrono::microseconds(FuzzNext(t.fuzz) % 1001));
  }
  try {
    try {
      (*L.body)();
      ExitChecks(t);
    } catch (SimAbort&) {
    } catch (std::exception& e) {
      std::string what = std::string("exception escaped the kernel: ") + e.what();
      Fail("kernel", what.c_str());
    }
  } catch (SimAbort&) {
  }
  MarkExited(t);
  SetCurrentThread(nullptr, linear);
}

static void RunCta(LaunchState& L, unsigned linear_cta) {
  const int nthreads = int(L.block.x * L.block.y * L.block.z);
  CtaState cta;
  cta.launch = &L;
  cta.idx = uint3{linear_cta % L.grid.x, linear_cta / L.grid.x % L.grid.y, linear_cta / (L.grid.x * L.grid.y)};
  cta.linear = linear_cta;
  cta.nthreads = cta.expected = nthreads;
  cta.runnable.store(nthreads);  // threads not started yet count as runnable
  const int nwarps = (nthreads + 31) / 32;
  for (int w = 0; w < nwarps; ++w) {
    cta.warps.emplace_back(new WarpState);
    const int lanes = std::min(32, nthreads - 32 * w);
    if (lanes < 32) cta.warps.back()->exited = ~((1u << lanes) - 1u);  // lanes a partial warp never had
  }
  cta.barrier_wait.reset(new std::atomic<uint64_t>[nthreads]);
  cta.phase.reset(new std::atomic<int>[nthreads]);
  cta.phase_prim.reset(new std::atomic<const char*>[nthreads]);
  for (int i = 0; i < nthreads; ++i) {
    cta.barrier_wait[i].store(0);
    cta.phase[i].store(0);
    cta.phase_prim[i].store(nullptr);
  }
  if (L.dyn_smem_bytes) {
    cta.dyn_smem = static_cast<unsigned char*>(::operator new(L.dyn_smem_bytes, std::align_val_t(128)));
    std::memset(cta.dyn_smem, 0xFF, L.dyn_smem_bytes);
    cta.dyn_smem_bytes = L.dyn_smem_bytes;
  }
  {
    std::lock_guard<std::mutex> lk(L.live_m);
    L.live_ctas.push_back(&cta);
  }
  NoteProgress();
  if (L.fibers) {
    std::vector<ThreadCtx*> ctxs(size_t(nthreads), nullptr);
    // Fuzzing: the order the scheduler visits this CTA's fibers in, per (seed, CTA); never 0 (off).
    const uint64_t shuffle =
        L.options.schedule_seed != 0 ? (L.options.schedule_seed ^ (uint64_t(linear_cta) * 0x9e3779b97f4a7c15ull)) | 1u
                                     : 0;
    try {
      RunFibers(
          nthreads, 32, [&](int i) { ThreadMain(L, cta, i, &ctxs[size_t(i)]); },
          [&](int i) {
            SetCurrentThread(ctxs[size_t(i)], i);
            if (ThreadCtx* t = ctxs[size_t(i)]) t->calls_since_yield = 0;
          },
          shuffle);
    } catch (const std::system_error& e) {  // before any fiber ran: no simulated thread of it exists
      L.RecordFailure("sim: kernel " + L.kernel + ": could not map the fiber stacks of a CTA (" + e.what() + ")");
    }
    SetCurrentThread(nullptr, 0);
  } else {
    std::vector<std::thread> threads;
    threads.reserve(nthreads);
    int started = 0;
    try {
      for (; started < nthreads; ++started)
        threads.emplace_back(ThreadMain, std::ref(L), std::ref(cta), started, nullptr);
    } catch (const std::system_error& e) {
      L.RecordFailure("sim: kernel " + L.kernel + ": could not start simulated thread " + std::to_string(started) +
                      " of the CTA (" + e.what() + ")");
      // threads never started still count for barriers: release the started ones through abort
    }
    {
      std::lock_guard<std::mutex> lk(cta.start_m);
      cta.all_started = true;
    }
    cta.start_cv.notify_all();
    for (auto& th : threads) th.join();
  }
  PublishAtCtaExit(L, cta);  // kernel exit publishes whatever no release did
  {
    std::lock_guard<std::mutex> lk(L.live_m);
    L.live_ctas.erase(std::find(L.live_ctas.begin(), L.live_ctas.end(), &cta));
  }
}

// ---------------------------------------------------------------- Launch
// SPARQ_SIM_THREADS=1: every launch runs host threads, whatever SimOptions::fibers says (to run the
// native tests, or a jest suite, on the thread model). The sim backend hands it in
// (SimOptions::threads_env); C++ callers that leave that at -1 get getenv, once per process.
static bool ThreadsForced(const SimOptions& options) {
  if (options.threads_env >= 0) return options.threads_env == 1;
  static const bool forced = [] {
    const char* v = std::getenv("SPARQ_SIM_THREADS");
    return v != nullptr && std::strcmp(v, "1") == 0;
  }();
  return forced;
}

Launch::Launch(std::string kernel_name, const SimOptions& options) : state_(new LaunchState) {
  state_->kernel = std::move(kernel_name);
  state_->options = options;
}
Launch::~Launch() = default;

void Launch::RegisterBuffer(const std::string& name, const void* base, size_t bytes) {
  GlobalBuffer b;
  b.name = name;
  b.base = reinterpret_cast<uintptr_t>(base);
  b.bytes = bytes;
  b.bytes_read.reset(new std::atomic<uint64_t>(0));
  b.written.reset(new std::atomic<uint64_t>[(bytes + 63) / 64]);
  for (size_t i = 0; i < (bytes + 63) / 64; ++i) b.written[i].store(0, std::memory_order_relaxed);
  b.tags.reset(new PublishTags);
  b.tags->first_word = b.base / 4;
  b.tags->nwords = (b.base + bytes + 3) / 4 - b.base / 4;
  state_->buffers.push_back(std::move(b));
}

std::vector<std::pair<std::string, uint64_t>> Launch::BytesRead() const {
  std::vector<std::pair<std::string, uint64_t>> out;
  for (auto& b : state_->buffers) out.emplace_back(b.name, b.bytes_read->load());
  return out;
}

Status Launch::RunBody(dim3 grid, dim3 block, size_t dyn_smem_bytes, std::function<void()> body) {
  LaunchState& L = *state_;
  const uint64_t nthreads = uint64_t(block.x) * block.y * block.z;
  const uint64_t nctas = uint64_t(grid.x) * grid.y * grid.z;
  if (nthreads == 0 || nthreads > 1024 || nctas == 0 || grid.y > 65535 || grid.z > 65535)
    return Status::Error(StatusCode::kDevice, "sim: kernel " + L.kernel + ": invalid launch configuration grid (" +
                                                  std::to_string(grid.x) + "," + std::to_string(grid.y) + "," +
                                                  std::to_string(grid.z) + ") block (" + std::to_string(block.x) +
                                                  "," + std::to_string(block.y) + "," + std::to_string(block.z) + ")");
  L.grid = grid;
  L.block = block;
  L.nctas = uint32_t(nctas);
  L.dyn_smem_bytes = dyn_smem_bytes;
  L.body = &body;
  L.fibers = L.options.fibers && FibersAvailable() && !ThreadsForced(L.options);
  L.aborted.store(false);
  L.error.clear();
  L.sync.reset(new SyncStripe[kSyncStripes]);  // no release or acquire yet in this run
  for (auto& b : L.buffers) {  // nothing written or published yet in this run
    for (size_t i = 0; i < (b.bytes + 63) / 64; ++i) b.written[i].store(0, std::memory_order_relaxed);
    if (std::atomic<uint64_t>* w = b.tags->words.load(std::memory_order_relaxed))
      for (size_t i = 0; i < b.tags->nwords; ++i) w[i].store(0, std::memory_order_relaxed);
  }

  // Dispatch order: blockIdx order, or with schedule fuzzing a seeded permutation (Fisher-Yates),
  // as a GPU promises no order between CTAs.
  std::vector<uint32_t> order;
  if (L.options.schedule_seed != 0) {
    order.resize(size_t(nctas));
    for (uint32_t i = 0; i < uint32_t(nctas); ++i) order[i] = i;
    uint64_t state = L.options.schedule_seed;
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[FuzzNext(state) % i]);
  }
  std::atomic<uint64_t> next_cta{0};
  auto sm_worker = [&] {
    for (;;) {
      if (L.aborted.load(std::memory_order_acquire)) return;
      const uint64_t i = next_cta.fetch_add(1);
      if (i >= nctas) return;
      RunCta(L, order.empty() ? unsigned(i) : order[size_t(i)]);
    }
  };
  // CTAs resident at once: one per simulated SM, at most max_resident_ctas (each CTA is blockDim
  // host threads; 132 SMs x 256 threads would be 33k of them). The launchers still size grids for
  // sm_count; kernels may not assume that more than one CTA is resident.
  uint64_t resident = uint64_t(std::max(1, L.options.sm_count));
  if (L.options.max_resident_ctas > 0) resident = std::min<uint64_t>(resident, uint64_t(L.options.max_resident_ctas));
  const int sms = L.options.concurrent_ctas ? int(std::min<uint64_t>(resident, nctas)) : 1;
  if (sms == 1) {
    sm_worker();
    ReleaseFiberStacks();  // this is the caller's thread: it may never run a launch again
  } else {
    std::vector<std::thread> workers;
    try {
      for (int s = 0; s < sms; ++s) workers.emplace_back(sm_worker);
    } catch (const std::system_error& e) {
      L.RecordFailure("sim: kernel " + L.kernel + ": could not start a simulated SM (" + e.what() + ")");
    }
    for (auto& w : workers) w.join();
  }
  L.body = nullptr;
  if (L.aborted.load()) {
    std::lock_guard<std::mutex> lk(L.error_m);
    return Status::Error(StatusCode::kDevice, L.error);
  }
  return Status::Ok();
}

}  // namespace sparq::sim
