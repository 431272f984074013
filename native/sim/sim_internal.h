// native/sim/sim_internal.h: the simulator's state, shared by sim_runtime.cc (launch, CTAs,
// barriers, failure and unwinding), sim_warp.cc (warp collectives) and sim_memory.cc (shared
// memory, cp.async, global accesses). Nothing here is static: a launch owns its CTAs, a CTA its
// warps and shared memory, a simulated thread its ThreadCtx.
#pragma once
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "sim/sim_device.h"
#include "sparq/sim.h"

namespace sparq::sim {

using Clock = std::chrono::steady_clock;

// Thrown to unwind a simulated thread once its launch has failed; caught at the thread's top.
struct SimAbort {};

enum class Phase : int { kRunning = 0, kBarrier, kCollective, kSpin, kExited };

// ---- weak global memory (sim_memory.cc; SimOptions::weak_global_memory) ---------------------
// A plain global store is buffered: first in its thread (StoreMap in ThreadCtx), visible only to
// that thread; a bar.sync moves every arriving thread's stores into the CTA's `observed` map
// (visible to the CTA's threads); a gpu/sys-scope release by any thread of the CTA (fence,
// st.release, atom/red with release semantics) publishes its own and the CTA's observed stores to
// memory, which is what other CTAs read; a CTA's exit publishes the rest. Loads read memory, then
// the CTA's observed bytes, then the thread's own (newest wins).
struct StoreGranule {  // 16 aligned bytes of buffered stores; mask bit i: bytes[i] is stored
  uint16_t mask = 0;
  unsigned char bytes[16];
};
using StoreMap = std::unordered_map<uintptr_t, StoreGranule>;  // key: address / 16

// Publication tags: per aligned 4-byte word of a registered buffer, who published it in this launch
// (CTA linear id + 1 in the high half, 0 = before the launch or not checkable) and at which of that
// CTA's releases (low half; kExitSeq: at the CTA's exit). A plain load by another CTA must have
// synchronized with that release (LaunchState::sync, ThreadCtx::known) or it fails: the store was
// not ordered before the load, whatever the host schedule happened to show.
inline constexpr uint32_t kExitSeq = 0xffffffffu;
struct PublishTags {
  std::mutex m;  // allocation only
  std::atomic<std::atomic<uint64_t>*> words{nullptr};
  std::unique_ptr<std::atomic<uint64_t>[]> owner;
  uintptr_t first_word = 0;  // base / 4
  size_t nwords = 0;
};

struct GlobalBuffer {
  std::string name;
  uintptr_t base = 0;
  size_t bytes = 0;
  std::unique_ptr<std::atomic<uint64_t>> bytes_read;
  // Bytes written in this launch, one bit per byte (bit i%64 of word i/64): ld.global.nc of any of
  // them fails (the read-only path need not see them). Allocated with the buffer, before the
  // launch, so that no simulated thread publishes it to another (no hidden TSan edge).
  std::unique_ptr<std::atomic<uint64_t>[]> written;
  std::unique_ptr<PublishTags> tags;  // words allocated at the first publication into the buffer
};

// What a release made visible, per CTA (vector clocks indexed by CTA linear id): entry x = the
// latest release of CTA x that happens-before. Kept per synchronizing location; a gpu-scope
// release joins the releaser's view into `gpu`, a .cta-scope one into `by_cta[its CTA]` only, so
// a .cta acquire in another CTA gets nothing.
using VClock = std::vector<uint32_t>;
struct SyncLoc {
  VClock gpu;
  std::vector<std::pair<uint32_t, VClock>> by_cta;
};
struct SyncStripe {
  std::mutex m;
  std::unordered_map<uintptr_t, SyncLoc> locs;
};
inline constexpr int kSyncStripes = 64;

// Progress anywhere in the process: a barrier or warp collective completed, a simulated thread
// started or exited, an atomic or release store changed memory. Livelock limits (SimOptions::
// timeout_s) count from the last progress, so a slow run (tens of thousands of simulated threads
// on two cores) is never mistaken for a hang. Relaxed: it orders nothing (TSan sees no edge).
extern std::atomic<uint64_t> g_progress;
inline void NoteProgress() { g_progress.fetch_add(1, std::memory_order_relaxed); }

struct CtaState;

struct LaunchState {
  std::string kernel;
  SimOptions options;
  std::vector<GlobalBuffer> buffers;  // fixed before Run

  std::atomic<bool> aborted{false};
  std::mutex error_m;
  std::string error;  // the first failure: the root cause

  std::mutex live_m;
  std::vector<CtaState*> live_ctas;  // CTAs to wake when the launch aborts

  dim3 grid, block;
  uint32_t nctas = 0;
  size_t dyn_smem_bytes = 0;
  const std::function<void()>* body = nullptr;
  bool fibers = false;  // this run's simulated threads are fibers (SimOptions::fibers, where available)
  std::unique_ptr<SyncStripe[]> sync;  // kSyncStripes, by address: clocks of release/acquire locations

  void RecordFailure(const std::string& message);  // first one wins; sets aborted, wakes all
  void WakeAll();
};

// One pending warp collective, per member mask.
struct CollectiveSlot {
  uint64_t in[12];
  uint32_t out[4];
};
struct Round {
  uint32_t arrived = 0;
  uint32_t leaving = 0;  // lanes of the finished round that have not picked up their result
  uint64_t gen = 0;
  int leave_waiters = 0;  // lanes of the next round blocked until `leaving` drops to 0
  int op[32];
  int variant[32];
  const char* prim[32];
  Site site[32];  // where each lane called it (.aligned collectives only)
  CollectiveSlot slot[32];
};
struct WarpState {
  std::mutex m;
  std::condition_variable cv;
  uint32_t exited = 0;  // lanes that returned (or never existed in a partial last warp)
  std::map<uint32_t, Round> rounds;
};

struct SmemBlock {
  int site = 0;
  const char* name = "";
  unsigned char* ptr = nullptr;
  size_t bytes = 0;
};

struct CtaState {
  LaunchState* launch = nullptr;
  uint3 idx{0, 0, 0};
  uint32_t linear = 0;
  int nthreads = 0;

  // bar.sync 0
  std::mutex m;
  std::condition_variable cv;
  int expected = 0, arrived = 0;
  std::atomic<uint64_t> gen{0};
  // Where the pending bar.sync's first arrival called it (bar_site_thread: that thread, -1 none):
  // every arrival of one barrier must come from the same bar instruction (sim::Site).
  Site bar_site;
  int bar_site_thread = -1;
  // Set once every simulated thread of the CTA was created (or creating one failed): with schedule
  // fuzzing each thread waits for it before its random start delay, so the delays, not the order
  // of creation (~10 µs apart, in threadIdx order), decide who runs first.
  std::mutex start_m;
  std::condition_variable start_cv;
  bool all_started = false;  // under start_m

  // Threads of this CTA not blocked at bar.sync or in a warp collective (exited ones excluded).
  // Only threads of the same CTA can release such a wait, so when a thread blocks and this drops to
  // 0 while threads are live, the CTA is deadlocked. A thread decrements it itself when it blocks
  // (under the lock of what it waits on); whoever releases waiters adds their number at the moment
  // of release, so the count is exact without timeouts.
  std::atomic<int> runnable{0};

  std::vector<std::unique_ptr<WarpState>> warps;
  // Per thread, for deadlock detection and dumps: the barrier generation + 1 it waits on (0 = none),
  // its phase, and the primitive it is blocked in.
  std::unique_ptr<std::atomic<uint64_t>[]> barrier_wait;
  std::unique_ptr<std::atomic<int>[]> phase;
  std::unique_ptr<std::atomic<const char*>[]> phase_prim;

  // Shared memory: append-only blocks (written under smem_m, read lock-free up to nblocks).
  static constexpr int kMaxSmemBlocks = 64;
  std::mutex smem_m;
  std::array<SmemBlock, kMaxSmemBlocks> smem;
  std::atomic<int> nsmem{0};
  unsigned char* dyn_smem = nullptr;
  size_t dyn_smem_bytes = 0;

  // Weak global memory. `arriving`: stores of the threads that arrived at the pending bar.sync (or
  // exited), under m; they become `observed` when it completes. `observed`: visible to the CTA,
  // published by its next gpu-scope release, under store_m (has_observed: non-empty).
  StoreMap arriving;
  std::mutex store_m;
  StoreMap observed;
  std::atomic<bool> has_observed{false};
  std::atomic<uint32_t> release_seq{0};  // gpu-scope releases by this CTA's threads so far
  // What the CTA's threads know after the last completed bar.sync (the join of every arriving
  // thread's `known`): written only at completion, when every live thread waits there.
  VClock known, known_pending;  // known_pending under m
  bool known_pending_dirty = false;

  ~CtaState();
};

struct AsyncCopy {
  unsigned char* dst;
  const unsigned char* src;
  int cp_bytes, src_bytes;
};

struct ThreadCtx {
  LaunchState* launch = nullptr;
  CtaState* cta = nullptr;
  int linear = 0, warp = 0, lane = 0;
  std::vector<AsyncCopy> open_group;
  std::vector<std::vector<AsyncCopy>> groups;  // committed, oldest first
  // spin-wait detection: the same address kept returning the same value since spin_start
  const void* spin_addr = nullptr;
  uint32_t spin_value = 0;
  uint64_t spin_count = 0;     // times it saw that value
  uint64_t spin_progress = 0;  // g_progress when spin_start was (re)set
  Clock::time_point spin_start{};
  // Weak global memory: this thread's stores not yet seen by anyone else, and the latest release
  // of each CTA it has synchronized with itself (acquires since its last bar.sync; empty = none).
  StoreMap stores;
  VClock known;
  bool known_dirty = false;
  // Schedule fuzzing (SimOptions::schedule_seed): this thread's generator state, 0 = off.
  uint64_t fuzz = 0;
  // As a fiber: primitives entered since it last handed over (CheckAbort preempts at kPreemptCalls).
  uint32_t calls_since_yield = 0;
};

extern thread_local ThreadCtx* tls_ctx;

ThreadCtx& Ctx();    // the calling simulated thread (throws std::logic_error outside a launch)
// Throws SimAbort once the launch has failed. Every primitive calls it on entry, so it is also the
// schedule-fuzzing yield point (SimOptions::schedule_seed).
void CheckAbort();
// The schedule-fuzzing generator (splitmix64): the next value of `state`.
uint64_t FuzzNext(uint64_t& state);
Clock::time_point Deadline();  // now + timeout_s
// Waits on `cv` (holding `lk`) until done() or the launch aborts. Returns false only when nothing
// progressed anywhere (g_progress) for timeout_s: the livelock last resort.
bool WaitForRelease(std::condition_variable& cv, std::unique_lock<std::mutex>& lk, const std::function<bool()>& done);
// The calling thread just blocked and was the CTA's last runnable one: every live thread of the
// CTA is blocked and none can release another. Fails with a diagnosis and the dump.
[[noreturn]] void FailAllBlocked(const char* prim);
[[noreturn]] void FailNoProgress(const char* prim, const std::string& what);
std::string DumpCta(CtaState& cta);  // who waits where: for deadlock messages
std::string LaneList(uint32_t mask);  // "0-15,17"
void SetPhase(Phase p, const char* prim);
// A thread observed `value` at `addr` while waiting for it to change: yields, and fails with a
// deadlock message once the value has stayed the same for kMinSpins observations and timeout_s
// without progress anywhere in the process.
void NoteSpin(const char* prim, const void* addr, uint32_t value);
void ClearSpin();
std::string DescribeAddress(const LaunchState& launch, const void* p);

// Weak global memory hooks (sim_memory.cc), called with the locks named.
bool WeakMemory(const LaunchState& launch);
void MergeStores(StoreMap& into, StoreMap& from);  // newer `from` wins; empties `from`
void JoinClock(VClock& into, const VClock& from);
// bar.sync arrival (c.m held): the thread's stores and knowledge go to the pending barrier.
void ArriveWithStores(ThreadCtx& t, CtaState& c);
// bar.sync completion (c.m held): what arrived becomes visible to the CTA.
void CompleteBarrierMemory(CtaState& c);
// The calling thread's stores become visible to its CTA at once (bar.warp.sync, st.release.cta).
void ShareStoresWithCta(ThreadCtx& t);
// The CTA exited (all its threads joined): publish what is still buffered, tagged kExitSeq.
void PublishAtCtaExit(LaunchState& launch, CtaState& c);

}  // namespace sparq::sim
