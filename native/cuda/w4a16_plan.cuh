// native/cuda/w4a16_instances.cuh: the template instances of the W4A16 kernel a launcher can pick
// and how a choice is reported — shared by the nvcc launcher (w4a16.cu) and the simulator's
// (sim/w4a16_sim.cc), so both pick and describe exactly the same instance.
#pragma once
#include <string>

#include "kernels/w4a16.cuh"
#include "sparq/w4a16.h"

namespace sparq::w4a16 {

using W4a16KernelFn = void (*)(const W4a16Params);

struct W4a16Instance {
  W4a16KernelFn fn;
  int smem_bytes;
};

// M_BLOCKS = m16 blocks in the slab (1..4); STAGES is chosen by the caller from the architecture.
template <int STAGES>
inline W4a16Instance PickForStages(int m_blocks) {
  switch (m_blocks) {
    case 1: return {&w4a16_gemm_kernel<1, STAGES>, W4a16Config<1, STAGES>::kSmemBytes};
    case 2: return {&w4a16_gemm_kernel<2, STAGES>, W4a16Config<2, STAGES>::kSmemBytes};
    case 3: return {&w4a16_gemm_kernel<3, STAGES>, W4a16Config<3, STAGES>::kSmemBytes};
    default: return {&w4a16_gemm_kernel<4, STAGES>, W4a16Config<4, STAGES>::kSmemBytes};
  }
}

inline W4a16Instance PickInstance(int stages, int m_blocks) {
  return stages == kStagesHopper ? PickForStages<kStagesHopper>(m_blocks) : PickForStages<kStagesAmpere>(m_blocks);
}

// The kernel parameters of one m-slab (rows [r0, r0 + m_slab)); x_src is x or its padded copy.
inline W4a16Params SlabParams(const sparq::W4A16WeightView& w, const uint16_t* x_src, int64_t ldx, int64_t k_valid,
                              const uint16_t* bias, uint16_t* y, float* partials, uint32_t* flags, int64_t r0,
                              int64_t m_slab, const Stripes& stripes) {
  W4a16Params p{};
  p.qweight = static_cast<const uint8_t*>(w.qweight);
  p.scales = w.scales;
  p.x = x_src + r0 * ldx;
  p.bias = bias;
  p.y = y + r0 * w.n;
  p.partials = partials;
  p.flags = flags;
  p.ldx = ldx;
  p.k_valid = k_valid;
  p.n = w.n;
  p.groups_pad = w.groups_pad;
  p.group_eff = w.group_size_eff;
  p.m = int(m_slab);
  p.stripes = stripes;
  return p;
}

// The workspace's parts (MakeWorkspace's offsets) inside a block at `base`.
struct W4a16WorkspaceParts {
  float* partials;
  uint32_t* flags;
  uint16_t* x_pad;
};
inline W4a16WorkspaceParts CarveWorkspace(const Workspace& ws, void* base) {
  uint8_t* b = static_cast<uint8_t*>(base);
  return {reinterpret_cast<float*>(b + ws.partials_offset), reinterpret_cast<uint32_t*>(b + ws.flags_offset),
          reinterpret_cast<uint16_t*>(b + ws.x_pad_offset)};
}

// The LaunchInfo::config text of one slab's launch.
inline std::string W4a16ConfigString(int m_blocks, int stages, const Stripes& s) {
  return "TILE_M=" + std::to_string(m_blocks * kMmaM) + " TILE_N=" + std::to_string(kTileN) +
         " TILE_K=" + std::to_string(kTileK) + " STAGES=" + std::to_string(stages) + " WARPS=" +
         std::to_string(kWarps) + " stripes=" + std::to_string(s.ctas) + "x" + std::to_string(s.per) + " tiles";
}

}  // namespace sparq::w4a16
