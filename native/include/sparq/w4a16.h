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

using W4A16Layout = PackedLayout;  // kGpu | kCpu (sparq/ops.h)

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
SPARQ_ASSERT_ABI_LAYOUT(W4A16WeightView, 72);
static_assert(offsetof(W4A16WeightView, n) == 16 && offsetof(W4A16WeightView, group_size) == 48 &&
                  offsetof(W4A16WeightView, groups_pad) == 56 && offsetof(W4A16WeightView, layout) == 64,
              "W4A16WeightView layout");

// Y[m][n] = fp16(X[m][k] · dequant(W)ᵀ + bias[n]). weight.layout is the running backend's
// (Backend::WeightLayout): kCpu on cpu, kGpu on sim and cuda.
struct W4A16MatmulArgs {
  static constexpr const char* kOpName = "w4a16.matmul";
  static constexpr int64_t kMaxM = kMaxIndexDim, kMaxN = kMaxIndexDim, kMaxK = kMaxIndexDim;

  W4A16WeightView weight;
  const uint16_t* x = nullptr;     // [m][k] fp16 bits
  const uint16_t* bias = nullptr;  // [n] or null
  uint16_t* y = nullptr;           // [m][n]
  int64_t m = 0;
};
SPARQ_ASSERT_ABI_LAYOUT(W4A16MatmulArgs, 104);
static_assert(offsetof(W4A16MatmulArgs, x) == 72 && offsetof(W4A16MatmulArgs, m) == 96, "W4A16MatmulArgs layout");

// w4a16.matmul(w, x, { accuracy: 'int8' }): the same operands, a different function — X quantized
// to int8 per row and weight group, integer dot products (cpu/w4a16_int8_cpu.h states it step by
// step; docs/formats.md). Opt-in only; the cpu backend runs it, the others answer kBackend.
struct W4A16MatmulInt8Args : W4A16MatmulArgs {
  static constexpr const char* kOpName = "w4a16.matmul (accuracy 'int8')";
  static constexpr const char* kUnsupportedHint = "a cpu-only mode: leave accuracy out here, or run this op on a cpu context";
  // The largest group (padded k per scale) its int32 sums hold: |Σ q·xq| ≤ 15·127·k < 2^31 needs
  // k < 1.127M. Only per-channel weights reach it; larger ones are refused (kArgument, "accuracy").
  static constexpr int64_t kMaxGroupK = int64_t(1) << 20;
};
SPARQ_ASSERT_ABI_LAYOUT(W4A16MatmulInt8Args, 104);

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

// The one check of a W4A16 weight's shape and group size, used by the binding (synchronously, for
// quantize and fromCodes), by W4A16QuantizeRtn and by W4A16Pack; `op` names the caller in the
// message. n, k ≥ 1 and ≤ kMaxIndexDim → else kShape "shape"; group size → kArgument "groupSize";
// k % g → kShape "shape". group_size_given false: the message says the default was used and how to
// pass one scale per row instead.
Status W4A16CheckShape(const char* op, int64_t n, int64_t k, int64_t group_size, bool group_size_given = true);

// The default group size for k: 128, or k when k < 128.
int W4A16DefaultGroupSize(int64_t k);

// RTN per row j and group: s = fp16(max(max_w/7, −min_w/8)) (fp32 math), q = clamp(rne(w/s)+8, 0, 15)
// with fp32 division; s = 0 ⇒ q = 8. codes → [n][k], scales → [n][k/g]. Rows on up to `threads`
// threads (the same bytes for any count). A non-finite weight is a kArgument error naming the
// first (as int8.quantize does). Errors as "<op>: …".
Status W4A16QuantizeRtn(const uint16_t* w_f16, int64_t n, int64_t k, int group_size,
                        std::vector<uint8_t>* codes, std::vector<uint16_t>* scales,
                        const char* op = "w4a16.quantize", int threads = 1);

// Validates (W4A16CheckShape; codes 0..15 → kArgument "codes", naming the first bad one) and packs.
// The code scan is O(n·k): callers run it off the JS thread; the packing runs on up to `threads`
// threads (the same bytes for any count). Scales are taken as given (any fp16 bits: w =
// fp16((q − 8)·s) is defined for each). Errors as "<op>: …".
Status W4A16Pack(const uint8_t* codes, const uint16_t* scales, int64_t n, int64_t k, int group_size,
                 W4A16Packed* out, W4A16Layout layout = W4A16Layout::kGpu, const char* op = "w4a16.fromCodes",
                 int threads = 1);

// Exact inverse of W4A16Pack (either layout): codes [n][k], scales [n][k/g]; rows on up to
// `threads` threads.
Status W4A16Unpack(const W4A16Packed& packed, std::vector<uint8_t>* codes,
                   std::vector<uint16_t>* scales, int threads = 1);

// Y[m][n] on the CPU; weight.layout must be kCpu (kArgument otherwise). x [m][k], bias [n] or null,
// y [m][n], all fp16 bits. Every element of y is written.
Status W4A16MatmulCpu(const W4A16WeightView& weight, const uint16_t* x, const uint16_t* bias,
                      uint16_t* y, int64_t m, cpu::Isa isa, cpu::ThreadPool& pool);

// The int8-activation function of W4A16MatmulInt8Args on the CPU, same operands and rules.
Status W4A16MatmulInt8Cpu(const W4A16WeightView& weight, const uint16_t* x, const uint16_t* bias,
                          uint16_t* y, int64_t m, cpu::Isa isa, cpu::ThreadPool& pool);

namespace sim {
struct SimOptions;  // sparq/sim.h
// The sim op entry (sim::W4A16Matmul) with the pipeline depth forced: 4 = the sm_80/86/89
// instances, 8 = sm_90 (what W4A16Matmul runs). Tests run both. bytes_read sums every launch.
Status W4A16MatmulStages(const W4A16MatmulArgs& args, int stages, const SimOptions& options, LaunchInfo* info);
}  // namespace sim

}  // namespace sparq
