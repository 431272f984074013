// native/cuda/launch_target.h: what an op's launch plan (native/cuda/<op>_plan.cuh) needs from the
// place its kernels run. A plan is a template on its Target, so instance choice, grid sizing and
// workspace carving are written once and run unchanged by nvcc (NvccTarget, cuda/nvcc_target.cuh:
// <<<>>> on the context's stream) and by the simulator (SimTarget, sim/sim_target.h: sim::Launch
// with every global buffer bounds-checked and its reads counted). A Target provides:
//
//   template <class... P, class... A>
//   Status Launch(const std::string& kernel, dim3 grid, dim3 block, size_t dyn_smem_bytes,
//                 std::initializer_list<BufferNote> buffers, void (*fn)(P...), A&&... args);
//   template <class P>                      // cudaLaunchCooperativeKernel: the whole grid resident
//   Status LaunchCooperative(const std::string& kernel, dim3 grid, dim3 block,
//                            const std::vector<BufferNote>& buffers, void (*fn)(P), const P& params);
//                                           // at once, the one place CTAs may wait on each other
//                                           // (allreduce's flags); the plan sizes the grid by occupancy
//   Status Zero(void* dst, size_t bytes);   // stream-ordered memset 0
//   int sm_count() const;                   // SMs a persistent grid is sized for (never assumed
//                                           // all resident outside LaunchCooperative: no other plan
//                                           // may make a CTA wait on another)
//   void ReportBytes(LaunchInfo* info);     // sim: bytes read per buffer over every Launch; nvcc: none
//
// Launch failures come back as kDevice (kOutOfMemory for allocations); a plan's own argument
// failures as kArgument/kShape, never kDevice (the binding validated first; a context is marked
// lost only for real device failures).
#pragma once
#include <cstddef>

namespace sparq {

// A global buffer a kernel touches: the simulator registers it (bounds checks, read counts).
struct BufferNote {
  const char* name;
  const void* base;  // null: not used by this launch (skipped)
  size_t bytes;
};

}  // namespace sparq
