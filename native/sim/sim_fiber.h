// native/sim/sim_fiber.h: a CTA's simulated threads as fibers on one host thread.
//
// Why: as host threads, every bar.sync and warp collective of a simulated CTA is a futex wake-up
// storm (strace of sim_dense_test: 2.6 M futex calls in 13 s, 99% of its syscall time; 17 s of
// system time against 4 s of user time), and the sanitizers multiply it. As fibers, a CTA's
// threads run one at a time on the host thread of its simulated SM and hand over only where a
// simulated thread waits (bar.sync, a warp collective, a spin-wait) or yields (schedule fuzzing,
// preemption): a switch is a few register saves, with no kernel call.
//
// The scheduler is the host thread itself, and a fiber switches back to it saying why
// (FiberYield). It takes the fibers in groups (a CTA's warps): a pass gives each group in turn the
// host thread until the group is stuck — it cycles over the group's live fibers while any of them
// ran up to a wait or finished — so a warp runs ahead to its next barrier (or cross-warp wait)
// before the next warp starts. That is the schedule a missing barrier shows under: the warp that
// runs ahead refills a ring slot (its cp.async poisons it) that a later warp has yet to read, or
// reads what a later warp has yet to write. (Visiting every fiber once per pass kept the warps in
// lockstep, and two mutants that remove such a barrier survived.) Fuzzing shuffles the group order
// and the order within each group, per pass. A pass in which no fiber got anywhere (every one
// re-polled a wait or spun) yields the host thread, so that other simulated SMs (other host
// threads) run: only they can release it.
//
// Sanitizers: each fiber is a TSan fiber, switched to without a happens-before edge (no_sync), so
// two simulated threads that race are reported as they were as host threads; ASan is told of every
// stack switch. Fibers exist where the context switch below is written (x86-64 System V);
// elsewhere FibersAvailable() is false and the simulator runs threads (SimOptions::fibers).
#pragma once
#include <cstdint>
#include <functional>

// Functions whose memory accesses TSan must not see (never inlined into ones it sees). Here: the
// hand-over between a fiber and its scheduler, and the writes of the host thread's thread_locals
// (tls_ctx, threadIdx, ...) that every fiber of the host thread makes on being switched to.
// Fibers switch without a happens-before edge (so that simulated threads' races stay visible), so
// TSan would otherwise report this bookkeeping, which the switches themselves order, as races.
// (Also the cp.async poison in sim_memory.cc.)
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

namespace sparq::sim {

// Why a fiber hands control back to its scheduler.
enum class YieldKind : int {
  kRan,      // it ran and will go on (a fuzzing or preemption yield): its turn in this pass ends
  kBlocked,  // it ran up to a wait whose condition is false
  kPolled,   // it re-checked a wait (or re-read a spin-wait's value) and nothing had changed
};

bool FibersAvailable();  // this build has the context switch (x86-64)
SPARQ_SIM_NO_TSAN bool InFiber();  // the caller runs on a fiber of RunFibers

// Runs entry(i) for i in [0, n) each on a fiber of the calling host thread, until all returned;
// fibers [g*group, (g+1)*group) form group g. resume(i) runs on fiber i each time it is switched
// to, before its code continues (it restores the thread_locals a simulated thread sees).
// shuffle_seed != 0: groups and fibers within a group in a seeded random order per pass (schedule
// fuzzing); 0: index order. Not reentrant (no fibers in fibers). Throws std::system_error when the
// stacks cannot be mapped (before any fiber ran).
SPARQ_SIM_NO_TSAN void RunFibers(int n, int group, const std::function<void(int)>& entry,
                                 const std::function<void(int)>& resume, uint64_t shuffle_seed);

// From a fiber: back to the scheduler; returns when the scheduler next picks this fiber.
SPARQ_SIM_NO_TSAN void FiberYield(YieldKind kind);

// Unmaps the calling host thread's fiber stacks, which RunFibers keeps for its next call (a
// simulated SM runs many CTAs). For threads that outlive the launch (the caller's own thread when
// CTAs run one at a time); an SM worker's stacks go with the thread.
SPARQ_SIM_NO_TSAN void ReleaseFiberStacks();

}  // namespace sparq::sim
