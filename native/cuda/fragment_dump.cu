// native/cuda/fragment_dump.cu: nvcc launcher of the fragment-layout dump (device check only).
#include <cuda_runtime.h>

#include "cuda/cuda_ops.h"
#include "cuda/nvcc_target.cuh"
#include "fragment_dump_inputs.h"
#include "kernels/fragment_dump.cuh"

namespace {

struct DeviceBuffer {
  void* ptr = nullptr;
  ~DeviceBuffer() {
    if (ptr) cudaFree(ptr);
  }
};

}  // namespace

// Uploads the fixed inputs (cuda/fragment_dump_inputs.h, the bytes the simulator uses), runs the
// kernel on `stream`, waits, and copies the dump to host memory `out`. Returns the first failing
// cudaError_t value (0 = ok).
static int sparq_cuda_fragment_dump(sparq::sim::FragmentDumpData* out, cudaStream_t stream) {
  sparq::FragmentDumpInputs host;
  sparq::FillFragmentDumpInputs(host);
  // one allocation: the inputs, then the dump (poisoned: every lane must write every entry)
  constexpr size_t kOut = (sizeof(sparq::FragmentDumpInputs) + 255) / 256 * 256;
  DeviceBuffer buf;
  cudaError_t e = cudaMalloc(&buf.ptr, kOut + sizeof *out);
  if (e != cudaSuccess) return int(e);
  auto* d = static_cast<unsigned char*>(buf.ptr);
  // the pageable source is staged by the runtime before the call returns, so `host` may go away
  if ((e = cudaMemcpyAsync(d, &host, sizeof host, cudaMemcpyHostToDevice, stream)) != cudaSuccess) return int(e);
  if ((e = cudaMemsetAsync(d + kOut, 0xFF, sizeof *out, stream)) != cudaSuccess) return int(e);
  auto* o = reinterpret_cast<sparq::sim::FragmentDumpData*>(d + kOut);
  const sparq::FragmentDumpParams p{reinterpret_cast<const sparq::FragmentDumpInputs*>(d), o};
  sparq::fragment_dump_kernel<<<1, sparq::kDumpThreads, 0, stream>>>(p);
  if ((e = cudaGetLastError()) != cudaSuccess) return int(e);
  if ((e = cudaMemcpyAsync(out, o, sizeof *out, cudaMemcpyDeviceToHost, stream)) != cudaSuccess) return int(e);
  return int(cudaStreamSynchronize(stream));
}

namespace sparq::cuda_ops {

Status FragmentDump(const FragmentDumpArgs& args, cuda::Exec& exec, LaunchInfo* info) {
  (void)info;
  return cuda::CudaStatus(cudaError_t(sparq_cuda_fragment_dump(args.out, exec.stream)), "fragmentDump");
}

}  // namespace sparq::cuda_ops
