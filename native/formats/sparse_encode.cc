// native/formats/sparse_encode.cc: what both sparse formats share — the shape check, the byte
// count each format would take (for `auto`), the dispatch to the format's encoder and decoder,
// and the weight views.
#include <algorithm>
#include <cstdint>
#include <string>

#include "formats/host_buffers.h"
#include "formats/host_parallel.h"
#include "sparse_formats.h"

namespace sparq {

using sparse::RoundUp;

const char* SparseFormatName(SparseFormat format) {
  switch (format) {
    case SparseFormat::kBitmap: return "bitmap";
    case SparseFormat::kTiledCsl: return "tiled-csl";
    case SparseFormat::kAuto: return "auto";
  }
  return "?";
}

Status SparseCheckShape(const char* op, int64_t n, int64_t k) {
  if (n < 1 || k < 1 || n > kMaxIndexDim || k > kMaxIndexDim)
    return Status::Error(StatusCode::kShape,
                         std::string(op) + ": shape must be [n, k] with 1 <= n, k <= " + std::to_string(kMaxIndexDim) +
                             ", got [" + std::to_string(n) + ", " + std::to_string(k) + "]",
                         "shape");
  return Status::Ok();
}

namespace sparse {

std::vector<uint32_t> CountTileEntries(const uint16_t* w, int64_t n, int64_t k, int64_t n_pad, int64_t k_pad,
                                       int threads) {
  const int64_t k_tiles = k_pad / kTileCols, slabs = n_pad / kTileRows;
  std::vector<uint32_t> counts(static_cast<size_t>(slabs * k_tiles), 0);
  // By slab of 64 rows: a slab adds only to its own row of counts.
  formats::ForEachSlice(slabs, formats::MinItemsPerSlice(kTileRows * k), threads,
                        [&](int64_t s0, int64_t s1) {
                          for (int64_t r = s0 * kTileRows; r < std::min(n, s1 * kTileRows); ++r) {
                            uint32_t* slab = counts.data() + (r / kTileRows) * k_tiles;
                            const uint16_t* row = w + r * k;
                            for (int64_t c0 = 0; c0 < k; c0 += kTileCols) {
                              uint32_t stored = 0;
                              for (int64_t c = c0; c < std::min(k, c0 + kTileCols); ++c) stored += row[c] != 0;
                              slab[c0 / kTileCols] += stored;
                            }
                          }
                        });
  return counts;
}

}  // namespace sparse

// Tile offsets are 32-bit in both formats (sparq/sparse.h): past 2³² − 1 padded values (~8 GiB of
// bitmap halves, ~16 GiB of tiled-CSL words) they would wrap, and every kernel would then read the
// wrong values, the GPU's past its buffers.
Status sparse::CheckEncodedUnits(const char* op, SparseFormat format, int64_t n, int64_t k, int64_t nnz, int64_t units) {
  if (units <= int64_t(UINT32_MAX)) return Status::Ok();
  return Status::Error(StatusCode::kShape,
                       std::string(op) + ": a " + SparseFormatName(format) + " weight of " + std::to_string(n) + "x" +
                           std::to_string(k) + " with " + std::to_string(nnz) + " nonzeros needs " + std::to_string(units) +
                           " stored values, past the format's 32-bit tile offsets (at most " + std::to_string(UINT32_MAX) +
                           "); split the weight into smaller matrices",
                       "shape");
}

namespace {

struct Sizes {
  int64_t nnz = 0;
  size_t bitmap = 0, tiled_csl = 0;
  int64_t bitmap_units = 0, tiled_csl_units = 0;  // padded values: halves, words
};

Sizes SizesFromCounts(const std::vector<uint32_t>& counts) {
  Sizes s;
  const size_t offsets = (counts.size() + 1) * sizeof(uint32_t);
  s.bitmap = counts.size() * sparse::kBlocksPerTile * sizeof(uint64_t) + offsets;
  s.tiled_csl = offsets;
  for (uint32_t c : counts) {
    s.nnz += c;
    s.bitmap_units += RoundUp(c, sparse::kValueAlignHalves);
    s.tiled_csl_units += RoundUp(c, sparse::kWordAlign);
  }
  s.bitmap += 2 * size_t(s.bitmap_units);
  s.tiled_csl += 4 * size_t(s.tiled_csl_units);
  return s;
}

}  // namespace

Status SparseMeasure(const uint16_t* w, int64_t n, int64_t k, SparseFormatSizes* out, const char* op) {
  Status st = SparseCheckShape(op, n, k);
  if (!st.ok()) return st;
  const Sizes s = SizesFromCounts(sparse::CountTileEntries(w, n, k, RoundUp(n, sparse::kTileRows),
                                                           RoundUp(k, sparse::kTileCols)));
  *out = SparseFormatSizes{s.nnz, s.bitmap, s.tiled_csl};
  return Status::Ok();
}

Status SparseEncode(const uint16_t* w, int64_t n, int64_t k, SparseFormat format, SparseEncoded* out,
                    const char* op, int threads) {
  Status st = SparseCheckShape(op, n, k);
  if (!st.ok()) return st;
  if (format != SparseFormat::kBitmap && format != SparseFormat::kTiledCsl && format != SparseFormat::kAuto)
    return Status::Error(StatusCode::kArgument,
                         std::string(op) + ": format must be 'auto', 'bitmap' or 'tiled-csl', got " +
                             std::to_string(static_cast<int>(format)),
                         "format");
  SparseEncoded e;
  e.n = n;
  e.k = k;
  e.n_pad = RoundUp(n, sparse::kTileRows);
  e.k_pad = RoundUp(k, sparse::kTileCols);
  const std::vector<uint32_t> counts = sparse::CountTileEntries(w, n, k, e.n_pad, e.k_pad, threads);
  const Sizes sizes = SizesFromCounts(counts);
  e.nnz = sizes.nnz;
  e.format = format != SparseFormat::kAuto ? format
             : sizes.tiled_csl < sizes.bitmap ? SparseFormat::kTiledCsl
                                              : SparseFormat::kBitmap;
  st = sparse::CheckEncodedUnits(op, e.format, n, k, e.nnz,
                                 e.format == SparseFormat::kBitmap ? sizes.bitmap_units : sizes.tiled_csl_units);
  if (!st.ok()) return st;
  st = e.format == SparseFormat::kBitmap ? sparse::EncodeBitmap(w, counts, &e, threads)
                                         : sparse::EncodeTiledCsl(w, counts, &e, threads);
  if (!st.ok()) return st;
  *out = std::move(e);
  return Status::Ok();
}

Status SparseDecode(const SparseEncoded& e, std::vector<uint16_t>* w) {
  Status st = SparseCheckShape("sparse.read", e.n, e.k);
  if (!st.ok()) return st;
  std::vector<uint16_t> decoded;
  formats::ReserveOnHugePages(decoded, static_cast<size_t>(e.n * e.k));
  decoded.resize(static_cast<size_t>(e.n * e.k));
  st = SparseDecode(e, decoded.data());
  if (st.ok()) *w = std::move(decoded);
  return st;
}

Status SparseDecode(const SparseEncoded& e, uint16_t* w) {
  const char* op = "sparse.read";
  Status st = SparseCheckShape(op, e.n, e.k);
  if (!st.ok()) return st;
  const bool tiles_ok = e.n_pad == RoundUp(e.n, sparse::kTileRows) && e.k_pad == RoundUp(e.k, sparse::kTileCols) &&
                        e.tile_offsets.size() == static_cast<size_t>(e.tiles()) + 1 && e.tile_offsets[0] == 0;
  if (!tiles_ok)
    return Status::Error(StatusCode::kArgument, std::string(op) + ": encoding must have one offset per tile plus one",
                         "weight");
  std::fill(w, w + e.n * e.k, uint16_t(0));
  if (e.format == SparseFormat::kBitmap) return sparse::DecodeBitmap(e, w);
  if (e.format == SparseFormat::kTiledCsl) return sparse::DecodeTiledCsl(e, w);
  return Status::Error(StatusCode::kArgument, std::string(op) + ": encoding has no format", "weight");
}

SparseWeightView SparseEncoded::view() const {
  return view(bitmaps.empty() ? nullptr : bitmaps.data(), values.data(), tile_offsets.data(),
              cpu_rows.empty() ? nullptr : cpu_rows.data());
}

SparseWeightView SparseEncoded::view(const void* bitmaps_at, const void* values_at, const void* offsets_at,
                                     const void* cpu_rows_at) const {
  SparseWeightView v;
  v.cpu_rows = cpu_rows_at;
  v.bitmaps = static_cast<const uint64_t*>(bitmaps_at);
  v.values = values_at;
  v.tile_offsets = static_cast<const uint32_t*>(offsets_at);
  v.n = n;
  v.k = k;
  v.n_pad = n_pad;
  v.k_pad = k_pad;
  v.nnz = nnz;
  v.max_tile_units = max_tile_units;
  v.format = format;
  return v;
}

}  // namespace sparq
