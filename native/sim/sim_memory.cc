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
//
// Weak global memory (SimOptions::weak_global_memory, on by default): plain global stores are
// buffered — per thread, then per CTA after a bar.sync — and reach memory, where other CTAs read,
// only when a gpu/sys-scope release of their CTA (fence.acq_rel, st.release, atom/red .release or
// .acq_rel) publishes them, or when the CTA exits. Each published word is tagged with the CTA and
// release that published it; releases and acquires carry per-CTA vector clocks through their
// location, so a plain load of a word another CTA published by a release this thread has not
// synchronized with fails at once (a store published too late, by the wrong release or at .cta
// scope), whichever way the host threads happened to interleave. Everything is deterministic:
// what a load may see depends on the program's barriers and releases, not on host timing.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <new>
#include <sstream>
#include <string>
#include <thread>

#include "sim/sim_fiber.h"
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

// Bounds, traffic and the read-only-path check of a read; the buffer holding it (null: none registered).
static GlobalBuffer* CheckRead(const char* prim, const void* g_ptr, size_t bytes) {
  GlobalBuffer* b = CheckGlobal(prim, g_ptr, bytes, "reads");
  if (!b) return nullptr;
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
  return b;
}

void GlobalRead(const char* prim, const void* g_ptr, size_t bytes) { (void)CheckRead(prim, g_ptr, bytes); }

void GlobalWrite(const char* prim, const void* g_ptr, size_t bytes) {
  if (GlobalBuffer* b = CheckGlobal(prim, g_ptr, bytes, "writes")) MarkWritten(*b, g_ptr, bytes);
}

// ---------------------------------------------------------------- weak global memory
bool WeakMemory(const LaunchState& L) { return L.options.weak_global_memory; }

static bool IsCtaScope(const char* prim) { return std::strstr(prim, ".cta.") != nullptr; }

static void PutBytes(StoreMap& m, uintptr_t a, const unsigned char* src, size_t n) {
  while (n) {
    const size_t off = a & 15, k = std::min<size_t>(16 - off, n);
    StoreGranule& g = m[a >> 4];
    std::memcpy(g.bytes + off, src, k);
    g.mask = uint16_t(g.mask | (((1u << k) - 1u) << off));
    a += k;
    src += k;
    n -= k;
  }
}

void MergeStores(StoreMap& into, StoreMap& from) {
  if (into.empty()) {
    into.swap(from);
  } else {
    for (auto& [key, g] : from) {
      auto [it, fresh] = into.try_emplace(key, g);
      if (fresh) continue;
      StoreGranule& old = it->second;
      for (int i = 0; i < 16; ++i)
        if ((g.mask >> i) & 1u) old.bytes[i] = g.bytes[i];
      old.mask = uint16_t(old.mask | g.mask);
    }
  }
  from.clear();
}

void JoinClock(VClock& into, const VClock& from) {
  if (from.empty()) return;
  if (into.size() < from.size()) into.resize(from.size(), 0);
  for (size_t i = 0; i < from.size(); ++i) into[i] = std::max(into[i], from[i]);
}

// Copies the buffered bytes of [a, a+n) (n <= 64) over dst; returns which bytes it supplied.
static uint64_t Overlay(const StoreMap& m, uintptr_t a, size_t n, unsigned char* dst) {
  uint64_t got = 0;
  for (uintptr_t key = a >> 4; key <= (a + n - 1) >> 4; ++key) {
    const auto it = m.find(key);
    if (it == m.end()) continue;
    const StoreGranule& g = it->second;
    for (int i = 0; i < 16; ++i) {
      const uintptr_t at = (key << 4) + uintptr_t(i);
      if (!((g.mask >> i) & 1u) || at < a || at >= a + n) continue;
      dst[at - a] = g.bytes[i];
      got |= uint64_t{1} << (at - a);
    }
  }
  return got;
}

// Writes the bytes of [a, a+n) buffered in m to memory and drops them from m (an atomic or a
// release/acquire on that address acts on memory, after the thread's own earlier stores to it).
static void FlushRange(StoreMap& m, uintptr_t a, size_t n) {
  for (uintptr_t key = a >> 4; key <= (a + n - 1) >> 4; ++key) {
    const auto it = m.find(key);
    if (it == m.end()) continue;
    StoreGranule& g = it->second;
    for (int i = 0; i < 16; ++i) {
      const uintptr_t at = (key << 4) + uintptr_t(i);
      if (!((g.mask >> i) & 1u) || at < a || at >= a + n) continue;
      *reinterpret_cast<unsigned char*>(at) = g.bytes[i];
      g.mask = uint16_t(g.mask & ~(1u << i));
    }
    if (!g.mask) m.erase(it);
  }
}

static void FlushOverlap(ThreadCtx& t, const void* p, size_t n) {
  const auto a = reinterpret_cast<uintptr_t>(p);
  CtaState& c = *t.cta;
  if (c.has_observed.load(std::memory_order_acquire)) {  // older than the thread's own
    std::lock_guard<std::mutex> lk(c.store_m);
    FlushRange(c.observed, a, n);
    if (c.observed.empty()) c.has_observed.store(false, std::memory_order_release);
  }
  if (!t.stores.empty()) FlushRange(t.stores, a, n);
}

static GlobalBuffer* BufferAt(LaunchState& L, uintptr_t a) {
  for (auto& b : L.buffers)
    if (a >= b.base && a < b.base + b.bytes) return &b;
  return nullptr;
}

static std::atomic<uint64_t>* TagsOf(GlobalBuffer& b) {
  PublishTags& pt = *b.tags;
  std::atomic<uint64_t>* w = pt.words.load(std::memory_order_acquire);
  if (w) return w;
  std::lock_guard<std::mutex> lk(pt.m);
  w = pt.words.load(std::memory_order_relaxed);
  if (!w) {
    pt.owner.reset(new std::atomic<uint64_t>[pt.nwords]);
    for (size_t i = 0; i < pt.nwords; ++i) pt.owner[i].store(0, std::memory_order_relaxed);
    w = pt.owner.get();
    pt.words.store(w, std::memory_order_release);
  }
  return w;
}

static uint64_t MakeTag(const CtaState& c, uint32_t seq) { return (uint64_t(c.linear) + 1) << 32 | seq; }

// Stores the buffered bytes of m to memory, tags the words they cover, empties m. A word only
// partly covered keeps its tag if it already had this one, else becomes unchecked (0): its other
// bytes may hold older data that a reader is entitled to.
static void PublishGranules(LaunchState& L, StoreMap& m, uint64_t tag) {
  GlobalBuffer* b = nullptr;
  for (auto& [key, g] : m) {
    const uintptr_t base = key << 4;
    for (int q = 0; q < 4; ++q) {  // per 4-byte word: tag first, then the data (see CheckOrdered)
      const unsigned wm = (g.mask >> (4 * q)) & 0xFu;
      if (!wm) continue;
      const uintptr_t at = base + 4 * q + uintptr_t(__builtin_ctz(wm)), word = (base >> 2) + q;
      if (!b || at < b->base || at >= b->base + b->bytes) b = BufferAt(L, at);
      if (!b) continue;
      const PublishTags& pt = *b->tags;
      if (word < pt.first_word || word >= pt.first_word + pt.nwords) continue;
      std::atomic<uint64_t>& slot = TagsOf(*b)[word - pt.first_word];
      if (wm == 0xFu) slot.store(tag, std::memory_order_relaxed);
      else if (slot.load(std::memory_order_relaxed) != tag) slot.store(0, std::memory_order_relaxed);
    }
    std::atomic_thread_fence(std::memory_order_release);
    for (int i = 0; i < 16;) {
      if (!((g.mask >> i) & 1u)) {
        ++i;
        continue;
      }
      int j = i;
      while (j < 16 && ((g.mask >> j) & 1u)) ++j;
      std::memcpy(reinterpret_cast<void*>(base + uintptr_t(i)), g.bytes + i, size_t(j - i));
      i = j;
    }
  }
  m.clear();
}

// A gpu/sys-scope release by t: its CTA's next release number; the thread's own stores and
// everything its CTA observed (cumulativity through bar.sync) reach memory, tagged with it.
static uint32_t PublishRelease(ThreadCtx& t) {
  CtaState& c = *t.cta;
  if (!c.has_observed.load(std::memory_order_acquire) && t.stores.empty())
    return c.release_seq.fetch_add(1, std::memory_order_acq_rel) + 1;
  // The number is taken under the lock: two threads of a CTA releasing at once must publish the
  // CTA's stores under the release that comes first in number, or a peer that acquired release #1
  // would find them tagged #2 and be failed for an unordered read (found by allreduce's barriers).
  std::lock_guard<std::mutex> lk(c.store_m);
  const uint32_t seq = c.release_seq.fetch_add(1, std::memory_order_acq_rel) + 1;
  const uint64_t tag = MakeTag(c, seq);
  PublishGranules(*t.launch, c.observed, tag);
  c.has_observed.store(false, std::memory_order_release);
  PublishGranules(*t.launch, t.stores, tag);
  return seq;
}

void ShareStoresWithCta(ThreadCtx& t) {
  if (t.stores.empty()) return;
  CtaState& c = *t.cta;
  std::lock_guard<std::mutex> lk(c.store_m);
  MergeStores(c.observed, t.stores);
  c.has_observed.store(true, std::memory_order_release);
}

void ArriveWithStores(ThreadCtx& t, CtaState& c) {
  if (!t.stores.empty()) MergeStores(c.arriving, t.stores);
  if (t.known_dirty) {
    JoinClock(c.known_pending, t.known);
    c.known_pending_dirty = true;
    t.known_dirty = false;
  }
}

void CompleteBarrierMemory(CtaState& c) {
  if (!c.arriving.empty()) {
    std::lock_guard<std::mutex> lk(c.store_m);
    MergeStores(c.observed, c.arriving);
    c.has_observed.store(true, std::memory_order_release);
  }
  if (c.known_pending_dirty) {
    JoinClock(c.known, c.known_pending);
    c.known_pending_dirty = false;
  }
}

void PublishAtCtaExit(LaunchState& L, CtaState& c) {
  if (!WeakMemory(L)) return;
  std::lock_guard<std::mutex> lk(c.store_m);
  PublishGranules(L, c.observed, MakeTag(c, kExitSeq));  // older first
  PublishGranules(L, c.arriving, MakeTag(c, kExitSeq));
  c.has_observed.store(false, std::memory_order_release);
}

static SyncStripe& StripeOf(LaunchState& L, const void* p) {
  return L.sync[(reinterpret_cast<uintptr_t>(p) >> 2) % kSyncStripes];
}

// The release side of a synchronizing access at p: what t knows (its own acquires and its CTA's
// as of the last bar.sync), plus its CTA's release `seq` (0: none), joins p's clock for the scope.
static void ReleaseTo(ThreadCtx& t, const void* p, bool cta_scope, uint32_t seq) {
  LaunchState& L = *t.launch;
  CtaState& c = *t.cta;
  SyncStripe& s = StripeOf(L, p);
  std::lock_guard<std::mutex> lk(s.m);
  SyncLoc& loc = s.locs[reinterpret_cast<uintptr_t>(p)];
  VClock* into = &loc.gpu;
  if (cta_scope) {
    auto it = std::find_if(loc.by_cta.begin(), loc.by_cta.end(), [&](auto& e) { return e.first == c.linear; });
    if (it == loc.by_cta.end()) it = loc.by_cta.insert(loc.by_cta.end(), {c.linear, VClock{}});
    into = &it->second;
  }
  if (into->size() < L.nctas) into->resize(L.nctas, 0);
  JoinClock(*into, t.known);
  JoinClock(*into, c.known);
  if (seq) (*into)[c.linear] = std::max((*into)[c.linear], seq);
}

// The acquire side: a gpu/sys-scope acquire gets every gpu-scope release at p and its own CTA's
// .cta-scope ones; a .cta-scope acquire only its own CTA's (another CTA's release, whatever its
// scope, does not synchronize with it).
static void AcquireFrom(ThreadCtx& t, const void* p, bool cta_scope) {
  SyncStripe& s = StripeOf(*t.launch, p);
  std::lock_guard<std::mutex> lk(s.m);
  const auto it = s.locs.find(reinterpret_cast<uintptr_t>(p));
  if (it == s.locs.end()) return;
  const SyncLoc& loc = it->second;
  if (!cta_scope && !loc.gpu.empty()) {
    JoinClock(t.known, loc.gpu);
    t.known_dirty = true;
  }
  for (const auto& [cta, clock] : loc.by_cta)
    if (cta == t.cta->linear && !clock.empty()) {
      JoinClock(t.known, clock);
      t.known_dirty = true;
    }
}

static uint32_t KnownOf(const ThreadCtx& t, uint32_t cta) {
  uint32_t k = cta < t.known.size() ? t.known[cta] : 0;
  const VClock& ck = t.cta->known;
  if (cta < ck.size()) k = std::max(k, ck[cta]);
  return k;
}

// The words of [a, a+n) whose bytes came from memory (not overlaid from a store buffer) must not
// hold another CTA's store published by a release this thread has not synchronized with.
static void CheckOrdered(ThreadCtx& t, GlobalBuffer& b, std::atomic<uint64_t>* tags, const char* prim, uintptr_t a,
                         size_t n, uint64_t overlaid) {
  std::atomic_thread_fence(std::memory_order_acquire);  // the data was read before the tags
  const PublishTags& pt = *b.tags;
  for (uintptr_t w = a >> 2; w <= (a + n - 1) >> 2; ++w) {
    bool from_memory = false;
    for (uintptr_t x = std::max(a, w << 2); x < std::min(a + n, (w << 2) + 4); ++x)
      from_memory = from_memory || !((overlaid >> (x - a)) & 1u);
    if (!from_memory || w < pt.first_word || w >= pt.first_word + pt.nwords) continue;
    const uint64_t tag = tags[w - pt.first_word].load(std::memory_order_relaxed);
    if (!tag) continue;
    const uint32_t cta = uint32_t(tag >> 32) - 1u, seq = uint32_t(tag);
    if (cta == t.cta->linear) continue;
    const uint32_t known = KnownOf(t, cta);
    if (known >= seq) continue;
    const LaunchState& L = *t.launch;
    std::ostringstream os;
    os << "unordered read of another CTA's store: " << n << " bytes at " << DescribeAddress(L, reinterpret_cast<void*>(a))
       << " hold a store of CTA (" << cta % L.grid.x << "," << cta / L.grid.x % L.grid.y << ","
       << cta / (L.grid.x * L.grid.y) << ") that ";
    if (seq == kExitSeq) os << "no release published (it became visible only when that CTA exited)";
    else os << "its release #" << seq << " published";
    os << ", but this thread has synchronized with that CTA ";
    if (known) os << "only up to its release #" << known;
    else os << "through no release at all";
    os << ": nothing orders the store before this load, so a GPU may return the old bytes (missing: a bar.sync "
          "between the stores and the release that announces them, a gpu-scope release/acquire pair, or a scope "
          "wider than .cta)";
    Fail(prim, os.str().c_str());
  }
}

// The data of a checked read: published memory, then the CTA's observed stores, then the
// thread's own.
static void ReadData(ThreadCtx& t, GlobalBuffer* b, const char* prim, void* dst, const void* src, size_t bytes) {
  if (!WeakMemory(*t.launch)) {
    std::memcpy(dst, src, bytes);
    return;
  }
  CtaState& c = *t.cta;
  std::atomic<uint64_t>* tags = b ? b->tags->words.load(std::memory_order_acquire) : nullptr;
  const bool cta_bytes = c.has_observed.load(std::memory_order_acquire);
  if (!tags && !cta_bytes && t.stores.empty()) {
    std::memcpy(dst, src, bytes);
    return;
  }
  for (size_t done = 0; done < bytes;) {
    const size_t n = std::min<size_t>(64, bytes - done);
    const uintptr_t a = reinterpret_cast<uintptr_t>(src) + done;
    auto* d = static_cast<unsigned char*>(dst) + done;
    uint64_t overlaid = 0;
    if (cta_bytes) {
      std::lock_guard<std::mutex> lk(c.store_m);  // a release of the CTA may be publishing them
      std::memcpy(d, reinterpret_cast<const void*>(a), n);
      overlaid = Overlay(c.observed, a, n, d);
    } else {
      std::memcpy(d, reinterpret_cast<const void*>(a), n);
    }
    if (!t.stores.empty()) overlaid |= Overlay(t.stores, a, n, d);
    if (tags) CheckOrdered(t, *b, tags, prim, a, n, overlaid);
    done += n;
  }
}

void GlobalLoad(const char* prim, void* dst, const void* g_ptr, size_t bytes) {
  GlobalBuffer* b = CheckRead(prim, g_ptr, bytes);
  ReadData(Ctx(), b, prim, dst, g_ptr, bytes);
}

void GlobalStore(const char* prim, void* g_ptr, const void* src, size_t bytes) {
  GlobalWrite(prim, g_ptr, bytes);
  ThreadCtx& t = Ctx();
  if (!WeakMemory(*t.launch)) {
    std::memcpy(g_ptr, src, bytes);
    return;
  }
  PutBytes(t.stores, reinterpret_cast<uintptr_t>(g_ptr), static_cast<const unsigned char*>(src), bytes);
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
      // The global read sees what a load would at the wait (the weak-memory view and its ordering check).
      if (c.src_bytes)
        ReadData(t, BufferAt(*t.launch, reinterpret_cast<uintptr_t>(c.src)), "cp.async (its global read, at the wait)",
                 c.dst, c.src, size_t(c.src_bytes));
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
  // let the writer run: 2 cores carry thousands of simulated threads
  if (InFiber()) FiberYield(YieldKind::kPolled);
  else std::this_thread::yield();
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
  ThreadCtx& t = Ctx();
  const bool weak = WeakMemory(*t.launch);
  if (weak) FlushOverlap(t, g_ptr, 4);
  const uint32_t v = __atomic_load_n(g_ptr, __ATOMIC_ACQUIRE);
  if (weak) AcquireFrom(t, g_ptr, IsCtaScope(prim));
  NoteSpin(prim, g_ptr, v);
  return v;
}

// The release half of st.release / atom / red at p: gpu/sys scope publishes (PublishRelease);
// .cta scope only makes the thread's stores visible to its own CTA.
static void Release(ThreadCtx& t, const void* p, const char* prim) {
  const bool cta = IsCtaScope(prim);
  uint32_t seq = 0;
  if (cta) ShareStoresWithCta(t);
  else seq = PublishRelease(t);
  ReleaseTo(t, p, cta, seq);
}

void StRelease(const char* prim, uint32_t* g_ptr, uint32_t value) {
  if (reinterpret_cast<uintptr_t>(g_ptr) & 3) Fail(prim, "address is not 4-byte aligned");
  GlobalWrite(prim, g_ptr, 4);
  ThreadCtx& t = Ctx();
  if (WeakMemory(*t.launch)) {
    FlushOverlap(t, g_ptr, 4);
    Release(t, g_ptr, prim);
  }
  ClearSpin();
  __atomic_store_n(g_ptr, value, __ATOMIC_RELEASE);
  NoteProgress();
}

// fence.acq_rel.{gpu,sys}: publishes the thread's stores and its CTA's observed ones (what a
// following relaxed or release atomic then announces). The host-side acq_rel read-modify-write of
// one process-wide word stays (every fence synchronizes with every earlier one for TSan;
// process-wide because ranks in different launches fence against each other, .sys).
static uint32_t g_fence_word = 0;
void Fence() {
  CheckAbort();
  ThreadCtx& t = Ctx();
  if (WeakMemory(*t.launch)) PublishRelease(t);
  __atomic_fetch_add(&g_fence_word, 1u, __ATOMIC_ACQ_REL);
}

uint32_t AtomicU32(const char* prim, int op, uint32_t* g_ptr, uint32_t a, uint32_t b) {
  if (reinterpret_cast<uintptr_t>(g_ptr) & 3) Fail(prim, "address is not 4-byte aligned");
  GlobalReadWrite(prim, g_ptr, 4);
  ThreadCtx& t = Ctx();
  const bool weak = WeakMemory(*t.launch);
  if (weak) {
    FlushOverlap(t, g_ptr, 4);
    // acq_rel and release publish; a relaxed atomic still carries what the thread knows and its
    // CTA's releases so far (a fence before it made that a release pattern).
    if (std::strstr(prim, "acq_rel") || std::strstr(prim, "release")) Release(t, g_ptr, prim);
    else ReleaseTo(t, g_ptr, IsCtaScope(prim), t.cta->release_seq.load(std::memory_order_acquire));
  }
  uint32_t old = 0;
  bool changed = true;  // false: an exch/CAS that left the word as it was (a lock still held)
  switch (op) {
    case 0:
      old = __atomic_fetch_add(g_ptr, a, __ATOMIC_ACQ_REL);
      break;
    case 1:
      old = __atomic_exchange_n(g_ptr, a, __ATOMIC_ACQ_REL);
      changed = old != a;
      break;
    default:
      old = a;
      changed = __atomic_compare_exchange_n(g_ptr, &old, b, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
  }
  // Every RMW reads, so it acquires what was released at g_ptr (a relaxed one too: over-, never
  // under-synchronizing).
  if (weak) AcquireFrom(t, g_ptr, IsCtaScope(prim));
  if (changed) {
    ClearSpin();
    NoteProgress();
  } else {
    NoteSpin(prim, g_ptr, old);  // a test-and-set or CAS loop that keeps failing is a spin-wait too
  }
  return old;
}

float AtomicAddF32(float* g_ptr, float v) {
  if (reinterpret_cast<uintptr_t>(g_ptr) & 3) Fail("atom.add.f32", "address is not 4-byte aligned");
  GlobalReadWrite("atom.add.f32", g_ptr, 4);
  ThreadCtx& t = Ctx();
  if (WeakMemory(*t.launch)) FlushOverlap(t, g_ptr, 4);  // relaxed: orders nothing else
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
