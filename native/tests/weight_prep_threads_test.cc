// native/tests/weight_prep_threads_test.cc: the weight encoders and quantizers on several threads
// (formats/host_parallel.h) give the bytes they give on one — sparse.encode (both formats), the cpu
// row lists and lanes, sparse.prune, w4a16.quantize and its packing and unpacking (both layouts),
// int8.quantize and its packing and unpacking (both layouts). The one-thread bytes are checked against the layouts elsewhere
// (sparse_format_test, w4a16_test, int8_cpu_test); this test is about the split, and under TSan
// (scripts/native-tests.sh) about races between the slices. Matrices are a few million entries:
// fewer than formats::kMinEntriesPerThread per slice would run on one thread and prove nothing, so
// each case first checks that it really splits.
// Prints one line per check, then "N passed, M failed"; exits 0 only when M == 0.
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "formats/host_parallel.h"
#include "sparq/int8.h"
#include "sparq/sparse.h"
#include "sparq/w4a16.h"

using sparq::Status;

namespace {

int g_passed = 0, g_failed = 0;
void Check(bool ok, const std::string& what) {
  std::printf("%s %s\n", ok ? "PASS" : "FAIL", what.c_str());
  (ok ? g_passed : g_failed)++;
}

constexpr int kThreads = 3;
std::mt19937_64 g_rng(20261204);

// fp16 bits with a fraction `sparsity` of 0x0000; the rest finite and non-zero when `finite`, else
// any non-zero pattern (NaN, ±Inf, subnormals, −0).
std::vector<uint16_t> RandomWeight(int64_t n, int64_t k, double sparsity, bool finite) {
  std::bernoulli_distribution keep(1.0 - sparsity);
  std::vector<uint16_t> w(size_t(n * k), 0);
  for (auto& v : w) {
    if (!keep(g_rng)) continue;
    const uint64_t r = g_rng();
    v = finite ? uint16_t((r & 0x83ffu) | (((r >> 16) % 29 + 1) << 10)) : uint16_t(r % 0xffff + 1);
  }
  return w;
}

template <typename T>
bool Same(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

std::string Name(const char* what, int64_t n, int64_t k, double s = -1) {
  char buf[160];
  if (s < 0) std::snprintf(buf, sizeof buf, "%s %lldx%lld: %d threads give the 1-thread bytes", what, (long long)n, (long long)k, kThreads);
  else std::snprintf(buf, sizeof buf, "%s %lldx%lld s=%.2f: %d threads give the 1-thread bytes", what, (long long)n, (long long)k, s, kThreads);
  return buf;
}

// The split really happens for `count` items of `min_slice`: more than one slice runs.
bool Splits(int64_t count, int64_t min_slice) {
  std::atomic<int> slices{0};
  sparq::formats::ForEachSlice(count, min_slice, kThreads, [&](int64_t, int64_t) { slices.fetch_add(1); });
  return slices.load() > 1;
}

void Sparse(int64_t n, int64_t k, double s) {
  const std::vector<uint16_t> w = RandomWeight(n, k, s, false);
  for (auto f : {sparq::SparseFormat::kBitmap, sparq::SparseFormat::kTiledCsl}) {
    sparq::SparseEncoded one, many;
    const Status a = sparq::SparseEncode(w.data(), n, k, f, &one, "sparse.encode", 1);
    const Status b = sparq::SparseEncode(w.data(), n, k, f, &many, "sparse.encode", kThreads);
    Check(a.ok() && b.ok() && one.nnz == many.nnz && one.max_tile_units == many.max_tile_units && Same(one.bitmaps, many.bitmaps) &&
              Same(one.values, many.values) && Same(one.tile_offsets, many.tile_offsets),
          Name(f == sparq::SparseFormat::kBitmap ? "sparse.encode bitmap" : "sparse.encode tiled-csl", n, k, s));
  }
  for (auto lanes : {sparq::CpuLanes::kNone, sparq::CpuLanes::kAuto, sparq::CpuLanes::kAlways}) {
    std::vector<uint8_t> one, many;
    const Status a = sparq::SparseBuildCpuRows(w.data(), n, k, &one, "sparse.encode", lanes, 1);
    const Status b = sparq::SparseBuildCpuRows(w.data(), n, k, &many, "sparse.encode", lanes, kThreads);
    const char* what = lanes == sparq::CpuLanes::kNone ? "cpu row lists" : lanes == sparq::CpuLanes::kAuto ? "cpu lists or lanes" : "cpu lists and lanes";
    Check(a.ok() && b.ok() && Same(one, many), Name(what, n, k, s));
  }
  std::vector<uint16_t> one(size_t(n * k), 0xdead), many(size_t(n * k), 0xbeef);
  const Status a = sparq::SparsePrune(w.data(), n, k, 0.7, sparq::SparsePruneScope::kRow, one.data(), "sparse.prune", 1);
  const Status b = sparq::SparsePrune(w.data(), n, k, 0.7, sparq::SparsePruneScope::kRow, many.data(), "sparse.prune", kThreads);
  Check(a.ok() && b.ok() && Same(one, many), Name("sparse.prune to 0.7 by row", n, k, s));
}

void W4A16(int64_t n, int64_t k, int group_size) {
  const std::vector<uint16_t> w = RandomWeight(n, k, 0.1, true);
  std::vector<uint8_t> codes1, codes3;
  std::vector<uint16_t> scales1, scales3;
  const Status a = sparq::W4A16QuantizeRtn(w.data(), n, k, group_size, &codes1, &scales1, "w4a16.quantize", 1);
  const Status b = sparq::W4A16QuantizeRtn(w.data(), n, k, group_size, &codes3, &scales3, "w4a16.quantize", kThreads);
  Check(a.ok() && b.ok() && Same(codes1, codes3) && Same(scales1, scales3), Name("w4a16.quantize", n, k));
  {
    // Non-finite weights are refused; whichever slice finds one first, the error names the first index.
    std::vector<uint16_t> bad = w;
    const int64_t first = (n / 2) * k + k / 3;
    bad[size_t(first)] = 0x7e00;                 // NaN in a middle row
    bad[size_t((n - 1) * k)] = 0xfc00;           // −Inf in the last row (another slice)
    std::vector<uint8_t> c;
    std::vector<uint16_t> sc;
    const Status one = sparq::W4A16QuantizeRtn(bad.data(), n, k, group_size, &c, &sc, "w4a16.quantize", 1);
    const Status many = sparq::W4A16QuantizeRtn(bad.data(), n, k, group_size, &c, &sc, "w4a16.quantize", kThreads);
    const std::string want = "at index " + std::to_string(first) + " (row " + std::to_string(first / k) + ", column " +
                             std::to_string(first % k) + ")";
    Check(!one.ok() && !many.ok() && one.code == sparq::StatusCode::kArgument && one.message == many.message &&
              one.message.find(want) != std::string::npos,
          Name("w4a16.quantize of a NaN and an Inf weight: the same error on 1 and 3 threads, naming the first,", n, k) +
              " got: " + many.message);
  }
  for (auto layout : {sparq::W4A16Layout::kGpu, sparq::W4A16Layout::kCpu}) {
    sparq::W4A16Packed one, many;
    const Status c = sparq::W4A16Pack(codes1.data(), scales1.data(), n, k, group_size, &one, layout, "w4a16.pack", 1);
    const Status d = sparq::W4A16Pack(codes1.data(), scales1.data(), n, k, group_size, &many, layout, "w4a16.pack", kThreads);
    Check(c.ok() && d.ok() && Same(one.qweight, many.qweight) && Same(one.scales, many.scales),
          Name(layout == sparq::W4A16Layout::kGpu ? "w4a16 pack (gpu layout)" : "w4a16 pack (cpu layout)", n, k));
    std::vector<uint8_t> back_codes;
    std::vector<uint16_t> back_scales;
    const Status e = sparq::W4A16Unpack(many, &back_codes, &back_scales, kThreads);
    Check(e.ok() && Same(back_codes, codes1) && Same(back_scales, scales1),
          Name(layout == sparq::W4A16Layout::kGpu ? "w4a16 unpack (gpu layout), the exact inverse," : "w4a16 unpack (cpu layout), the exact inverse,", n, k));
  }
}

void Int8(int64_t n, int64_t k) {
  const std::vector<uint16_t> w = RandomWeight(n, k, 0.1, true);
  std::vector<int8_t> codes1, codes3;
  std::vector<float> scb1, scb3;
  const Status a = sparq::Int8QuantizeWeights(w.data(), n, k, &codes1, &scb1, "int8.quantize", 1);
  const Status b = sparq::Int8QuantizeWeights(w.data(), n, k, &codes3, &scb3, "int8.quantize", kThreads);
  Check(a.ok() && b.ok() && Same(codes1, codes3) && Same(scb1, scb3), Name("int8.quantize", n, k));
  for (auto layout : {sparq::Int8Layout::kGpu, sparq::Int8Layout::kCpu}) {
    sparq::Int8Packed one, many;
    const Status c = sparq::Int8Pack(codes1.data(), scb1.data(), n, k, layout, &one, "int8.pack", 1);
    const Status d = sparq::Int8Pack(codes1.data(), scb1.data(), n, k, layout, &many, "int8.pack", kThreads);
    Check(c.ok() && d.ok() && Same(one.codes, many.codes) && Same(one.scb, many.scb) && Same(one.row_sums, many.row_sums),
          Name(layout == sparq::Int8Layout::kGpu ? "int8 pack (gpu layout)" : "int8 pack (cpu layout)", n, k));
    std::vector<int8_t> back_codes;
    std::vector<float> back_scb;
    const Status e = sparq::Int8Unpack(many, &back_codes, &back_scb, kThreads);
    Check(e.ok() && Same(back_codes, codes1) && Same(back_scb, scb1),
          Name(layout == sparq::Int8Layout::kGpu ? "int8 unpack (gpu layout), the exact inverse," : "int8 unpack (cpu layout), the exact inverse,", n, k));
  }
}

void SliceCover() {
  // Every index once, in slices of at least min_slice, whatever the count and thread count.
  for (int64_t count : {int64_t(1), int64_t(2), int64_t(7), int64_t(1000), int64_t(4097)})
    for (int64_t min_slice : {int64_t(1), int64_t(3), int64_t(5000)}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(count));
      std::atomic<int> short_slices{0}, slices{0};
      sparq::formats::ForEachSlice(count, min_slice, 4, [&](int64_t b, int64_t e) {
        slices.fetch_add(1);
        if (e - b < min_slice && e - b < count) short_slices.fetch_add(1);
        for (int64_t i = b; i < e; ++i) hits[size_t(i)].fetch_add(1);
      });
      bool once = true;
      for (auto& h : hits) once &= h.load() == 1;
      Check(once && short_slices.load() == 0 && slices.load() >= 1 && slices.load() <= 4,
            "ForEachSlice(" + std::to_string(count) + ", min " + std::to_string(min_slice) + ", 4 threads) covers every index once");
    }
  bool rethrown = false;
  try {
    sparq::formats::ForEachSlice(100, 1, 4, [](int64_t b, int64_t) {
      if (b > 0) throw std::bad_alloc();
    });
  } catch (const std::bad_alloc&) {
    rethrown = true;
  }
  Check(rethrown, "ForEachSlice rethrows a slice's exception after joining the others");
}

void Copies() {
  // ParallelCopy: the same bytes as memcpy for any size and thread count, sizes around its 64 KiB
  // chunks and 8 MiB slices, odd offsets; nothing written past the end.
  std::vector<uint8_t> src((size_t(41) << 20) + 64);
  uint32_t x = 12345;
  for (auto& b : src) b = uint8_t((x = x * 1664525u + 1013904223u) >> 24);
  for (size_t bytes : {size_t(0), size_t(1), size_t(65535), size_t(65537), (size_t(8) << 20) - 1, (size_t(17) << 20) + 3,
                       size_t(41) << 20})
    for (int threads : {1, 2, 3, 5}) {
      std::vector<uint8_t> dst(bytes + 64, 0xa5);
      sparq::formats::ParallelCopy(dst.data() + 1, src.data() + 7, bytes, threads);
      bool same = dst[0] == 0xa5 && (bytes == 0 || std::memcmp(dst.data() + 1, src.data() + 7, bytes) == 0);
      for (size_t i = bytes + 1; i < dst.size(); ++i) same &= dst[i] == 0xa5;
      Check(same, "ParallelCopy of " + std::to_string(bytes) + " bytes on " + std::to_string(threads) + " threads: memcpy's bytes, nothing past");
    }
}

}  // namespace

int main() {
  SliceCover();
  Copies();
  // ~2–3 million entries: two or three slices of formats::kMinEntriesPerThread.
  Check(Splits(2048, sparq::formats::MinItemsPerSlice(1100)), "a 2048x1100 weight is split over threads by rows");
  for (double s : {0.5, 0.9}) Sparse(2048, 1100, s);
  Sparse(1500, 2049, 0.6);  // odd n and k: partial tiles, blocks and chunks in several slices
  W4A16(2048, 1024, 128);
  W4A16(1000, 3072, 64);
  Int8(2048, 1100);
  Int8(1500, 2049);
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
