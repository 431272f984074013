// native/formats/sparse_cpu_rows.cc: the cpu backend's row lists of a sparse weight (layout:
// sparq/sparse.h "row lists", docs/formats.md "CPU row lists"). Two passes over w: the longest class
// list of every (row, chunk) fixes the offsets, then each list is written in increasing k and its
// tail padded with (c·64, 0x0000) slots, which a kernel multiplies like any weight: for a finite X
// a zero weight adds ±0 to an accumulator that started at +0 and so changes no bit.
#include <algorithm>
#include <cstring>
#include <new>
#include <string>

#include "formats/sparse_formats.h"
#include "sparq/sparse.h"

namespace sparq {
namespace sparse {
namespace {

constexpr size_t kArrayAlign = 64;
constexpr size_t AlignUp(size_t v) { return (v + kArrayAlign - 1) / kArrayAlign * kArrayAlign; }

struct Offsets {
  size_t group_offsets, x_cols, values, total;
};
Offsets OffsetsOf(const CpuRowsHeader& h) {
  Offsets o;
  o.group_offsets = AlignUp(sizeof(CpuRowsHeader));
  o.x_cols = AlignUp(o.group_offsets + sizeof(int64_t) * size_t(h.rows * h.chunks + 1));
  o.values = AlignUp(o.x_cols + sizeof(uint8_t) * size_t(h.groups) * kRowsClasses);
  o.total = o.values + sizeof(uint16_t) * size_t(h.groups) * kRowsClasses;
  return o;
}

// Groups of the (row, chunk) list: its longest class.
int64_t GroupsOf(const uint16_t* w_row, int64_t k0, int64_t k1) {
  int64_t count[kRowsClasses] = {};
  for (int64_t kk = k0; kk < k1; ++kk) count[kk % kRowsClasses] += w_row[kk] != 0;
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
  return r;
}

}  // namespace sparse

Status SparseBuildCpuRows(const uint16_t* w, int64_t n, int64_t k, std::vector<uint8_t>* out, const char* op) {
  using namespace sparse;
  Status s = SparseCheckShape(op, n, k);
  if (!s.ok()) return s;
  CpuRowsHeader h;
  h.rows = RoundUp(n, kTileRows);
  const int64_t k_pad = RoundUp(k, kTileCols);
  h.chunks = (k_pad + kRowsChunkK - 1) / kRowsChunkK;
  try {
    std::vector<int64_t> group_offsets(size_t(h.rows * h.chunks + 1), 0);
    for (int64_t r = 0; r < n; ++r)
      for (int64_t q = 0; q < h.chunks; ++q)
        group_offsets[size_t(CpuRowsListIndex(h, r, q)) + 1] =
            GroupsOf(w + r * k, q * kRowsChunkK, std::min(k, (q + 1) * kRowsChunkK));
    for (size_t i = 1; i < group_offsets.size(); ++i) group_offsets[i] += group_offsets[i - 1];
    h.groups = group_offsets.back();

    const Offsets o = OffsetsOf(h);
    out->assign(o.total, 0);
    uint8_t* base = out->data();
    std::memcpy(base, &h, sizeof(h));
    std::memcpy(base + o.group_offsets, group_offsets.data(), group_offsets.size() * sizeof(int64_t));
    uint8_t* x_cols = base + o.x_cols;
    auto* values = reinterpret_cast<uint16_t*>(base + o.values);
    for (int64_t r = 0; r < h.rows; ++r)
      for (int64_t q = 0; q < h.chunks; ++q) {
        const int64_t at = CpuRowsListIndex(h, r, q), g0 = group_offsets[size_t(at)];
        const int64_t k0 = q * kRowsChunkK, k1 = std::min(k, k0 + kRowsChunkK);
        for (int c = 0; c < kRowsClasses; ++c) {
          int64_t g = g0;
          for (int64_t kk = k0 + c; r < n && kk < k1; kk += kRowsClasses) {
            if (w[r * k + kk] == 0) continue;
            x_cols[g * kRowsClasses + c] = uint8_t((kk - k0) / kRowsClasses);
            values[g * kRowsClasses + c] = w[r * k + kk];
            ++g;
          }
          // padding: column c (j = 0, as out->assign left it), value 0x0000
        }
      }
  } catch (const std::bad_alloc&) {
    return Status::Error(StatusCode::kOutOfMemory, std::string(op) + ": out of host memory for the cpu row lists");
  }
  return Status::Ok();
}

}  // namespace sparq
