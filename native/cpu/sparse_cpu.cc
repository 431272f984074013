// native/cpu/sparse_cpu.cc: Y[m,n] = fp16(Σ_k X[m,k]·W[n,k] + bias[n]) on the CPU from either
// sparse format (sparq/sparse.h), fp32 accumulation (driver + the scalar kernels; layout and paths:
// sparse_cpu.h). Threads split 64-row slabs of W (and row blocks of X when there are few slabs);
// k is never split, so every Y element is summed by one thread in one fixed order: the same bits
// for any thread count.
#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>

#include "cpu/aligned_array.h"
#include "cpu/cpu_switches.h"
#include "cpu/isa_kernels.h"
#include "cpu/row_blocks.h"
#include "cpu/sparse_cpu.h"
#include "sparq/cpu_ops.h"
#include "sparq/sparse.h"

namespace sparq::cpu::sparse {
namespace scalar {
namespace {

using sparq::sparse::BitmapBlockCol;
using sparq::sparse::BitmapBlockRow;

// c[i][row][l] += x[i][kk]·dec over the tile's 64 blocks, every position (zeros included), in the
// block order sparse_cpu.h fixes.
void AccumulateTile(const Problem& p, int64_t kt, int64_t i_begin, int64_t i_end, const float* dec, float* c) {
  for (int64_t i = i_begin; i < i_end; ++i) {
    const float* x = p.x + i * p.k_pad + kt * kTileDim;
    float* ci = c + (i - i_begin) * kSlabCFloats;
    for (int b = 0; b < sparq::sparse::kBlocksPerTile; ++b) {
      const float* xb = x + BitmapBlockCol(b);
      for (int r = 0; r < 8; ++r) {
        float* cr = ci + (BitmapBlockRow(b) + r) * kRowLanes;
        const float* w = dec + b * kBlockElems + r * 8;
        for (int l = 0; l < kRowLanes; ++l) cr[l] += xb[l] * w[l];
      }
    }
  }
}

void BitmapSlab(const Problem& p, int64_t slab, int64_t i_begin, int64_t i_end, float* c, const Scratch& s) {
  for (int64_t kt = 0; kt < p.k_tiles; ++kt) {
    const int64_t t = slab * p.k_tiles + kt;
    const uint64_t* bm = p.bitmaps + t * sparq::sparse::kBlocksPerTile;
    const uint16_t* v = p.values + p.tile_offsets[t];
    for (int b = 0; b < sparq::sparse::kBlocksPerTile; ++b)
      for (int bit = 0; bit < kBlockElems; ++bit)
        s.dec[b * kBlockElems + bit] = (bm[b] >> bit) & 1 ? cpu::scalar::F16ToF32One(*v++) : 0.0f;
    AccumulateTile(p, kt, i_begin, i_end, s.dec, c);
  }
  std::memset(s.dec, 0, sizeof(float) * kDecElems);
}

void TiledCslSlab(const Problem& p, int64_t slab, int64_t i_begin, int64_t i_end, float* c, const Scratch& s) {
  constexpr uint32_t kLocationMask = kDecElems - 1;  // a location names one of 4096 slots
  for (int64_t kt = 0; kt < p.k_tiles; ++kt) {
    const int64_t t = slab * p.k_tiles + kt;
    const uint32_t* w0 = p.words + p.tile_offsets[t];
    const uint32_t* w1 = p.words + p.tile_offsets[t + 1];
    for (const uint32_t* w = w0; w < w1; ++w)
      s.dec[p.csl_slot[(*w >> 16) & kLocationMask]] = cpu::scalar::F16ToF32One(uint16_t(*w));
    AccumulateTile(p, kt, i_begin, i_end, s.dec, c);
    for (const uint32_t* w = w0; w < w1; ++w) s.dec[p.csl_slot[(*w >> 16) & kLocationMask]] = 0.0f;
  }
}

}  // namespace

const KernelSet& Kernels() {
  static const KernelSet set{&BitmapSlab, &TiledCslSlab};
  return set;
}
}  // namespace scalar

void AddRowsAcc(const float* acc, int64_t rows, float* c) {
  constexpr int64_t kXLanes = 16, kRowAccFloats = int64_t(kRowLanes) * kXLanes;
  for (int64_t i = 0; i < rows; ++i) {
    const float* a = acc + (i / kXLanes) * kRowsAccBlockFloats + i % kXLanes;
    float* ci = c + i * kSlabCFloats;
    for (int row = 0; row < kTileDim; ++row)
      for (int l = 0; l < kRowLanes; ++l) ci[row * kRowLanes + l] += a[row * kRowAccFloats + l * kXLanes];
  }
}

}  // namespace sparq::cpu::sparse

namespace sparq {
namespace {

namespace cs = cpu::sparse;

// The AVX-512 bitmap kernel expands blocks from fp32 (vexpandps) or, where the CPU has VBMI2, from
// fp16 (vpexpandw): the same bits. SPARQ_SPARSE_EXPAND=word|float forces one (read at every call,
// so tests reach both; "word" without VBMI2 stays on fp32). Unset, the fp16 expand runs where it
// was measured faster (docs/kernels.md), for the direct path's row counts per work unit:
//   AMD family 19h (Zen 4; with VBMI2 no Zen 3 gets here): up to 6 rows (with more, each tile is
//     expanded once for all of them and it was 0–16% slower);
//   AMD family 1Ah (Zen 5): up to 6 rows, the whole direct path (2026-12-03, 4096², 2 threads,
//     with the tile prefetch: m = 1 0.43 against 0.53 ms at 80%, 0.50 against 0.66 at 50%; m = 2–4
//     4–25% faster; m = 6 level; since the kernels went out of line, 2026-12-06, alternated in
//     one process: m = 5 0.82–0.95× the fp32 expand's time at 30–80%, m = 6 0.88–0.97× at 30–60%
//     and 1.02–1.03× at 80%). Before the tile prefetch it was the slower one (1.9× at m = 1, 50%): its
//     memory-form expands waited on DRAM;
//   Intel: one row (11–20% faster at m = 1 on a Sapphire Rapids-class Xeon, level at 2–4 rows;
//     measured before the tile prefetch, which helps the fp16 expand most: not re-measured).
using Expand = cpu::CpuSwitches::SparseExpand;

bool UseWordExpand(Expand forced, int64_t rows_per_unit) {
  if (!cpu::HasAvx512Vbmi2()) return false;
  if (forced == Expand::kWord || forced == Expand::kBits) return true;
  if (forced == Expand::kFloat) return false;
  constexpr int kAmdZen4Family = 0x19, kAmdZen5Family = 0x1A;
  if (cpu::IsIntelCpu()) return rows_per_unit == 1;
  if (!cpu::IsAmdCpu()) return false;
  const int family = cpu::CpuFamily();
  return (family == kAmdZen4Family || family == kAmdZen5Family) && rows_per_unit <= cs::kAvx512DirectMaxRows;
}

// Where the fp16 expand runs, whether it widens by placing bits (sparse_cpu_avx512vbmi2.cc) rather
// than by vcvtph2ps: only where that is exact — a weight known to hold no Inf or NaN (its cpu rows
// header counts them; a weight without the header keeps vcvtph2ps) and MXCSR.DAZ clear on this
// thread (the pool's threads take the MXCSR of the thread that made them) — and, unset, on the
// core it was measured faster on: AMD Zen 5 (docs/kernels.md "Widening by placing bits").
// SPARQ_SPARSE_EXPAND=bits forces it where it is exact, `word` the conversion.
bool UseBitsWiden(Expand forced, const SparseWeightView& w) {
  if (forced == Expand::kWord) return false;
  constexpr unsigned kMxcsrDaz = 1u << 6;
  const bool exact = w.cpu_rows != nullptr && sparse::CpuRowsAt(w.cpu_rows).header->nonfinite == 0 &&
                     (_mm_getcsr() & kMxcsrDaz) == 0;
  if (!exact) return false;
  if (forced == Expand::kBits) return true;
  constexpr int kAmdZen5Family = 0x1A;
  return cpu::IsAmdCpu() && cpu::CpuFamily() == kAmdZen5Family;
}

const cs::KernelSet& Avx512WordExpandKernels() {
  static const cs::KernelSet set{cs::avx512vbmi2::BitmapSlabFn(), cs::avx512::Kernels().tiled_csl};
  return set;
}

const cs::KernelSet& Avx512BitsWidenKernels() {
  static const cs::KernelSet set{cs::avx512vbmi2::BitmapBitsSlabFn(), cs::avx512::Kernels().tiled_csl, true};
  return set;
}

// The bits widening's build for one X row per unit places the halves by unpacks (one vector of a
// row's columns 0–3, one of 4–7; X as two vectors a block): in L2 (256×4096 at 50%, one thread)
// 0.052 → 0.048 ms at m = 1, but 3–9% slower at 2–6 rows (a second X load per row and block);
// from DRAM at m = 1 (4096², 2 threads, builds alternated) 0.462–0.464 → 0.442–0.451 ms.
const cs::KernelSet& Avx512BitsWidenOneRowKernels() {
  static const cs::KernelSet set{cs::avx512vbmi2::BitmapBitsOneRowSlabFn(), cs::avx512::Kernels().tiled_csl, true};
  return set;
}

const cs::KernelSet& KernelsFor(cpu::Isa isa, const SparseWeightView& w, int64_t rows_per_unit) {
  if (isa == cpu::Isa::kAvx512 && cpu::IsaSupported(cpu::Isa::kAvx512)) {
    const Expand forced = cpu::CurrentCpuSwitches().sparse_expand;
    if (!UseWordExpand(forced, rows_per_unit)) return cs::avx512::Kernels();
    if (!UseBitsWiden(forced, w)) return Avx512WordExpandKernels();
    return rows_per_unit == 1 ? Avx512BitsWidenOneRowKernels() : Avx512BitsWidenKernels();
  }
  if (isa != cpu::Isa::kScalar && cpu::IsaSupported(cpu::Isa::kAvx2)) return cs::avx2::Kernels();
  return cs::scalar::Kernels();
}

// The zero-skipping kernels (sparse_cpu.h): the rows kernel, over the weight's cpu lanes
// (avx512lanerows) where it has them, else over its row lists (avx512rows / avx2rows; either
// format); avx512lanes over the lanes; avx512skip over the bitmap format (AVX-512 only); all only
// for a finite X. SPARQ_SPARSE_SKIP=off|on|rows|lists|lanes|bitmap forces (read at every call, so
// tests reach each): off = the expanding kernels; on = the rows kernel where the weight has lanes
// or lists, else bitmap skip; rows / lists / lanes / bitmap = that kernel where it can run (any m;
// `lists` the rows kernel over the lists even where there are lanes), else the expanding ones.
// Unset, the lanes kernel runs at up to 6 X rows per unit (8 from 88% sparsity) on weights with
// lanes at least 68% sparse, on a core it was measured faster on (sparq/sparse.h LanesPreferred);
// otherwise the rows kernel runs up to RowsMaxDensity stored (which depends on the X rows per
// unit; tiled-CSL weights far wider, TiledCslTakesRows), and without lanes or lists the bitmap skip
// kernel where it was measured faster than the buffered path (4096², Zen 4, 2 threads): its cost
// follows the stored weights (~5 cycles each per 16 X rows: an accumulator load and store per
// weight) where theirs follows all weights, so it needs few stored weights: at 16 or more X rows
// per unit from 70% sparsity, at 7–15 rows from 85%; never on the direct path (≤ 6 rows).
// kLaneRows and kListRows: the rows kernel over the lanes or over the lists.
enum class Skip { kNone, kBitmap, kLaneRows, kListRows, kLanes };

// Whether the kernel the driver runs for `skip` from `set` is a bitmap kernel that reads X ·
// kBitsXScale (KernelSet::bitmap_scaled_x).
bool ReadsScaledX(Skip skip, SparseFormat format, const cs::KernelSet& set) {
  return skip == Skip::kNone && format == SparseFormat::kBitmap && set.bitmap_scaled_x;
}

// The lanes kernel's rows per work unit (weights with lanes: ≥ 68% sparse), where it beat the
// driver's other choices (4096², 2 threads, Zen 5, alternated in one process on cold weight copies,
// 2026-12-04; docs/kernels.md): 1–6 rows from 70% (m = 4 at 80%: 0.63 against 1.25 ms; level at
// m = 3, 70%); 7–8 rows only where very sparse (m = 8 at 80%: 1.09 against the rows kernel's 0.90;
// at 90% 0.59 against 0.67 in a warmer loop).
constexpr double kLanesDecodeMaxDensity = 0.32;  // from 68% sparse (65% was mixed, 60% level, 50% slower)
constexpr int64_t kLanesMaxRows = 6;
constexpr int64_t kLanesWideMaxRows = 8;
constexpr double kLanesWideMaxDensity = 0.12;
// Up to this many X rows the rows kernel reads X from 8-float columns (Problem::xt_lanes).
constexpr int64_t kRowsNarrowXRows = 8;
// Where the rows kernel beats the expanding ones (4096², Zen 4, one thread, the two alternated in
// one process; docs/kernels.md); a negative value: never. 7–16 X rows a unit (2026-12-01, after the
// permute change): AVX-512 faster from 30% sparsity (0.72–0.93×; at 20% level, m = 8: 0.97×), AVX2
// from 40% (0.78–0.87×). More rows: AVX-512 from 40% (30%, m = 64: 1.10×; 40%: 0.94×), AVX2 from
// 60% (50%, m = 64: 1.17×; 60%: 0.74–0.78×). 3–6 rows (2026-12-02, 8-float xt columns), AVX-512:
// m = 6 from 60% (0.89×; 50%: 0.93–1.00×), m = 5 from 70% (0.94×; 60%: 1.01×), m = 3–4 at 90%
// (0.63–0.80×; 70%: 1.2–1.4×); AVX2: m = 4–6 from 30% (0.85–0.93×), m = 3 from 50% (0.93×; 40%:
// 1.03×). 1–2 rows: the direct path is 2× faster at 50%.
double RowsMaxDensity(bool avx512, int64_t rows_per_unit) {
  const bool one_block = rows_per_unit <= cpu::kRowBlockRows;
  if (rows_per_unit >= 7) {
    if (avx512) return one_block ? 0.70 : 0.60;
    return one_block ? 0.60 : 0.40;
  }
  if (avx512) return rows_per_unit == 6 ? 0.40 : rows_per_unit == 5 ? 0.30 : rows_per_unit >= 3 ? 0.10 : -1.0;
  return rows_per_unit >= 4 ? 0.60 : rows_per_unit == 3 ? 0.50 : -1.0;
}
// Tiled-CSL's own CPU kernel scatters every word of a tile into an fp32 tile and back (~2 cycles a
// word each way, whatever m) before a dense pass over the tile, so against it the rows kernel wins
// far wider than against the bitmap kernels: 4096², AVX-512, 2 threads, Zen 5 (2026-12-04,
// `bench/sparse.js --formats tiled-csl`, SPARQ_SPARSE_SKIP=off → rows), ms: 10% sparse m = 1 / 16 /
// 64 6.87 → 1.95, 11.5 → 2.54, 14.7 → 18.3; 30% 5.31 → 1.69, 6.81 → 2.18, 12.7 → 11.5; 50% m = 1 /
// 4 / 16 3.76 → 1.34, 4.19 → 1.37, 5.59 → 1.81; 60% 3.07 → 1.16, 3.50 → 1.76, 5.12 → 2.37. AVX2
// (SPARQ_CPU_ISA=avx2, same box): 10% m = 1 / 16 / 64 7.34 → 2.06, 11.9 → 4.53, 18.7 → 26.9; 50%
// 4.03 → 1.41, 8.43 → 2.88, 15.7 → 12.5 (30% not measured there: ≤ 50% stored past 16 rows).
bool TiledCslTakesRows(bool avx512, int64_t rows_per_unit, double density) {
  const double wide_max_density = avx512 ? 0.70 : 0.50;
  return rows_per_unit <= cpu::kRowBlockRows || density <= wide_max_density;
}
constexpr double kSkipMaxDensity16Rows = 0.32;  // 70% sparse masks land on either side of 0.30
constexpr double kSkipMaxDensityFewRows = 0.15;
Skip ChooseSkip(cpu::Isa isa, const SparseWeightView& w, int64_t rows_per_unit, double density, const float* x,
                int64_t count) {
  const bool avx512 = isa == cpu::Isa::kAvx512 && cpu::IsaSupported(cpu::Isa::kAvx512);
  const bool avx2 = !avx512 && isa == cpu::Isa::kAvx2 && cpu::IsaSupported(cpu::Isa::kAvx2);
  if (!avx512 && !avx2) return Skip::kNone;
  const bool bitmap = avx512 && w.format == SparseFormat::kBitmap;
  const sparse::CpuRows r = w.cpu_rows != nullptr ? sparse::CpuRowsAt(w.cpu_rows) : sparse::CpuRows{};
  const bool lists = r.header != nullptr && r.has_lists(), lanes = avx512 && r.header != nullptr && r.has_lanes();
  const bool lanes_kernel = lanes && cpu::HasAvx512Vbmi();  // its gather is vpermt2b
  // The rows kernel reads the lanes where the weight has them (AVX-512 only), else the lists; unforced,
  // a weight with both (tests build them) takes the lists where sparse.encode would have built only
  // them (sparq/sparse.h kLanesMaxDensity: there the lists one was the faster).
  const Skip rows = lanes ? Skip::kLaneRows : lists ? Skip::kListRows : Skip::kNone;
  const Skip rows_unforced = lists && (!lanes || density > sparse::kLanesMaxDensity) ? Skip::kListRows : rows;
  using Forced = cpu::CpuSwitches::SparseSkip;
  const Forced forced = cpu::CurrentCpuSwitches().sparse_skip;
  Skip want = Skip::kNone;
  if (forced == Forced::kOff) return Skip::kNone;
  if (forced == Forced::kOn) want = rows != Skip::kNone ? rows : bitmap ? Skip::kBitmap : Skip::kNone;
  else if (forced == Forced::kRows) want = rows;
  else if (forced == Forced::kLists) want = lists ? Skip::kListRows : Skip::kNone;
  else if (forced == Forced::kBitmap) want = bitmap ? Skip::kBitmap : Skip::kNone;
  else if (forced == Forced::kLanes) want = lanes_kernel ? Skip::kLanes : Skip::kNone;
  else if (lanes_kernel && sparse::LanesPreferred() && density <= kLanesDecodeMaxDensity &&
           rows_per_unit <= (density <= kLanesWideMaxDensity ? kLanesWideMaxRows : kLanesMaxRows))
    want = Skip::kLanes;
  else if (rows != Skip::kNone && (density <= RowsMaxDensity(avx512, rows_per_unit) ||
                                    (w.format == SparseFormat::kTiledCsl && TiledCslTakesRows(avx512, rows_per_unit, density))))
    want = rows_unforced;
  else if (bitmap && rows_per_unit > cs::kAvx512DirectMaxRows &&
           density <= (rows_per_unit >= 16 ? kSkipMaxDensity16Rows : kSkipMaxDensityFewRows))
    want = Skip::kBitmap;
  if (want == Skip::kNone) return want;
  for (int64_t i = 0; i < count; ++i) {  // Inf or NaN: exponent bits all set
    uint32_t bits;
    std::memcpy(&bits, x + i, 4);
    if ((bits & 0x7f800000u) == 0x7f800000u) return Skip::kNone;
  }
  return want;
}

// slot[location] = the dec index (block·64 + bit) of the in-tile element a tiled-CSL location names.
const uint16_t* TiledCslSlots() {
  static const struct Table {
    uint16_t slot[cs::kDecElems];
    Table() {
      for (int row = 0; row < cs::kTileDim; ++row)
        for (int col = 0; col < cs::kTileDim; ++col)
          slot[sparse::TiledCslLocation(row, col)] =
              uint16_t(sparse::BitmapBlockOf(row, col) * cs::kBlockElems + sparse::BitmapBitOf(row, col));
    }
  } table;
  return table.slot;
}

// Rows of X per work unit: all of m unless the slabs alone cannot keep the threads busy. Capped so
// one unit's c (rows × 2 KB) stays in L2.
constexpr int64_t kMaxRowsPerUnit = 64;
constexpr int64_t kMinRowsPerUnit = 4;
int64_t RowsPerUnit(int64_t m, int64_t slabs, int threads) {
  int64_t parts = 1;
  if (slabs < 2 * int64_t(threads)) parts = (2 * int64_t(threads) + slabs - 1) / slabs;
  int64_t rows = (m + parts - 1) / parts;
  rows = std::max(rows, std::min(m, kMinRowsPerUnit));
  return std::min(rows, kMaxRowsPerUnit);
}

// The lanes kernel's X tables (Problem::x_lanes) from x [m][k] fp16 bits: per X row, lanes chunk q
// (2048 columns) and class c, the 256 values x[q·2048 + 8·j + c] (j = 0..255, zero past k) as
// their 256 low bytes then their 256 high bytes; [m][cols·2] bytes, cols = lane_chunks·2048.
cpu::AlignedArray<uint8_t> LanesX(const uint16_t* x, int64_t m, int64_t k, int64_t cols, cpu::ThreadPool& pool) {
  using sparse::kLanesChunkK;
  using sparse::kRowsClasses;
  constexpr int64_t kClassCols = kLanesChunkK / kRowsClasses;
  cpu::AlignedArray<uint8_t> out = cpu::AllocAligned<uint8_t>(m * cols * 2);
  pool.ParallelFor(m, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const uint16_t* xr = x + r * k;
      uint8_t* o = out.get() + r * cols * 2;
      for (int64_t q = 0; q < cols; q += kLanesChunkK)
        for (int64_t c = 0; c < kRowsClasses; ++c, o += 2 * kClassCols)
          for (int64_t j = 0; j < kClassCols; ++j) {
            const int64_t kk = q + kRowsClasses * j + c;
            const uint16_t v = kk < k ? xr[kk] : uint16_t(0);
            o[j] = uint8_t(v);
            o[kClassCols + j] = uint8_t(v >> 8);
          }
    }
  });
  return out;
}

// Sum of one c row's 8 lanes: one fixed tree for every output.
float SumLanes(const float* l) { return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7])); }

}  // namespace

Status SparseMatmulCpu(const SparseWeightView& w, const uint16_t* x, const uint16_t* bias, uint16_t* y,
                       int64_t m, cpu::Isa isa, cpu::ThreadPool& pool) {
  constexpr const char* kOp = SparseMatmulArgs::kOpName;
  if (w.format != SparseFormat::kBitmap && w.format != SparseFormat::kTiledCsl)
    return Status::Error(StatusCode::kArgument,
                         std::string(kOp) + ": weight must be encoded as bitmap or tiled-csl, got format " +
                             std::to_string(int(w.format)),
                         "weight");
  if (m <= 0 || w.n <= 0 || w.k <= 0) return Status::Ok();
  try {
    const int64_t slabs = w.n_pad / cs::kTileDim, k_tiles = w.k_pad / cs::kTileDim;
    cs::Problem p;
    p.bitmaps = w.bitmaps;
    p.values = static_cast<const uint16_t*>(w.values);
    p.words = static_cast<const uint32_t*>(w.values);
    p.tile_offsets = w.tile_offsets;
    p.k_tiles = k_tiles;
    p.tiles = slabs * k_tiles;
    p.values_len = w.tile_offsets[slabs * k_tiles];
    p.k_pad = w.k_pad;
    p.csl_slot = TiledCslSlots();

    cpu::AlignedArray<float> x32 = cpu::AllocAligned<float>(m * w.k_pad);
    pool.ParallelFor(m, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        cpu::F16ToF32(x + r * w.k, x32.get() + r * w.k_pad, size_t(w.k), isa);
        std::fill(x32.get() + r * w.k_pad + w.k, x32.get() + (r + 1) * w.k_pad, 0.0f);
      }
    });
    p.x = x32.get();
    cpu::AlignedArray<float> bias32;
    if (bias != nullptr) {
      bias32 = cpu::AllocAligned<float>(w.n);
      cpu::F16ToF32(bias, bias32.get(), size_t(w.n), isa);
    }

    int64_t rows_per_unit = RowsPerUnit(m, slabs, pool.size());
    const double density = double(p.values_len) / double(w.n_pad * w.k_pad);
    const Skip skip = ChooseSkip(isa, w, rows_per_unit, density, x32.get(), m * w.k_pad);
    if (skip == Skip::kLaneRows || skip == Skip::kListRows || skip == Skip::kLanes) p.rows = sparse::CpuRowsAt(w.cpu_rows);
    cpu::AlignedArray<float> xt;
    cpu::AlignedArray<uint8_t> x_lanes;
    if (skip == Skip::kLanes) {
      x_lanes = LanesX(x, m, w.k, p.rows.header->lane_chunks * sparse::kLanesChunkK, pool);
      p.x_lanes = x_lanes.get();
    }
    // The rows kernels' cost per X block hardly depends on how many of its 16 rows are used, so the
    // last tail = m % 16 rows past whole blocks run as their own work units on the kernel the driver
    // picks for `tail` rows (the expanding, lanes or bitmap skip one); every kernel gives the same
    // bits for a finite X (which a rows kernel's choice implies). Measured (4096², 1 thread, Zen 5,
    // 2026-12-05, min ms against the padded block): 50% m = 17 7.35 → 4.11, m = 24 7.47 → 6.22;
    // tiled-CSL 50% m = 17 8.03 → 6.19; 80% m = 17 3.04 → 2.03.
    const int64_t tail = m % cpu::kRowBlockRows;
    const bool has_tail = (skip == Skip::kLaneRows || skip == Skip::kListRows) && m > cpu::kRowBlockRows && tail > 0;
    const Skip tail_skip = has_tail ? ChooseSkip(isa, w, tail, density, nullptr, 0) : skip;
    // A tail the rows kernel takes again runs on its own too where it fits 8-float xt columns
    // (Problem::xt_lanes 8), as m <= 8 does; 9–15 rows stay in the last block (with 16-row units
    // that block is its own unit anyway). In a pair of blocks a tail of 7–8 rows cost more than on
    // its own (50%, m = 24: 7.47 → 6.22 ms; 80% 3.13 → 2.88).
    const bool rows_tail = tail_skip == Skip::kLaneRows || tail_skip == Skip::kListRows;
    const bool split_tail = has_tail && (!rows_tail || tail <= kRowsNarrowXRows);
    const int64_t m_main = split_tail ? m - tail : m;  // rows on the main kernel
    if (skip != Skip::kNone && skip != Skip::kLanes) {
      // Units start on xt's 16-row blocks.
      rows_per_unit = std::min(m_main, (rows_per_unit + cpu::kRowBlockRows - 1) / cpu::kRowBlockRows * cpu::kRowBlockRows);
      p.xt_lanes = skip != Skip::kBitmap && m <= kRowsNarrowXRows ? kRowsNarrowXRows : cpu::kRowBlockRows;
      xt = cpu::TransposeToRowBlocks(x32.get(), m, w.k_pad, pool, p.xt_lanes);
      p.xt = xt.get();
    }
    // The tail's problem: rows m_main .. m − 1 as rows 0 .. tail − 1 (m_main is a multiple of 16:
    // xt's block m_main / 16 is its first).
    cs::Problem pt = p;
    cpu::AlignedArray<uint8_t> x_lanes_tail;
    cpu::AlignedArray<float> xt_tail;
    cs::SlabFn tail_fn = nullptr;
    bool tail_scaled_x = false;
    int64_t tail_acc_floats = 0;
    if (split_tail) {
      pt.x = x32.get() + m_main * w.k_pad;
      pt.xt = xt.get() + m_main * w.k_pad;
      if (tail_skip == Skip::kLanes) {
        x_lanes_tail = LanesX(x + m_main * w.k, tail, w.k, p.rows.header->lane_chunks * sparse::kLanesChunkK, pool);
        pt.x_lanes = x_lanes_tail.get();
      }
      if (rows_tail) {
        xt_tail = cpu::TransposeToRowBlocks(pt.x, tail, w.k_pad, pool, kRowsNarrowXRows);
        pt.xt = xt_tail.get();
        pt.xt_lanes = kRowsNarrowXRows;
      }
      const cs::KernelSet& tks = KernelsFor(isa, w, tail);
      tail_scaled_x = ReadsScaledX(tail_skip, w.format, tks);
      tail_fn = tail_skip == Skip::kLaneRows ? cs::avx512lanerows::LaneRowsSlabFn()
                : tail_skip == Skip::kListRows ? (isa == cpu::Isa::kAvx512 ? cs::avx512rows::RowsSlabFn() : cs::avx2rows::RowsSlabFn())
                : tail_skip == Skip::kLanes    ? cs::avx512lanes::LanesSlabFn()
                : tail_skip == Skip::kBitmap ? cs::avx512skip::BitmapSlabFn()
                : w.format == SparseFormat::kBitmap ? tks.bitmap
                                                    : tks.tiled_csl;
      tail_acc_floats = rows_tail                    ? cs::kRowsAccBlockFloats
                        : tail_skip == Skip::kLanes    ? tail * cs::kRowLanes * sparse::kLanesRows
                        : tail_skip == Skip::kBitmap ? cs::kTileDim * cs::kRowLanes * 16
                                                     : 0;
    }
    const int64_t main_parts = (m_main + rows_per_unit - 1) / rows_per_unit;
    const int64_t row_parts = main_parts + (split_tail ? 1 : 0);
    const cs::KernelSet& ks = KernelsFor(isa, w, rows_per_unit);
    const cs::SlabFn fn = skip == Skip::kLaneRows     ? cs::avx512lanerows::LaneRowsSlabFn()
                          : skip == Skip::kListRows  ? (isa == cpu::Isa::kAvx512 ? cs::avx512rows::RowsSlabFn() : cs::avx2rows::RowsSlabFn())
                          : skip == Skip::kLanes  ? cs::avx512lanes::LanesSlabFn()
                          : skip == Skip::kBitmap ? cs::avx512skip::BitmapSlabFn()
                          : w.format == SparseFormat::kBitmap ? ks.bitmap
                                                              : ks.tiled_csl;
    // The bitmap kernel that widens by placing bits reads X · kBitsXScale (sparse_cpu.h): exact,
    // a power of two on values from fp16.
    cpu::AlignedArray<float> x_scaled;
    const bool main_scaled_x = ReadsScaledX(skip, w.format, ks);
    if (main_scaled_x || tail_scaled_x) {
      x_scaled = cpu::AllocAligned<float>(m * w.k_pad);
      const float* from = x32.get();
      float* to = x_scaled.get();
      for (int64_t e = 0; e < m * w.k_pad; ++e) to[e] = from[e] * cs::kBitsXScale;
      if (main_scaled_x) p.x = to;
      if (tail_scaled_x) pt.x = to + m_main * w.k_pad;
    }
    const int64_t acc_floats = skip == Skip::kLaneRows || skip == Skip::kListRows ? (rows_per_unit + 15) / 16 * cs::kRowsAccBlockFloats
                               : skip == Skip::kLanes  ? rows_per_unit * cs::kRowLanes * sparse::kLanesRows
                               : skip == Skip::kBitmap ? cs::kTileDim * cs::kRowLanes * 16
                                                       : 0;
    // dec, values32 and halves (Scratch) serve the expanding kernels and values32 the bitmap skip one;
    // the rows and lanes kernels read none of them (~40 KiB a thread a call not allocated).
    const auto needs_expand_scratch = [](Skip k) { return k == Skip::kNone || k == Skip::kBitmap; };
    const bool expands = needs_expand_scratch(skip) || (split_tail && needs_expand_scratch(tail_skip));
    // A thread per 2^19 stored-weight × row products at least (cpu::PartsForWork): a small weight
    // runs on the calling thread rather than pay for waking a worker.
    pool.ParallelFor(slabs * row_parts, [&](int64_t u0, int64_t u1) {
      cpu::AlignedArray<float> c = cpu::AllocAligned<float>(rows_per_unit * cs::kSlabCFloats);
      cpu::AlignedArray<float> dec, values32;
      cpu::AlignedArray<uint16_t> halves;
      if (expands) {
        dec = cpu::AllocAligned<float>(cs::kDecElems);
        values32 = cpu::AllocAligned<float>(cs::kDecElems + 16);
        halves = cpu::AllocAligned<uint16_t>(cs::kDecElems + cs::kHalvesSlack);
        std::memset(dec.get(), 0, sizeof(float) * cs::kDecElems);
      }
      cpu::AlignedArray<float> rows_acc;
      if (std::max(acc_floats, tail_acc_floats) > 0) rows_acc = cpu::AllocAligned<float>(std::max(acc_floats, tail_acc_floats));
      const cs::Scratch s{dec.get(), values32.get(), halves.get(), rows_acc.get()};
      for (int64_t u = u0; u < u1; ++u) {
        const int64_t slab = u / row_parts, part = u % row_parts;
        const bool is_tail = part == main_parts;  // (only with split_tail)
        const int64_t i0 = is_tail ? m_main : part * rows_per_unit, i1 = is_tail ? m : std::min(m_main, i0 + rows_per_unit);
        std::memset(c.get(), 0, sizeof(float) * size_t((i1 - i0) * cs::kSlabCFloats));
        if (is_tail) tail_fn(pt, slab, 0, tail, c.get(), s);
        else fn(p, slab, i0, i1, c.get(), s);
        const int64_t j0 = slab * cs::kTileDim, rows = std::min<int64_t>(cs::kTileDim, w.n - j0);
        for (int64_t i = i0; i < i1; ++i) {
          const float* ci = c.get() + (i - i0) * cs::kSlabCFloats;
          // The row's sums, then one vector conversion (same bits as the scalar one, cpu_kernels_test):
          // at m = 1 the scalar rounding was ~4% of an 80%-sparse 4096² call.
          float sums[cs::kTileDim];
          for (int64_t r = 0; r < rows; ++r) {
            sums[r] = SumLanes(ci + r * cs::kRowLanes);
            if (bias != nullptr) sums[r] += bias32[j0 + r];
          }
          cpu::F32ToF16(sums, y + i * w.n + j0, size_t(rows), isa);
        }
      }
    }, cpu::PartsForWork(p.values_len * m));
  } catch (const std::bad_alloc&) {
    return Status::Error(StatusCode::kOutOfMemory, std::string(kOp) + ": out of host memory for the cpu scratch buffers");
  }
  return Status::Ok();
}

namespace sparse {

// Measured on Zen 5 only (2026-12-04): there 2.2–2.8× dense fp16 at 80%, m = 1, where the bitmap
// kernel was 1.2–1.5×. Each step pair is four vpermt2b per X row (four vpermt2w a step until
// 2026-12-06), which other cores run at other rates (several uops each on Intel's port 5, and the
// bitmap kernel's expands compete for that port already).
bool LanesPreferred() {
  constexpr int kAmdZen5Family = 0x1A;
  static const bool preferred =
      cpu::IsaSupported(cpu::Isa::kAvx512) && cpu::IsAmdCpu() && cpu::CpuFamily() == kAmdZen5Family;
  return preferred;
}

}  // namespace sparse
}  // namespace sparq

namespace sparq::cpu_ops {

Status SparseMatmul(const SparseMatmulArgs& a, const cpu::Exec& exec, LaunchInfo* info) {
  if (info) *info = LaunchInfo{};
  return SparseMatmulCpu(a.weight, a.x, a.bias, a.y, a.m, exec.isa, *exec.pool);
}

}  // namespace sparq::cpu_ops
