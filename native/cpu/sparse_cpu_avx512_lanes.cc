// native/cpu/sparse_cpu_avx512_lanes.cc: the AVX-512 kernel over the cpu lanes (sparq/sparse.h
// "lanes"; contract: sparse_cpu.h), for one or a few X rows (the driver: up to 6, 8 when very
// sparse). 32 weight rows sit on the 32 fp16 lanes of a zmm; a step of a run is 32 stored weights
// (one per row, all of one class k mod 8) and their column indices, and the 32 x values they meet
// come from the chunk's 256 class-c x values by byte permutes over their low and high bytes
// (Problem::x_lanes; AVX512_VBMI, so the driver takes this kernel only where the CPU has it). Every step
// is two FMAs of 16 useful lanes (idle lanes aside), where the bitmap kernels expand and multiply all
// 64 weights of every 8×8 block and the rows kernel spends a 16-lane FMA per stored weight on 1 X
// row: at m = 1 this one is bound by the bytes it reads, the others by their instructions
// (docs/kernels.md "The lanes kernel", "The byte gather").
//
// Accumulators: in Scratch::rows_acc lane r of acc[c] holds row 32g + r's class-c sum; during a run
// they sit on the run's lane order (LaneRun::lane_row) and go back after it. Each class is summed in
// increasing k from +0 (chunk by chunk, a run's steps in k order), so the same bits as the expanding
// kernels for finite X: an idle lane adds 0·x = ±0 (sparse_cpu_avx512_skip.cc gives the argument).
// The driver keeps X with an Inf or NaN off this kernel.
//
// The lanes are read with unaligned loads: the runs are compact (a step as long as its active
// lanes), so a step starts anywhere.
//
// Loop order: row group, chunk, class, pass of up to kRowsPerPass X rows. A run is read from memory
// by the first pass and from L1 by the others (a run is at most 256 steps of 96 bytes); the X
// rows' accumulators wait in Scratch::rows_acc between runs.
// GCC 12's intrinsic headers trip -Wmaybe-uninitialized on their own _mm*_undefined_* (as in the
// other AVX-512 files).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "cpu/sparse_cpu.h"
#include "sparq/sparse.h"

// After every #include: only this file's own functions get the ISA (STYLE.md §11).
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512vbmi,fma,f16c,bmi,bmi2")

namespace sparq::cpu::sparse::avx512lanes {
namespace {

using sparq::sparse::kLanesChunkK;
using sparq::sparse::kLanesRows;
using sparq::sparse::kRowsClasses;
constexpr int kClassCols = kLanesChunkK / kRowsClasses;  // 256 x values per (chunk, class)
constexpr int kHalfLanes = 16;                           // fp32 lanes of one accumulator
// X rows per pass over a run: 4 and 6 measured level (m = 5–8, 70–80%; docs/kernels.md).
constexpr int64_t kRowsPerPass = 4;

#include "cpu/sparse_lanes_prefetch.inc"

// The gather works on bytes, not words: the run's 256 x values as their low and their high bytes
// (4 zmm each; the driver lays them out so, Problem::x_lanes), so one vpermt2b (7 index bits, 128 bytes) serves 64 column indices — two
// steps, whose 64 column bytes are one load, no widening — and bit 7 picks the half with the mask
// vpmovb2m takes straight from the indices. Per two steps: four vpermt2b, two blends, two
// byte→word unpacks, where the word gather spent eight vpermt2w, six blends, two vptestmw and two
// widenings. The unpacks interleave within 128-bit lanes, so the indices go in with their 8-byte
// blocks 1 and 2 swapped (of each step) to come out in row order: unpacklo = rows 0–15 of step a
// | rows 0–15 of step b, unpackhi = rows 16–31 of each. Measured against the word gather (4096²,
// 80%, Zen 5, alternated in one process, 2026-12-06): m = 1, 1 thread, weight in cache 0.46 →
// 0.37 ms, 2048² 0.105 → 0.076, from DRAM level (0.52–0.53 both: near a plain read of the same
// bytes at 1 thread); m = 2 / 3 / 4 / 6, 2 threads,
// 0.38 → 0.35, 0.48 → 0.44, 0.66 → 0.59, 0.92 → 0.80. Same bits: each accumulator lane still takes
// its row's class-c products in k order.
// Two steps' 64 column indices (32 bytes each, raw from the run) ready for GatherXPair: their
// 8-byte blocks 1 and 2 swapped (of each step), and bit 7 of each as a mask (entries 128–255).
struct PairIndices {
  __m512i j;
  __mmask64 upper;
  explicit PairIndices(__m512i raw)
      : j(_mm512_permutexvar_epi64(_mm512_set_epi64(7, 5, 6, 4, 3, 1, 2, 0), raw)), upper(_mm512_movepi8_mask(j)) {}
};

// The 64 bytes `plane[j]` of one byte plane (256 bytes: the low or the high bytes of a (chunk,
// class)'s 256 x values, Problem::x_lanes) for the pair's indices.
__m512i GatherPlane(const uint8_t* plane, const PairIndices& idx) {
  const __m512i low = _mm512_permutex2var_epi8(_mm512_load_si512(plane), idx.j, _mm512_load_si512(plane + 64));
  const __m512i high = _mm512_permutex2var_epi8(_mm512_load_si512(plane + 128), idx.j, _mm512_load_si512(plane + 192));
  return _mm512_mask_blend_epi8(idx.upper, low, high);
}

// Their x values (fp16) from the (chunk, class) table at `table` (low bytes, then high bytes) as
// two zmm of 32 words: rows_lo = rows 0–15 of step a then of step b, rows_hi = rows 16–31 of each.
// With one X row the tables' loads leave the loop (8 zmm in registers); with more they are L1
// operands of the permutes.
struct XPair {
  __m512i rows_lo, rows_hi;
};
XPair GatherXPair(const uint8_t* table, const PairIndices& idx) {
  const __m512i lo = GatherPlane(table, idx), hi = GatherPlane(table + kClassCols, idx);
  return {_mm512_unpacklo_epi8(lo, hi), _mm512_unpackhi_epi8(lo, hi)};
}

// 16 weights (fp16) as fp32; with a mask, the lanes outside it zero (the next step's, in the compact runs).
__m512 Weights16(const uint16_t* values) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(values)));
}
__m512 Weights16(__mmask16 live, const uint16_t* values) {
  return _mm512_maskz_cvtph_ps(live, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(values)));
}

// The live lanes of a step with `n` of them (a prefix).
__mmask32 LiveLanes(int n) { return __mmask32(_bzhi_u32(~0u, unsigned(n))); }

// 32 float lanes (rows 0–15 in lo, 16–31 in hi) reordered by the 32 indices `from` (5 bits: < 16 from
// lo, else hi): out lane l = in lane from[l]. With a run's lane_row it brings row-ordered
// accumulators onto the run's lanes; with row_lane, back.
struct Lanes32 {
  __m512 lo, hi;
};
Lanes32 Reorder(Lanes32 in, const uint8_t* from) {
  const __m512i lo = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(from)));
  const __m512i hi = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(from + 16)));
  return {_mm512_permutex2var_ps(in.lo, lo, in.hi), _mm512_permutex2var_ps(in.lo, hi, in.hi)};
}

// One run for kRows X rows at once: a step pair's column indices, masks and weights are taken once
// and met by every row's gathered x; row i's table at table + i·table_stride bytes, its
// accumulators at acc + i·acc_stride floats in row order (lanes 0–15 and 16–31 apart), brought onto
// the run's lane order for the run and back after it. Returns the run's entries (where the next run
// starts). (m = 1 had its own loop with the tables in registers until 2026-12-06: level with this
// one at kRows = 1.) Against one row at a time over the run (each re-reading it from L1; word
// gather), 4096², 2 threads, Zen 5, alternated: m = 4 at 80% 0.90 → 0.55 ms, m = 2 0.42 → 0.29.
//
// A step is as long as its active lanes (sparq/sparse.h "lanes": a prefix, the run's rows longest
// first). The run's first length[31] steps have all 32 (the shortest row's entries; ~60% of the steps
// at 80% sparsity) and run as before the runs were compacted: 64-byte steps, no masks. The rest take
// each step's length from `active` and its mask from that; the weights past the mask (the next
// step's) are zeroed, their column bytes left as they are — any byte indexes the 256-entry table and
// meets a zero weight: +0·x = ±0, which changes no accumulator (none is −0: each starts at +0).
// Against masks and lengths on every step (m = 4, 80%, 4096², 2 threads, Zen 5, 2026-12-07):
// 0.490–0.497 → 0.488–0.492 ms (padded runs 0.478–0.481); the lengths were at first counted from the
// masks (popcount), 10% slower again at m = 4. The masks came from a vector of the lengths left
// (a compare and a saturating subtract a pair) until they came from the same bytes (bzhi): 95%
// m = 1 0.149–0.157 → 0.107–0.127 ms, 80% m = 4 0.626–0.636 → 0.599–0.623, m = 1 and 6 level.
template <int kRows>
int64_t RunStepsRows(const uint8_t* table, int64_t table_stride, const sparq::sparse::LaneRun& run,
                     const uint8_t* active, const uint16_t* values, const uint8_t* cols, float* acc, int64_t acc_stride) {
  __m512 a0[kRows], a1[kRows];
  for (int i = 0; i < kRows; ++i) {
    const Lanes32 on = Reorder({_mm512_load_ps(acc + i * acc_stride), _mm512_load_ps(acc + i * acc_stride + kHalfLanes)},
                               run.lane_row);
    a0[i] = on.lo;
    a1[i] = on.hi;
  }
  // Step a (and, with step_b true, step b) of a pair into every row's accumulators: step a's x is the low
  // half of each XPair word vector, step b's the high half; the weights as fp32 (wa: step a's lanes
  // 0–15, 16–31; wb: step b's).
  const auto meet = [&](auto step_b, const PairIndices& idx, __m512 wa0, __m512 wa1, __m512 wb0, __m512 wb1)
                        __attribute__((always_inline)) {
    constexpr bool kStepB = decltype(step_b)::value;
#pragma GCC unroll 8
    for (int i = 0; i < kRows; ++i) {
      const XPair x = GatherXPair(table + i * table_stride, idx);
      a0[i] = _mm512_fmadd_ps(wa0, _mm512_cvtph_ps(_mm512_castsi512_si256(x.rows_lo)), a0[i]);
      a1[i] = _mm512_fmadd_ps(wa1, _mm512_cvtph_ps(_mm512_castsi512_si256(x.rows_hi)), a1[i]);
      if constexpr (kStepB) {
        a0[i] = _mm512_fmadd_ps(wb0, _mm512_cvtph_ps(_mm512_extracti64x4_epi64(x.rows_lo, 1)), a0[i]);
        a1[i] = _mm512_fmadd_ps(wb1, _mm512_cvtph_ps(_mm512_extracti64x4_epi64(x.rows_hi, 1)), a1[i]);
      }
    }
  };
  const uint16_t* const values0 = values;
  const int steps = run.length[0], full = run.length[kLanesRows - 1];
  int s = 0;
  for (; s + 2 <= full; s += 2, values += 2 * kLanesRows, cols += 2 * kLanesRows) {
    PrefetchAhead<kDecodePrefetchAhead>(values, cols);
    PrefetchAhead<kDecodePrefetchAhead>(values + kLanesRows, cols + kLanesRows);
    meet(std::true_type{}, PairIndices(_mm512_loadu_si512(cols)), Weights16(values), Weights16(values + kHalfLanes),
         Weights16(values + kLanesRows), Weights16(values + kLanesRows + kHalfLanes));
  }
  for (; s + 2 <= steps; s += 2) {
    const int na = active[s], nb = active[s + 1];
    const __mmask32 mask_a = LiveLanes(na), mask_b = LiveLanes(nb);
    PrefetchAhead<kDecodePrefetchAhead>(values, cols);
    PrefetchAhead<kDecodePrefetchAhead>(values + kLanesRows, cols + kLanesRows);
    const __m512i raw = _mm512_inserti64x4(_mm512_zextsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(cols))),
                                           _mm256_loadu_si256(reinterpret_cast<const __m256i*>(cols + na)), 1);
    const uint16_t* vb = values + na;
    meet(std::true_type{}, PairIndices(raw), Weights16(__mmask16(mask_a), values),
         Weights16(__mmask16(mask_a >> kHalfLanes), values + kHalfLanes), Weights16(__mmask16(mask_b), vb),
         Weights16(__mmask16(mask_b >> kHalfLanes), vb + kHalfLanes));
    values += na + nb;
    cols += na + nb;
  }
  if (s < steps) {  // an odd last step alone
    const __mmask32 mask_a = LiveLanes(active[s]);
    const __m512 w0 = Weights16(__mmask16(mask_a), values), w1 = Weights16(__mmask16(mask_a >> kHalfLanes), values + kHalfLanes);
    meet(std::false_type{}, PairIndices(_mm512_zextsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(cols)))),
         w0, w1, w0, w1);
    values += active[s];
  }
  for (int i = 0; i < kRows; ++i) {
    const Lanes32 back = Reorder({a0[i], a1[i]}, run.row_lane);
    _mm512_store_ps(acc + i * acc_stride, back.lo);
    _mm512_store_ps(acc + i * acc_stride + kHalfLanes, back.hi);
  }
  return values - values0;
}

// c[row][0] += the row's total over its 8 class sums acc[class][row] (row 0..31), taken in the
// tree the driver's SumLanes uses, 16 rows at a time; c[row][1..7] are left as they are (+0 from
// the driver). The driver's SumLanes over (total, +0, …, +0) is then the total bit for bit: adding
// +0 changes nothing but a −0, and no sum that starts from +0 (acc, c) is −0 in round-to-nearest.
// In place of a transpose of the 8 × 32 sums into c's row-major lanes: 256 scalar adds a row group,
// which with the driver's scalar rounding were ~8% of an 80%-sparse 4096² m = 1 call (Zen 5).
void AddRowTotals(const float* acc, float* c) {
  for (int h = 0; h < kLanesRows; h += kHalfLanes) {
    __m512 a[kRowsClasses];
    for (int cl = 0; cl < kRowsClasses; ++cl) a[cl] = _mm512_load_ps(acc + cl * kLanesRows + h);
    const __m512 total = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a[0], a[1]), _mm512_add_ps(a[2], a[3])),
                                       _mm512_add_ps(_mm512_add_ps(a[4], a[5]), _mm512_add_ps(a[6], a[7])));
    alignas(64) float t[kHalfLanes];
    _mm512_store_ps(t, total);
    for (int r = 0; r < kHalfLanes; ++r) c[(h + r) * kRowLanes] += t[r];
  }
}

void LanesSlab(const Problem& p, int64_t slab, int64_t i_begin, int64_t i_end, float* c, const Scratch& s) {
  const sparq::sparse::CpuRows& r = p.rows;
  const int64_t chunks = r.header->lane_chunks, rows = i_end - i_begin;
  const int64_t table_row = chunks * kLanesChunkK * 2;  // bytes of one X row's tables
  constexpr int64_t kGroupsPerSlab = kTileDim / kLanesRows;
  constexpr int64_t kRowAccFloats = kRowsClasses * kLanesRows;  // one X row's accumulators: [8][32]
  float* acc = s.rows_acc;
  for (int64_t gs = 0; gs < kGroupsPerSlab; ++gs) {
    const int64_t g = slab * kGroupsPerSlab + gs;
    std::memset(acc, 0, sizeof(float) * size_t(rows * kRowAccFloats));
    const sparq::sparse::LaneRun* runs = r.lane_runs + g * chunks * kRowsClasses;
    const uint16_t* values = r.lane_values + r.lane_first[g];
    const uint8_t* cols = r.lane_cols + r.lane_first[g];
    const uint8_t* active = r.lane_active + r.lane_first_step[g];
    for (int64_t q = 0; q < chunks; ++q)
      for (int cl = 0; cl < kRowsClasses; ++cl) {
        const sparq::sparse::LaneRun& run = runs[q * kRowsClasses + cl];
        PrefetchRunsAhead(&run, active);
        if (run.length[0] == 0) continue;
        const uint8_t* table = p.x_lanes + i_begin * table_row + (q * kRowsClasses + cl) * 2 * kClassCols;
        float* run_acc = acc + cl * kLanesRows;
        int64_t entries = 0;
        for (int64_t i = 0; i < rows; i += kRowsPerPass) {
          const int64_t n = std::min<int64_t>(kRowsPerPass, rows - i);
          const uint8_t* t = table + i * table_row;
          float* a = run_acc + i * kRowAccFloats;
          if (n == 4) entries = RunStepsRows<4>(t, table_row, run, active, values, cols, a, kRowAccFloats);
          else if (n == 3) entries = RunStepsRows<3>(t, table_row, run, active, values, cols, a, kRowAccFloats);
          else if (n == 2) entries = RunStepsRows<2>(t, table_row, run, active, values, cols, a, kRowAccFloats);
          else entries = RunStepsRows<1>(t, table_row, run, active, values, cols, a, kRowAccFloats);
        }
        values += entries;
        cols += entries;
        active += run.length[0];
      }
    for (int64_t i = 0; i < rows; ++i)
      AddRowTotals(acc + i * kRowAccFloats, c + i * kSlabCFloats + gs * kLanesRows * kRowLanes);
  }
}

}  // namespace

SlabFn LanesSlabFn() { return &LanesSlab; }

}  // namespace sparq::cpu::sparse::avx512lanes
