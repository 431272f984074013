// native/formats/tiled_csl.cc: Flash-LLM's Tiled-CSL format (sparq/sparse.h "kTiledCsl"), our
// encoder: per 64×64 tile, one uint32 per stored entry (fp16 value | swizzled location << 16),
// ordered so that each store wave of the kernel's shared-memory scatter hits 32 distinct banks.
//
// The wave rule: word i is element i % 4 of lane (i % 128) / 4's 16-byte load in round i / 128, so
// the 32 words of wave (round, element) are stored by 32 lanes at once. Each wave is filled from
// the banks with the most entries left, one entry per bank: taking the fullest banks first keeps
// as many banks non-empty for as long as possible, so later waves can stay conflict-free too.
// Padding words (value 0) go to free locations of the emptiest banks, where they collide least.
#include <algorithm>
#include <array>
#include <string>

#include "formats/host_buffers.h"
#include "formats/host_parallel.h"
#include "sparse_formats.h"

namespace sparq::sparse {

namespace {

constexpr int kBanks = 32;
constexpr int kSlotsPerBank = kTileElems / kBanks;  // 128 locations share a bank

uint32_t Word(uint16_t value, uint32_t location) { return uint32_t(value) | (location << 16); }

// One tile: its entries bucketed by bank, then laid out wave by wave into `out` (padded length).
class TileLayout {
 public:
  void Reset() {
    for (auto& b : banks_) b.clear();
    used_.fill(false);
  }

  void Add(uint16_t value, uint32_t location) {
    banks_[TiledCslBank(location)].push_back(Word(value, location));
    used_[location] = true;
  }

  // Adds `count` zero-valued words at free locations, each in the currently emptiest bank that
  // still has a free location.
  void AddPadding(int count) {
    for (int p = 0; p < count; ++p) {
      int best = -1;
      for (int b = 0; b < kBanks; ++b)
        if (banks_[b].size() < size_t(kSlotsPerBank) && (best < 0 || banks_[b].size() < banks_[best].size())) best = b;
      // A bank's 128 locations: rows 0..63, each holding the bank's two halves of that row.
      for (uint32_t loc = 2 * uint32_t(best); loc < uint32_t(kTileElems); loc += 2 * kBanks) {
        const uint32_t pick = !used_[loc] ? loc : !used_[loc + 1] ? loc + 1 : kTileElems;
        if (pick == uint32_t(kTileElems)) continue;
        Add(0, pick);
        break;
      }
    }
  }

  void Emit(uint32_t* out, int64_t words) {
    std::array<int, kBanks> order;
    for (int64_t round = 0; round * kWaveWords < words; ++round) {
      const int lanes = static_cast<int>(std::min<int64_t>(kWaveWords, words - round * kWaveWords) / kWordAlign);
      for (int elem = 0; elem < kWordAlign; ++elem) {
        for (int b = 0; b < kBanks; ++b) order[b] = b;
        std::stable_sort(order.begin(), order.end(),
                         [&](int a, int b) { return banks_[a].size() > banks_[b].size(); });
        // Fullest banks first, one entry each; only when fewer banks than lanes are non-empty does
        // a bank give a second entry to the same wave (a conflict no order can avoid).
        int next = 0;
        for (int lane = 0; lane < lanes; ++lane) {
          while (banks_[order[next % kBanks]].empty()) ++next;
          std::vector<uint32_t>& bank = banks_[order[next % kBanks]];
          out[round * kWaveWords + lane * kWordAlign + elem] = bank.back();
          bank.pop_back();
          ++next;
        }
      }
    }
  }

 private:
  std::array<std::vector<uint32_t>, kBanks> banks_;
  std::array<bool, kTileElems> used_{};
};

}  // namespace

Status EncodeTiledCsl(const uint16_t* w, const std::vector<uint32_t>& counts, SparseEncoded* out, int threads) {
  const int64_t tiles = out->tiles();
  const int64_t k_tiles = out->k_pad / kTileCols;
  out->bitmaps.clear();
  out->tile_offsets.assign(static_cast<size_t>(tiles + 1), 0);
  int64_t total = 0;
  int32_t max_units = 0;
  for (int64_t t = 0; t < tiles; ++t) {
    out->tile_offsets[t] = static_cast<uint32_t>(total);
    const int64_t padded = RoundUp(counts[t], kWordAlign);
    total += padded;
    max_units = std::max<int32_t>(max_units, static_cast<int32_t>(padded));
  }
  out->tile_offsets[tiles] = static_cast<uint32_t>(total);
  out->max_tile_units = max_units;
  formats::ReserveOnHugePages(out->values, static_cast<size_t>(total * 4));
  out->values.assign(static_cast<size_t>(total * 4), 0);
  uint32_t* words = reinterpret_cast<uint32_t*>(out->values.data());

  formats::ForEachSlice(tiles, formats::MinItemsPerSlice(kTileElems), threads,
                        [&](int64_t t0, int64_t t1) {
                          TileLayout layout;
                          std::array<uint32_t, kTileCols> kept;  // one row's stored columns
                          for (int64_t t = t0; t < t1; ++t) {
                            layout.Reset();
                            const int64_t row0 = (t / k_tiles) * kTileRows, col0 = (t % k_tiles) * kTileCols;
                            const int64_t rows = std::min<int64_t>(kTileRows, out->n - row0);
                            const int cols = int(std::min<int64_t>(kTileCols, out->k - col0));
                            for (int r = 0; r < rows; ++r) {
                              const uint16_t* src = w + (row0 + r) * out->k + col0;
                              // The row's stored columns first, without a branch per entry (half
                              // of them mispredicted at 50% sparsity), then one Add each.
                              int stored = 0;
                              for (int c = 0; c < cols; ++c) {
                                kept[stored] = uint32_t(c);
                                stored += src[c] != 0;
                              }
                              for (int i = 0; i < stored; ++i) layout.Add(src[kept[i]], TiledCslLocation(r, int(kept[i])));
                            }
                            const int64_t padded = out->tile_offsets[t + 1] - out->tile_offsets[t];
                            layout.AddPadding(static_cast<int>(padded - counts[t]));
                            layout.Emit(words + out->tile_offsets[t], padded);
                          }
                        });
  return Status::Ok();
}

Status DecodeTiledCsl(const SparseEncoded& e, uint16_t* w) {
  const char* op = "sparse.read";
  const int64_t tiles = e.tiles(), k_tiles = e.k_pad / kTileCols;
  const auto broken = [&](int64_t t, const std::string& what) {
    return Status::Error(StatusCode::kArgument,
                         std::string(op) + ": tiled-csl encoding is inconsistent at tile " + std::to_string(t) + ": " +
                             what,
                         "weight");
  };
  if (!e.bitmaps.empty() || e.values.size() != static_cast<size_t>(e.tile_offsets[tiles]) * 4)
    return broken(tiles, "buffer sizes do not match the offsets");
  const uint32_t* words = reinterpret_cast<const uint32_t*>(e.values.data());
  std::array<bool, kTileElems> seen;
  int64_t nnz = 0;
  for (int64_t t = 0; t < tiles; ++t) {
    const uint32_t begin = e.tile_offsets[t], end = e.tile_offsets[t + 1];
    if (end < begin || (end - begin) % kWordAlign != 0 || int64_t(end - begin) > e.max_tile_units)
      return broken(t, "tile length must be a multiple of 4 within max_tile_units");
    const int64_t row0 = (t / k_tiles) * kTileRows, col0 = (t % k_tiles) * kTileCols;
    seen.fill(false);
    int padding = 0;
    for (uint32_t i = begin; i < end; ++i) {
      const uint32_t location = words[i] >> 16;
      const uint16_t value = static_cast<uint16_t>(words[i] & 0xffffu);
      if (location >= uint32_t(kTileElems)) return broken(t, "location out of the tile");
      if (seen[location]) return broken(t, "two words at one location");
      seen[location] = true;
      if (value == 0) {
        ++padding;
        continue;
      }
      const int64_t row = row0 + TiledCslRow(location), col = col0 + TiledCslCol(location);
      if (row >= e.n || col >= e.k) return broken(t, "a value in the padding");
      w[row * e.k + col] = value;
      ++nnz;
    }
    if (padding >= kWordAlign) return broken(t, "more padding than alignment needs");
  }
  if (nnz != e.nnz) return broken(tiles, "nnz does not match the words");
  return Status::Ok();
}

}  // namespace sparq::sparse
