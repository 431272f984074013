// native/cuda/w4a16_plan.cuh: the launch plan of the W4A16 GEMM (kernels/w4a16.cuh), shared by the
// nvcc launcher (cuda/w4a16.cu) and the simulator's (sim/w4a16_sim.cc) through a launch target
// (cuda/launch_target.h): the instance a slab runs, the persistent grid's stripes, the pad-x grid
// and the workspace carve exist only here, so both run and report exactly the same launches.
#pragma once
#include <algorithm>
#include <cstring>
#include <string>

#include "cuda/kernels/w4a16.cuh"
#include "cuda/kernels/w4a16_pad_x.cuh"
#include "cuda/launch_target.h"
#include "cuda/w4a16_knobs.h"
#include "sparq/w4a16.h"

namespace sparq::w4a16 {

using W4a16KernelFn = void (*)(const W4a16Params);

struct W4a16Instance {
  W4a16KernelFn fn;
  int smem_bytes;
};

// M_BLOCKS = m16 blocks in the slab (1..4); STAGES is chosen by the caller from the architecture;
// w_as_a: the slab's ≤ 8 tokens are the mma's B operand (kernels/w4a16.cuh, W_AS_A).
template <int STAGES>
inline W4a16Instance PickForStages(int m_blocks, bool w_as_a) {
  if (w_as_a) return {&w4a16_gemm_kernel<1, STAGES, true>, W4a16Config<1, STAGES>::kSmemBytes};
  switch (m_blocks) {
    case 1: return {&w4a16_gemm_kernel<1, STAGES>, W4a16Config<1, STAGES>::kSmemBytes};
    case 2: return {&w4a16_gemm_kernel<2, STAGES>, W4a16Config<2, STAGES>::kSmemBytes};
    case 3: return {&w4a16_gemm_kernel<3, STAGES>, W4a16Config<3, STAGES>::kSmemBytes};
    default: return {&w4a16_gemm_kernel<4, STAGES>, W4a16Config<4, STAGES>::kSmemBytes};
  }
}

// The pipeline depth for a device: the deep (Hopper) ring when its largest instance (M_BLOCKS = 4)
// fits the device's opt-in shared memory per block, else the 4-stage one. By capacity, not by SM
// major: sm_120 has 99 KB like sm_86/89, A100 (sm_80) has 163 KB.
inline int ChooseStagesForSmem(int smem_optin_bytes) {
  return W4a16Config<4, kStagesHopper>::kSmemBytes <= smem_optin_bytes ? kStagesHopper : kStagesAmpere;
}

inline W4a16Instance PickInstance(int stages, int m_blocks, bool w_as_a) {
  return stages == kStagesHopper ? PickForStages<kStagesHopper>(m_blocks, w_as_a)
                                 : PickForStages<kStagesAmpere>(m_blocks, w_as_a);
}


// The kernel parameters of one m-slab (rows [r0, r0 + m_slab)); x_src is x or its padded copy.
inline W4a16Params SlabParams(const sparq::W4A16WeightView& w, const uint16_t* x_src, int64_t ldx, int64_t k_valid,
                              const uint16_t* bias, uint16_t* y, float* partials, uint32_t* counters, int slots,
                              int64_t r0, int64_t m_slab, const Stripes& stripes) {
  W4a16Params p{};
  p.qweight = static_cast<const uint8_t*>(w.qweight);
  p.scales = w.scales;
  p.x = x_src + r0 * ldx;
  p.bias = bias;
  p.y = y + r0 * w.n;
  p.partials = partials;
  p.counters = counters;
  p.slots = slots;
  p.ldx = ldx;
  p.k_valid = k_valid;
  p.n = w.n;
  p.groups_pad = w.groups_pad;
  p.group_eff = w.group_size_eff;
  p.m = int(m_slab);
  p.stripes = stripes;
  return p;
}

// The workspace's parts (MakeWorkspace's offsets) inside its two blocks.
struct W4a16WorkspaceParts {
  float* partials;
  uint32_t* counters;
  uint16_t* x_pad;
};
inline W4a16WorkspaceParts CarveWorkspace(const Workspace& ws, void* counters, void* scratch) {
  uint8_t* b = static_cast<uint8_t*>(scratch);
  return {reinterpret_cast<float*>(b + ws.partials_offset), static_cast<uint32_t*>(counters),
          reinterpret_cast<uint16_t*>(b + ws.x_pad_offset)};
}

// The LaunchInfo::config text of one slab's launch.
inline std::string W4a16ConfigString(int m_blocks, bool w_as_a, int stages, const Stripes& s) {
  return "TILE_M=" + std::to_string(w_as_a ? kWAsAMaxRows : m_blocks * kMmaM) + " TILE_N=" + std::to_string(kTileN) +
         " TILE_K=" + std::to_string(kTileK) + " STAGES=" + std::to_string(stages) + " WARPS=" +
         std::to_string(kWarps) + (w_as_a ? " W_AS_A" : "") + " stripes=" + std::to_string(s.ctas) + "x" + std::to_string(s.per) + " tiles";
}

// Everything a W4A16 matmul launches, decided once from the args and the target's SMs.
struct W4a16Plan {
  int stages = kStagesAmpere;
  bool pad_x = false;    // x is copied into a zero-padded [m][k_pad] buffer first (k % 8, alignment)
  int64_t pad_ctas = 0;  // grid of the pad kernel
  int64_t n_tiles = 0, k_tiles = 0;
  Stripes stripes;       // the persistent grid over the (n, k) tiles
  bool w_as_a = true;    // slabs of m ≤ 8 with W as the mma's A operand (TimingKnobs)
  Workspace workspace;   // partial slots, arrival counters, padded x
};

// stages: ChooseStagesForSmem(opt-in smem) on CUDA, ChooseStages(9) on sim. The grid is TimingKnobs().ctas_per_sm CTAs per SM (one by default), striped over the tiles; no CTA waits
// for another, so the plan is correct whatever share of the SMs the kernel actually gets.
inline W4a16Plan MakePlan(const W4A16MatmulArgs& a, int stages, int sm_count) {
  constexpr int64_t kPadCtasPerSm = 8;  // enough blocks in flight to saturate the copy
  const W4A16WeightView& w = a.weight;
  W4a16Plan plan;
  plan.stages = stages;
  if (w.layout != PackedLayout::kGpu) return plan;  // RunPlan rejects it; no tile math on another layout
  plan.pad_x = NeedsPaddedX(w.k, reinterpret_cast<uint64_t>(a.x));
  plan.n_tiles = w.n_pad / kTileN;
  plan.k_tiles = w.k_pad / kTileK;
  const int sms = std::max(1, sm_count);
  plan.pad_ctas = std::max<int64_t>(1, std::min<int64_t>(CeilDiv(a.m * w.k_pad, kThreads), int64_t(sms) * kPadCtasPerSm));
  plan.w_as_a = TimingKnobs().w_as_a;
  plan.stripes = MakeStripes(plan.n_tiles, plan.k_tiles, sms * TimingKnobs().ctas_per_sm);
  plan.workspace = MakeWorkspace(w.n_pad, w.k_pad, a.m, plan.pad_x, MaxColumnContributors(plan.stripes));
  return plan;
}

// Y = fp16(X·dequant(W)ᵀ + bias) on `target`: the optional pad-x launch, then one launch per
// m-slab of 64 rows. counters: plan.workspace.counters_bytes of the target's memory, zero-filled
// when allocated and used for nothing else; scratch: plan.workspace.scratch_bytes (any content).
template <class Target>
Status RunPlan(const W4A16MatmulArgs& a, const W4a16Plan& plan, void* counters, void* scratch, Target& target,
               LaunchInfo* info) {
  const W4A16WeightView& w = a.weight;
  if (w.layout != PackedLayout::kGpu)
    return Status::Error(StatusCode::kArgument,
                         "w4a16.matmul: weight must be packed for the tensor-core kernels (kGpu), got the cpu layout",
                         "weight");
  if (a.m <= 0) return Status::Ok();
  const W4a16WorkspaceParts parts = CarveWorkspace(plan.workspace, counters, scratch);
  Status s;

  const uint16_t* x_src = a.x;
  int64_t ldx = w.k, k_valid = w.k;
  if (plan.pad_x) {
    s = target.Launch("w4a16_pad_x_kernel", dim3(unsigned(plan.pad_ctas)), dim3(kThreads), 0,
                      {{"x", a.x, size_t(a.m * w.k * 2)}, {"x_pad", parts.x_pad, size_t(a.m * w.k_pad * 2)}},
                      &w4a16_pad_x_kernel, a.x, a.m, w.k, w.k_pad, parts.x_pad);
    if (!s.ok()) return s;
    x_src = parts.x_pad;
    ldx = k_valid = w.k_pad;
  }

  std::string config;
  int smem_max = 0;
  for (int64_t slab = 0; slab < SlabCount(a.m); ++slab) {
    const int64_t r0 = slab * kSlabM, m_slab = std::min<int64_t>(kSlabM, a.m - r0);
    const int m_blocks = ChooseMBlocks(m_slab);
    const bool w_as_a = plan.w_as_a && m_slab <= kWAsAMaxRows;  // W as the mma's A operand
    const W4a16Instance inst = PickInstance(plan.stages, m_blocks, w_as_a);
    const W4a16Params p = SlabParams(w, x_src, ldx, k_valid, a.bias, a.y, parts.partials, parts.counters,
                                     plan.workspace.slots, r0, m_slab, plan.stripes);
    s = target.Launch("w4a16_gemm_kernel<" + std::to_string(m_blocks) + "," + std::to_string(plan.stages) +
                          (w_as_a ? ",W_AS_A>" : ">"),
                      dim3(unsigned(plan.stripes.ctas)), dim3(kThreads), size_t(inst.smem_bytes),
                      {{"qweight", w.qweight, size_t(w.n_pad * w.k_pad / 2)},
                       {"scales", w.scales, size_t(w.n_pad * w.groups_pad * 2)},
                       {"x", p.x, size_t(m_slab * ldx * 2)},
                       {"bias", a.bias, size_t(w.n * 2)},
                       {"y", p.y, size_t(m_slab * w.n * 2)},
                       {"partials", plan.workspace.slots > 1 ? parts.partials : nullptr,
                        size_t(plan.n_tiles * plan.workspace.slots * kSlabM * kTileN * 4)},
                       {"counters", parts.counters, size_t(plan.n_tiles * 4)}},
                      inst.fn, p);
    if (!s.ok()) return s;
    const std::string cfg = W4a16ConfigString(m_blocks, w_as_a, plan.stages, plan.stripes);
    if (config.find(cfg) == std::string::npos) config += (config.empty() ? "" : "; ") + cfg;
    smem_max = std::max(smem_max, inst.smem_bytes);
  }
  if (info != nullptr) {
    info->kernel = "w4a16_gemm_kernel";
    info->config = config + " slabs=" + std::to_string(SlabCount(a.m)) + (plan.pad_x ? " x_padded" : "");
    info->grid_x = plan.stripes.ctas;
    info->grid_y = info->grid_z = 1;
    info->block_threads = kThreads;
    info->smem_bytes = smem_max;
    target.ReportBytes(info);
  }
  return Status::Ok();
}

}  // namespace sparq::w4a16
