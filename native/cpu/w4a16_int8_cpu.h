// native/cpu/w4a16_int8_cpu.h: W4A16 with int8 activations, `{ accuracy: 'int8' }` (driver and the
// scalar kernel: w4a16_int8_cpu.cc). A different function from w4a16.matmul's exact contract — the
// one onnxruntime's MatMulNBits computes at accuracy level 4 — stated in docs/formats.md
// ("w4a16 int8 activations"):
//   per row r and weight group g:  a = max |x[r][k]| over the group (fp32 of the fp16 inputs)
//     a = 0 → xs = 0, xq = 0;  a not finite → xs = NaN, xq = 0 (the row's outputs become NaN);
//     else inv = fp32(127 / a), xs = fp32(a / 127), xq[k] = round-half-even(fp32(x·inv)) ∈ [−127, 127]
//   d = Σ_{k in g} (q − 8)·xq          exact integer (formed as Σ q·xq − 8·Σ xq)
//   acc ← fma(fp32(fp32(d)·xs), fp32(s[n][g]), acc)   g ascending from acc = 0
//   y = fp16(acc + bias)
// Every step is exact or one IEEE rounding, so every kernel gives the same bits.
//
// The kernels read the exact path's kCpu weights in place (w4a16_cpu.h: per column block of 4 and
// 32 k, 64 bytes; byte i of a column's 16 = code(k0+i) | code(k0+16+i) << 4). The threads split the
// columns in quads (kQuadBlocks column blocks = 16 output columns); within its range a kernel groups
// blocks as it streams best (AVX-512: 4 far-apart blocks at a time, 256-bit: 2). The codes (0..15)
// are the unsigned operand of the byte dot products and X's codes the signed one, so neither is
// biased.
#pragma once
#include <cstddef>
#include <cstdint>

namespace sparq::cpu::w4a16_int8 {

inline constexpr int64_t kQuadBlocks = 4;  // column blocks per unit of work
inline constexpr int64_t kQuadCols = 16;   // output columns per unit (kQuadBlocks × 4)
// The largest group (in padded k) the int32 sums hold (= W4A16MatmulInt8Args::kMaxGroupK; this
// header stays free of sparq/w4a16.h for the ISA files).
inline constexpr int64_t kMaxGroupK = int64_t(1) << 20;

struct Problem {
  const uint8_t* qw = nullptr;       // kCpu codes
  const uint16_t* scales = nullptr;  // [n_pad][groups_pad] fp16 bits
  int64_t n = 0, n_pad = 0, k_pad = 0, group_eff = 0, groups_pad = 0;
  int64_t m = 0;
  const int8_t* xq = nullptr;      // [m][k_pad] activation codes, zero past k
  const float* xs = nullptr;       // [m][groups_pad] activation scales
  const int32_t* xsum8 = nullptr;  // [m][groups_pad] 8 · Σ xq over the group
  float* acc = nullptr;            // [m][n_pad] out: acc before bias, columns < n_pad
};

// acc for every row and the columns of quads [q_begin, q_end), i.e. column blocks
// [4·q_begin, min(4·q_end, n_pad / 4)); the last quad of the weight may hold fewer than kQuadBlocks.
using QuadsFn = void (*)(const Problem& p, int64_t q_begin, int64_t q_end);

// Per-thread scratch of at least `floats` floats, 64-byte aligned (the kernels' transposed scale
// tables). The exact path's gemm scratch (w4a16_scratch.cc): the two never run in one call.
float* Scratch(size_t floats);

namespace scalar { void Quads(const Problem& p, int64_t q_begin, int64_t q_end); }
namespace avx2 { void Quads(const Problem& p, int64_t q_begin, int64_t q_end); }
// AVX-VNNI (256-bit vpdpbusd, CPUID.(7,1):EAX[4]). Built(): false where the compiler lacked it.
namespace avxvnni {
void Quads(const Problem& p, int64_t q_begin, int64_t q_end);
bool Built();
}
// AVX512 VNNI (vpdpbusd).
namespace avx512vnni { void Quads(const Problem& p, int64_t q_begin, int64_t q_end); }

// One row of X (fp32, k values) to its codes xq[k_pad] (zero past k), scales xs[groups] and
// 8·Σ xq per group (the function above). The scalar form (w4a16_int8_cpu.cc) and an AVX-512 one
// with the same bits: its vmulps and vcvtps2dq (round half even, the default mode) are the
// scalar's mulss and cvtss2si, lane by lane, and the max and integer sum are exact in any order.
using QuantizeRowFn = void (*)(const float* x, int64_t k, int64_t k_pad, int64_t group, int64_t groups, int8_t* xq,
                               float* xs, int32_t* xsum8);
namespace scalar {
void QuantizeRow(const float* x, int64_t k, int64_t k_pad, int64_t group, int64_t groups, int8_t* xq, float* xs,
                 int32_t* xsum8);
}
namespace avx512vnni {
void QuantizeRow(const float* x, int64_t k, int64_t k_pad, int64_t group, int64_t groups, int8_t* xq, float* xs,
                 int32_t* xsum8);
}
// The quantizer the driver runs with the kernel QuadsFor(isa) picks (the AVX-512 one beside the
// avx512vnni kernel, else the scalar one).
QuantizeRowFn QuantizeRowFor(int isa);

// The kernel the driver runs for `isa` (static_cast<int>(cpu::Isa)) on this CPU, and its name:
// "avx512vnni", "avxvnni", "avx2" or "scalar". An AVX-512 CPU without VNNI runs the 256-bit
// kernels; those take AVX-VNNI where the CPU has it unless SPARQ_W4A16_NO_AVXVNNI is set (read at
// every call, so tests reach both).
QuadsFn QuadsFor(int isa);
const char* KernelNameFor(int isa);

}  // namespace sparq::cpu::w4a16_int8
