// native/formats/sparse_bitmap.cc: the bitmap sparse format (sparq/sparse.h "kBitmap"): per 64×64
// tile, 64 uint64 bitmaps of 8×8 blocks in mma A-fragment order and the stored values in block
// order, no index. The order is what lets a lane of the kernel find its two A elements of a block
// with one popcount (docs/formats.md "Sparse").
#include <algorithm>
#include <atomic>
#include <cstring>
#include <string>

#include "formats/host_buffers.h"
#include "formats/host_parallel.h"
#include "sparse_formats.h"

namespace sparq::sparse {

namespace {

// One 8×8 block: its bitmap, and its stored values appended at `v` in bit order (row-major within
// the block). `rows`/`cols` (≤ 8) clip a block that reaches past n or k. Branch-free per entry: the
// value is written to a staging slot whether it is stored or not and the slot advances only if it
// is — at 50% sparsity a branch per entry mispredicted every other time (~9 ns an entry).
uint64_t EncodeBlock(const uint16_t* src, int64_t k, int rows, int cols, uint16_t*& v) {
  uint16_t staged[kTileElems / kBlocksPerTile];  // a block's values: at most 64
  uint64_t bits = 0;
  int stored = 0;
  if (rows == 8 && cols == 8) {
    for (int r = 0; r < 8; ++r, src += k)
      for (int c = 0; c < 8; ++c) {
        const uint16_t x = src[c];
        const unsigned kept = x != 0;
        bits |= uint64_t(kept) << (r * 8 + c);
        staged[stored] = x;
        stored += int(kept);
      }
  } else {
    for (int r = 0; r < rows; ++r, src += k)
      for (int c = 0; c < cols; ++c) {
        const uint16_t x = src[c];
        const unsigned kept = x != 0;
        bits |= uint64_t(kept) << (r * 8 + c);
        staged[stored] = x;
        stored += int(kept);
      }
  }
  if (stored == 0) return bits;  // v may be null (a weight with no stored entry has no values at all)
  std::memcpy(v, staged, sizeof(uint16_t) * size_t(stored));
  v += stored;
  return bits;
}

}  // namespace

Status EncodeBitmap(const uint16_t* w, const std::vector<uint32_t>& counts, SparseEncoded* out, int threads) {
  const int64_t tiles = out->tiles();
  const int64_t k_tiles = out->k_pad / kTileCols;
  formats::ReserveOnHugePages(out->bitmaps, static_cast<size_t>(tiles * kBlocksPerTile));
  out->bitmaps.assign(static_cast<size_t>(tiles * kBlocksPerTile), 0);
  out->tile_offsets.assign(static_cast<size_t>(tiles + 1), 0);
  int64_t total = 0;
  int32_t max_units = 0;
  for (int64_t t = 0; t < tiles; ++t) {
    out->tile_offsets[t] = static_cast<uint32_t>(total);
    const int64_t padded = RoundUp(counts[t], kValueAlignHalves);
    total += padded;
    if (padded > max_units) max_units = static_cast<int32_t>(padded);
  }
  out->tile_offsets[tiles] = static_cast<uint32_t>(total);
  out->max_tile_units = max_units;
  formats::ReserveOnHugePages(out->values, static_cast<size_t>(total * 2));
  out->values.assign(static_cast<size_t>(total * 2), 0);  // the padding after each tile's values stays 0x0000
  uint16_t* values = reinterpret_cast<uint16_t*>(out->values.data());

  std::atomic<int64_t> miscounted{-1};
  formats::ForEachSlice(tiles, formats::MinItemsPerSlice(kTileElems), threads,
                        [&](int64_t t0, int64_t t1) {
                          for (int64_t t = t0; t < t1; ++t) {
                            const int64_t row0 = (t / k_tiles) * kTileRows, col0 = (t % k_tiles) * kTileCols;
                            uint64_t* bitmaps = out->bitmaps.data() + t * kBlocksPerTile;
                            uint16_t* const first = values + out->tile_offsets[t];
                            uint16_t* v = first;
                            for (int b = 0; b < kBlocksPerTile; ++b) {
                              const int64_t row = row0 + BitmapBlockRow(b), col = col0 + BitmapBlockCol(b);
                              const int rows = int(std::clamp<int64_t>(out->n - row, 0, 8));
                              const int cols = int(std::clamp<int64_t>(out->k - col, 0, 8));
                              bitmaps[b] = rows == 0 || cols == 0 ? 0 : EncodeBlock(w + row * out->k + col, out->k, rows, cols, v);
                            }
                            // After the fact: the counts come from the same w, so this never fires; were
                            // they wrong, this tile would already have written past its own values.
                            if (v - first != static_cast<int64_t>(counts[t])) miscounted.store(t);
                          }
                        });
  if (miscounted.load() >= 0)
    return Status::Error(StatusCode::kDevice, "sparse.encode: internal error: bitmap tile count mismatch");
  return Status::Ok();
}

Status DecodeBitmap(const SparseEncoded& e, uint16_t* w) {
  const char* op = "sparse.read";
  const int64_t tiles = e.tiles(), k_tiles = e.k_pad / kTileCols;
  const auto broken = [&](int64_t t, const std::string& what) {
    return Status::Error(StatusCode::kArgument,
                         std::string(op) + ": bitmap encoding is inconsistent at tile " + std::to_string(t) + ": " + what,
                         "weight");
  };
  if (e.bitmaps.size() != static_cast<size_t>(tiles * kBlocksPerTile) ||
      e.values.size() != static_cast<size_t>(e.tile_offsets[tiles]) * 2)
    return broken(tiles, "buffer sizes do not match the offsets");
  const uint16_t* values = reinterpret_cast<const uint16_t*>(e.values.data());
  int64_t nnz = 0;
  for (int64_t t = 0; t < tiles; ++t) {
    const uint32_t begin = e.tile_offsets[t], end = e.tile_offsets[t + 1];
    if (end < begin || (end - begin) % kValueAlignHalves != 0 || int64_t(end - begin) > e.max_tile_units)
      return broken(t, "tile length must be a multiple of 8 within max_tile_units");
    const int64_t row0 = (t / k_tiles) * kTileRows, col0 = (t % k_tiles) * kTileCols;
    const uint64_t* bitmaps = e.bitmaps.data() + t * kBlocksPerTile;
    uint32_t at = begin;
    for (int b = 0; b < kBlocksPerTile; ++b) {
      for (uint64_t bits = bitmaps[b]; bits != 0; bits &= bits - 1) {
        const int bit = __builtin_ctzll(bits);
        const int64_t row = row0 + BitmapBlockRow(b) + bit / 8, col = col0 + BitmapBlockCol(b) + bit % 8;
        if (row >= e.n || col >= e.k) return broken(t, "a bit is set in the padding");
        if (at >= end) return broken(t, "more bits than values");
        if (values[at] == 0) return broken(t, "a stored value is 0x0000");
        w[row * e.k + col] = values[at++];
        ++nnz;
      }
    }
    if (end - at >= kValueAlignHalves) return broken(t, "more padding than alignment needs");
    for (; at < end; ++at)
      if (values[at] != 0) return broken(t, "padding must be 0x0000");
  }
  if (nnz != e.nnz) return broken(tiles, "nnz does not match the bitmaps");
  return Status::Ok();
}

}  // namespace sparq::sparse
