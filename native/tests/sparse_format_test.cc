// native/tests/sparse_format_test.cc: the sparse encoder's two formats and the pruner, checked
// against the byte layout sparq/sparse.h describes, read here independently of the encoder: bitmap
// blocks decoded from their fragment-order rule, Tiled-CSL words from their location rule, the
// store waves' banks counted, bytes per weight against the research brief's model, round trips
// exact (−0, NaN and subnormals included), broken encodings refused.
// Prints one line per check, then "N passed, M failed"; exits 0 only when M == 0.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "formats/sparse_formats.h"
#include "sparq/sparse.h"
#include "test_shard.h"

using sparq::SparseEncoded;
using sparq::SparseFormat;
using sparq::Status;
using sparq::StatusCode;

namespace {

int g_passed = 0, g_failed = 0;
void Check(bool ok, const std::string& what) {
  std::printf("%s %s\n", ok ? "PASS" : "FAIL", what.c_str());
  (ok ? g_passed : g_failed)++;
}

std::mt19937_64 g_rng(20261130);

// A random fp16 matrix where each entry is stored with probability 1 − sparsity; stored entries are
// random non-zero bit patterns (any sign, exponent, NaN, −0 included).
std::vector<uint16_t> RandomSparse(int64_t n, int64_t k, double sparsity) {
  std::bernoulli_distribution keep(1.0 - sparsity);
  std::uniform_int_distribution<int> bits(1, 0xffff);
  std::vector<uint16_t> w(static_cast<size_t>(n * k), 0);
  for (auto& v : w)
    if (keep(g_rng)) v = static_cast<uint16_t>(bits(g_rng));
  return w;
}

std::string Name(SparseFormat f) { return sparq::SparseFormatName(f); }

// The dense matrix an encoding holds, read from sparq/sparse.h's description alone.
std::vector<uint16_t> ReadBack(const SparseEncoded& e) {
  std::vector<uint16_t> w(static_cast<size_t>(e.n * e.k), 0);
  const int64_t k_tiles = e.k_pad / 64;
  for (int64_t t = 0; t < e.tiles(); ++t) {
    const int64_t row0 = t / k_tiles * 64, col0 = t % k_tiles * 64;
    const auto put = [&](int64_t r, int64_t c, uint16_t v) {
      if (row0 + r < e.n && col0 + c < e.k) w[(row0 + r) * e.k + col0 + c] = v;
    };
    if (e.format == SparseFormat::kBitmap) {
      const uint16_t* v = reinterpret_cast<const uint16_t*>(e.values.data()) + e.tile_offsets[t];
      for (int wg = 0; wg < 4; ++wg)
        for (int s = 0; s < 4; ++s)
          for (int f = 0; f < 4; ++f) {  // a0..a3: (rows 0-7, k 0-7), (rows 8-15, k 0-7), (0-7, 8-15), (8-15, 8-15)
            const uint64_t bits = e.bitmaps[t * 64 + (wg * 4 + s) * 4 + f];
            for (int bit = 0; bit < 64; ++bit)
              if ((bits >> bit) & 1) put(16 * wg + 8 * (f % 2) + bit / 8, 16 * s + 8 * (f / 2) + bit % 8, *v++);
          }
    } else {
      const uint32_t* words = reinterpret_cast<const uint32_t*>(e.values.data());
      for (uint32_t i = e.tile_offsets[t]; i < e.tile_offsets[t + 1]; ++i) {
        const int loc = int(words[i] >> 16), r = loc / 64;
        put(r, (loc % 64) ^ ((r % 8) * 8), uint16_t(words[i]));
      }
    }
  }
  return w;
}

// The shared-memory cycles a Tiled-CSL tile's scatter takes: each store wave (32 lanes) costs as
// many cycles as the most lanes it puts in one bank. No order beats max(waves, fullest bank's
// entries); `row_major` is the same count for the entries in plain row-major order.
struct ScatterCycles {
  int64_t cycles = 0, lower_bound = 0, row_major = 0;
};
int64_t WaveCycles(const uint32_t* words, uint32_t len) {
  int64_t cycles = 0;
  for (uint32_t round = 0; round * 128 < len; ++round) {
    const uint32_t lanes = std::min<uint32_t>(128, len - round * 128) / 4;
    for (int elem = 0; elem < 4; ++elem) {
      int per_bank[32] = {0}, worst = 0;
      for (uint32_t lane = 0; lane < lanes; ++lane)
        worst = std::max(worst, ++per_bank[(words[round * 128 + lane * 4 + elem] >> 16) / 2 % 32]);
      cycles += worst;
    }
  }
  return cycles;
}
ScatterCycles CountScatterCycles(const SparseEncoded& e) {
  ScatterCycles s;
  const uint32_t* words = reinterpret_cast<const uint32_t*>(e.values.data());
  for (int64_t t = 0; t < e.tiles(); ++t) {
    const uint32_t begin = e.tile_offsets[t], len = e.tile_offsets[t + 1] - begin;
    s.cycles += WaveCycles(words + begin, len);
    int per_bank[32] = {0};
    std::vector<uint32_t> sorted(words + begin, words + begin + len);
    for (uint32_t w : sorted) ++per_bank[(w >> 16) / 2 % 32];
    const int64_t waves = 4 * ((len + 127) / 128);
    s.lower_bound += std::max<int64_t>(waves, *std::max_element(per_bank, per_bank + 32));
    std::sort(sorted.begin(), sorted.end(), [](uint32_t a, uint32_t b) {  // row-major by (row, col)
      const auto key = [](uint32_t w) { const int loc = int(w >> 16), r = loc / 64; return r * 64 + ((loc % 64) ^ ((r % 8) * 8)); };
      return key(a) < key(b);
    });
    s.row_major += WaveCycles(sorted.data(), len);
  }
  return s;
}

void RoundTrip(int64_t n, int64_t k, double sparsity) {
  if (!sparq_test::TakeCase()) return;
  const std::vector<uint16_t> w = RandomSparse(n, k, sparsity);
  int64_t nnz = 0;
  for (uint16_t v : w) nnz += v != 0;
  for (SparseFormat f : {SparseFormat::kBitmap, SparseFormat::kTiledCsl}) {
    const std::string tag = Name(f) + " " + std::to_string(n) + "x" + std::to_string(k) + " s=" + std::to_string(sparsity);
    SparseEncoded e;
    Status st = sparq::SparseEncode(w.data(), n, k, f, &e);
    if (!st.ok()) {
      Check(false, tag + ": encode: " + st.message);
      continue;
    }
    Check(e.format == f && e.nnz == nnz && e.n_pad % 64 == 0 && e.k_pad % 64 == 0 && e.n_pad - n < 64 && e.k_pad - k < 64,
          tag + ": dims and nnz");
    Check(ReadBack(e) == w, tag + ": independent read-back equals the input");
    std::vector<uint16_t> decoded;
    st = sparq::SparseDecode(e, &decoded);
    Check(st.ok() && decoded == w, tag + ": SparseDecode round trip exact");
    bool aligned = true;
    uint32_t longest = 0;
    const uint32_t align = f == SparseFormat::kBitmap ? 8 : 4;
    for (int64_t t = 0; t < e.tiles(); ++t) {
      aligned &= e.tile_offsets[t] % align == 0;
      longest = std::max(longest, e.tile_offsets[t + 1] - e.tile_offsets[t]);
    }
    Check(aligned && int32_t(longest) == e.max_tile_units, tag + ": tiles 16-byte aligned, max_tile_units is the longest");
  }
}

// bytes per weight against the brief's model: bitmap 2(1−s) + 0.125, Tiled-CSL 4(1−s).
void BytesModel(double sparsity) {
  const int64_t n = 4096, k = 4096;
  const std::vector<uint16_t> w = RandomSparse(n, k, sparsity);
  sparq::SparseFormatSizes sizes;
  Status st = sparq::SparseMeasure(w.data(), n, k, &sizes);
  const double elems = double(n * k), s = 1.0 - double(sizes.nnz) / elems;
  const double bitmap = double(sizes.bitmap_bytes) / elems, csl = double(sizes.tiled_csl_bytes) / elems;
  const double bitmap_model = 2 * (1 - s) + 0.125, csl_model = 4 * (1 - s);
  char line[200];
  std::snprintf(line, sizeof line, "bytes/weight at s=%.2f: bitmap %.4f (model %.4f), tiled-csl %.4f (model %.4f)",
                sparsity, bitmap, bitmap_model, csl, csl_model);
  Check(st.ok() && std::fabs(bitmap / bitmap_model - 1) < 0.02 && std::fabs(csl / csl_model - 1) < 0.02, line);
  for (SparseFormat f : {SparseFormat::kBitmap, SparseFormat::kTiledCsl, SparseFormat::kAuto}) {
    SparseEncoded e;
    st = sparq::SparseEncode(w.data(), n, k, f, &e);
    const size_t want = f == SparseFormat::kBitmap     ? sizes.bitmap_bytes
                        : f == SparseFormat::kTiledCsl ? sizes.tiled_csl_bytes
                                                       : std::min(sizes.bitmap_bytes, sizes.tiled_csl_bytes);
    Check(st.ok() && e.bytes() == want, Name(f) + " encoding's bytes() equal SparseMeasure's count at s=" +
                                            std::to_string(sparsity) + " (" + std::to_string(e.bytes()) + ")");
    if (f == SparseFormat::kTiledCsl) {
      const ScatterCycles c = CountScatterCycles(e);
      char what[200];
      std::snprintf(what, sizeof what,
                    "tiled-csl scatter at s=%.2f: %lld wave cycles, lower bound %lld, row-major order %lld (<= 1.06x bound, <= 0.5x row-major)",
                    sparsity, (long long)c.cycles, (long long)c.lower_bound, (long long)c.row_major);
      Check(double(c.cycles) <= 1.06 * double(c.lower_bound) && 2 * c.cycles <= c.row_major, what);
    }
  }
}

void DenseBlockInSparse() {
  const int64_t n = 200, k = 300;
  std::vector<uint16_t> w = RandomSparse(n, k, 0.95);
  for (int r = 64; r < 128; ++r)
    for (int c = 64; c < 128; ++c) w[r * k + c] = uint16_t(0x3c00 + r + c);  // one whole tile stored
  for (SparseFormat f : {SparseFormat::kBitmap, SparseFormat::kTiledCsl}) {
    SparseEncoded e;
    Status st = sparq::SparseEncode(w.data(), n, k, f, &e);
    std::vector<uint16_t> back;
    Check(st.ok() && e.max_tile_units == 4096 && sparq::SparseDecode(e, &back).ok() && back == w,
          Name(f) + ": a fully stored tile inside a 95% sparse matrix: max_tile_units 4096, round trip exact");
  }
}

void AutoPicksSmaller() {
  for (double s : {0.3, 0.8, 0.97, 0.999}) {
    const std::vector<uint16_t> w = RandomSparse(256, 512, s);
    SparseEncoded a, b, c;
    sparq::SparseEncode(w.data(), 256, 512, SparseFormat::kAuto, &a);
    sparq::SparseEncode(w.data(), 256, 512, SparseFormat::kBitmap, &b);
    sparq::SparseEncode(w.data(), 256, 512, SparseFormat::kTiledCsl, &c);
    Check(a.bytes() == std::min(b.bytes(), c.bytes()) &&
              a.format == (c.bytes() < b.bytes() ? SparseFormat::kTiledCsl : SparseFormat::kBitmap),
          "auto at s=" + std::to_string(s) + " picks " + Name(a.format) + " (bitmap " + std::to_string(b.bytes()) +
              " B, tiled-csl " + std::to_string(c.bytes()) + " B)");
  }
}

void BrokenEncodingsRefused() {
  const std::vector<uint16_t> w = RandomSparse(70, 130, 0.6);
  for (SparseFormat f : {SparseFormat::kBitmap, SparseFormat::kTiledCsl}) {
    SparseEncoded good;
    sparq::SparseEncode(w.data(), 70, 130, f, &good);
    std::vector<uint16_t> out;
    SparseEncoded e = good;
    // Half a run's alignment (bitmap: 8 halves, Tiled-CSL: 4 words), so the shift is refused for
    // any draw: a whole alignment unit (+4 words) was caught only when the moved words clashed.
    e.tile_offsets[1] += f == SparseFormat::kBitmap ? 4 : 2;
    Check(sparq::SparseDecode(e, &out).code == StatusCode::kArgument, Name(f) + ": shifted offset refused");
    e = good;
    e.nnz += 1;
    Check(sparq::SparseDecode(e, &out).code == StatusCode::kArgument, Name(f) + ": wrong nnz refused");
    e = good;
    if (f == SparseFormat::kBitmap) {
      e.bitmaps.back() |= uint64_t(1) << 63;  // last tile's last block lies past n = 70 → padding
    } else {
      uint32_t* words = reinterpret_cast<uint32_t*>(e.values.data());
      words[1] = (words[0] & 0xffff0000u) | 0x3c00u;  // two words at one location
    }
    Check(sparq::SparseDecode(e, &out).code == StatusCode::kArgument, Name(f) + ": corrupted entry refused");
  }
}

void BadArguments() {
  std::vector<uint16_t> w(4, 0x3c00), out;
  SparseEncoded e;
  Status st = sparq::SparseEncode(w.data(), 0, 4, SparseFormat::kBitmap, &e);
  Check(st.code == StatusCode::kShape && st.argument == "shape", "encode n = 0 → kShape 'shape': " + st.message);
  st = sparq::SparseEncode(w.data(), 2, 2, static_cast<SparseFormat>(7), &e);
  Check(st.code == StatusCode::kArgument && st.argument == "format", "encode format 7 → kArgument 'format'");
  for (double s : {-0.1, 1.5, std::nan("")}) {
    st = sparq::SparsePrune(w.data(), 2, 2, s, sparq::SparsePruneScope::kRow, &out);
    Check(st.code == StatusCode::kArgument && st.argument == "sparsity", "prune sparsity " + std::to_string(s) + " refused: " + st.message);
  }
}

// The pruner against a sort-based reference: exactly round(s·count) zeros per row (or overall),
// and every kept magnitude ≥ every pruned one.
void Prune() {
  for (auto scope : {sparq::SparsePruneScope::kRow, sparq::SparsePruneScope::kGlobal}) {
    for (double s : {0.0, 0.5, 0.8, 1.0}) {
      const int64_t n = 37, k = 301;
      std::vector<uint16_t> w = RandomSparse(n, k, 0.1);
      for (int i = 0; i < 50; ++i) w[g_rng() % w.size()] = 0x3c00;  // ties
      std::vector<uint16_t> out;
      Status st = sparq::SparsePrune(w.data(), n, k, s, scope, &out);
      bool ok = st.ok();
      const auto mag = [](uint16_t v) { return v & 0x7fff; };
      const int64_t runs = scope == sparq::SparsePruneScope::kRow ? n : 1, len = n * k / runs;
      for (int64_t r = 0; r < runs && ok; ++r) {
        int64_t zeros = 0, already_zero = 0;
        for (int64_t i = r * len; i < (r + 1) * len; ++i) already_zero += w[i] == 0;
        int max_pruned = -1, min_kept = 0x10000;
        for (int64_t i = r * len; i < (r + 1) * len; ++i) {
          if (out[i] == 0) {
            ++zeros;
            max_pruned = std::max(max_pruned, mag(w[i]));
          } else {
            ok &= out[i] == w[i];
            min_kept = std::min(min_kept, mag(w[i]));
          }
        }
        ok &= zeros == std::max<int64_t>(std::llround(s * double(len)), already_zero) && max_pruned <= min_kept;
      }
      Check(ok, std::string(scope == sparq::SparsePruneScope::kRow ? "row" : "global") + " prune to s=" + std::to_string(s));
    }
  }
  // Long rows take the histogram path; ties keep the lower index.
  const int64_t k = 200000;
  std::vector<uint16_t> w(k, 0x3c00), out;
  sparq::SparsePrune(w.data(), 1, k, 0.25, sparq::SparsePruneScope::kRow, &out);
  Check(std::all_of(out.begin(), out.begin() + 150000, [](uint16_t v) { return v == 0x3c00; }) &&
            std::all_of(out.begin() + 150000, out.end(), [](uint16_t v) { return v == 0; }),
        "prune of equal magnitudes keeps the lower indices (histogram path)");
}

void EncodeSpeed() {
  const int64_t n = 14336, k = 4096;
  const std::vector<uint16_t> w = RandomSparse(n, k, 0.5);
  for (SparseFormat f : {SparseFormat::kBitmap, SparseFormat::kTiledCsl}) {
    SparseEncoded e;
    const auto t0 = std::chrono::steady_clock::now();
    sparq::SparseEncode(w.data(), n, k, f, &e);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::printf("INFO encode %s 14336x4096 s=0.5: %.0f ms\n", Name(f).c_str(), ms);
  }
}

}  // namespace

// The cpu row lists read by the rule sparq/sparse.h states, independently of the builder: header,
// offsets in slab → chunk → row order, group counts equal to the longest class list, each class's
// entries in increasing k with their fp16 bits, padding (c·64, 0x0000) only after
// the last entry, every stored weight listed exactly once, the byte size as laid out.
void RowLists(int64_t n, int64_t k, double sparsity) {
  if (!sparq_test::TakeCase()) return;
  namespace sp = sparq::sparse;
  const std::vector<uint16_t> w = RandomSparse(n, k, sparsity);
  std::vector<uint8_t> bytes;
  const Status st = sparq::SparseBuildCpuRows(w.data(), n, k, &bytes, "sparse.encode", sparq::CpuLanes::kNone);
  char name[120];
  std::snprintf(name, sizeof name, "row lists %lldx%lld sparsity %.2f", (long long)n, (long long)k, sparsity);
  if (!st.ok()) {
    Check(false, std::string(name) + ": " + st.message);
    return;
  }
  const sp::CpuRows r = sp::CpuRowsAt(bytes.data());
  const int64_t n_pad = (n + 63) / 64 * 64, k_pad = (k + 63) / 64 * 64;
  const int64_t chunk = sp::kRowsChunkK, chunks = (k_pad + chunk - 1) / chunk;
  bool ok = r.header->magic == sp::kCpuRowsMagic && r.header->chunk_k == uint32_t(chunk) && r.header->rows == n_pad &&
            r.header->chunks == chunks && r.group_offsets[0] == 0;
  std::vector<uint16_t> rebuilt(size_t(n * k), 0);
  int64_t expect_at = 0;
  for (int64_t slab = 0; ok && slab < n_pad / 64; ++slab)
    for (int64_t q = 0; ok && q < chunks; ++q)
      for (int64_t ri = 0; ok && ri < 64; ++ri, ++expect_at) {
        const int64_t row = slab * 64 + ri;
        const int64_t g0 = r.group_offsets[expect_at], g1 = r.group_offsets[expect_at + 1];
        ok = ok && sp::CpuRowsListIndex(*r.header, row, q) == expect_at && g1 >= g0;
        int64_t longest = 0;
        for (int c = 0; ok && c < 8; ++c) {
          int64_t entries = 0, last_k = -1;
          bool padding = false;
          for (int64_t g = g0; ok && g < g1; ++g) {
            const uint8_t j = r.x_cols[g * 8 + c];
            const uint16_t v = r.values[g * 8 + c];
            if (v == 0) {  // padding: (0, 0), and nothing stored after it
              ok = j == 0;
              padding = true;
              continue;
            }
            const int64_t kk = q * chunk + 8 * int64_t(j) + c;
            ok = !padding && j < chunk / 8 && kk > last_k && kk < k && row < n && rebuilt[size_t(row * k + kk)] == 0;
            if (ok) rebuilt[size_t(row * k + kk)] = v;
            last_k = kk;
            ++entries;
          }
          longest = std::max(longest, entries);
        }
        ok = ok && g1 - g0 == longest;
      }
  ok = ok && rebuilt == w;
  const size_t header = 64, offsets = (size_t(n_pad * chunks + 1) * 8 + 63) / 64 * 64;
  const size_t slots = size_t(r.group_offsets[n_pad * chunks]) * 8;
  ok = ok && bytes.size() == header + offsets + (slots + 63) / 64 * 64 + slots * 2;
  ok = ok && r.header->lane_chunks == 0 && r.lane_values == nullptr;
  Check(ok, std::string(name) + ": laid out as sparq/sparse.h states, every stored weight listed once");
}

size_t Align64(size_t v) { return (v + 63) / 64 * 64; }

// The lanes read by the rule sparq/sparse.h states, independently of the builder: after lists
// built the same way (their bytes unchanged), runs by row group → chunk → class; each run's lanes
// its rows longest first (ties by row), lane_row a permutation and row_lane its inverse; step s
// holding exactly the lanes whose row has more than s entries, lane l's entries in increasing k
// with their fp16 bits, every stored weight in exactly one entry; the first entries, totals, zero
// tail and byte size as laid out.
void RowLanes(int64_t n, int64_t k, double sparsity) {
  if (!sparq_test::TakeCase()) return;
  namespace sp = sparq::sparse;
  const std::vector<uint16_t> w = RandomSparse(n, k, sparsity);
  std::vector<uint8_t> lists, bytes;
  Status st = sparq::SparseBuildCpuRows(w.data(), n, k, &lists, "sparse.encode", sparq::CpuLanes::kNone);
  if (st.ok()) st = sparq::SparseBuildCpuRows(w.data(), n, k, &bytes, "sparse.encode", sparq::CpuLanes::kAlways);
  char name[120];
  std::snprintf(name, sizeof name, "lanes %lldx%lld sparsity %.2f", (long long)n, (long long)k, sparsity);
  if (!st.ok()) {
    Check(false, std::string(name) + ": " + st.message);
    return;
  }
  const sp::CpuRows r = sp::CpuRowsAt(bytes.data());
  const int64_t n_pad = (n + 63) / 64 * 64, k_pad = (k + 63) / 64 * 64;
  const int64_t chunk = sp::kLanesChunkK, chunks = (k_pad + chunk - 1) / chunk, groups = n_pad / sp::kLanesRows;
  const size_t lists_size = sizeof(sp::CpuRowsHeader);  // the header differs only in the lane fields
  bool ok = bytes.size() > lists.size() && r.header->lane_chunks == chunks && r.lane_first != nullptr &&
            std::memcmp(bytes.data() + lists_size, lists.data() + lists_size, lists.size() - lists_size) == 0 &&
            r.lane_first[0] == 0;
  std::vector<uint16_t> rebuilt(size_t(n * k), 0);
  int64_t steps_total = 0;
  for (int64_t g = 0; ok && g < groups; ++g) {
    int64_t entry = r.lane_first[g];
    ok = r.lane_first_step[g] == steps_total;
    for (int64_t q = 0; ok && q < chunks; ++q)
      for (int c = 0; ok && c < 8; ++c) {
        const sp::LaneRun& run = r.lane_runs[(g * chunks + q) * 8 + c];
        bool seen[sp::kLanesRows] = {};
        for (int lane = 0; ok && lane < sp::kLanesRows; ++lane) {
          const int row = run.lane_row[lane];
          ok = row < sp::kLanesRows && !seen[row] && run.row_lane[row] == lane &&
               (lane == 0 || run.length[lane - 1] > run.length[lane] ||
                (run.length[lane - 1] == run.length[lane] && run.lane_row[lane - 1] < row));
          if (ok) seen[row] = true;
        }
        int64_t last_k[sp::kLanesRows], entries[sp::kLanesRows] = {};
        std::fill(last_k, last_k + sp::kLanesRows, int64_t(-1));
        const int steps = ok ? run.length[0] : 0;
        for (int s = 0; ok && s < steps; ++s) {
          int active = 0;
          while (active < sp::kLanesRows && run.length[active] > s) ++active;
          ok = r.lane_active[steps_total + s] == active;
          for (int lane = 0; ok && lane < active; ++lane) {
            const int64_t row = g * sp::kLanesRows + run.lane_row[lane];
            const uint8_t j = r.lane_cols[entry + lane];
            const uint16_t v = r.lane_values[entry + lane];
            const int64_t kk = q * chunk + 8 * int64_t(j) + c;
            ok = v != 0 && kk > last_k[lane] && kk < k && row < n && rebuilt[size_t(row * k + kk)] == 0;
            if (ok) rebuilt[size_t(row * k + kk)] = v;
            last_k[lane] = kk;
            ++entries[lane];
          }
          entry += active;
        }
        for (int lane = 0; ok && lane < sp::kLanesRows; ++lane) ok = entries[lane] == run.length[lane];
        steps_total += steps;
      }
    ok = ok && r.lane_first[g + 1] == entry;
  }
  ok = ok && rebuilt == w;
  const size_t slots = size_t(r.header->lane_slots), runs = size_t(groups * chunks * 8);
  const size_t first = Align64(lists.size()), run_at = Align64(first + size_t(groups + 1) * 8);
  const size_t first_step = Align64(run_at + runs * sizeof(sp::LaneRun)), active = Align64(first_step + size_t(groups + 1) * 8);
  const size_t cols = Align64(active + size_t(steps_total) + sp::kLanesTail), values = Align64(cols + slots + sp::kLanesTail);
  ok = ok && steps_total == r.header->lane_steps && slots == size_t(r.lane_first[groups]) &&
       r.lane_first_step[groups] == steps_total && bytes.size() == values + (slots + sp::kLanesTail) * 2;
  for (size_t i = slots; ok && i < slots + sp::kLanesTail; ++i) ok = r.lane_cols[i] == 0 && r.lane_values[i] == 0;
  // the arrays where this test's own arithmetic puts them, and the lists' header fields unchanged
  const auto at = [&](const void* a) { return size_t(static_cast<const uint8_t*>(a) - bytes.data()); };
  ok = ok && at(r.lane_first) == first && at(r.lane_runs) == run_at && at(r.lane_first_step) == first_step &&
       at(r.lane_active) == active && at(r.lane_cols) == cols && at(r.lane_values) == values;
  const sp::CpuRows l = sp::CpuRowsAt(lists.data());
  ok = ok && r.header->magic == l.header->magic && r.header->chunk_k == l.header->chunk_k &&
       r.header->rows == l.header->rows && r.header->chunks == l.header->chunks && r.header->groups == l.header->groups;
  Check(ok, std::string(name) + ": laid out as sparq/sparse.h states, every stored weight in one lane entry");
}

// What sparse.encode builds on a Zen 5 cpu context (CpuLanes::kAuto): where at most 32% of the
// weights are stored and the lanes hold at most 2 slots per stored weight (this test counts both
// itself), the lanes alone — no lists (chunks and groups 0, one group offset) and lane arrays equal
// to those CpuLanes::kAlways builds, at the offsets this test computes; elsewhere the lists alone.
void LanesInsteadOfLists(int64_t n, int64_t k, double sparsity) {
  if (!sparq_test::TakeCase()) return;
  namespace sp = sparq::sparse;
  const std::vector<uint16_t> w = RandomSparse(n, k, sparsity);
  std::vector<uint8_t> both, bytes;
  Status st = sparq::SparseBuildCpuRows(w.data(), n, k, &both, "sparse.encode", sparq::CpuLanes::kAlways);
  if (st.ok()) st = sparq::SparseBuildCpuRows(w.data(), n, k, &bytes, "sparse.encode", sparq::CpuLanes::kAuto);
  char name[120];
  std::snprintf(name, sizeof name, "kAuto %lldx%lld sparsity %.2f", (long long)n, (long long)k, sparsity);
  if (!st.ok()) {
    Check(false, std::string(name) + ": " + st.message);
    return;
  }
  int64_t stored = 0;
  for (uint16_t v : w) stored += v != 0;
  const sp::CpuRows b = sp::CpuRowsAt(both.data()), r = sp::CpuRowsAt(bytes.data());
  const int64_t lane_steps = b.header->lane_steps, slots = b.header->lane_slots;
  const bool want_lanes = double(stored) <= 0.32 * double(n * k) && double(lane_steps) * 32 <= 2.0 * double(stored);
  bool ok = r.header->magic == sp::kCpuRowsMagic && r.header->rows == b.header->rows;
  if (want_lanes) {
    const int64_t groups = r.header->rows / sp::kLanesRows, chunks = b.header->lane_chunks;
    const size_t first = Align64(Align64(sizeof(sp::CpuRowsHeader)) + 8), counts = Align64(first + size_t(groups + 1) * 8);
    const size_t entries = size_t(slots) + sp::kLanesTail, step_bytes = size_t(lane_steps) + sp::kLanesTail;
    const size_t first_step = Align64(counts + size_t(groups * chunks * 8) * sizeof(sp::LaneRun));
    const size_t active = Align64(first_step + size_t(groups + 1) * 8);
    const size_t cols = Align64(active + step_bytes), values = Align64(cols + entries);
    const auto at = [&](const void* a) { return size_t(static_cast<const uint8_t*>(a) - bytes.data()); };
    ok = ok && r.header->chunks == 0 && r.header->groups == 0 && r.group_offsets[0] == 0 && !r.has_lists() &&
         r.header->lane_chunks == chunks && r.header->lane_steps == lane_steps && r.header->lane_slots == slots &&
         bytes.size() == values + entries * 2 && at(r.lane_first) == first && at(r.lane_runs) == counts &&
         at(r.lane_first_step) == first_step && at(r.lane_active) == active && at(r.lane_cols) == cols &&
         at(r.lane_values) == values && std::memcmp(r.lane_active, b.lane_active, step_bytes) == 0 &&
         std::memcmp(r.lane_first_step, b.lane_first_step, size_t(groups + 1) * 8) == 0 &&
         std::memcmp(r.lane_first, b.lane_first, size_t(groups + 1) * 8) == 0 &&
         std::memcmp(r.lane_runs, b.lane_runs, size_t(groups * chunks * 8) * sizeof(sp::LaneRun)) == 0 &&
         std::memcmp(r.lane_cols, b.lane_cols, entries) == 0 && std::memcmp(r.lane_values, b.lane_values, entries * 2) == 0;
  } else {
    ok = ok && r.header->lane_chunks == 0 && r.lane_values == nullptr && r.header->chunks == b.header->chunks &&
         r.header->groups == b.header->groups;
  }
  Check(ok, std::string(name) + (want_lanes ? ": the lanes alone, as kAlways builds them" : ": the lists alone"));
}

// The 32-bit tile offsets' limit: a weight past it is refused (kShape "shape") instead of wrapping.
// Reaching it for real takes > 8 GiB of values, so the check is called with the counts such a weight has;
// that SparseEncode calls it with the chosen format's padded count is read in the code, not tested.
void OffsetLimit() {
  const int64_t limit = int64_t(UINT32_MAX);
  for (auto f : {sparq::SparseFormat::kBitmap, sparq::SparseFormat::kTiledCsl}) {
    Check(sparq::sparse::CheckEncodedUnits("sparse.encode", f, 65536, 131072, limit, limit).ok(),
          std::string("offset limit: ") + sparq::SparseFormatName(f) + " at 2^32 - 1 values is accepted");
    const sparq::Status st = sparq::sparse::CheckEncodedUnits("sparse.encode", f, 65536, 131072, limit + 1, limit + 8);
    Check(!st.ok() && st.code == sparq::StatusCode::kShape && st.argument == "shape" &&
              st.message.find("sparse.encode: ") == 0 && st.message.find("32-bit tile offsets") != std::string::npos,
          std::string("offset limit: ") + sparq::SparseFormatName(f) + " past 2^32 - 1 values is kShape: " + st.message);
  }
}

// The header's count of stored Inf and NaN weights (what lets the bitmap kernel widen fp16 by
// placing its bits, sparq/sparse.h CpuRowsHeader::nonfinite), counted here from the fp16 bits: the
// random bit patterns hold some of either sign; with those made finite the count is 0 (−0 and
// subnormals included).
void NonFiniteCount() {
  if (!sparq_test::TakeCase()) return;
  const int64_t n = 70, k = 130;
  std::vector<uint16_t> w = RandomSparse(n, k, 0.6);
  int64_t want = 0;
  for (uint16_t v : w) want += v != 0 && ((v >> 10) & 0x1f) == 0x1f;
  std::vector<uint16_t> finite = w;
  for (auto& v : finite)
    if (((v >> 10) & 0x1f) == 0x1f) v = 0x3c00;
  finite[3] = 0x8000;    // −0
  finite[200] = 0x0001;  // smallest subnormal
  for (sparq::CpuLanes lanes : {sparq::CpuLanes::kNone, sparq::CpuLanes::kAlways}) {
    std::vector<uint8_t> bytes, finite_bytes;
    const bool ok = want > 0 && sparq::SparseBuildCpuRows(w.data(), n, k, &bytes, "sparse.encode", lanes).ok() &&
                    sparq::sparse::CpuRowsAt(bytes.data()).header->nonfinite == want &&
                    sparq::SparseBuildCpuRows(finite.data(), n, k, &finite_bytes, "sparse.encode", lanes).ok() &&
                    sparq::sparse::CpuRowsAt(finite_bytes.data()).header->nonfinite == 0;
    Check(ok, std::string("cpu rows header counts stored Inf/NaN weights (") +
                  (lanes == sparq::CpuLanes::kNone ? "lists" : "lanes") + "): " + std::to_string(want) + ", then 0");
  }
}

int main() {
  for (auto [n, k] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {1, 7}, {63, 65}, {64, 64}, {129, 200}, {200, 129}})
    for (double s : {0.0, 0.3, 0.5, 0.8, 0.99, 1.0}) RoundTrip(n, k, s);
  for (auto [n, k] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {65, 1100}, {130, 2049}})
    for (double s : {0.0, 0.5, 0.7, 0.9, 1.0}) {
      RowLists(n, k, s);
      RowLanes(n, k, s);
      LanesInsteadOfLists(n, k, s);
    }
  for (double s : {0.5, 0.6, 0.7, 0.8, 0.9, 0.95}) BytesModel(s);
  DenseBlockInSparse();
  NonFiniteCount();
  AutoPicksSmaller();
  BrokenEncodingsRefused();
  BadArguments();
  OffsetLimit();
  Prune();
  EncodeSpeed();
  sparq_test::PrintShard();
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
