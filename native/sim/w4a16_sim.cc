// native/sim/w4a16_sim.cc: the W4A16 CUDA kernel (cuda/kernels/w4a16.cuh) on the SIMT simulator.
// Same plan as cuda/w4a16.cu: m in slabs of 64 (one launch each), a persistent grid of at most
// sm_count CTAs striped over the (n, k) tiles, fp32 partials + per-column flags in a workspace.
#include <map>
#include <string>
#include <vector>

#include "cuda/w4a16_instances.cuh"
#include "sim/sim_launch.h"
#include "sparq/sim.h"
#include "sparq/w4a16.h"

namespace sparq::sim {

using namespace sparq::w4a16;

Status W4A16MatmulStages(const W4A16WeightView& w, const uint16_t* x, const uint16_t* bias, uint16_t* y,
                         int64_t m, int stages, const SimOptions& options, LaunchInfo* info) {
  if (w.layout != W4A16Layout::kGpu)
    return Status::Error(StatusCode::kArgument,
                         "w4a16.matmul: weight must be packed for the gpu/sim backends (W4A16Layout::kGpu), got the cpu layout",
                         "weight");
  if (stages != kStagesAmpere && stages != kStagesHopper)
    return Status::Error(StatusCode::kArgument, "w4a16.matmul: stages must be 4 or 8, got " + std::to_string(stages),
                         "stages");
  if (m <= 0) return Status::Ok();
  const int64_t n_tiles = w.n_pad / kTileN, k_tiles = w.k_pad / kTileK;
  const bool pad_x = NeedsPaddedX(w.k, reinterpret_cast<uintptr_t>(x));
  const Workspace ws = MakeWorkspace(w.n_pad, w.k_pad, m, pad_x);
  std::vector<uint64_t> workspace(size_t(ws.total_bytes / 8), 0);  // zero: flags start at 0
  const W4a16WorkspaceParts parts = CarveWorkspace(ws, workspace.data());
  float* partials = parts.partials;
  uint32_t* flags = parts.flags;
  uint16_t* x_pad = parts.x_pad;
  // One CTA at a time cannot wait for another: then whole columns per CTA (no cross-CTA reduction).
  const Stripes stripes = options.concurrent_ctas ? MakeStripes(n_tiles, k_tiles, options.sm_count)
                                                  : MakeStripes(n_tiles, k_tiles, int(n_tiles));

  std::map<std::string, uint64_t> read_sum;
  std::vector<std::string> order;
  auto add_reads = [&](const Launch& launch) {
    for (const auto& [name, bytes] : launch.BytesRead()) {
      if (!read_sum.count(name)) order.push_back(name);
      read_sum[name] += bytes;
    }
  };

  const uint16_t* x_src = x;
  int64_t ldx = w.k, k_valid = w.k;
  if (pad_x) {
    Launch launch("w4a16_pad_x_kernel", options);
    launch.RegisterBuffer("x", x, size_t(m * w.k * 2));
    launch.RegisterBuffer("x_pad", x_pad, size_t(m * w.k_pad * 2));
    const int grid = int(std::min<int64_t>(CeilDiv(m * w.k_pad, kThreads), options.sm_count * 4));
    Status st = launch.Run(dim3(unsigned(grid)), dim3(kThreads), 0, &w4a16_pad_x_kernel, x, m, w.k, w.k_pad, x_pad);
    if (!st.ok()) return st;
    add_reads(launch);
    x_src = x_pad;
    ldx = k_valid = w.k_pad;
  }

  std::string config;
  int smem_max = 0;
  for (int64_t slab = 0; slab < SlabCount(m); ++slab) {
    const int64_t r0 = slab * kSlabM, m_slab = std::min<int64_t>(kSlabM, m - r0);
    const int m_blocks = ChooseMBlocks(m_slab);
    const W4a16Instance inst = PickInstance(stages, m_blocks);
    const W4a16Params p = SlabParams(w, x_src, ldx, k_valid, bias, y, partials, flags, r0, m_slab, stripes);
    const std::string cfg = W4a16ConfigString(m_blocks, stages, stripes);
    Launch launch("w4a16_gemm_kernel<" + std::to_string(m_blocks) + "," + std::to_string(stages) + ">", options);
    launch.RegisterBuffer("qweight", w.qweight, size_t(w.n_pad * w.k_pad / 2));
    launch.RegisterBuffer("scales", w.scales, size_t(w.n_pad * w.groups_pad * 2));
    launch.RegisterBuffer("x", x_src + r0 * ldx, size_t(m_slab * ldx * 2));
    if (bias != nullptr) launch.RegisterBuffer("bias", bias, size_t(w.n * 2));
    launch.RegisterBuffer("y", y + r0 * w.n, size_t(m_slab * w.n * 2));
    launch.RegisterBuffer("partials", partials, size_t(n_tiles * kSlabM * kTileN * 4));
    launch.RegisterBuffer("flags", flags, size_t(n_tiles * 4));
    Status st = launch.Run(dim3(unsigned(stripes.ctas)), dim3(kThreads), size_t(inst.smem_bytes), inst.fn, p);
    if (!st.ok()) return st;
    add_reads(launch);
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
    info->bytes_read.clear();
    for (const auto& name : order) info->bytes_read.emplace_back(name, read_sum[name]);
  }
  return Status::Ok();
}

Status W4A16Matmul(const W4A16WeightView& w, const uint16_t* x, const uint16_t* bias, uint16_t* y, int64_t m,
                   const SimOptions& options, LaunchInfo* info) {
  return W4A16MatmulStages(w, x, bias, y, m, ChooseStages(9), options, info);
}

}  // namespace sparq::sim
