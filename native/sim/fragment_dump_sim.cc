// native/sim/fragment_dump_sim.cc: runs native/cuda/kernels/fragment_dump.cuh on the simulator
// with the fixed inputs of cuda/fragment_dump_inputs.h (the same bytes the GPU launcher uploads).
#include <cstring>

#include "cuda/fragment_dump_inputs.h"
#include "cuda/kernels/fragment_dump.cuh"
#include "sim/sim_launch.h"
#include "sparq/sim.h"

namespace sparq::sim {

Status FragmentDump(const FragmentDumpArgs& args, const SimOptions& options, LaunchInfo* info) {
  (void)info;
  FragmentDumpData* out = args.out;
  FragmentDumpInputs in;
  FillFragmentDumpInputs(in);
  std::memset(out, 0xFF, sizeof *out);  // poison: every lane must write every entry
  Launch launch("fragment_dump_kernel", options);
  launch.RegisterBuffer("inputs", &in, sizeof in);
  launch.RegisterBuffer("out", out, sizeof *out);
  return launch.Run(dim3(1), dim3(kDumpThreads), 0, &fragment_dump_kernel, FragmentDumpParams{&in, out});
}

}  // namespace sparq::sim
