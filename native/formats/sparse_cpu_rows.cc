// native/formats/sparse_cpu_rows.cc: the cpu backend's row lists and lanes of a sparse weight
// (layout: sparq/sparse.h "row lists" and "lanes", docs/formats.md "CPU row lists", "CPU lanes").
// A pass counts the stored weights (whether kAuto builds the lanes instead of the lists), then two
// passes over w for each layout built: the longest class list of every (row, chunk) — the stored
// counts of every (row group, chunk, class) run's rows for the lanes — fixes the offsets, then each
// list is written in increasing k and its tail padded with (index 0, 0x0000) slots, which a kernel
// multiplies like any weight: for a finite X a zero weight adds ±0 to an accumulator that started
// at +0 and so changes no bit (the lanes store no padding: their kernels mask the idle lanes).
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
  size_t lane_first, lane_runs, lane_first_step, lane_active, lane_cols, lane_values;  // when h.lane_chunks > 0
  size_t total;
};
Offsets OffsetsOf(const CpuRowsHeader& h) {
  Offsets o;
  o.group_offsets = AlignUp(sizeof(CpuRowsHeader));
  o.x_cols = AlignUp(o.group_offsets + sizeof(int64_t) * size_t(h.rows * h.chunks + 1));
  o.values = AlignUp(o.x_cols + sizeof(uint8_t) * size_t(h.groups) * kRowsClasses);
  o.total = o.values + sizeof(uint16_t) * size_t(h.groups) * kRowsClasses;
  if (h.lane_chunks == 0) {
    o.lane_first = o.lane_runs = o.lane_first_step = o.lane_active = o.lane_cols = o.lane_values = 0;
    return o;
  }
  const size_t row_groups = size_t(h.rows / kLanesRows), entries = size_t(h.lane_slots) + kLanesTail;
  o.lane_first = AlignUp(o.total);
  o.lane_runs = AlignUp(o.lane_first + sizeof(int64_t) * (row_groups + 1));
  o.lane_first_step = AlignUp(o.lane_runs + sizeof(LaneRun) * row_groups * size_t(h.lane_chunks) * kRowsClasses);
  o.lane_active = AlignUp(o.lane_first_step + sizeof(int64_t) * (row_groups + 1));
  o.lane_cols = AlignUp(o.lane_active + sizeof(uint8_t) * (size_t(h.lane_steps) + kLanesTail));
  o.lane_values = AlignUp(o.lane_cols + sizeof(uint8_t) * entries);
  o.total = o.lane_values + sizeof(uint16_t) * entries;
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

// Entries a lane run stores: its rows' stored weights.
int64_t RunEntries(const LaneRun& run) {
  int64_t n = 0;
  for (uint16_t len : run.length) n += len;
  return n;
}

// Every lane run's order ([row group][chunk][class]): its rows' stored counts, longest first (ties
// by row), and the total steps (each run's longest row) and entries; row groups on up to `threads`
// threads (each writes only its own runs).
void OrderLaneRuns(const uint16_t* w, int64_t n, int64_t k, CpuRowsHeader* h, std::vector<LaneRun>* runs, int threads) {
  const int64_t row_groups = h->rows / kLanesRows;
  runs->assign(size_t(row_groups * h->lane_chunks * kRowsClasses), LaneRun{});
  formats::ForEachSlice(row_groups, formats::MinItemsPerSlice(kLanesRows * k), threads,
                        [&](int64_t g0, int64_t g1) {
                          for (int64_t g = g0; g < g1; ++g) {
                            LaneRun* group_runs = runs->data() + g * h->lane_chunks * kRowsClasses;
                            for (int64_t r = g * kLanesRows; r < std::min(n, (g + 1) * kLanesRows); ++r)
                              for (int64_t q = 0; q < h->lane_chunks; ++q) {
                                int64_t count[kRowsClasses];
                                ClassCounts(w + r * k, q * kLanesChunkK, std::min(k, (q + 1) * kLanesChunkK), count);
                                for (int c = 0; c < kRowsClasses; ++c)
                                  group_runs[q * kRowsClasses + c].length[r % kLanesRows] = uint16_t(count[c]);
                              }
                            for (int64_t i = 0; i < h->lane_chunks * kRowsClasses; ++i) {
                              LaneRun& run = group_runs[i];
                              uint16_t by_row[kLanesRows];
                              std::memcpy(by_row, run.length, sizeof(by_row));
                              for (int r = 0; r < kLanesRows; ++r) run.lane_row[r] = uint8_t(r);
                              std::stable_sort(run.lane_row, run.lane_row + kLanesRows,
                                               [&](uint8_t a, uint8_t b) { return by_row[a] > by_row[b]; });
                              for (int l = 0; l < kLanesRows; ++l) {
                                run.length[l] = by_row[run.lane_row[l]];
                                run.row_lane[run.lane_row[l]] = uint8_t(l);
                              }
                            }
                          }
                        });
  h->lane_steps = h->lane_slots = 0;
  for (const LaneRun& run : *runs) {
    h->lane_steps += run.length[0];
    h->lane_slots += RunEntries(run);
  }
}

// The lanes' arrays into a buffer laid out by OffsetsOf (zeroed: the tail stays (0, 0x0000)), row
// groups on up to `threads` threads (each writes only its own entries). Entry i of lane l's row
// goes to step i, which starts after the steps before it, each as long as its active lanes.
void WriteLanes(const uint16_t* w, int64_t k, const CpuRowsHeader& h, const std::vector<LaneRun>& runs,
                uint8_t* base, int threads) {
  const Offsets o = OffsetsOf(h);
  const int64_t row_groups = h.rows / kLanesRows;
  auto* first = reinterpret_cast<int64_t*>(base + o.lane_first);
  std::memcpy(base + o.lane_runs, runs.data(), runs.size() * sizeof(LaneRun));
  const int64_t runs_per_group = h.lane_chunks * kRowsClasses;
  auto* first_step = reinterpret_cast<int64_t*>(base + o.lane_first_step);
  int64_t slots = 0, steps = 0;
  for (int64_t g = 0; g < row_groups; ++g) {
    first[g] = slots;
    first_step[g] = steps;
    for (int64_t i = 0; i < runs_per_group; ++i) {
      const LaneRun& run = runs[size_t(g * runs_per_group + i)];
      steps += run.length[0];
      slots += RunEntries(run);
    }
  }
  first[row_groups] = slots;
  first_step[row_groups] = steps;
  uint8_t* active_of = base + o.lane_active;
  uint8_t* cols = base + o.lane_cols;
  auto* values = reinterpret_cast<uint16_t*>(base + o.lane_values);
  formats::ForEachSlice(row_groups, formats::MinItemsPerSlice(kLanesRows * k), threads,
                        [&](int64_t g0, int64_t g1) {
                          uint16_t kept[kLanesChunkK / kRowsClasses];
                          int64_t step_at[kLanesChunkK / kRowsClasses + 1];  // entry offset of each step
                          for (int64_t g = g0; g < g1; ++g) {
                            int64_t slot = first[g], step = first_step[g];
                            for (int64_t q = 0; q < h.lane_chunks; ++q) {
                              const int64_t k0 = q * kLanesChunkK, k1 = std::min(k, k0 + kLanesChunkK);
                              for (int c = 0; c < kRowsClasses; ++c) {
                                const LaneRun& run = runs[size_t((g * h.lane_chunks + q) * kRowsClasses + c)];
                                step_at[0] = slot;
                                for (int st = 0, active = kLanesRows; st < run.length[0]; ++st) {
                                  while (run.length[active - 1] <= st) --active;
                                  step_at[st + 1] = step_at[st] + active;
                                  active_of[step + st] = uint8_t(active);
                                }
                                step += run.length[0];
                                for (int l = 0; l < kLanesRows && run.length[l] > 0; ++l) {
                                  const int64_t r = g * kLanesRows + run.lane_row[l];
                                  const int stored = KeptInClass(w + r * k, k0, k1, c, kept);
                                  for (int i = 0; i < stored; ++i) {
                                    cols[step_at[i] + l] = uint8_t(kept[i]);
                                    values[step_at[i] + l] = w[r * k + k0 + c + int64_t(kRowsClasses) * kept[i]];
                                  }
                                }
                                slot = step_at[run.length[0]];
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
    r.lane_runs = reinterpret_cast<const LaneRun*>(base + o.lane_runs);
    r.lane_first_step = reinterpret_cast<const int64_t*>(base + o.lane_first_step);
    r.lane_active = base + o.lane_active;
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
    std::atomic<int64_t> stored{0}, nonfinite{0};
    formats::ForEachSlice(n, min_rows, threads, [&](int64_t r0, int64_t r1) {
      int64_t here = 0, here_nonfinite = 0;
      for (int64_t i = r0 * k; i < r1 * k; ++i) {
        here += w[i] != 0;
        here_nonfinite += (w[i] & 0x7c00) == 0x7c00;  // exponent all ones: Inf or NaN
      }
      stored.fetch_add(here);
      nonfinite.fetch_add(here_nonfinite);
    });
    h.nonfinite = nonfinite;
    std::vector<LaneRun> lane_runs;
    if (lanes == CpuLanes::kAlways || (lanes == CpuLanes::kAuto && double(stored) <= kLanesMaxDensity * double(n * k))) {
      h.lane_chunks = (k_pad + kLanesChunkK - 1) / kLanesChunkK;
      OrderLaneRuns(w, n, k, &h, &lane_runs, threads);
      // Rows far from even (a dense row among sparse ones, global pruning) make every run as long
      // as its densest row: then the kernels' steps are mostly idle lanes, and the lists are built instead.
      if (lanes == CpuLanes::kAuto && double(h.lane_steps) * kLanesRows > kLanesMaxSlotsPerStored * double(stored)) {
        h.lane_chunks = h.lane_steps = h.lane_slots = 0;
        lane_runs.clear();
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
    out->assign(o.total, 0);  // padding slots (lists) and the lanes' tail stay (index 0, 0x0000)
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
    if (h.lane_chunks > 0) WriteLanes(w, k, h, lane_runs, base, threads);
  } catch (const std::bad_alloc&) {
    return Status::Error(StatusCode::kOutOfMemory, std::string(op) + ": out of host memory for the cpu row lists");
  }
  return Status::Ok();
}

}  // namespace sparq
