// sparq/w4a16.h: 4-bit group-quantized weights × fp16 activations (DESIGN.md "w4a16").
//
//   codes[n][k] u8 in 0..15, zero point 8; scales[n][k/g] fp16 bits; g ∈ {32, 64, 128, k}.
//   w = fp16((q − 8)·s);  Y[m][n] = fp16(Σ_k X[m][k]·w[n][k] + bias[n]), fp32 accumulation.
//
// Two packed layouts of the same weights (docs/formats.md "W4A16"):
//   kGpu: the Marlin-style layout the CUDA kernel (and the simulator) streams — one 16-byte load
//         per lane holds that lane's mma B fragments for 8 n8 tiles of one k16 step; scales
//         reordered so one 16-byte load holds a lane's 8 scales. n padded to 128, k to 64.
//   kCpu: column blocks of 4, 32 k per 16 bytes per column; natural scales [n_pad][groups].
//         n padded to 4, k to 32.
// Pack for the backend that will run the matmul: cpu → kCpu; cuda and sim → kGpu. W4A16Unpack
// inverts either exactly.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "sparq/cpu.h"
#include "sparq/ops.h"
#include "sparq/status.h"

namespace sparq {

enum class W4A16Layout : int32_t { kGpu = 0, kCpu = 1 };

// Pointers + dims a kernel needs; pointers are in the backend's memory space (host for cpu/sim,
// device for cuda). Trivially copyable: the CUDA launcher passes it to the kernel by value.
struct W4A16WeightView {
  const void* qweight = nullptr;     // packed codes (layout below), 16-byte aligned
  const uint16_t* scales = nullptr;  // reordered (kGpu) or [n_pad][groups_pad] (kCpu) fp16 bits
  int64_t n = 0, k = 0;              // logical weight shape W[n][k]
  int64_t n_pad = 0, k_pad = 0;      // padded dims the layout covers (padding: code 8, scale 0)
  int32_t group_size = 0;            // as given: 32 | 64 | 128 | k
  int32_t group_size_eff = 0;        // k rows per scale inside the layout (per-channel → k_pad)
  int64_t groups_pad = 0;            // k_pad / group_size_eff
  W4A16Layout layout = W4A16Layout::kGpu;
};

struct W4A16Packed {
  W4A16Layout layout = W4A16Layout::kGpu;
  int64_t n = 0, k = 0;
  int32_t group_size = 0, group_size_eff = 0;
  int64_t n_pad = 0, k_pad = 0, groups_pad = 0;
  std::vector<uint8_t> qweight;  // n_pad·k_pad/2 bytes
  std::vector<uint8_t> scales;   // n_pad·groups_pad fp16 values, as bytes (little-endian bits)

  size_t bytes() const { return qweight.size() + scales.size(); }
  // A view over this struct's own host buffers (cpu and sim backends).
  W4A16WeightView view() const;
  // A view with the same dims over copies of qweight/scales elsewhere (e.g. device memory).
  W4A16WeightView view(const void* qweight_at, const void* scales_at) const;
};

// True for 32, 64, 128, or group_size == k.
bool W4A16GroupSizeSupported(int64_t k, int64_t group_size);

// RTN per row j and group: s = fp16(max(max_w/7, −min_w/8)) (fp32 math), q = clamp(rne(w/s)+8, 0, 15)
// with fp32 division; s = 0 ⇒ q = 8. codes → [n][k], scales → [n][k/g]. Errors as "w4a16.quantize: …".
Status W4A16QuantizeRtn(const uint16_t* w_f16, int64_t n, int64_t k, int group_size,
                        std::vector<uint8_t>* codes, std::vector<uint16_t>* scales);

// Validates (codes 0..15 → kArgument "codes"; group size → kArgument "groupSize"; k % g → kShape
// "k"; n, k ≥ 1 → kShape "shape") and packs. Errors as "w4a16.fromCodes: …".
Status W4A16Pack(const uint8_t* codes, const uint16_t* scales, int64_t n, int64_t k, int group_size,
                 W4A16Packed* out, W4A16Layout layout = W4A16Layout::kGpu);

// Exact inverse of W4A16Pack (either layout): codes [n][k], scales [n][k/g].
Status W4A16Unpack(const W4A16Packed& packed, std::vector<uint8_t>* codes,
                   std::vector<uint16_t>* scales);

// Y[m][n] on the CPU; weight.layout must be kCpu (kArgument otherwise). x [m][k], bias [n] or null,
// y [m][n], all fp16 bits. Every element of y is written.
Status W4A16MatmulCpu(const W4A16WeightView& weight, const uint16_t* x, const uint16_t* bias,
                      uint16_t* y, int64_t m, cpu::Isa isa, cpu::ThreadPool& pool);

namespace sim {
struct SimOptions;  // sparq/sim.h
// The CUDA kernel (native/cuda/kernels/w4a16.cuh) on the SIMT simulator; weight.layout must be
// kGpu. Fills info (instance, grid, bytes read per buffer) when non-null.
// Runs the instance the CUDA launcher picks on sm_90 (8 pipeline stages).
Status W4A16Matmul(const W4A16WeightView& weight, const uint16_t* x, const uint16_t* bias,
                   uint16_t* y, int64_t m, const SimOptions& options, LaunchInfo* info);
// Same with the pipeline depth forced: 4 = the sm_80/86/89 instances, 8 = sm_90 (tests run both).
// LaunchInfo::bytes_read sums every slab's launch ("qweight", "scales", "x", "bias", ...).
Status W4A16MatmulStages(const W4A16WeightView& weight, const uint16_t* x, const uint16_t* bias,
                         uint16_t* y, int64_t m, int stages, const SimOptions& options, LaunchInfo* info);
}  // namespace sim

}  // namespace sparq
