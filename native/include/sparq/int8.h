// sparq/int8.h: LLM.int8() — int8 weights × fp16 activations with fp16 outlier-column
// decomposition (DESIGN.md "int8"). Every step is one IEEE fp32 operation, left to right, never
// contracted into an FMA unless written fma; cpu, sim and cuda give identical codes, identical int32
// accumulators and identical Y bits.
//
//   weights      SCB[j] = max_k |W[j,k]|;  CB[j,k] = rne((W·127) / SCB[j])   (SCB = 0 ⇒ row of 0)
//   outliers     O = {c : ∃i |X[i,c]| ≥ threshold}          (threshold 0 ⇒ O = ∅)
//   activations  rowStat[i] = max_{c∉O} |X[i,c]|;  CA[i,c] = rne((X·127) / rowStat[i]) for c ∉ O,
//                0 for c ∈ O (rowStat = 0 ⇒ 0). The max is IEEE's: a NaN among them makes rowStat
//                NaN, so that row's Y is NaN (which NaN may differ between backends), not finite
//   main term    acc = Σ_k CA·CB (exact int32);  t = ((fp32(acc) · rowStat[i]) · SCB[j]) / 16129
//   outlier term o = 0; for c ∈ O increasing: o = fma(X[i,c], (fp32(CB[j,c]) · SCB[j]) / 127, o)
//   output       Y = fp16((t + o) + bias[j]), or fp16(t + o) without bias
//
// The exact helpers below (Int8QuantizeWeightValue, Int8QuantizeActivationValue, Int8MainTerm,
// Int8OutlierWeight, Int8Output) are the contract's fp32 steps, written once for every host
// backend; the CUDA kernels spell the same steps with __f*_rn intrinsics. This header must be
// compiled without FMA contraction (-ffp-contract=off everywhere in this project), and like
// sparq/half.h never included from native/cpu/*_avx2.cc / *_avx512.cc (their inline functions
// would be compiled for that ISA and the linker could keep that copy: STYLE.md §11); the ISA
// kernels compute integer accumulators only, through cpu/int8_cpu.h.
//
// Two packed layouts of the same codes (docs/formats.md "int8"):
//   kCpu: CB row-major [n_pad][k_pad] (n padded to kCpuRowBlock, k to kCpuKAlign), zeros in the
//         padding, plus row_sums[j] = Σ_k CB[j,k] (the +128 correction of the u8×s8 VNNI path).
//   kGpu: mma.m16n8k32 B fragments: per n8 tile t and k64 block b, 512 bytes = 32 lanes × 16
//         bytes, lane (g = lane/4, q = lane%4) holding the words
//           CB[8t+g][64b + 32s + 16h + 4q .. +3] for (s, h) = (0,0), (0,1), (1,0), (1,1)
//         (s: k32 step, h: the fragment's second register), so a warp streaming one n8 tile
//         reads 512 contiguous bytes per k64. n padded to kGpuTileN, k to kGpuKBlock.
// Both carry scb [n_pad] (fp32, 0 in the padding) and row_sums [n_pad].
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "sparq/cpu.h"
#include "sparq/half.h"
#include "sparq/ops.h"
#include "sparq/status.h"

namespace sparq {

namespace int8 {
inline constexpr int64_t kCpuRowBlock = 4;   // kCpu: n padded to this
inline constexpr int64_t kCpuKAlign = 64;    // kCpu: k padded to this (one zmm of codes)
inline constexpr int64_t kGpuTileN = 8;      // kGpu: n padded to one mma n8 tile
inline constexpr int64_t kGpuKBlock = 64;    // kGpu: k padded to two mma k32 steps
inline constexpr int64_t kGpuBlockBytes = 512;  // one (n8 tile, k64 block) of kGpu
// The int32 accumulator is exact while |Σ CA·CB| ≤ 127·128·k < 2³¹ (codes from fromCodes may be
// −128): k ≤ 2¹⁷.
inline constexpr int64_t kMaxK = int64_t(1) << 17;
inline constexpr float kScale = 127.0f;
inline constexpr float kScale2 = 16129.0f;  // 127²

inline int64_t RoundUp(int64_t v, int64_t to) { return (v + to - 1) / to * to; }
// Byte offset of code CB[j][c] in the kGpu layout (k_pad as the layout's).
inline int64_t GpuCodeOffset(int64_t j, int64_t c, int64_t k_pad) {
  const int64_t t = j / 8, g = j % 8, b = c / 64, r = c % 64;
  const int64_t s = r / 32, h = (r % 32) / 16, q = (r % 16) / 4, e = r % 4;
  return (t * (k_pad / 64) + b) * kGpuBlockBytes + (g * 4 + q) * 16 + (s * 2 + h) * 4 + e;
}

// ---- the contract's scalar steps (bit-exact on every host backend) ------------------------------
// rne(v) for |v| ≤ 128, as an int: std::nearbyint under the default round-to-nearest-even mode,
// spelled (v + 1.5·2²³) − 1.5·2²³ — exact for |v| < 2²², ties to even because the constant is
// even — so it compiles to two adds instead of a libm call per code.
inline int RneToInt(float v) {
  constexpr float kRound = 12582912.0f;  // 1.5·2²³: the sum's ulp is 1
  return static_cast<int>((v + kRound) - kRound);
}
// CB[j,k] from w and SCB[j] (scb = 0 ⇒ 0).
inline int8_t Int8QuantizeWeightValue(float w, float scb) {
  if (scb == 0.0f) return 0;
  const float scaled = w * kScale;
  return static_cast<int8_t>(RneToInt(scaled / scb));
}
// CA[i,c] from x and rowStat[i] (row_stat = 0 ⇒ 0); callers pass 0 for outlier columns.
// Non-finite X (not part of the contract) stays defined: a NaN quotient (∞/∞) gives 0, as the
// GPU's cvt.rni does.
inline int8_t Int8QuantizeActivationValue(float x, float row_stat) {
  if (row_stat == 0.0f) return 0;
  const float scaled = x * kScale;
  const float q = scaled / row_stat;
  if (!(q >= -128.0f && q <= 127.0f)) return 0;
  return static_cast<int8_t>(RneToInt(q));
}
inline float Int8MainTerm(int32_t acc, float row_stat, float scb) {
  const float a = static_cast<float>(acc);
  const float b = a * row_stat;
  const float c = b * scb;
  return c / kScale2;
}
// The dequantized weight of an outlier column: (fp32(CB) · SCB) / 127.
inline float Int8OutlierWeight(int8_t cb, float scb) {
  const float p = static_cast<float>(cb) * scb;
  return p / kScale;
}
// fp16 bits of (t + o) + bias (has_bias false: of t + o).
inline uint16_t Int8Output(float t, float o, bool has_bias, uint16_t bias_bits) {
  float v = t + o;
  if (has_bias) v = v + F16BitsToF32(bias_bits);
  return F32ToF16Bits(v);
}
}  // namespace int8

using Int8Layout = PackedLayout;  // kGpu | kCpu (sparq/ops.h)

// Pointers + dims a kernel needs, in the backend's memory space. Trivially copyable.
struct Int8WeightView {
  const int8_t* codes = nullptr;      // kCpu: [n_pad][k_pad]; kGpu: fragment blocks (above)
  const float* scb = nullptr;         // [n_pad], 0 in the padding
  const int32_t* row_sums = nullptr;  // [n_pad]: Σ_k CB[j,k]
  int64_t n = 0, k = 0;               // logical W[n][k]
  int64_t n_pad = 0, k_pad = 0;
  Int8Layout layout = Int8Layout::kGpu;
  int32_t reserved = 0;
};
SPARQ_ASSERT_ABI_LAYOUT(Int8WeightView, 64);
static_assert(offsetof(Int8WeightView, n) == 24 && offsetof(Int8WeightView, k_pad) == 48 &&
                  offsetof(Int8WeightView, layout) == 56,
              "Int8WeightView layout");

// Y[m][n] = the contract above; outlier_cols[0] = |O|, outlier_cols[1 .. |O|] = O increasing
// (outlier_cols has 1 + k int32 elements; those past |O| are left as they were).
struct Int8MatmulArgs {
  static constexpr const char* kOpName = "int8.matmul";
  static constexpr int64_t kMaxM = kMaxIndexDim, kMaxN = kMaxIndexDim, kMaxK = int8::kMaxK;

  Int8WeightView weight;
  const uint16_t* x = nullptr;     // [m][k] fp16 bits
  const uint16_t* bias = nullptr;  // [n] or null
  uint16_t* y = nullptr;           // [m][n]
  int32_t* outlier_cols = nullptr;  // [1 + k]
  int64_t m = 0;
  float threshold = 0.0f;          // finite, ≥ 0 (the binding checks); 0 ⇒ no outlier columns
  int32_t reserved = 0;
};
SPARQ_ASSERT_ABI_LAYOUT(Int8MatmulArgs, 112);
static_assert(offsetof(Int8MatmulArgs, x) == 64 && offsetof(Int8MatmulArgs, outlier_cols) == 88 &&
                  offsetof(Int8MatmulArgs, m) == 96 && offsetof(Int8MatmulArgs, threshold) == 104,
              "Int8MatmulArgs layout");

struct Int8Packed {
  Int8Layout layout = Int8Layout::kGpu;
  int64_t n = 0, k = 0, n_pad = 0, k_pad = 0;
  std::vector<int8_t> codes;      // layout's bytes
  std::vector<float> scb;         // [n_pad]
  std::vector<int32_t> row_sums;  // [n_pad]

  size_t bytes() const { return codes.size() + scb.size() * 4 + row_sums.size() * 4; }
  Int8WeightView view() const;  // over this struct's own host buffers (cpu and sim backends)
  Int8WeightView view(const void* codes_at, const void* scb_at, const void* row_sums_at) const;
};

// Padded dims of a layout.
void Int8PaddedDims(Int8Layout layout, int64_t n, int64_t k, int64_t* n_pad, int64_t* k_pad);

// The one check of an int8 weight's shape: 1 ≤ n ≤ kMaxIndexDim, 1 ≤ k ≤ int8::kMaxK, else kShape
// "shape" ("<op>: shape must be …").
Status Int8CheckShape(const char* op, int64_t n, int64_t k);

// The contract's weight quantizer: codes [n][k], scb [n]. Non-finite w → kArgument "w" naming the
// first one. Rows on up to `threads` threads (the same bytes for any count).
Status Int8QuantizeWeights(const uint16_t* w_f16, int64_t n, int64_t k, std::vector<int8_t>* codes,
                           std::vector<float>* scb, const char* op = "int8.quantize", int threads = 1);

// Packs codes [n][k] (any int8) and scb [n] (finite, ≥ 0, else kArgument "scb" naming the first)
// into `layout`. O(n·k) on up to `threads` threads (the same bytes for any count): callers run it
// off the JS thread.
Status Int8Pack(const int8_t* codes, const float* scb, int64_t n, int64_t k, Int8Layout layout, Int8Packed* out,
                const char* op = "int8.fromCodes", int threads = 1);

// Exact inverse of Int8Pack (either layout): codes [n][k], scb [n]; rows on up to `threads` threads.
Status Int8Unpack(const Int8Packed& packed, std::vector<int8_t>* codes, std::vector<float>* scb, int threads = 1);

// The contract's activation step on the host (the cpu backend's; the CUDA kernels do their own):
// O into outlier_cols ([1 + k]), rowStat [m], CA [m][ldca] (columns k..ldca−1 set to 0).
// Int8OutlierColumns + Int8QuantizeActivationRow for every row.
void Int8QuantizeActivations(const uint16_t* x, int64_t m, int64_t k, float threshold, int8_t* ca, int64_t ldca,
                             float* row_stat, int32_t* outlier_cols);
// Its two steps. O for X [m][k]: is_outlier [k] (1 = outlier column), outlier_cols [1 + k] as
// above; returns |O|.
int32_t Int8OutlierColumns(const uint16_t* x, int64_t m, int64_t k, float threshold, uint8_t* is_outlier,
                           int32_t* outlier_cols);
// One row x [k] given O: CA [ldca] (0 at outlier columns and past k); returns the row's rowStat
// (max |x| over the other columns; NaN when one of them is NaN, and then every code is 0).
float Int8QuantizeActivationRow(const uint16_t* x, const uint8_t* is_outlier, int64_t k, int8_t* ca, int64_t ldca);

}  // namespace sparq
