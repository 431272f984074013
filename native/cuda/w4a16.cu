// native/cuda/w4a16.cu: nvcc launcher of native/cuda/kernels/w4a16.cuh (the simulator's twin is
// native/sim/w4a16_sim.cc; both plan with cuda/w4a16_layout.cuh). Checks every CUDA call.
#include <cuda_runtime.h>

#include <algorithm>
#include <string>

#include "w4a16_instances.cuh"
#include "w4a16.h"

namespace {

using namespace sparq::w4a16;

bool PadX(const sparq::W4A16WeightView& w, const void* x) {
  return NeedsPaddedX(w.k, reinterpret_cast<uint64_t>(x));
}

}  // namespace

size_t sparq_cuda_w4a16_workspace_bytes(const sparq::W4A16WeightView& w, int64_t m, const void* x) {
  const bool pad = w.k % 8 != 0 || (x != nullptr && PadX(w, x));
  return size_t(MakeWorkspace(w.n_pad, w.k_pad, m, pad).total_bytes);
}

int sparq_cuda_w4a16_matmul(const sparq::W4A16WeightView& w, const uint16_t* x, const uint16_t* bias, uint16_t* y,
                            int64_t m, void* workspace, size_t workspace_bytes, cudaStream_t stream, int sm_count,
                            sparq::LaunchInfo* info) {
  if (w.layout != sparq::W4A16Layout::kGpu) return int(cudaErrorInvalidValue);
  if (m <= 0) return int(cudaSuccess);
  const bool pad_x = PadX(w, x);
  const Workspace ws = MakeWorkspace(w.n_pad, w.k_pad, m, pad_x);
  if (workspace == nullptr || workspace_bytes < size_t(ws.total_bytes)) return int(cudaErrorInvalidValue);
  int device = 0, major = 0;
  cudaError_t err = cudaGetDevice(&device);
  if (err == cudaSuccess) err = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device);
  if (err != cudaSuccess) return int(err);
  const int stages = ChooseStages(major);
  const int64_t n_tiles = w.n_pad / kTileN, k_tiles = w.k_pad / kTileK;
  const Stripes stripes = MakeStripes(n_tiles, k_tiles, std::max(1, sm_count));
  const W4a16WorkspaceParts parts = CarveWorkspace(ws, workspace);
  float* partials = parts.partials;
  uint32_t* flags = parts.flags;
  uint16_t* x_pad = parts.x_pad;
  // Every launch leaves the flags at zero; clearing them here also recovers from a failed one.
  err = cudaMemsetAsync(flags, 0, size_t(n_tiles) * sizeof(uint32_t), stream);
  if (err != cudaSuccess) return int(err);

  const uint16_t* x_src = x;
  int64_t ldx = w.k, k_valid = w.k;
  if (pad_x) {
    const int64_t blocks = std::min<int64_t>(CeilDiv(m * w.k_pad, kThreads), int64_t(std::max(1, sm_count)) * 8);
    w4a16_pad_x_kernel<<<dim3(unsigned(blocks)), dim3(kThreads), 0, stream>>>(x, m, w.k, w.k_pad, x_pad);
    if ((err = cudaGetLastError()) != cudaSuccess) return int(err);
    x_src = x_pad;
    ldx = k_valid = w.k_pad;
  }

  std::string config;
  int smem_max = 0;
  for (int64_t slab = 0; slab < SlabCount(m); ++slab) {
    const int64_t r0 = slab * kSlabM, m_slab = std::min<int64_t>(kSlabM, m - r0);
    const int m_blocks = ChooseMBlocks(m_slab);
    const W4a16Instance inst = PickInstance(stages, m_blocks);
    err = cudaFuncSetAttribute(inst.fn, cudaFuncAttributeMaxDynamicSharedMemorySize, inst.smem_bytes);
    if (err != cudaSuccess) return int(err);
    const W4a16Params p = SlabParams(w, x_src, ldx, k_valid, bias, y, partials, flags, r0, m_slab, stripes);
    inst.fn<<<dim3(unsigned(stripes.ctas)), dim3(kThreads), size_t(inst.smem_bytes), stream>>>(p);
    if ((err = cudaGetLastError()) != cudaSuccess) return int(err);
    const std::string cfg = W4a16ConfigString(m_blocks, stages, stripes);
    if (config.find(cfg) == std::string::npos) config += (config.empty() ? "" : "; ") + cfg;
    smem_max = std::max(smem_max, inst.smem_bytes);
  }
  if (info != nullptr) {
    info->kernel = "w4a16_gemm_kernel";
    info->config = config + " slabs=" + std::to_string(SlabCount(m)) + (pad_x ? " x_padded" : "");
    info->grid_x = stripes.ctas;
    info->grid_y = info->grid_z = 1;
    info->block_threads = kThreads;
    info->smem_bytes = smem_max;
    info->bytes_read.clear();  // counted by the simulator only
  }
  return int(cudaSuccess);
}
