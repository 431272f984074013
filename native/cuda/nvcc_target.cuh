// native/cuda/nvcc_target.cuh: the nvcc launch target of the plans (cuda/launch_target.h): kernels
// go on the context's stream with <<<>>>; every launch and CUDA call is checked.
#pragma once
#include <cuda_runtime.h>

#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "cuda/cuda_status.h"
#include "cuda/dynamic_smem.h"
#include "cuda/launch_target.h"
#include "sparq/ops.h"
#include "sparq/status.h"

namespace sparq::cuda {

class NvccTarget {
 public:
  NvccTarget(cudaStream_t stream, int sm_count) : stream_(stream), sm_count_(sm_count) {}
  int sm_count() const { return sm_count_; }

  template <class... P, class... A>
  Status Launch(const std::string& kernel, dim3 grid, dim3 block, size_t dyn_smem_bytes,
                std::initializer_list<BufferNote> buffers, void (*fn)(P...), A&&... args) {
    (void)buffers;  // the simulator's concern
    constexpr size_t kDefaultSmemLimitBytes = 48 * 1024;  // above it a kernel must opt in
    if (dyn_smem_bytes > kDefaultSmemLimitBytes) {
      Status s = RaiseDynamicSmemLimit(reinterpret_cast<const void*>(fn), dyn_smem_bytes, kernel);
      if (!s.ok()) return s;
    }
    fn<<<grid, block, dyn_smem_bytes, stream_>>>(static_cast<P>(std::forward<A>(args))...);
    return CudaStatus(cudaGetLastError(), kernel + ": launch");  // bad config, no kernel image, ...
  }

  // cudaLaunchCooperativeKernel: every CTA of the grid resident at once, so CTAs may wait on each
  // other's flags (the caller has checked cudaDevAttrCooperativeLaunch and sized the grid by the
  // occupancy query: a grid that cannot be resident fails the launch instead of hanging).
  template <class P>
  Status LaunchCooperative(const std::string& kernel, dim3 grid, dim3 block, const std::vector<BufferNote>& buffers,
                           void (*fn)(P), const P& params) {
    (void)buffers;  // the simulator's concern
    P copy = params;
    void* kernel_args[] = {&copy};
    return CudaStatus(cudaLaunchCooperativeKernel(reinterpret_cast<const void*>(fn), grid, block, kernel_args, 0, stream_),
                      kernel + ": cooperative launch");
  }

  Status Zero(void* dst, size_t bytes) { return CudaStatus(cudaMemsetAsync(dst, 0, bytes, stream_), "cudaMemsetAsync"); }
  void ReportBytes(LaunchInfo* info) const { info->bytes_read.clear(); }  // counted by the simulator only

 private:
  cudaStream_t stream_;
  int sm_count_;
};

}  // namespace sparq::cuda
