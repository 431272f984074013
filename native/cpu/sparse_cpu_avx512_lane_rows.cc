// native/cpu/sparse_cpu_avx512_lane_rows.cc: the rows kernel's idea (X rows on the vector lanes,
// one FMA per stored weight, sparse_cpu_avx512_rows.cc) read from the cpu *lanes* (sparq/sparse.h
// "lanes") instead of the row lists (contract: sparse_cpu.h). The lanes hold the same stored
// weights without padding (a list pads each (row, 512-column chunk) to its longest class), so a
// weight that carries lanes needs no row lists at all (docs/formats.md "CPU lanes").
//
// One run is one class c of 32 weight rows, unpacked into L1 32 lanes a step (Unpack): a pass takes
// 16 of its lanes (weight rows, in the run's lane order) and one
// 16-row block of X (or 8 rows on ymm, Problem::xt_lanes 8), the 16 accumulators in registers; per
// step each lane's weight is permuted out of the step's 16 converted weights and meets its X column
// (xt, column q·2048 + 8·j + c) in one FMA. Each (weight row, class) is still summed in increasing
// k from +0, an idle lane adds 0·x = ±0: the same bits as every other sparse CPU kernel for a
// finite X (sparse_cpu_avx512_skip.cc gives the argument; the driver keeps Inf/NaN X off it).
//
// Loop order: chunk, class, row group, X block, half of the lanes. A class's X columns of a chunk
// are 256 lines (16 KiB on zmm, 8 on ymm) that every pass over that class reuses from L1; a run is
// read from memory once, by its unpacking (≤ 256 steps of 96 bytes in L1 after it).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <cstring>

#include "cpu/sparse_cpu.h"
#include "sparq/sparse.h"

// After every #include: only this file's own functions get the ISA (STYLE.md §11).
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c,bmi,bmi2")

namespace sparq::cpu::sparse::avx512lanerows {
namespace {

using sparq::sparse::kLanesChunkK;
using sparq::sparse::kLanesRows;
using sparq::sparse::kRowsClasses;
constexpr int kPassLanes = 16;                           // weight rows (lanes of a step) per pass
constexpr int kXLanes = 16;                              // X rows per xt block
constexpr int kRowAccFloats = kRowsClasses * kXLanes;    // one weight row's accumulators in rows_acc
constexpr int64_t kGroupsPerSlab = kTileDim / kLanesRows;

#include "cpu/sparse_lanes_prefetch.inc"
#include "cpu/sparse_lanes_unpack.inc"

// Byte offsets into the class's xt slice of 8 lanes' columns (j bytes), from one 8-byte load:
// column 8·j apart for consecutive j, so lane r reads x + (j_r << kShift).
template <int kShift>
struct LaneOffsets {
  uint64_t packed;
  explicit LaneOffsets(const uint8_t* cols) { std::memcpy(&packed, cols, sizeof(packed)); }
  uint32_t operator[](int r) const { return (uint32_t(packed >> (8 * r)) & 0xFFu) << kShift; }
};

// While the passes run from L1, the run after this one (the group's stream from `values`/`cols`)
// is prefetched a line a step, the lines a padded step would take (64 bytes of values, 32 of j):
// unpacking reads a run in a burst, and without this the stream sat idle during the passes and
// each run's unpacking waited on DRAM (m = 8, 80%, 4096², 2 threads, Zen 5: 0.89–1.28 → 0.71–0.75 ms;
// the padded runs read in place: 0.79–1.12).
struct Ahead {
  const uint16_t* values;
  const uint8_t* cols;
  void Step(int s) const {  // (address arithmetic: past the arrays' end a prefetch may point)
    _mm_prefetch(reinterpret_cast<const char*>(reinterpret_cast<uintptr_t>(values) + s * kLanesRows * sizeof(uint16_t)), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(reinterpret_cast<uintptr_t>(cols) + s * kLanesRows), _MM_HINT_T0);
  }
};

// 16 lanes of an unpacked run against one 16-row X block (zmm). x: the block's xt at column
// q·2048 + c; values/cols: the run's first step at this pass's first lane; acc: the class-c
// accumulators of the row group's row 0 (row r at + r·kRowAccFloats); lane_row: the rows of the
// pass's 16 lanes.
void PassZmm(const char* x, const uint16_t* values, const uint8_t* cols, int steps, const uint8_t* lane_row, float* acc,
             Ahead ahead) {
  constexpr int kShift = 9;  // 8 columns of 64 bytes per j
  __m512 a[kPassLanes];
  for (int r = 0; r < kPassLanes; ++r) a[r] = _mm512_load_ps(acc + lane_row[r] * kRowAccFloats);
  for (int s = 0; s < steps; ++s, values += kLanesRows, cols += kLanesRows) {
    ahead.Step(s);
    const __m512 w = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(values)));
    const LaneOffsets<kShift> lo(cols), hi(cols + 8);
#pragma GCC unroll 8
    for (int r = 0; r < 8; ++r)
      a[r] = _mm512_fmadd_ps(_mm512_load_ps(reinterpret_cast<const float*>(x + lo[r])),
                             _mm512_permutexvar_ps(_mm512_set1_epi32(r), w), a[r]);
#pragma GCC unroll 8
    for (int r = 0; r < 8; ++r)
      a[8 + r] = _mm512_fmadd_ps(_mm512_load_ps(reinterpret_cast<const float*>(x + hi[r])),
                                 _mm512_permutexvar_ps(_mm512_set1_epi32(8 + r), w), a[8 + r]);
  }
  for (int r = 0; r < kPassLanes; ++r) _mm512_store_ps(acc + lane_row[r] * kRowAccFloats, a[r]);
}

// The same for up to 8 X rows on ymm: each half of the 16 weights converted on its own so that a
// lane's weight is an in-lane 8-float permute. kShift 8: xt of 8 floats a column (Problem::xt_lanes
// 8); 9 would read lanes 0–7 of a 16-float column (no caller since a tail of ≤ 8 rows runs on
// 8-float columns of its own). Each lane's chain is the same FMAs in the same order as under
// PassZmm (same bits).
template <int kShift>  // 8 columns of 2^kShift / 8 bytes per j
void PassYmm(const char* x, const uint16_t* values, const uint8_t* cols, int steps, const uint8_t* lane_row, float* acc,
             Ahead ahead) {
  __m256 a[kPassLanes];
  for (int r = 0; r < kPassLanes; ++r) a[r] = _mm256_load_ps(acc + lane_row[r] * kRowAccFloats);
  for (int s = 0; s < steps; ++s, values += kLanesRows, cols += kLanesRows) {
    ahead.Step(s);
    const __m256 w0 = _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(values)));
    const __m256 w1 = _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(values + 8)));
    const LaneOffsets<kShift> lo(cols), hi(cols + 8);
#pragma GCC unroll 8
    for (int r = 0; r < 8; ++r)
      a[r] = _mm256_fmadd_ps(_mm256_load_ps(reinterpret_cast<const float*>(x + lo[r])),
                             _mm256_permutevar8x32_ps(w0, _mm256_set1_epi32(r)), a[r]);
#pragma GCC unroll 8
    for (int r = 0; r < 8; ++r)
      a[8 + r] = _mm256_fmadd_ps(_mm256_load_ps(reinterpret_cast<const float*>(x + hi[r])),
                                 _mm256_permutevar8x32_ps(w1, _mm256_set1_epi32(r)), a[8 + r]);
  }
  for (int r = 0; r < kPassLanes; ++r) _mm256_store_ps(acc + lane_row[r] * kRowAccFloats, a[r]);
}

void LaneRowsSlab(const Problem& p, int64_t slab, int64_t i_begin, int64_t i_end, float* c, const Scratch& s) {
  const sparq::sparse::CpuRows& r = p.rows;
  const int64_t chunks = r.header->lane_chunks, rows = i_end - i_begin;
  // As for the rows kernel, i_begin is a multiple of 16 (one xt block), or 0 with 8-float columns.
  const int64_t xt_lanes = p.xt_lanes;
  const bool narrow = xt_lanes != kXLanes;
  const int64_t blocks = (rows + kXLanes - 1) / kXLanes, blk0 = i_begin / kXLanes;
  float* acc = s.rows_acc;
  std::memset(acc, 0, sizeof(float) * size_t(blocks * kRowsAccBlockFloats));
  // Each row group's runs are stored chunk by chunk, class by class: the walk keeps one cursor per group.
  struct Cursor {
    const uint8_t* active;
    const uint16_t* values;
    const uint8_t* cols;
  } at[kGroupsPerSlab];
  for (int64_t gs = 0; gs < kGroupsPerSlab; ++gs) {
    const int64_t g = slab * kGroupsPerSlab + gs;
    at[gs] = {r.lane_active + r.lane_first_step[g], r.lane_values + r.lane_first[g], r.lane_cols + r.lane_first[g]};
  }
  UnpackedRun unpacked;
  for (int64_t q = 0; q < chunks; ++q)
    for (int cl = 0; cl < kRowsClasses; ++cl)
      for (int64_t gs = 0; gs < kGroupsPerSlab; ++gs) {
        const int64_t g = slab * kGroupsPerSlab + gs;
        const sparq::sparse::LaneRun& run = r.lane_runs[(g * chunks + q) * kRowsClasses + cl];
        PrefetchRunsAhead(&run, at[gs].active);
        if (run.length[0] == 0) continue;
        const int64_t entries = Unpack(run, at[gs].active, at[gs].values, at[gs].cols, &unpacked);
        at[gs].values += entries;
        at[gs].cols += entries;
        at[gs].active += run.length[0];
        for (int64_t b = 0; b < blocks; ++b) {
          const char* x = reinterpret_cast<const char*>(
              p.xt + ((blk0 + b) * p.k_pad + q * kLanesChunkK + cl) * xt_lanes);
          // (A last block of ≤ 8 rows on 16-float columns never comes here: the driver runs such a
          // tail as units of its own on 8-float columns, sparse_cpu.cc.)
          float* a = acc + b * kRowsAccBlockFloats + gs * kLanesRows * kRowAccFloats + cl * kXLanes;
          for (int lane0 = 0; lane0 < kLanesRows; lane0 += kPassLanes) {
            // Lengths fall with the lane: the pass ends with its longest lane, and past lane 16's
            // length only lanes 0–15 have entries.
            const int steps = run.length[lane0];
            if (steps == 0) break;
            const uint16_t* v = unpacked.values[0] + lane0;
            const uint8_t* j = unpacked.cols[0] + lane0;
            const Ahead ahead{at[gs].values + lane0, at[gs].cols + lane0};
            if (narrow) PassYmm<8>(x, v, j, steps, run.lane_row + lane0, a, ahead);
            else PassZmm(x, v, j, steps, run.lane_row + lane0, a, ahead);
          }
        }
      }
  AddRowsAcc(acc, rows, c);
}

}  // namespace

SlabFn LaneRowsSlabFn() { return &LaneRowsSlab; }

}  // namespace sparq::cpu::sparse::avx512lanerows
