// runtime/worker_thread.h: what sparq's own threads share — the CPU pool's workers
// (cpu/thread_pool.cc), the context's stream worker (runtime/stream.cc) and the comm's slot
// reaper (runtime/comm_device.cc).
//
// A bounded spin before a thread sleeps: waking a sleeping thread costs the waker a futex call and
// the sleeper a wake-up that took tens of µs on the CI VM; back-to-back work (a model's layers, one
// op after another from JS) finds a spinning thread instead. The spin is bounded, so an idle thread
// costs nothing after it.
#pragma once
#include <chrono>
#include <cstdint>
#include <thread>

#if defined(__linux__)
#include <pthread.h>
#endif

namespace sparq {

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Spins until ready() or spin_ns pass; true when ready. Past the first pause_only_ns it yields the
// core between looks, so more spinning threads than free cores (SPARQ_THREADS=8 on 2 cores,
// several contexts at once) do not starve the threads doing the work: with pause alone the pool
// ran such a case 2× slower than sleeping (4096² sparse m = 1: 1.38 against 0.66–1.03 ms).
template <typename Ready>
bool SpinUntil(Ready&& ready, int64_t spin_ns, int64_t pause_only_ns) {
  const auto t0 = std::chrono::steady_clock::now();
  bool yielding = pause_only_ns <= 0;
  for (int i = 1;; ++i) {
    if (ready()) return true;
    if (yielding) std::this_thread::yield();
    else CpuRelax();
    if (i % 64 == 0 || yielding) {
      const auto spent = std::chrono::steady_clock::now() - t0;
      if (spent > std::chrono::nanoseconds(spin_ns)) return ready();
      yielding = spent > std::chrono::nanoseconds(pause_only_ns);
    }
  }
}

// Names a thread just started, from the thread that started it (Linux: what `top -H`, `perf` and
// gdb show; at most 15 characters), so a profile of a Node process tells sparq's stream, pool and
// comm threads from V8's and libuv's. Named before the starter goes on: a name the thread gave
// itself waited until it was first scheduled, and on a busy host a pool worker could still carry
// its parent's name when a profile, or a test, looked.
inline void NameThread(std::thread& thread, const char* name) {
#if defined(__linux__)
  pthread_setname_np(thread.native_handle(), name);
#else
  (void)thread;
  (void)name;
#endif
}

}  // namespace sparq
