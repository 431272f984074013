// native/formats/sparse_cpu_rows.cc: the cpu backend's row lists and lanes of a sparse weight
// (layout: sparq/sparse.h "row lists" and "lanes", docs/formats.md "CPU row lists", "CPU lanes").
// A pass counts the stored weights (whether kAuto builds the lanes instead of the lists), then two
// passes over w for each layout built: the longest class list of every (row, chunk) — of every (row
// group, chunk, class) for the lanes — fixes the offsets, then each list is written in increasing k and
// its tail padded with (index 0, 0x0000) slots, which a kernel multiplies like any weight: for a
// finite X a zero weight adds ±0 to an accumulator that started at +0 and so changes no bit.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <new>
#include <string>

#include "formats/host_buffers.h"
#include "formats/host_parallel.h"
#include "formats/sparse_formats.h"
#include "sparq/sparse.h"

namespace sparq {
namespace sparse {
namespace {

constexpr size_t kArrayAlign = 64;
constexpr size_t AlignUp(size_t v) { return (v + kArrayAlign - 1) / kArrayAlign * kArrayAlign; }

struct Offsets {
  size_t group_offsets, x_cols, values;
  size_t lane_first, lane_counts, lane_cols, lane_values;  // meaningful when h.lane_chunks > 0
  size_t total;
};
Offsets OffsetsOf(const CpuRowsHeader& h) {
  Offsets o;
  o.group_offsets = AlignUp(sizeof(CpuRowsHeader));
  o.x_cols = AlignUp(o.group_offsets + sizeof(int64_t) * size_t(h.rows * h.chunks + 1));
  o.values = AlignUp(o.x_cols + sizeof(uint8_t) * size_t(h.groups) * kRowsClasses);
  o.total = o.values + sizeof(uint16_t) * size_t(h.groups) * kRowsClasses;
  if (h.lane_chunks == 0) {
    o.lane_first = o.lane_counts = o.lane_cols = o.lane_values = 0;
    return o;
  }
  const size_t row_groups = size_t(h.rows / kLanesRows), slots = size_t(h.lane_steps) * kLanesRows;
  o.lane_first = AlignUp(o.total);
  o.lane_counts = AlignUp(o.lane_first + sizeof(int64_t) * (row_groups + 1));
  o.lane_cols = AlignUp(o.lane_counts + sizeof(uint16_t) * row_groups * size_t(h.lane_chunks) * kRowsClasses);
  o.lane_values = AlignUp(o.lane_cols + sizeof(uint8_t) * slots);
  o.total = o.lane_values + sizeof(uint16_t) * slots;
  return o;
}

// The class positions j (column k0 + c + 8·j) of the stored weights of class c of w_row among
// columns [k0, k1), in increasing j, into `kept` (room for every position); returns how many.
// Branch-free per entry: at 50% sparsity a branch per entry mispredicted every other time.
int KeptInClass(const uint16_t* w_row, int64_t k0, int64_t k1, int c, uint16_t* kept) {
  int stored = 0;
  uint16_t j = 0;
  for (int64_t kk = k0 + c; kk < k1; kk += kRowsClasses, ++j) {
    kept[stored] = j;
    stored += w_row[kk] != 0;
  }
  return stored;
}

// Stored weights of each class (k mod 8) of row w_row among columns [k0, k1), one pass.
void ClassCounts(const uint16_t* w_row, int64_t k0, int64_t k1, int64_t (&count)[kRowsClasses]) {
  std::fill(count, count + kRowsClasses, 0);
  for (int64_t kk = k0; kk < k1; ++kk) count[kk % kRowsClasses] += w_row[kk] != 0;
}

// Steps of every lane run ([row group][chunk][class]: its longest row) and their total; row groups
// on up to `threads` threads (each writes only its own runs).
int64_t CountLaneSteps(const uint16_t* w, int64_t n, int64_t k, const CpuRowsHeader& h, std::vector<uint16_t>* counts,
                       int threads) {
  const int64_t row_groups = h.rows / kLanesRows;
  counts->assign(size_t(row_groups * h.lane_chunks * kRowsClasses), 0);
  formats::ForEachSlice(row_groups, formats::MinItemsPerSlice(kLanesRows * k), threads,
                        [&](int64_t g0, int64_t g1) {
                          for (int64_t r = g0 * kLanesRows; r < std::min(n, g1 * kLanesRows); ++r)
                            for (int64_t q = 0; q < h.lane_chunks; ++q) {
                              int64_t count[kRowsClasses];
                              ClassCounts(w + r * k, q * kLanesChunkK, std::min(k, (q + 1) * kLanesChunkK), count);
                              uint16_t* run = counts->data() + ((r / kLanesRows) * h.lane_chunks + q) * kRowsClasses;
                              for (int c = 0; c < kRowsClasses; ++c) run[c] = std::max(run[c], uint16_t(count[c]));
                            }
                        });
  int64_t steps = 0;
  for (uint16_t s : *counts) steps += s;
  return steps;
}

// The lanes' arrays into a buffer laid out by OffsetsOf (zeroed: padding lanes stay (0, 0x0000)),
// row groups on up to `threads` threads (each writes only its own steps).
void WriteLanes(const uint16_t* w, int64_t n, int64_t k, const CpuRowsHeader& h, const std::vector<uint16_t>& counts,
                uint8_t* base, int threads) {
  const Offsets o = OffsetsOf(h);
  const int64_t row_groups = h.rows / kLanesRows;
  auto* first = reinterpret_cast<int64_t*>(base + o.lane_first);
  std::memcpy(base + o.lane_counts, counts.data(), counts.size() * sizeof(uint16_t));
  const int64_t runs_per_group = h.lane_chunks * kRowsClasses;
  int64_t steps = 0;
  for (int64_t g = 0; g < row_groups; ++g) {
    first[g] = steps;
    for (int64_t i = 0; i < runs_per_group; ++i) steps += counts[size_t(g * runs_per_group + i)];
  }
  first[row_groups] = steps;
  uint8_t* cols = base + o.lane_cols;
  auto* values = reinterpret_cast<uint16_t*>(base + o.lane_values);
  formats::ForEachSlice(row_groups, formats::MinItemsPerSlice(kLanesRows * k), threads,
                        [&](int64_t g0, int64_t g1) {
                          uint16_t kept[kLanesChunkK / kRowsClasses];
                          for (int64_t g = g0; g < g1; ++g) {
                            int64_t step = first[g];
                            for (int64_t q = 0; q < h.lane_chunks; ++q) {
                              const int64_t k0 = q * kLanesChunkK, k1 = std::min(k, k0 + kLanesChunkK);
                              for (int c = 0; c < kRowsClasses; ++c) {
                                for (int64_t r = g * kLanesRows; r < std::min(n, (g + 1) * kLanesRows); ++r) {
                                  const int stored = KeptInClass(w + r * k, k0, k1, c, kept);
                                  for (int i = 0; i < stored; ++i) {
                                    const size_t slot = size_t((step + i) * kLanesRows + r % kLanesRows);
                                    cols[slot] = uint8_t(kept[i]);
                                    values[slot] = w[r * k + k0 + c + int64_t(kRowsClasses) * kept[i]];
                                  }
                                }
                                step += counts[size_t((g * h.lane_chunks + q) * kRowsClasses + c)];
                              }
                            }
                          }
                        });
}

// Groups of the (row, chunk) list: its longest class.
int64_t GroupsOf(const uint16_t* w_row, int64_t k0, int64_t k1) {
  int64_t count[kRowsClasses];
  ClassCounts(w_row, k0, k1, count);
  return *std::max_element(count, count + kRowsClasses);
}

}  // namespace

CpuRows CpuRowsAt(const void* bytes) {
  CpuRows r;
  r.header = static_cast<const CpuRowsHeader*>(bytes);
  const Offsets o = OffsetsOf(*r.header);
  const auto* base = static_cast<const uint8_t*>(bytes);
  r.group_offsets = reinterpret_cast<const int64_t*>(base + o.group_offsets);
  r.x_cols = base + o.x_cols;
  r.values = reinterpret_cast<const uint16_t*>(base + o.values);
  if (r.header->lane_chunks > 0) {
    r.lane_first = reinterpret_cast<const int64_t*>(base + o.lane_first);
    r.lane_counts = reinterpret_cast<const uint16_t*>(base + o.lane_counts);
    r.lane_cols = base + o.lane_cols;
    r.lane_values = reinterpret_cast<const uint16_t*>(base + o.lane_values);
  }
  return r;
}

}  // namespace sparse

Status SparseBuildCpuRows(const uint16_t* w, int64_t n, int64_t k, std::vector<uint8_t>* out, const char* op,
                          CpuLanes lanes, int threads) {
  using namespace sparse;
  Status s = SparseCheckShape(op, n, k);
  if (!s.ok()) return s;
  CpuRowsHeader h;
  h.rows = RoundUp(n, kTileRows);
  const int64_t k_pad = RoundUp(k, kTileCols);
  // Rows a thread takes at least, for the passes over w below.
  const int64_t min_rows = formats::MinItemsPerSlice(k);
  try {
    std::atomic<int64_t> stored{0};
    formats::ForEachSlice(n, min_rows, threads, [&](int64_t r0, int64_t r1) {
      int64_t here = 0;
      for (int64_t i = r0 * k; i < r1 * k; ++i) here += w[i] != 0;
      stored.fetch_add(here);
    });
    std::vector<uint16_t> lane_counts;
    if (lanes == CpuLanes::kAlways || (lanes == CpuLanes::kAuto && double(stored) <= kLanesMaxDensity * double(n * k))) {
      h.lane_chunks = (k_pad + kLanesChunkK - 1) / kLanesChunkK;
      h.lane_steps = CountLaneSteps(w, n, k, h, &lane_counts, threads);
      // Rows far from even (a dense row among sparse ones, global pruning) make every run as long
      // as its densest row: then the lanes are mostly padding, and the lists are built instead.
      if (lanes == CpuLanes::kAuto && double(h.lane_steps) * kLanesRows > kLanesMaxSlotsPerStored * double(stored)) {
        h.lane_chunks = h.lane_steps = 0;
        lane_counts.clear();
      }
    }
    // With kAuto the lanes replace the lists: the AVX-512 rows kernel has a twin over the lanes (kAuto
    // is asked for only where the AVX-512 kernels run, sparq/sparse.h LanesPreferred).
    if (lanes != CpuLanes::kAuto || h.lane_chunks == 0) h.chunks = (k_pad + kRowsChunkK - 1) / kRowsChunkK;
    std::vector<int64_t> group_offsets(size_t(h.rows * h.chunks + 1), 0);
    formats::ForEachSlice(n, min_rows, threads, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t q = 0; q < h.chunks; ++q)
          group_offsets[size_t(CpuRowsListIndex(h, r, q)) + 1] =
              GroupsOf(w + r * k, q * kRowsChunkK, std::min(k, (q + 1) * kRowsChunkK));
    });
    for (size_t i = 1; i < group_offsets.size(); ++i) group_offsets[i] += group_offsets[i - 1];
    h.groups = group_offsets.back();

    const Offsets o = OffsetsOf(h);
    formats::ReserveOnHugePages(*out, o.total);
    out->assign(o.total, 0);  // padding slots stay (index 0, 0x0000)
    uint8_t* base = out->data();
    std::memcpy(base, &h, sizeof(h));
    std::memcpy(base + o.group_offsets, group_offsets.data(), group_offsets.size() * sizeof(int64_t));
    uint8_t* x_cols = base + o.x_cols;
    auto* values = reinterpret_cast<uint16_t*>(base + o.values);
    // Each (row, chunk) list is written by the thread that has its row, at the offsets fixed above.
    formats::ForEachSlice(n, min_rows, threads, [&](int64_t r0, int64_t r1) {
      uint16_t kept[kRowsChunkK / kRowsClasses];
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t q = 0; q < h.chunks; ++q) {
          const int64_t g0 = group_offsets[size_t(CpuRowsListIndex(h, r, q))];
          const int64_t k0 = q * kRowsChunkK, k1 = std::min(k, k0 + kRowsChunkK);
          for (int c = 0; c < kRowsClasses; ++c) {
            const int stored_here = KeptInClass(w + r * k, k0, k1, c, kept);
            for (int i = 0; i < stored_here; ++i) {
              x_cols[(g0 + i) * kRowsClasses + c] = uint8_t(kept[i]);
              values[(g0 + i) * kRowsClasses + c] = w[r * k + k0 + c + int64_t(kRowsClasses) * kept[i]];
            }
          }
        }
    });
    if (h.lane_chunks > 0) WriteLanes(w, n, k, h, lane_counts, base, threads);
  } catch (const std::bad_alloc&) {
    return Status::Error(StatusCode::kOutOfMemory, std::string(op) + ": out of host memory for the cpu row lists");
  }
  return Status::Ok();
}

}  // namespace sparq
