// sparq/sim.h: the sim backend's ops. Each runs the CUDA kernel source (native/cuda/kernels/*.cuh)
// on the host SIMT simulator (native/sim): every CUDA thread is a fiber on its simulated SM's host
// thread (or a host thread of its own: SimOptions::fibers), warp collectives are computed from
// the PTX ISA fragment layouts, shared memory is per CTA and NaN-poisoned, cp.async is deferred
// to its wait. Pointers are host pointers. A failed simulator check (partial
// warp at an mma, misaligned cp.async, deadlock, ...) unwinds every simulated thread and comes
// back as StatusCode::kDevice with a located message; it never ends the process.
#pragma once
#include <cstdint>

#include "sparq/op_list.h"
#include "sparq/ops.h"
#include "sparq/status.h"

namespace sparq::sim {

struct SimOptions {
  // Simulated multiprocessors. The launcher sizes grids from it like a device's SM count; with
  // concurrent_ctas, up to min(sm_count, max_resident_ctas) CTAs run at once (one per SM), so
  // persistent grids, cross-CTA flags and locks really execute.
  int sm_count = 4;
  bool concurrent_ctas = true;  // false: one CTA at a time, in blockIdx order
  // SMs the launchers size grids for; 0 = sm_count. Larger than sm_count: the grid has more CTAs
  // than can run at once, as on a GPU whose SMs are partly held by other work (MPS, other streams).
  int launcher_sms = 0;
  // CTAs whose threads exist at once (each CTA is blockDim host threads): at most this many of the
  // sm_count SMs run a CTA at a time; the others' CTAs wait for a free SM. 0 = no cap. Keeps a
  // 132-SM plan (33k simulated threads) fast on a small host; launchers still see sm_count.
  int max_resident_ctas = 8;
  // Livelock limit. A deadlock (every live thread of a CTA blocked at bar.sync or in a warp
  // collective) is reported at once, without it. A spin-wait that keeps reading the same value, or a
  // barrier/collective whose missing threads run without ever arriving, fails once nothing has
  // progressed anywhere in the process (no barrier, collective, thread exit or atomic) for this long.
  double timeout_s = 10;
  // Global memory as weak as a GPU's (docs/verification.md, "Weak global memory"): a plain store is
  // seen by its own thread at once, by its CTA after a bar.sync, and by other CTAs only once a
  // gpu/sys-scope release (fence, st.release, atom/red .release/.acq_rel) of its CTA published it,
  // or the CTA exited; a plain load of another CTA's store that no acquire ordered fails. false: every
  // store lands in memory at once (the old model; only for tests that show what it missed).
  bool weak_global_memory = true;
  // Seeded schedule fuzzing (0 = off; SPARQ_SIM_SEED sets it for the sim backend). The CTAs are
  // dispatched in a seeded random order instead of blockIdx order, every simulated thread starts
  // after a seeded random delay (0–1 ms), and every primitive is a seeded yield point (a yield, now
  // and then a sleep of up to 0.3 ms). A failure message names the seed. The CTA order and each
  // thread's decisions repeat exactly for a seed; what the host's threads then do in between does
  // not, so a seed that failed once is a strong hint, not a replay.
  uint64_t schedule_seed = 0;
  // A CTA's simulated threads as fibers on its SM's host thread (native/sim/sim_fiber.h), handing
  // over only where one waits or yields; false: one host thread per simulated thread (the original
  // model, kept for targets without the fiber switch — only x86-64 has it — and as a cross-check).
  // SPARQ_SIM_THREADS=1 forces false for every launch (see threads_env).
  bool fibers = true;
  // What SPARQ_SIM_THREADS says, resolved by the caller: 1 = "1" (host threads), 0 = anything else.
  // -1 (C++ callers of the core library, the native tests): the simulator reads it with getenv, once
  // per process. The sim backend resolves it at open from BackendOptions::env, so no getenv runs on
  // its stream worker beside Node's setenv on the JS thread (docs/decisions.md).
  int threads_env = -1;
};

// One entry per op of sparq/op_list.h with SIM = 1, defined in native/sim/<op>_sim.cc:
//   Status Name(const Args& args, const SimOptions& options, LaunchInfo* info);
// info (optional) gets the instance chosen, the grid, and the bytes read per registered buffer.
#define SPARQ_SIM_OP_DECL(Name, Args, C, S, G) \
  SPARQ_IF(S, Status Name(const Args& args, const SimOptions& options, LaunchInfo* info);)
SPARQ_OPS(SPARQ_SIM_OP_DECL)
#undef SPARQ_SIM_OP_DECL

}  // namespace sparq::sim
