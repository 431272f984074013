// native/sim/sim_memory.cc: shared memory, cp.async, global accesses, atomics and spin-waits.
//
// Shared memory is a fresh 0xFF-poisoned heap block per CTA and call site, exactly sized, so
// ASan sees overflows and a read before the data arrived is NaN. cp.async poisons its destination
// when issued (a GPU may land the copy any time after issue, so the old bytes are gone: reading a
// ring slot after issuing the next copy into it reads NaN) and moves the bytes when
// cp.async.wait_group retires its group, so a missing wait (or a barrier placed before the wait)
// reads poison, and TSan sees the race. Global accesses are checked against the launch's
// registered buffers and their bytes counted per buffer; the bytes each launch writes are
// recorded, and an ld.global.nc (read-only path) of any of them fails.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <new>
#include <sstream>
#include <string>
#include <thread>

#include "sim/sim_internal.h"

namespace sparq::sim {

// ---------------------------------------------------------------- shared memory
void* SmemAlloc(int site, size_t bytes, const char* name) {
  ThreadCtx& t = Ctx();
  CheckAbort();
  CtaState& c = *t.cta;
  std::string problem;
  void* result = nullptr;
  {
    std::lock_guard<std::mutex> lk(c.smem_m);
    const int n = c.nsmem.load(std::memory_order_relaxed);
    for (int i = 0; i < n; ++i) {
      if (c.smem[i].site != site) continue;
      if (c.smem[i].bytes != bytes)
        problem = std::string("shared array '") + name + "' declared with " + std::to_string(bytes) +
                  " bytes by this thread but " + std::to_string(c.smem[i].bytes) + " by another";
      else
        result = c.smem[i].ptr;
      break;
    }
    if (!result && problem.empty()) {
      if (n == CtaState::kMaxSmemBlocks) {
        problem = "more than " + std::to_string(CtaState::kMaxSmemBlocks) + " shared arrays in one kernel";
      } else {
        auto* p = static_cast<unsigned char*>(::operator new(bytes ? bytes : 1, std::align_val_t(128)));
        std::memset(p, 0xFF, bytes);  // poison: NaN for f16/f32, -1 for integers
        c.smem[n] = SmemBlock{site, name, p, bytes};
        c.nsmem.store(n + 1, std::memory_order_release);
        result = p;
      }
    }
  }
  if (!problem.empty()) Fail("SPARQ_SMEM", problem.c_str());
  return result;
}

void* DynSmem() {
  ThreadCtx& t = Ctx();
  if (!t.cta->dyn_smem) Fail("SPARQ_DYN_SMEM", "the kernel uses dynamic shared memory but was launched with 0 bytes");
  return t.cta->dyn_smem;
}

bool SmemContains(CtaState& c, const void* p, size_t bytes) {
  const auto a = reinterpret_cast<uintptr_t>(p);
  const int n = c.nsmem.load(std::memory_order_acquire);
  for (int i = 0; i < n; ++i) {
    const auto base = reinterpret_cast<uintptr_t>(c.smem[i].ptr);
    if (a >= base && a + bytes <= base + c.smem[i].bytes) return true;
  }
  const auto dyn = reinterpret_cast<uintptr_t>(c.dyn_smem);
  return c.dyn_smem && a >= dyn && a + bytes <= dyn + c.dyn_smem_bytes;
}

// ---------------------------------------------------------------- global buffers
std::string DescribeAddress(const LaunchState& L, const void* p) {
  const auto a = reinterpret_cast<uintptr_t>(p);
  std::ostringstream os;
  os << "0x" << std::hex << a << std::dec;
  for (auto& b : L.buffers)
    if (a >= b.base && a < b.base + b.bytes) {
      os << " ('" << b.name << "' + " << (a - b.base) << ")";
      return os.str();
    }
  if (tls_ctx && tls_ctx->cta) {
    CtaState& c = *tls_ctx->cta;
    const int n = c.nsmem.load(std::memory_order_acquire);
    for (int i = 0; i < n; ++i) {
      const auto base = reinterpret_cast<uintptr_t>(c.smem[i].ptr);
      if (a >= base && a < base + c.smem[i].bytes) {
        os << " (shared '" << c.smem[i].name << "' + " << (a - base) << ")";
        return os.str();
      }
    }
  }
  return os.str();
}

// Finds the registered buffer holding [p, p+bytes); fails (located) when there is none.
static GlobalBuffer* CheckGlobal(const char* prim, const void* p, size_t bytes, const char* verb) {
  ThreadCtx& t = Ctx();
  CheckAbort();
  LaunchState& L = *t.launch;
  if (L.buffers.empty()) return nullptr;
  const auto a = reinterpret_cast<uintptr_t>(p);
  for (auto& b : L.buffers)
    if (a >= b.base && a + bytes <= b.base + b.bytes) return &b;
  std::ostringstream os;
  os << verb << " " << bytes << " bytes at 0x" << std::hex << a << std::dec;
  bool near = false;
  for (auto& b : L.buffers)
    if (a >= b.base && a < b.base + b.bytes) {
      os << ": runs past the end of buffer '" << b.name << "' (offset " << (a - b.base) << " of " << b.bytes << ")";
      near = true;
    } else if (a >= b.base + b.bytes && a < b.base + b.bytes + 4096) {
      os << ": " << (a - b.base - b.bytes) << " bytes past the end of buffer '" << b.name << "' (" << b.bytes
         << " bytes)";
      near = true;
    } else if (a < b.base && b.base - a <= 4096) {
      os << ": " << (b.base - a) << " bytes before buffer '" << b.name << "'";
      near = true;
    }
  if (!near) os << ": outside every registered buffer";
  const std::string what = "out-of-bounds global access: " + os.str();
  Fail(prim, what.c_str());
}

// Marks [p, p+bytes) of `b` written in this launch.
static void MarkWritten(GlobalBuffer& b, const void* p, size_t bytes) {
  const size_t off = reinterpret_cast<uintptr_t>(p) - b.base;
  for (size_t i = off; i < off + bytes;) {  // one fetch_or per 64-byte word touched
    const size_t bit = i % 64, n = std::min<size_t>(64 - bit, off + bytes - i);
    const uint64_t mask = (n == 64 ? ~uint64_t{0} : ((uint64_t{1} << n) - 1)) << bit;
    b.written[i / 64].fetch_or(mask, std::memory_order_relaxed);
    i += n;
  }
}

// The first byte of [p, p+bytes) written in this launch, or -1.
static long FirstWritten(const GlobalBuffer& b, const void* p, size_t bytes) {
  const std::atomic<uint64_t>* bits = b.written.get();
  const size_t off = reinterpret_cast<uintptr_t>(p) - b.base;
  for (size_t i = off; i < off + bytes; ++i)
    if ((bits[i / 64].load(std::memory_order_relaxed) >> (i % 64)) & 1u) return long(i);
  return -1;
}

// ld.global.nc (prims named "ld.global.nc…") is the read-only, non-coherent path: the data must not
// be written during the kernel, or the load may return stale bytes. Bytes this launch already wrote
// are caught (a write that comes later than the load, in host order, is not).
static bool IsNonCoherent(const char* prim) { return std::strncmp(prim, "ld.global.nc", 12) == 0; }

void GlobalRead(const char* prim, const void* g_ptr, size_t bytes) {
  GlobalBuffer* b = CheckGlobal(prim, g_ptr, bytes, "reads");
  if (!b) return;
  b->bytes_read->fetch_add(bytes, std::memory_order_relaxed);
  if (IsNonCoherent(prim)) {
    const long w = FirstWritten(*b, g_ptr, bytes);
    if (w >= 0) {
      const std::string what =
          "non-coherent (read-only path) load of " + std::to_string(bytes) + " bytes at " +
          DescribeAddress(*Ctx().launch, g_ptr) + ", whose byte at '" + b->name + "' + " + std::to_string(w) +
          " was written earlier in this launch: ld.global.nc may return stale data for memory the kernel writes (use "
          "ld.global / g_load, or ld.acquire after a release)";
      Fail(prim, what.c_str());
    }
  }
}

void GlobalWrite(const char* prim, const void* g_ptr, size_t bytes) {
  if (GlobalBuffer* b = CheckGlobal(prim, g_ptr, bytes, "writes")) MarkWritten(*b, g_ptr, bytes);
}

// Atomics read and write: counted as read, marked as written.
static void GlobalReadWrite(const char* prim, const void* g_ptr, size_t bytes) {
  GlobalRead(prim, g_ptr, bytes);
  if (GlobalBuffer* b = CheckGlobal(prim, g_ptr, bytes, "writes")) MarkWritten(*b, g_ptr, bytes);
}

// ---------------------------------------------------------------- cp.async
// The poison a cp.async leaves at issue. Hidden from ThreadSanitizer (not instrumented, volatile
// stores so that no intercepted memset is emitted): a GPU's copy lands somewhere between issue and
// wait, and TSan already sees the simulated landing, the memcpy at the wait, race with any
// unordered access; flagging the issue as well would make the deliberately ordered negative
// kernels (fixtures/broken_kernels.cuh) race. Plain and ASan builds read the poison.
#if defined(__SANITIZE_THREAD__)
#define SPARQ_SIM_NO_TSAN __attribute__((noinline, no_sanitize_thread))
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SPARQ_SIM_NO_TSAN __attribute__((noinline, no_sanitize_thread))
#endif
#endif
#ifndef SPARQ_SIM_NO_TSAN
#define SPARQ_SIM_NO_TSAN
#endif
SPARQ_SIM_NO_TSAN static void PoisonAtIssue(unsigned char* p, int bytes) {
  volatile unsigned char* v = p;
  for (int i = 0; i < bytes; ++i) v[i] = 0xFF;
}

void CpAsync(const char* prim, void* s_dst, const void* g_src, int cp_bytes, int src_bytes) {
  ThreadCtx& t = Ctx();
  CheckAbort();
  if (src_bytes < 0 || src_bytes > cp_bytes) {
    const std::string what = "src-size " + std::to_string(src_bytes) + " is outside 0.." + std::to_string(cp_bytes);
    Fail(prim, what.c_str());
  }
  if (reinterpret_cast<uintptr_t>(s_dst) % cp_bytes) {
    const std::string what = "misaligned shared destination " + DescribeAddress(*t.launch, s_dst) + ": a " +
                             std::to_string(cp_bytes) + "-byte cp.async needs " + std::to_string(cp_bytes) +
                             "-byte alignment";
    Fail(prim, what.c_str());
  }
  if (!SmemContains(*t.cta, s_dst, cp_bytes)) {
    const std::string what = "destination " + DescribeAddress(*t.launch, s_dst) + " is not " +
                             std::to_string(cp_bytes) + " bytes inside this CTA's shared memory";
    Fail(prim, what.c_str());
  }
  if (src_bytes > 0) {
    if (reinterpret_cast<uintptr_t>(g_src) % cp_bytes) {
      const std::string what = "misaligned global source " + DescribeAddress(*t.launch, g_src) + ": a " +
                               std::to_string(cp_bytes) + "-byte cp.async needs " + std::to_string(cp_bytes) +
                               "-byte alignment";
      Fail(prim, what.c_str());
    }
    GlobalRead(prim, g_src, size_t(src_bytes));
  }
  // The copy may land any time from now until its wait: the old bytes are gone (write-after-read
  // reuse of a ring slot before everyone has read it reads NaN).
  PoisonAtIssue(static_cast<unsigned char*>(s_dst), cp_bytes);
  t.open_group.push_back(AsyncCopy{static_cast<unsigned char*>(s_dst), static_cast<const unsigned char*>(g_src),
                                   cp_bytes, src_bytes});
}

void CpAsyncCommit() {
  ThreadCtx& t = Ctx();
  CheckAbort();
  t.groups.push_back(std::move(t.open_group));
  t.open_group.clear();
}

void CpAsyncWait(int newest_groups_left) {
  ThreadCtx& t = Ctx();
  CheckAbort();
  while (int(t.groups.size()) > newest_groups_left) {
    for (const AsyncCopy& c : t.groups.front()) {
      if (c.src_bytes) std::memcpy(c.dst, c.src, size_t(c.src_bytes));
      std::memset(c.dst + c.src_bytes, 0, size_t(c.cp_bytes - c.src_bytes));  // zero-fill
    }
    t.groups.erase(t.groups.begin());
  }
  // Empty groups (a pipeline's tail commits) need no wait; drop them so exit checks see only copies.
  bool any = !t.open_group.empty();
  for (auto& g : t.groups) any = any || !g.empty();
  if (!any) t.groups.clear();
}

// ---------------------------------------------------------------- spin-waits
void ClearSpin() {
  ThreadCtx& t = Ctx();
  if (t.spin_addr) SetPhase(Phase::kRunning, nullptr);
  t.spin_addr = nullptr;
}

// A spin-wait is given up only when it has seen the same value at least this often AND nothing
// progressed anywhere in the process for timeout_s: a slow host (thousands of simulated threads on
// two cores, a sanitizer) stretches both, a hang only the second.
constexpr uint64_t kMinSpins = 1000;

void NoteSpin(const char* prim, const void* addr, uint32_t value) {
  ThreadCtx& t = Ctx();
  const auto now = Clock::now();
  const uint64_t progress = g_progress.load(std::memory_order_relaxed);
  if (t.spin_addr != addr || t.spin_value != value) {
    if (t.spin_addr) SetPhase(Phase::kRunning, nullptr);
    t.spin_addr = addr;
    t.spin_value = value;
    t.spin_count = 0;
    t.spin_progress = progress;
    t.spin_start = now;
    return;
  }
  ++t.spin_count;
  SetPhase(Phase::kSpin, prim);
  std::this_thread::yield();  // let the writer run: 2 cores carry thousands of simulated threads
  if (progress != t.spin_progress) {  // something somewhere moved: the writer may still come
    t.spin_progress = progress;
    t.spin_start = now;
    return;
  }
  const double waited = std::chrono::duration<double>(now - t.spin_start).count();
  if (waited > t.launch->options.timeout_s && t.spin_count >= kMinSpins) {
    const LaunchState& L = *t.launch;
    const uint64_t resident = L.options.concurrent_ctas
                                  ? uint64_t(L.options.max_resident_ctas > 0
                                                 ? std::min(L.options.sm_count, L.options.max_resident_ctas)
                                                 : L.options.sm_count)
                                  : 1;
    std::ostringstream os;
    os << L.options.timeout_s;
    std::string what = "deadlock (timeout: nothing progressed anywhere for " + os.str() + " s): spin-wait on " +
                       DescribeAddress(L, addr) + " saw the value " + std::to_string(value) + " " +
                       std::to_string(t.spin_count) +
                       " times; the thread that should change it never ran or never wrote it (here at most " +
                       std::to_string(resident) +
                       " CTA(s) run at once, so a CTA cannot wait for one that is not resident; nor can it on a GPU "
                       "whose SMs are busy)";
    what += DumpCta(*t.cta);
    Fail(prim, what.c_str());
  }
}

uint32_t LdAcquire(const char* prim, const uint32_t* g_ptr) {
  if (reinterpret_cast<uintptr_t>(g_ptr) & 3) Fail(prim, "address is not 4-byte aligned");
  GlobalRead(prim, g_ptr, 4);
  const uint32_t v = __atomic_load_n(g_ptr, __ATOMIC_ACQUIRE);
  NoteSpin(prim, g_ptr, v);
  return v;
}

void StRelease(const char* prim, uint32_t* g_ptr, uint32_t value) {
  if (reinterpret_cast<uintptr_t>(g_ptr) & 3) Fail(prim, "address is not 4-byte aligned");
  GlobalWrite(prim, g_ptr, 4);
  ClearSpin();
  __atomic_store_n(g_ptr, value, __ATOMIC_RELEASE);
  NoteProgress();
}

// A fence is modelled as an acq_rel read-modify-write of one process-wide word: every fence
// synchronizes with every earlier one (over-synchronizing, never under). Process-wide because
// ranks in different launches fence against each other (.sys).
static uint32_t g_fence_word = 0;
void Fence() {
  CheckAbort();
  __atomic_fetch_add(&g_fence_word, 1u, __ATOMIC_ACQ_REL);
}

uint32_t AtomicU32(const char* prim, int op, uint32_t* g_ptr, uint32_t a, uint32_t b) {
  if (reinterpret_cast<uintptr_t>(g_ptr) & 3) Fail(prim, "address is not 4-byte aligned");
  GlobalReadWrite(prim, g_ptr, 4);
  uint32_t old = 0;
  switch (op) {
    case 0:
      old = __atomic_fetch_add(g_ptr, a, __ATOMIC_ACQ_REL);
      ClearSpin();
      NoteProgress();
      break;
    case 1:
      old = __atomic_exchange_n(g_ptr, a, __ATOMIC_ACQ_REL);
      if (old == a) {
        NoteSpin(prim, g_ptr, old);  // test-and-set lock still held
      } else {
        ClearSpin();
        NoteProgress();
      }
      break;
    default: {
      old = a;
      if (__atomic_compare_exchange_n(g_ptr, &old, b, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        ClearSpin();
        NoteProgress();
      } else {
        NoteSpin(prim, g_ptr, old);  // a failing CAS loop is a spin-wait too
      }
    }
  }
  return old;
}

float AtomicAddF32(float* g_ptr, float v) {
  if (reinterpret_cast<uintptr_t>(g_ptr) & 3) Fail("atom.add.f32", "address is not 4-byte aligned");
  GlobalReadWrite("atom.add.f32", g_ptr, 4);
  NoteProgress();
  auto* word = reinterpret_cast<uint32_t*>(g_ptr);
  uint32_t old = __atomic_load_n(word, __ATOMIC_RELAXED);
  for (;;) {
    float f;
    std::memcpy(&f, &old, 4);
    f += v;
    uint32_t desired;
    std::memcpy(&desired, &f, 4);
    if (__atomic_compare_exchange_n(word, &old, desired, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
      std::memcpy(&f, &old, 4);
      return f;
    }
  }
}

}  // namespace sparq::sim
