// native/cpu/int8_cpu.h: per-ISA integer kernels of the LLM.int8() CPU matmul (driver, scalar
// kernel and the fp32 epilogue: int8_cpu.cc). Integer types only, so the ISA files may include it
// (they must not include sparq/int8.h or sparq/half.h: STYLE.md §11).
//
// Two kernels per ISA. Acc computes the contract's exact accumulator acc[i][j] = Σ_k CA[i][k]·CB[j][k]
// over the padded k (the padding is zero in both operands); Outlier runs the outlier term's fma
// chains with the output columns on the SIMD lanes (one IEEE fma per step, in the contract's order,
// so the same bits as std::fma). Everything else of the epilogue (main term, bias, fp16) stays in
// int8_cpu.cc on the int8.h helpers. Every path gives the same int32 accumulators:
//   scalar       int32 multiply-add.
//   avx2         vpmovsxbw + vpmaddwd (never vpmaddubsw: its int16 pair sums saturate).
//   avx512 (BW)  the same on zmm.
//   avx512 VNNI  vpdpbusd is u8×s8, so the activations go in biased, CA + 128 (one xor with 0x80),
//                and acc = Σ (CA+128)·CB − 128·row_sums[j]; mod 2³² arithmetic, exact because the
//                true acc fits an int32 (|acc| ≤ 127·128·k, k ≤ 2¹⁷). Small tiles take the dot form
//                (lanes over k, horizontal sums per tile); tiles of ≥ kPanelMinRows rows take the
//                panel form (lanes over 16 CA rows, W broadcast 4 bytes at a time: no horizontal sums).
//   amx          the VNNI kernel, except that tiles of ≥ kAmxMinRows rows run on AMX-INT8
//                (TDPBSUD: W signed × the same biased panels unsigned, the same correction;
//                int8_cpu_amx.cc), W rows in blocks of 16 (VNNI takes a tile's last cols % 16).
#pragma once
#include <cstddef>
#include <cstdint>

namespace sparq {
struct Status;
struct Int8MatmulArgs;
namespace cpu {
class ThreadPool;
}
}  // namespace sparq

namespace sparq::cpu::int8 {

inline constexpr int64_t kColGroup = 4;  // W rows per kernel column group (= int8::kCpuRowBlock)
inline constexpr int64_t kKStep = 64;    // k_pad is a multiple of this (= int8::kCpuKAlign)
// The dot forms' tile group j reads W rows j + i·q (i = 0..3, q = a quarter of the tile's
// columns); its first row tile prefetches the rows the next group reads: the row after each of its
// own, or with one group (q = 1) the 4 rows after the tile. Bytes from a row to its prefetch.
// (static: internal linkage, so no ISA file defines a weak copy; STYLE.md §11)
static constexpr int64_t NextGroupRowsBytes(int64_t q, int64_t k_pad) { return (q == 1 ? kColGroup : 1) * k_pad; }
inline constexpr int64_t kPanelRows = 16;  // CA rows per VNNI activation panel (one zmm of int32 lanes)
// Tiles with at least this many rows run the VNNI panel kernel when the driver made the panels.
inline constexpr int64_t kPanelMinRows = 16;
// The AMX kernel takes tiles from this many rows (one panel, the rest of its 16 lanes padding): at
// 6–14 rows it ran 0.67–0.90× the VNNI dot form's time, at 4 rows 1.06–1.17× (docs/kernels.md).
inline constexpr int64_t kAmxMinRows = 6;
// Up to this k_pad the panel kernel runs each micro tile over the whole k, in the dot form's tiles
// (~128 KiB of CA and of W). Past it, it blocks k in kPanelKBytes and the driver's tiles span
// kPanelColBlock W rows whatever k is (tying them to 128 KiB of W left 4 rows per tile at
// k = 28672, every panel pair re-read from L2 per 4 rows). The k-blocked form measured level with
// the whole-k one at k = 4096 in the native bench (weights in L3) but 10–20% slower at m = 64 and
// 128 in node with the weights streamed from DRAM, so both stay.
inline constexpr int64_t kPanelWholeKMax = 4096;
inline constexpr int64_t kPanelKBytes = 1024;
inline constexpr int64_t kPanelColBlock = 48;
// Panels per VNNI micro tile (16·kPanelMz CA rows, up to 3 fewer at a tile's end); the driver's
// row blocks are multiples of 16·kPanelMz.
inline constexpr int64_t kPanelMz = 4;

// One tile: acc[r][c] = Σ_{kk < k_pad} ca[r][kk]·cb[c][kk] for r < rows, c < cols.
struct AccTile {
  const int8_t* ca = nullptr;        // CA rows, k_pad bytes apart
  const uint8_t* ca_biased = nullptr;  // CA + 128 as u8, same layout (the VNNI kernel's operand)
  // The same biased rows as panels of kPanelRows (the VNNI panel kernel's operand, or null): panel
  // p holds rows 16p .. 16p + 15 of the tile interleaved by 4 bytes of k, byte b of k group g of
  // row 16p + l at ca_panel[p·16·k_pad + 64g + 4l + b]; rows past `rows` up to the next multiple of
  // 16 are padding (their lanes are computed and dropped).
  const uint8_t* ca_panel = nullptr;
  // The panel kernel's scratch, with ca_panel: cols × (rows rounded up to 16) int32, the sums
  // transposed (acc_t[c][r]) while k blocks add into them.
  int32_t* acc_t = nullptr;
  // W rows per micro tile over a pair of panels: 12, or 8 where the L1d has fewer than 12 ways
  // (the driver asks cpu::L1dWays(); why: int8_cpu_avx512.cc, PanelRows).
  int panel_pair_w_rows = 12;
  const int8_t* cb = nullptr;        // CB rows (kCpu layout), k_pad bytes apart
  const int32_t* row_sums = nullptr;  // row_sums[c] = Σ_k cb[c][kk] (used by the VNNI kernel)
  int64_t k_pad = 0;                 // multiple of kKStep
  int64_t rows = 0;                  // ≥ 1
  int64_t cols = 0;                  // multiple of kColGroup
  int32_t* acc = nullptr;            // acc[r][c], rows ld_acc int32 apart
  int64_t ld_acc = 0;
};
using AccFn = void (*)(const AccTile& t);

// The outlier term of a tile: o[r][c] = 0, then for q = 0 .. n_out−1: o[r][c] = fma(xo[r][q],
// wo[q][c], o[r][c]) — xo the fp32 X values of the outlier columns (increasing), wo their
// dequantized weights (CB·SCB)/127.
struct OutlierTile {
  const float* xo = nullptr;  // [rows][n_out], rows ld_xo apart
  int64_t ld_xo = 0;
  const float* wo = nullptr;  // [n_out][cols], rows ld_wo apart
  int64_t ld_wo = 0;
  int64_t n_out = 0;          // ≥ 1
  int64_t rows = 0, cols = 0;  // cols ≤ ld_wo, any count
  float* o = nullptr;         // [rows][cols], rows ld_o apart
  int64_t ld_o = 0;
};
using OutlierFn = void (*)(const OutlierTile& t);

// The contract's fp32 steps around the integer kernels (sparq/int8.h spells them once, for the
// scalar path; the ISA files repeat them lane-wise with the same IEEE operations in the same order,
// no FMA, and the native test holds every kernel's Y to the reference bit for bit).
inline constexpr float kCodeScale = 127.0f;     // = sparq::int8::kScale
inline constexpr float kCodeScale2 = 16129.0f;  // = sparq::int8::kScale2

// One row of activations given the outlier columns (is_outlier[c] = 1): ca[c] = the code of x[c]
// (0 at outlier columns and in [k, k_pad)); returns rowStat = max |x[c]| over the other columns.
using QuantRowFn = float (*)(const uint16_t* x, const uint8_t* is_outlier, int64_t k, int64_t k_pad, int8_t* ca);

// One row segment of Y: y[c] = fp16((((fp32(acc[c]) · row_stat) · scb[c]) / 127² + o[c]) + bias[c])
// for c < cols; o null adds +0.0f (as the scalar path does), bias null adds nothing.
struct EpilogueRow {
  const int32_t* acc = nullptr;
  float row_stat = 0.0f;
  const float* scb = nullptr;
  const float* o = nullptr;
  const uint16_t* bias = nullptr;  // fp16 bits or null
  uint16_t* y = nullptr;
  int64_t cols = 0;
};
using EpilogueFn = void (*)(const EpilogueRow& e);

// Which integer kernel runs; every one gives the same accumulators.
enum class Kernel : int { kScalar = 0, kAvx2 = 1, kAvx512Bw = 2, kAvx512Vnni = 3, kAmx = 4 };
const char* KernelName(Kernel k);  // "scalar" | "avx2" | "avx512bw" | "avx512vnni" | "amx"
bool KernelSupported(Kernel k);    // this CPU (and OS) runs it
// The kernel cpu_ops::Int8Matmul uses for a context's ISA: avx512 → AMX when the CPU has
// AMX-INT8 (unless SPARQ_INT8_AMX=0), else VNNI when it has AVX512_VNNI, else BW; an ISA the CPU
// lacks falls back to the next one down.
Kernel KernelFor(int isa);  // isa: static_cast<int>(cpu::Isa)

// The whole op with one named kernel (cpu_ops::Int8Matmul calls it with KernelFor(exec.isa); the
// native test forces each kernel through it). An unsupported kernel falls back like KernelFor.
Status Int8MatmulCpu(const Int8MatmulArgs& args, Kernel kernel, ThreadPool& pool);

// How both panel kernels end: acc[r][c] for c < cols from the transposed sums acc_t[c][r]
// (rows_pad int32 apart) of Σ CB·(CA + 128), less 128·row_sums[c], mod 2³² (int8_cpu.cc; plain
// scalar code, so the ISA files call it rather than each compiling a copy).
void AccFromPanelSums(const AccTile& t, int64_t cols, int64_t rows_pad);

namespace scalar {
void Acc(const AccTile& t);
void Outlier(const OutlierTile& t);
float QuantRow(const uint16_t* x, const uint8_t* is_outlier, int64_t k, int64_t k_pad, int8_t* ca);
void Epilogue(const EpilogueRow& e);
}  // namespace scalar
namespace avx2 {
void Acc(const AccTile& t);
void Outlier(const OutlierTile& t);  // AVX2 + FMA
float QuantRow(const uint16_t* x, const uint8_t* is_outlier, int64_t k, int64_t k_pad, int8_t* ca);  // + F16C
void Epilogue(const EpilogueRow& e);  // + F16C
}  // namespace avx2
namespace avx512 {
void AccBw(const AccTile& t);
void AccVnni(const AccTile& t);  // only when the CPU has AVX512_VNNI
// The VNNI kernel's operands for one panel: rows (1..16) of CA, k_pad apart, written biased (CA ^
// 0x80 = CA + 128 as u8) to `biased` (same layout) and as the panel AccTile::ca_panel describes,
// 16·k_pad bytes at `panel`; rows past `rows` get the biased zero code 0x80.
void MakePanel(const int8_t* ca, int64_t rows, int64_t k_pad, uint8_t* biased, uint8_t* panel);
void Outlier(const OutlierTile& t);
float QuantRow(const uint16_t* x, const uint8_t* is_outlier, int64_t k, int64_t k_pad, int8_t* ca);
void Epilogue(const EpilogueRow& e);
}  // namespace avx512
namespace amx {
bool Built();  // this build has the AMX kernel (the compiler knew AMX); the CPU: HasAmxInt8()
// AccPanels on tiles with panels and ≥ kAmxMinRows rows, else avx512::AccVnni.
void Acc(const AccTile& t);
// Needs t.ca_panel, t.acc_t and t.rows ≥ 1: whole 16-row W blocks on tiles, the rest on VNNI.
void AccPanels(const AccTile& t);
}  // namespace amx

}  // namespace sparq::cpu::int8
