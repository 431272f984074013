// native/formats/marlin_pack.cc: W4A16 codes + scales → the packed layouts the kernels read
// (cuda/w4a16_layout.cuh has the index maps; docs/formats.md "W4A16" the picture), and back.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "cuda/w4a16_layout.cuh"
#include "formats/host_buffers.h"
#include "formats/host_parallel.h"
#include "sparq/w4a16.h"

namespace sparq {
namespace {

using namespace sparq::w4a16;

// The O(n·k) scan the binding leaves to the stream worker: the first code outside 0..15, by index.
Status CheckCodes(const char* op, const uint8_t* codes, int64_t n, int64_t k) {
  for (int64_t i = 0; i < n * k; ++i) {
    if (codes[i] > 15)
      return Status::Error(StatusCode::kArgument,
                           std::string(op) + ": codes must be values in 0..15, got " +
                               std::to_string(int(codes[i])) + " at [" + std::to_string(i / k) + ", " +
                               std::to_string(i % k) + "]",
                           "codes");
  }
  return Status::Ok();
}

void SetDims(W4A16Packed* p, W4A16Layout layout, int64_t n, int64_t k, int group_size) {
  p->layout = layout;
  p->n = n;
  p->k = k;
  p->group_size = group_size;
  p->n_pad = layout == W4A16Layout::kGpu ? GpuPadN(n) : CpuPadN(n);
  p->k_pad = layout == W4A16Layout::kGpu ? GpuPadK(k) : CpuPadK(k);
  p->group_size_eff = int32_t(GroupSizeEff(group_size, k, p->k_pad));
  p->groups_pad = p->k_pad / p->group_size_eff;
}

// Rows whose packed bytes no other such group shares, so the packers below can give each thread
// whole groups: a kGpu word mixes rows 8 apart within a 16-row group (one n tile holds 8 of them),
// a kCpu byte holds one column (a 4-column block keeps each thread's stores to its own lines).
int64_t PackTileRows(W4A16Layout layout) { return layout == W4A16Layout::kGpu ? kTileN : kCpuColBlock; }

void PackGpu(const uint8_t* codes, const uint16_t* scales, int64_t groups, W4A16Packed* p, int threads) {
  const int64_t k_tiles = p->k_pad / kTileK, tile_rows = PackTileRows(W4A16Layout::kGpu);
  std::vector<uint32_t> words;
  formats::ReserveOnHugePages(words, size_t(p->n_pad * p->k_pad / 8));
  words.assign(size_t(p->n_pad * p->k_pad / 8), 0u);
  formats::ForEachSlice(p->n_pad / tile_rows, formats::MinItemsPerSlice(tile_rows * p->k_pad),
                        threads, [&](int64_t t0, int64_t t1) {
                          for (int64_t nn = t0 * tile_rows; nn < t1 * tile_rows; ++nn) {
                            for (int64_t kk = 0; kk < p->k_pad; ++kk) {
                              const uint32_t q = (nn < p->n && kk < p->k) ? codes[nn * p->k + kk] : 8u;  // pad: w = 0
                              const NibbleAt at = GpuNibble(nn, kk, k_tiles);
                              words[size_t(at.word)] |= q << at.shift;
                            }
                          }
                        });
  formats::ReserveOnHugePages(p->qweight, words.size() * 4);
  p->qweight.resize(words.size() * 4);
  std::memcpy(p->qweight.data(), words.data(), p->qweight.size());
  std::vector<uint16_t> s(size_t(p->n_pad * p->groups_pad), 0);
  for (int64_t nn = 0; nn < p->n; ++nn)
    for (int64_t grp = 0; grp < groups; ++grp)
      s[size_t(GpuScaleIndex(nn, grp, p->groups_pad))] = scales[nn * groups + grp];
  p->scales.resize(s.size() * 2);
  std::memcpy(p->scales.data(), s.data(), p->scales.size());
}

void PackCpu(const uint8_t* codes, const uint16_t* scales, int64_t groups, W4A16Packed* p, int threads) {
  const int64_t tile_rows = PackTileRows(W4A16Layout::kCpu);
  formats::ReserveOnHugePages(p->qweight, size_t(p->n_pad * p->k_pad / 2));
  p->qweight.assign(size_t(p->n_pad * p->k_pad / 2), 0);
  formats::ForEachSlice(p->n_pad / tile_rows, formats::MinItemsPerSlice(tile_rows * p->k_pad),
                        threads, [&](int64_t t0, int64_t t1) {
                          for (int64_t nn = t0 * tile_rows; nn < t1 * tile_rows; ++nn) {
                            for (int64_t kk = 0; kk < p->k_pad; ++kk) {
                              const uint8_t q = (nn < p->n && kk < p->k) ? codes[nn * p->k + kk] : 8;
                              const ByteNibble at = CpuNibble(nn, kk, p->k_pad);
                              p->qweight[size_t(at.byte)] |= uint8_t(q << at.shift);
                            }
                          }
                        });
  std::vector<uint16_t> s(size_t(p->n_pad * p->groups_pad), 0);
  for (int64_t nn = 0; nn < p->n; ++nn)
    for (int64_t grp = 0; grp < groups; ++grp) s[size_t(nn * p->groups_pad + grp)] = scales[nn * groups + grp];
  p->scales.resize(s.size() * 2);
  std::memcpy(p->scales.data(), s.data(), p->scales.size());
}

}  // namespace

W4A16WeightView W4A16Packed::view() const { return view(qweight.data(), scales.data()); }

W4A16WeightView W4A16Packed::view(const void* qweight_at, const void* scales_at) const {
  W4A16WeightView v;
  v.qweight = qweight_at;
  v.scales = static_cast<const uint16_t*>(scales_at);
  v.n = n;
  v.k = k;
  v.n_pad = n_pad;
  v.k_pad = k_pad;
  v.group_size = group_size;
  v.group_size_eff = group_size_eff;
  v.groups_pad = groups_pad;
  v.layout = layout;
  return v;
}

Status W4A16Pack(const uint8_t* codes, const uint16_t* scales, int64_t n, int64_t k, int group_size,
                 W4A16Packed* out, W4A16Layout layout, const char* op, int threads) {
  Status st = W4A16CheckShape(op, n, k, group_size);
  if (st.ok()) st = CheckCodes(op, codes, n, k);
  if (!st.ok()) return st;
  W4A16Packed p;
  SetDims(&p, layout, n, k, group_size);
  const int64_t groups = k / group_size;
  if (layout == W4A16Layout::kGpu) PackGpu(codes, scales, groups, &p, threads);
  else PackCpu(codes, scales, groups, &p, threads);
  *out = std::move(p);
  return Status::Ok();
}

Status W4A16Unpack(const W4A16Packed& p, std::vector<uint8_t>* codes, std::vector<uint16_t>* scales, int threads) {
  if (p.n < 1 || p.k < 1 || p.group_size < 1 || p.k % p.group_size != 0 ||
      p.qweight.size() != size_t(p.n_pad * p.k_pad / 2) || p.scales.size() != size_t(p.n_pad * p.groups_pad * 2))
    return Status::Error(StatusCode::kArgument, "w4a16.read: weight must be a packed W4A16 weight, got inconsistent dims",
                         "weight");
  const int64_t groups = p.k / p.group_size;
  formats::ReserveOnHugePages(*codes, size_t(p.n * p.k));
  codes->assign(size_t(p.n * p.k), 0);
  scales->assign(size_t(p.n * groups), 0);
  const uint16_t* s = reinterpret_cast<const uint16_t*>(p.scales.data());
  // Rows only read the packed bytes and write their own codes: any split is safe.
  formats::ForEachSlice(p.n, formats::MinItemsPerSlice(p.k), threads, [&](int64_t n0, int64_t n1) {
    if (p.layout == W4A16Layout::kGpu) {
      const int64_t k_tiles = p.k_pad / kTileK;
      const uint32_t* words = reinterpret_cast<const uint32_t*>(p.qweight.data());
      for (int64_t nn = n0; nn < n1; ++nn)
        for (int64_t kk = 0; kk < p.k; ++kk) {
          const NibbleAt at = GpuNibble(nn, kk, k_tiles);
          (*codes)[size_t(nn * p.k + kk)] = uint8_t((words[at.word] >> at.shift) & 15u);
        }
      for (int64_t nn = n0; nn < n1; ++nn)
        for (int64_t grp = 0; grp < groups; ++grp)
          (*scales)[size_t(nn * groups + grp)] = s[GpuScaleIndex(nn, grp, p.groups_pad)];
    } else {
      for (int64_t nn = n0; nn < n1; ++nn)
        for (int64_t kk = 0; kk < p.k; ++kk) {
          const ByteNibble at = CpuNibble(nn, kk, p.k_pad);
          (*codes)[size_t(nn * p.k + kk)] = uint8_t((p.qweight[size_t(at.byte)] >> at.shift) & 15u);
        }
      for (int64_t nn = n0; nn < n1; ++nn)
        for (int64_t grp = 0; grp < groups; ++grp)
          (*scales)[size_t(nn * groups + grp)] = s[nn * p.groups_pad + grp];
    }
  });
  return Status::Ok();
}

}  // namespace sparq
