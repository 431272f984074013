// native/sim/sim_fiber.cc: the fibers of sim_fiber.h — stacks, the context switch, the scheduler.
//
// The switch is ours, not ucontext's: glibc's swapcontext makes a sigprocmask system call on
// every switch, and ASan's swapcontext interceptor clears the shadow of the whole target stack
// each time (and warns that it may give false positives); a switch here is a save of the six
// callee-saved registers and the FP control words, then a stack-pointer swap.
#include "sim/sim_fiber.h"
#include "sim/sim_internal.h"  // FuzzNext

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#if defined(__x86_64__) && defined(__ELF__)
#define SPARQ_SIM_FIBERS 1
#include <sys/mman.h>
#include <unistd.h>
#include <xmmintrin.h>
#else
#define SPARQ_SIM_FIBERS 0
#endif

#if defined(__SANITIZE_ADDRESS__)
#define SPARQ_FIBER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SPARQ_FIBER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define SPARQ_FIBER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SPARQ_FIBER_TSAN 1
#endif
#endif
#if defined(SPARQ_FIBER_ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(SPARQ_FIBER_TSAN)
#include <sanitizer/tsan_interface.h>
#endif

namespace sparq::sim {

#if SPARQ_SIM_FIBERS

// void sparq_sim_fiber_switch(void** save_sp, void* load_sp): pushes the callee-saved registers
// (System V: rbx, rbp, r12-r15) and MXCSR / the x87 control word onto the current stack, stores
// the stack pointer in *save_sp, loads load_sp, and pops the same from there. Everything else is
// caller-saved, so the compiler has already spilled it around the call. A new fiber's stack is
// laid out by NewFiberStack as if it had called this function from FiberMain's first instruction.
extern "C" void sparq_sim_fiber_switch(void** save_sp, void* load_sp);
asm(R"(
  .text
  .p2align 4
  .globl sparq_sim_fiber_switch
  .hidden sparq_sim_fiber_switch
  .type sparq_sim_fiber_switch,@function
sparq_sim_fiber_switch:
  endbr64
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size sparq_sim_fiber_switch, .-sparq_sim_fiber_switch
  .section .note.GNU-stack,"",@progbits
  .text
)");

namespace {

// Usable stack per fiber. A simulated thread runs kernel code plus the simulator's primitives
// (failure paths build strings); sanitizers enlarge frames several times. Mapped with
// MAP_NORESERVE, so only touched pages cost memory; a PROT_NONE guard page below each stack turns
// an overflow into a fault instead of silent corruption of the neighbour.
#if defined(SPARQ_FIBER_ASAN) || defined(SPARQ_FIBER_TSAN)
constexpr size_t kStackBytes = size_t(1) << 20;
#else
constexpr size_t kStackBytes = size_t(256) << 10;
#endif

size_t PageBytes() {
  static const size_t page = size_t(sysconf(_SC_PAGESIZE));
  return page;
}

// One mapping of `count` (guard page + stack) slots, kept per host thread and reused by the next
// CTA it runs (mapping and unmapping 256 stacks per CTA would cost more than the CTA's switches).
class StackBlock {
 public:
  ~StackBlock() { Release(); }
  // Ensures at least n stacks; returns false (errno set) when the mapping fails.
  bool Reserve(int n) {
    if (n <= count_) return true;
    Release();
    const size_t slot = kStackBytes + PageBytes();
    void* p = mmap(nullptr, slot * size_t(n), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return false;
    base_ = static_cast<unsigned char*>(p);
#if defined(SPARQ_FIBER_ASAN)
    ASAN_UNPOISON_MEMORY_REGION(base_, slot * size_t(n));  // someone else's stale shadow, likewise
#endif
    count_ = n;
    for (int i = 0; i < n; ++i)
      if (mprotect(base_ + slot * size_t(i), PageBytes(), PROT_NONE) != 0) {
        const int e = errno;
        Release();
        errno = e;
        return false;
      }
    fresh_ = true;
    return true;
  }
  unsigned char* Lowest(int i) const { return base_ + (kStackBytes + PageBytes()) * size_t(i) + PageBytes(); }
  // True once after Reserve mapped anew: stacks never used, their (sanitizer) shadow clean.
  bool TakeFresh() { return std::exchange(fresh_, false); }
  void Release() {
#if defined(SPARQ_FIBER_ASAN)
    // The stacks' frames leave poisoned redzones in ASan's shadow, which munmap does not clear: the
    // next mapping at these addresses (our own, or anyone's) would inherit them.
    if (base_) ASAN_UNPOISON_MEMORY_REGION(base_, (kStackBytes + PageBytes()) * size_t(count_));
#endif
    if (base_) munmap(base_, (kStackBytes + PageBytes()) * size_t(count_));
    base_ = nullptr;
    count_ = 0;
  }
  unsigned char* base_ = nullptr;
  int count_ = 0;
  bool fresh_ = false;
};

thread_local StackBlock tls_stacks;

#if defined(SPARQ_FIBER_TSAN)
// TSan's per-fiber state, kept for the process and reused by later CTAs' fibers (on any host
// thread): creating and destroying one per simulated thread was most of a TSan run's time (memset
// and page faults in the runtime; sim_dense_test 40 s, 24 s with a pool per host thread, which
// dies with the launch's SM threads). A reused fiber is switched to with a happens-before edge the
// first time in its new CTA (as a new std::thread is ordered after its creator) and keeps what its
// previous simulated thread knew — more than a new thread would, so a race between a CTA and an
// earlier one on another SM can go unreported under TSan; the weak-memory model's publication
// tags, which do not depend on TSan, still fail such a read.
class TsanFiberPool {
 public:
  ~TsanFiberPool() {
    for (void* f : free_) __tsan_destroy_fiber(f);
  }
  void* Take() {
    {
      std::lock_guard<std::mutex> lk(m_);
      if (!free_.empty()) {
        void* f = free_.back();
        free_.pop_back();
        return f;
      }
    }
    return __tsan_create_fiber(0);
  }
  void Give(void* f) {
    std::lock_guard<std::mutex> lk(m_);
    free_.push_back(f);
  }

 private:
  std::mutex m_;
  std::vector<void*> free_;
};
TsanFiberPool g_tsan_fibers;
#endif

struct Fiber {
  void* sp = nullptr;  // saved stack pointer while switched out
  unsigned char* lowest = nullptr;
  bool done = false;
  YieldKind last = YieldKind::kRan;
#if defined(SPARQ_FIBER_TSAN)
  void* tsan = nullptr;
  bool entered = false;  // switched to at least once in this RunFibers
#endif
};

struct Scheduler {
  std::vector<Fiber> fibers;
  void* host_sp = nullptr;  // the host thread's stack pointer while a fiber runs
  int current = -1;
  const std::function<void(int)>* entry = nullptr;
  const std::function<void(int)>* resume = nullptr;
#if defined(SPARQ_FIBER_ASAN)
  const void* host_bottom = nullptr;  // the host thread's stack, learned at the first switch
  size_t host_size = 0;
#endif
#if defined(SPARQ_FIBER_TSAN)
  void* host_tsan = nullptr;
#endif
};

thread_local Scheduler* tls_sched = nullptr;

[[noreturn]] SPARQ_SIM_NO_TSAN void FiberMain() noexcept {
  Scheduler& s = *tls_sched;
  const int me = s.current;
#if defined(SPARQ_FIBER_ASAN)
  __sanitizer_finish_switch_fiber(nullptr, &s.host_bottom, &s.host_size);
#endif
#if defined(SPARQ_FIBER_TSAN)
  // Back at once: the first pass of the scheduler enters every fiber (with an edge from the host,
  // SwitchToFiber) before any runs kernel code. Entering lazily, a fiber entered after a sibling had
  // finished would inherit that sibling's history through the host (FiberMain's last switch has an
  // edge), and TSan would miss every race between them.
  FiberYield(YieldKind::kRan);
#endif
  (*s.resume)(me);
  (*s.entry)(me);  // noexcept here: an escaping exception terminates, as it would on a std::thread
  s.fibers[size_t(me)].done = true;
#if defined(SPARQ_FIBER_ASAN)
  __sanitizer_start_switch_fiber(nullptr, s.host_bottom, s.host_size);  // this stack is done
#endif
#if defined(SPARQ_FIBER_TSAN)
  // With an edge, unlike every other switch: what this fiber did happens before its stack is
  // reused by the host thread's next fiber (as a std::thread's end happens before its join).
  __tsan_switch_to_fiber(s.host_tsan, 0);
#endif
  void* unused = nullptr;
  sparq_sim_fiber_switch(&unused, s.host_sp);
  __builtin_unreachable();
}

// Lays out a stack as sparq_sim_fiber_switch expects to find it: from the top, a zero return
// address (FiberMain never returns), FiberMain as the address `ret` goes to, six zeroed
// callee-saved registers, then MXCSR and the x87 control word. After the `ret` the stack pointer is
// 8 mod 16, as at any function's entry.
SPARQ_SIM_NO_TSAN void* NewFiberStack(unsigned char* lowest) {
  auto* top = reinterpret_cast<uint64_t*>(
      (reinterpret_cast<uintptr_t>(lowest) + kStackBytes) & ~uintptr_t(15));
  uint64_t* sp = top;
  *--sp = 0;
  *--sp = reinterpret_cast<uint64_t>(&FiberMain);
  for (int r = 0; r < 6; ++r) *--sp = 0;
  const uint32_t mxcsr = _mm_getcsr();
  const uint32_t fcw = 0x037f;  // the x86-64 ABI's initial x87 control word
  *--sp = uint64_t(mxcsr) | (uint64_t(fcw) << 32);
  return sp;
}

SPARQ_SIM_NO_TSAN void SwitchToFiber(Scheduler& s, int i) {
  Fiber& f = s.fibers[size_t(i)];
  s.current = i;
#if defined(SPARQ_FIBER_ASAN)
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, f.lowest, kStackBytes);
#endif
#if defined(SPARQ_FIBER_TSAN)
  // The first entry has an edge from the host (as a thread's creation): see TsanFiberPool, FiberMain.
  __tsan_switch_to_fiber(f.tsan, f.entered ? __tsan_switch_to_fiber_no_sync : 0);
  f.entered = true;
#endif
  sparq_sim_fiber_switch(&s.host_sp, f.sp);
#if defined(SPARQ_FIBER_ASAN)
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
  s.current = -1;
}

}  // namespace

bool FibersAvailable() { return true; }
SPARQ_SIM_NO_TSAN bool InFiber() { return tls_sched != nullptr && tls_sched->current >= 0; }
SPARQ_SIM_NO_TSAN void ReleaseFiberStacks() {
  if (tls_sched != nullptr) return;
  tls_stacks.Release();
}

SPARQ_SIM_NO_TSAN void FiberYield(YieldKind kind) {
  Scheduler& s = *tls_sched;
  const int me = s.current;
  Fiber& f = s.fibers[size_t(me)];
  f.last = kind;
#if defined(SPARQ_FIBER_ASAN)
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, s.host_bottom, s.host_size);
#endif
#if defined(SPARQ_FIBER_TSAN)
  __tsan_switch_to_fiber(s.host_tsan, __tsan_switch_to_fiber_no_sync);
#endif
  sparq_sim_fiber_switch(&f.sp, s.host_sp);
#if defined(SPARQ_FIBER_ASAN)
  __sanitizer_finish_switch_fiber(fake, &s.host_bottom, &s.host_size);
#endif
  (*s.resume)(me);
}

SPARQ_SIM_NO_TSAN void RunFibers(int n, int group, const std::function<void(int)>& entry,
                                 const std::function<void(int)>& resume, uint64_t shuffle_seed) {
  if (tls_sched != nullptr) throw std::logic_error("sparq sim: RunFibers called from a fiber");
  if (n <= 0) return;
  if (group <= 0) group = n;
  if (!tls_stacks.Reserve(n)) throw std::system_error(errno, std::generic_category(), "mapping fiber stacks");
  const bool fresh = tls_stacks.TakeFresh();
  Scheduler s;
  s.entry = &entry;
  s.resume = &resume;
  s.fibers.resize(size_t(n));
#if defined(SPARQ_FIBER_TSAN)
  s.host_tsan = __tsan_get_current_fiber();
#endif
  for (int i = 0; i < n; ++i) {
    Fiber& f = s.fibers[size_t(i)];
    f.lowest = tls_stacks.Lowest(i);
#if defined(SPARQ_FIBER_ASAN)
    // A reused stack keeps the poisoned redzones of the frames its last fiber never returned from
    // (FiberMain's, at the top); every other frame returned or was unwound (handle_no_return).
    if (!fresh) ASAN_UNPOISON_MEMORY_REGION(f.lowest + kStackBytes - (size_t(64) << 10), size_t(64) << 10);
#else
    (void)fresh;
#endif
    f.sp = NewFiberStack(f.lowest);
#if defined(SPARQ_FIBER_TSAN)
    f.tsan = g_tsan_fibers.Take();
#endif
  }
  tls_sched = &s;
  // Groups (warps) in index order, or shuffled per pass; within a pass a group runs until it is
  // stuck (see the header), its lanes in index order or shuffled.
  const int ngroups = (n + group - 1) / group;
  std::vector<int> groups(static_cast<size_t>(ngroups)), lanes(static_cast<size_t>(group));
  for (int g = 0; g < ngroups; ++g) groups[size_t(g)] = g;
  uint64_t rng = shuffle_seed;
  auto next = [&rng] { return FuzzNext(rng); };  // the fuzzing generator of sim_runtime.cc
  auto shuffle = [&](std::vector<int>& v, size_t count) {
    for (size_t i = count; i > 1; --i) std::swap(v[i - 1], v[next() % i]);
  };
  // A group that keeps releasing itself (a loop of warp collectives) still hands the host thread
  // to the others after this many rounds.
  constexpr int kMaxRounds = 1024;
  int live = n;
  while (live > 0) {
    if (shuffle_seed != 0) shuffle(groups, groups.size());
    bool moved = false;  // anything in this pass ran
    for (int g : groups) {
      const int lo = g * group, count = std::min(group, n - lo);
      for (int l = 0; l < count; ++l) lanes[size_t(l)] = lo + l;
      if (shuffle_seed != 0) shuffle(lanes, size_t(count));
      for (int round = 0; round < kMaxRounds; ++round) {
        bool advanced = false;  // a lane reached a wait or finished: others of the group may now go on
        for (int l = 0; l < count; ++l) {
          const int i = lanes[size_t(l)];
          Fiber& f = s.fibers[size_t(i)];
          if (f.done) continue;
          SwitchToFiber(s, i);
          if (f.done) {
#if defined(SPARQ_FIBER_TSAN)
            g_tsan_fibers.Give(f.tsan);
            f.tsan = nullptr;
#endif
            --live;
            advanced = moved = true;
          } else if (f.last == YieldKind::kBlocked) {
            advanced = moved = true;
          } else if (f.last == YieldKind::kRan) {
            moved = true;  // preempted or a fuzzing yield: its turn in this pass is over
          }
        }
        if (!advanced) break;
      }
    }
    // Every live fiber only re-checked a wait: what releases them runs on another host thread (a
    // CTA on another simulated SM) or nowhere (a livelock, which the waits time out on).
    if (!moved) std::this_thread::yield();
  }
  tls_sched = nullptr;
}

#else  // no context switch for this target: the simulator runs host threads (SimOptions::fibers)

bool FibersAvailable() { return false; }
bool InFiber() { return false; }
void ReleaseFiberStacks() {}
void FiberYield(YieldKind) { throw std::logic_error("sparq sim: fibers are not available on this target"); }
void RunFibers(int, int, const std::function<void(int)>&, const std::function<void(int)>&, uint64_t) {
  throw std::logic_error("sparq sim: fibers are not available on this target");
}

#endif

}  // namespace sparq::sim
