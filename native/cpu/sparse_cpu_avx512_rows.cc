// native/cpu/sparse_cpu_avx512_rows.cc: the AVX-512 kernel over the cpu row lists (sparq/sparse.h
// "row lists"; contract: sparse_cpu.h). X rows sit on the lanes (xt, 16 rows per column) and each
// slot of a list is one FMA: accumulator c of the 8 (one per k mod 8 class, as every sparse CPU
// kernel keeps them) += the slot's X column × its weight. The lists give the class of slot c of a
// group at compile time, so the 8 accumulators of a weight row stay in registers for a whole chunk,
// where the bitmap skip kernel (sparse_cpu_avx512_skip.cc) loads and stores one per weight.
//
// Same bits as the expanding kernels for finite X: each class is summed in increasing k, from +0,
// and a padding slot or a skipped zero adds ±0, which changes no bit of an accumulator that is +0
// or not zero (sparse_cpu_avx512_skip.cc gives the argument). The driver keeps X with an Inf or NaN
// off this kernel.
//
// Loop order: chunk, then 16-row block of X, then weight row. One chunk of one block of xt is 64 KiB
// (L2) and a slab's lists for one chunk are read once per block; the accumulators of every (block,
// row) wait in Scratch::rows_acc between chunks. Up to 8 X rows a unit runs on ymm (half the
// bytes per FMA, two FMAs a cycle where zmm gives one).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <cstring>

#include "cpu/sparse_cpu.h"
#include "sparq/sparse.h"

// After every #include: only this file's own functions get the ISA (STYLE.md §11).
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c")

namespace sparq::cpu::sparse::avx512rows {
namespace {

using sparq::sparse::kRowsClasses;
constexpr int kLanes = 16;                                // xt floats per column
constexpr int kRowAccFloats = kRowsClasses * kLanes;      // one weight row's accumulators
constexpr int kBlockAccFloats = kTileDim * kRowAccFloats; // one X block's, for the slab's 64 rows

// A list's values as fp32 in w32 (2·8·k groups): a pass of its own, so the FMAs below take their
// weight as a broadcast from memory (a load, no shuffle; folded into the instruction).
void ListValuesF32(const uint16_t* values, int64_t groups, float* w32) {
  for (int64_t g = 0; g < groups; g += 2)
    _mm512_store_ps(w32 + g * kRowsClasses,
                    _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(values + g * kRowsClasses))));
}

// The lists are read in storage order, but each is a short run (~1 KiB) in two arrays, too short
// for the hardware prefetchers to get ahead of: the lists kPrefetchLists ahead are prefetched.
constexpr int64_t kPrefetchLists = 4;
void PrefetchList(const sparq::sparse::CpuRows& r, const int64_t* offsets, int64_t lists_left) {
  if (lists_left <= 0) return;
  constexpr int64_t kLineHalves = 32;
  for (int64_t h = offsets[0] * kRowsClasses; h < offsets[1] * kRowsClasses; h += kLineHalves) {
    _mm_prefetch(reinterpret_cast<const char*>(r.values + h), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(r.x_offsets + h), _MM_HINT_T0);
  }
}

// One (row, chunk) list of `groups` groups into the accumulators of kBlocks X blocks (acc[b] =
// acc + b·kBlockAccFloats, [8][16]), x = the chunk's slice of the first block's xt (byte offsets
// from the list; the next block's slice x_stride bytes on), w32 the list's values as fp32. Two
// blocks share each slot's offset and weight loads: 16 accumulators, still all in registers.
template <int kBlocks>
void RowChunk(const char* x, int64_t x_stride, const uint16_t* x_offsets, const float* w32, int64_t groups, float* acc) {
  __m512 a[kBlocks][kRowsClasses];
  for (int b = 0; b < kBlocks; ++b)
    for (int c = 0; c < kRowsClasses; ++c) a[b][c] = _mm512_load_ps(acc + b * kBlockAccFloats + c * kLanes);
  for (int64_t g = 0; g < groups; ++g) {
    const uint16_t* xo = x_offsets + g * kRowsClasses;
    const float* w = w32 + g * kRowsClasses;
#pragma GCC unroll 8
    for (int c = 0; c < kRowsClasses; ++c) {
      const __m512 wc = _mm512_set1_ps(w[c]);
#pragma GCC unroll 2
      for (int b = 0; b < kBlocks; ++b)
        a[b][c] = _mm512_fmadd_ps(_mm512_load_ps(reinterpret_cast<const float*>(x + b * x_stride + xo[c])), wc, a[b][c]);
    }
  }
  for (int b = 0; b < kBlocks; ++b)
    for (int c = 0; c < kRowsClasses; ++c) _mm512_store_ps(acc + b * kBlockAccFloats + c * kLanes, a[b][c]);
}

// The same for up to 8 X rows: the first 8 lanes of one block, on ymm.
void RowChunkYmm(const char* x, const uint16_t* x_offsets, const float* w32, int64_t groups, float* acc) {
  __m256 a[kRowsClasses];
  for (int c = 0; c < kRowsClasses; ++c) a[c] = _mm256_load_ps(acc + c * kLanes);
  for (int64_t g = 0; g < groups; ++g) {
    const uint16_t* xo = x_offsets + g * kRowsClasses;
    const float* w = w32 + g * kRowsClasses;
#pragma GCC unroll 8
    for (int c = 0; c < kRowsClasses; ++c)
      a[c] = _mm256_fmadd_ps(_mm256_load_ps(reinterpret_cast<const float*>(x + xo[c])), _mm256_set1_ps(w[c]), a[c]);
  }
  for (int c = 0; c < kRowsClasses; ++c) _mm256_store_ps(acc + c * kLanes, a[c]);
}

template <bool kYmm>
void RowsSlab(const Problem& p, int64_t slab, int64_t i_begin, int64_t i_end, float* c, const Scratch& s) {
  const sparq::sparse::CpuRows& r = p.rows;
  const int64_t chunks = r.header->chunks, chunk_k = r.header->chunk_k;
  // i_begin is a multiple of 16 whenever the driver picks this kernel: xt block i_begin / 16 holds it.
  const int64_t blocks = (i_end - i_begin + kLanes - 1) / kLanes, blk0 = i_begin / kLanes;
  const int64_t x_stride = p.k_pad * kLanes * int64_t(sizeof(float));  // from one xt block to the next
  float* acc = s.rows_acc;
  std::memset(acc, 0, sizeof(float) * size_t(blocks * kBlockAccFloats));
  const int64_t first_list = sparq::sparse::CpuRowsListIndex(*r.header, slab * kTileDim, 0);
  const int64_t* offsets = r.group_offsets + first_list;
  const int64_t lists_left = r.header->rows * chunks - first_list;  // lists from this slab's first on
  for (int64_t q = 0; q < chunks; ++q)
    for (int64_t b = 0; b < blocks; b += 2) {
      const char* x = reinterpret_cast<const char*>(p.xt + ((blk0 + b) * p.k_pad + q * chunk_k) * kLanes);
      for (int row = 0; row < kTileDim; ++row) {
        const int64_t list = q * kTileDim + row;
        const int64_t g0 = offsets[list], g1 = offsets[list + 1];
        PrefetchList(r, offsets + list + kPrefetchLists, lists_left - list - kPrefetchLists);
        if (g0 == g1) continue;
        ListValuesF32(r.values + g0 * kRowsClasses, g1 - g0, s.values32);
        const uint16_t* xo = r.x_offsets + g0 * kRowsClasses;
        float* acc_row = acc + b * kBlockAccFloats + row * kRowAccFloats;
        if (kYmm) RowChunkYmm(x, xo, s.values32, g1 - g0, acc_row);
        else if (b + 1 < blocks) RowChunk<2>(x, x_stride, xo, s.values32, g1 - g0, acc_row);
        else RowChunk<1>(x, x_stride, xo, s.values32, g1 - g0, acc_row);
      }
    }
  for (int64_t i = i_begin; i < i_end; ++i) {
    const int64_t b = (i - i_begin) / kLanes, lane = (i - i_begin) % kLanes;
    float* ci = c + (i - i_begin) * kSlabCFloats;
    for (int row = 0; row < kTileDim; ++row)
      for (int l = 0; l < kRowsClasses; ++l)
        ci[row * kRowLanes + l] += acc[b * kBlockAccFloats + row * kRowAccFloats + l * kLanes + lane];
  }
}

}  // namespace

SlabFn RowsSlabFn(int64_t rows_per_unit) { return rows_per_unit <= 8 ? &RowsSlab<true> : &RowsSlab<false>; }

}  // namespace sparq::cpu::sparse::avx512rows
