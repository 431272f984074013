// native/cuda/fragment_dump.h: nvcc launcher of native/cuda/kernels/fragment_dump.cuh, for the
// device check: the GPU's dump must equal sparq::sim::FragmentDump's.
#pragma once
#include <cuda_runtime_api.h>

#include "sparq/sim.h"

// Uploads the fixed inputs (sparq::sim::FragmentDumpInputs), runs the kernel on `stream`, waits,
// and copies the dump to host memory `out`. Returns the first failing cudaError_t value (0 = ok).
int sparq_cuda_fragment_dump(sparq::sim::FragmentDumpData* out, cudaStream_t stream);
