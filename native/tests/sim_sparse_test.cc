// native/tests/sim_sparse_test.cc: the sparse matmul CUDA kernel (native/cuda/kernels/sparse.cuh) on
// the simulator, through sparq::sim::SparseMatmul / SparseMatmulForced, against a float64 reference:
// both formats, sparsity 0..100%, ragged m/n/k, bias on/off, every instance the launcher can choose
// (M_TILES 1/2/4/8 × stages 3/4 × format), a fully dense tile inside a 95%-sparse matrix, an all-zero
// weight, forced split-K counts (per element against the reference, and against the unsplit run
// within fp32 rounding), bit-identical reruns, grids larger than the simulated SMs, and the bytes
// each buffer is read (every encoded weight byte exactly once per m-slab).
// Fresh random inputs (never zeros), NaN-poisoned Y, every element against its own bound.
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "sim/sim_device.h"
#include "sim_test_util.h"
#include "sparq/sim.h"
#include "sparq/sparse.h"

using sparq_test::Check;
using namespace sparq;

namespace {

constexpr uint16_t kPoison = 0x7e00;  // fp16 NaN
uint32_t g_seed = 20251201;

struct Case {
  std::string name;
  SparseFormat format = SparseFormat::kBitmap;
  int m = 1, n = 64, k = 64;
  double sparsity = 0.5;
  bool bias = true;
  sim::SparseForce force;
  int sm_count = 4, launcher_sms = 0;
  bool concurrent = true;
  int x_offset_elems = 0;    // > 0: x off 16-byte alignment (the padded-x path even for k % 8 == 0)
  int dense_tile = -1;       // ≥ 0: this tile (n-slab major) is fully dense
  bool zero_weight = false;  // every weight 0 (sparsity 100% and nothing stored)
  const char* want_config = nullptr;
};

struct Inputs {
  Case c;
  std::vector<uint16_t> w, bias;
  std::unique_ptr<uint16_t[]> x_store;
  uint16_t* x = nullptr;
  SparseEncoded enc;
  std::vector<double> ref, mag;
};

uint16_t RandomNonZero(std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (;;) {
    const uint16_t h = sim::F32ToF16(u(rng));
    if ((h & 0x7fff) != 0) return h;  // neither +0 nor −0: "never zeros"
  }
}

bool MakeInputs(const Case& c, Inputs* in) {
  std::mt19937 rng(g_seed++);
  std::uniform_real_distribution<double> coin(0.0, 1.0);
  in->c = c;
  const size_t nk = size_t(c.n) * c.k, mk = size_t(c.m) * c.k;
  in->w.assign(nk, 0);
  for (size_t i = 0; i < nk; ++i)
    if (!c.zero_weight && coin(rng) >= c.sparsity) in->w[i] = RandomNonZero(rng);
  if (c.dense_tile >= 0) {
    const int k_tiles = (c.k + 63) / 64, r0 = (c.dense_tile / k_tiles) * 64, c0 = (c.dense_tile % k_tiles) * 64;
    for (int r = r0; r < std::min(c.n, r0 + 64); ++r)
      for (int col = c0; col < std::min(c.k, c0 + 64); ++col) in->w[size_t(r) * c.k + col] = RandomNonZero(rng);
  }
  in->bias.resize(size_t(c.n));
  for (auto& b : in->bias) b = RandomNonZero(rng);
  in->x_store.reset(new uint16_t[mk + c.x_offset_elems + 8]);
  in->x = in->x_store.get() + c.x_offset_elems;
  for (size_t i = 0; i < mk; ++i) in->x[i] = RandomNonZero(rng);
  const Status s = SparseEncode(in->w.data(), c.n, c.k, c.format, &in->enc);
  if (!s.ok()) {
    Check(false, c.name + ": encode", "%s", s.message.c_str());
    return false;
  }
  in->ref.assign(size_t(c.m) * c.n, 0.0);
  in->mag.assign(size_t(c.m) * c.n, 0.0);
  for (int i = 0; i < c.m; ++i)
    for (int j = 0; j < c.n; ++j) {
      double acc = c.bias ? sim::F16ToF32(in->bias[j]) : 0.0, mag = std::fabs(acc);
      for (int kk = 0; kk < c.k; ++kk) {
        const uint16_t wv = in->w[size_t(j) * c.k + kk];
        if (wv == 0) continue;
        const double p = double(sim::F16ToF32(in->x[size_t(i) * c.k + kk])) * sim::F16ToF32(wv);
        acc += p;
        mag += std::fabs(p);
      }
      in->ref[size_t(i) * c.n + j] = acc;
      in->mag[size_t(i) * c.n + j] = mag;
    }
  return true;
}

// Y into a NaN-poisoned buffer (every element must be written).
std::vector<uint16_t> Run(const Inputs& in, const sim::SparseForce& force, LaunchInfo* info, Status* status) {
  const Case& c = in.c;
  std::vector<uint16_t> y(size_t(c.m) * c.n, kPoison);
  SparseMatmulArgs args;
  args.weight = in.enc.view();
  args.x = in.x;
  args.bias = c.bias ? in.bias.data() : nullptr;
  args.y = y.data();
  args.m = c.m;
  sim::SimOptions o;
  o.sm_count = c.sm_count;
  o.launcher_sms = c.launcher_sms;
  o.concurrent_ctas = c.concurrent;
  *status = sim::SparseMatmulForced(args, force, o, info);
  return y;
}

// fp16 ulp of |v| (subnormals: 2^-24).
double Ulp16(double v) {
  const double a = std::fabs(v);
  const int e = a < std::ldexp(1.0, -14) ? -14 : int(std::floor(std::log2(a)));
  return std::ldexp(1.0, e - 10);
}

// Per element: |y − ref| ≤ 1 ulp16(ref) + k·2^-23·Σ|x·w| (fp32 accumulation over k, one rounding).
bool CheckElements(const Inputs& in, const std::vector<uint16_t>& y, std::string* why) {
  const Case& c = in.c;
  for (int i = 0; i < c.m; ++i)
    for (int j = 0; j < c.n; ++j) {
      const size_t e = size_t(i) * c.n + j;
      const double got = sim::F16ToF32(y[e]), ref = in.ref[e];
      const double tol = Ulp16(ref) + c.k * std::ldexp(in.mag[e], -23);
      if (!(std::fabs(got - ref) <= tol)) {
        char b[256];
        std::snprintf(b, sizeof b, "y[%d][%d] = %.8g (bits %04x), float64 %.8g, bound %.3g", i, j, got, y[e], ref, tol);
        *why = b;
        return false;
      }
    }
  return true;
}

uint64_t BytesOf(const LaunchInfo& info, const char* name) {
  for (const auto& [n, b] : info.bytes_read)
    if (n == name) return b;
  return 0;
}

// Traffic the design promises, per m-slab launch: bitmaps and values exactly once, each tile offset
// once per CTA range (k_tiles + splits per n-slab), x once per n-slab (its k < k_valid chunks).
bool CheckBytes(const Inputs& in, const LaunchInfo& info, int splits, std::string* why) {
  const Case& c = in.c;
  const int64_t slabs = (c.m + 63) / 64, n_slabs = in.enc.n_pad / 64, k_tiles = in.enc.k_pad / 64;
  const bool padded = c.k % 8 != 0 || c.x_offset_elems % 8 != 0;
  const uint64_t want_bitmaps = c.format == SparseFormat::kBitmap ? uint64_t(slabs) * in.enc.bitmaps.size() * 8 : 0;
  const uint64_t want_values = uint64_t(slabs) * in.enc.values.size();
  const uint64_t want_offsets = uint64_t(slabs) * n_slabs * (k_tiles + splits) * 4;
  const uint64_t want_x = uint64_t(n_slabs) * c.m * (padded ? in.enc.k_pad : c.k) * 2;
  const uint64_t got_x = BytesOf(info, padded ? "x_pad" : "x");
  char b[400];
  std::snprintf(b, sizeof b,
                "bitmaps %llu (want %llu), values %llu (want %llu), tile_offsets %llu (want %llu), %s %llu (want %llu)",
                (unsigned long long)BytesOf(info, "bitmaps"), (unsigned long long)want_bitmaps,
                (unsigned long long)BytesOf(info, "values"), (unsigned long long)want_values,
                (unsigned long long)BytesOf(info, "tile_offsets"), (unsigned long long)want_offsets,
                padded ? "x_pad" : "x", (unsigned long long)got_x, (unsigned long long)want_x);
  *why = b;
  return BytesOf(info, "bitmaps") == want_bitmaps && BytesOf(info, "values") == want_values &&
         BytesOf(info, "tile_offsets") == want_offsets && got_x == want_x &&
         (!padded || BytesOf(info, "x") == uint64_t(c.m) * c.k * 2);
}

int SplitsOf(const LaunchInfo& info) {
  const size_t at = info.config.find("split_k=");
  return at == std::string::npos ? -1 : std::atoi(info.config.c_str() + at + 8);
}

// One case: run, check every element, the traffic, the reported config; returns Y.
std::vector<uint16_t> RunCase(const Inputs& in, LaunchInfo* info_out = nullptr) {
  const Case& c = in.c;
  LaunchInfo info;
  Status st;
  std::vector<uint16_t> y = Run(in, c.force, &info, &st);
  if (!st.ok()) {
    Check(false, c.name, "sim: %s", st.message.c_str());
    return y;
  }
  std::string why;
  const bool ok_elems = CheckElements(in, y, &why);
  std::string bytes_why;
  const bool ok_bytes = CheckBytes(in, info, SplitsOf(info), &bytes_why);
  const bool ok_config = c.want_config == nullptr || sparq_test::Contains(info.config, c.want_config);
  Check(ok_elems && ok_bytes && ok_config, c.name + " [" + info.config + "]", "%s%s%s%s",
        ok_elems ? "" : why.c_str(), ok_bytes ? "" : (" bytes: " + bytes_why).c_str(),
        ok_config ? "" : " config lacks ", ok_config ? "" : c.want_config);
  if (info_out) *info_out = info;
  return y;
}

const char* Fmt(SparseFormat f) { return f == SparseFormat::kBitmap ? "bitmap" : "tiled-csl"; }

// ---------------------------------------------------------------- the cases
// Under ThreadSanitizer (10-20x slower) the sweeps keep every format, sparsity, instance and split
// path but fewer m values and splits: the plain and ASan runs cover the whole grid for values,
// this run is there for races, which the same code paths at fewer sizes show as well.
using sparq_test::kTsanLight;

void SweepSparsityAndM() {
  const std::vector<double> sparsities =
      kTsanLight ? std::vector<double>{0.0, 0.5, 1.0} : std::vector<double>{0.0, 0.3, 0.5, 0.8, 0.99, 1.0};
  const std::vector<int> ms = kTsanLight ? std::vector<int>{1, 33} : std::vector<int>{1, 7, 16, 33, 64};
  int idx = 0;
  for (SparseFormat f : {SparseFormat::kBitmap, SparseFormat::kTiledCsl})
    for (double s : sparsities)
      for (int m : ms) {
        Case c;
        c.format = f;
        c.m = m;
        c.n = idx % 5 == 0 ? 135 : 71;  // 3 or 2 n-slabs, ragged
        c.k = idx % 3 == 0 ? 136 : 139;  // k % 8 == 0 (cp.async tail zero-fill) or odd (padded x)
        c.sparsity = s;
        c.bias = idx % 2 == 0;
        c.name = std::string("sparse [sim] ") + Fmt(f) + " s=" + std::to_string(int(s * 100)) + "% m=" +
                 std::to_string(m) + " n=" + std::to_string(c.n) + " k=" + std::to_string(c.k) +
                 (c.bias ? " bias" : "") + ": per element vs float64, bytes once per slab";
        ++idx;
        Inputs in;
        if (sparq_test::TakeCase() && MakeInputs(c, &in)) RunCase(in);
      }
}

// Every instance the launcher can choose: M_TILES 1/2/4/8 × stages 3/4 × format, forced; rows
// that fill each instance exactly and rows that leave it ragged.
void EveryInstance() {
  const int m_for[][2] = {{1, 8}, {9, 16}, {17, 32}, {33, 64}};
  const int m_tiles[] = {1, 2, 4, 8};
  for (SparseFormat f : {SparseFormat::kBitmap, SparseFormat::kTiledCsl})
    for (int stages : {3, 4})
      for (int i = 0; i < 4; ++i)
        for (int m : m_for[i]) {
          if (kTsanLight && m != m_for[i][1]) continue;  // the instance's full row count only
          Case c;
          c.format = f;
          c.m = m;
          c.n = 57;
          c.k = 320;  // 5 k tiles: the ring wraps at 3 and 4 stages
          c.sparsity = 0.7;
          c.bias = m % 2 == 1;
          c.force.stages = stages;
          const std::string want = std::string("FORMAT=") + Fmt(f) + " M_TILES=" + std::to_string(m_tiles[i]) +
                                   " TILE_N=64 TILE_K=64 STAGES=" + std::to_string(stages);
          static std::vector<std::string> keep;
          keep.push_back(want);
          c.want_config = keep.back().c_str();
          c.name = std::string("sparse [sim] instance ") + want + " m=" + std::to_string(m) + ": chosen and correct";
          Inputs in;
          if (sparq_test::TakeCase() && MakeInputs(c, &in)) RunCase(in);
        }
}

// A fully dense tile (4096 entries, max_tile_units at its largest) inside a 95%-sparse matrix: no
// capacity cliff, no dropped entry; also with the few-stage ring and splits.
void DenseTileInSparseMatrix() {
  for (SparseFormat f : {SparseFormat::kBitmap, SparseFormat::kTiledCsl})
    for (int stages : {3, 4})
      for (int m : {5, 40}) {
        if (kTsanLight && m == 40) continue;
        Case c;
        c.format = f;
        c.m = m;
        c.n = 150;
        c.k = 300;
        c.sparsity = 0.95;
        c.dense_tile = 6;  // slab 1, k tile 1
        c.force.stages = stages;
        c.force.splits = 2;
        c.name = std::string("sparse [sim] ") + Fmt(f) + " dense tile in 95% sparse, stages=" + std::to_string(stages) +
                 " m=" + std::to_string(m) + ": every entry counted";
        Inputs in;
        if (!sparq_test::TakeCase() || !MakeInputs(c, &in)) continue;
        const bool full = in.enc.max_tile_units == (f == SparseFormat::kBitmap ? 4096 : 4096);
        Check(full, c.name + ": max_tile_units is a full tile", "max_tile_units = %d", in.enc.max_tile_units);
        RunCase(in);
      }
}

void AllZeroWeight() {
  for (SparseFormat f : {SparseFormat::kBitmap, SparseFormat::kTiledCsl})
    for (bool bias : {true, false}) {
      Case c;
      c.format = f;
      c.m = 9;
      c.n = 77;
      c.k = 200;
      c.zero_weight = true;
      c.bias = bias;
      c.force.splits = 3;
      c.name = std::string("sparse [sim] ") + Fmt(f) + " all-zero weight" + (bias ? " + bias: y = bias" : ": y = 0");
      Inputs in;
      if (!MakeInputs(c, &in)) continue;
      std::vector<uint16_t> y = RunCase(in);
      bool exact = true;
      for (int i = 0; i < c.m; ++i)
        for (int j = 0; j < c.n; ++j) exact = exact && y[size_t(i) * c.n + j] == (bias ? in.bias[j] : 0);
      Check(exact, c.name + ": exactly", "y is not exactly %s", bias ? "the bias" : "+0");
    }
}

// Forced split counts: each within the per-element bound, and against the unsplit run within fp32
// rounding; a rerun gives the same bits (the slot order, not the arrival order, fixes the sum).
void ForcedSplits() {
  for (SparseFormat f : {SparseFormat::kBitmap, SparseFormat::kTiledCsl})
    for (int m : {3, 45}) {
      if (kTsanLight && m == 45) continue;
      Case base;
      base.format = f;
      base.m = m;
      base.n = 61;
      base.k = 1000;  // 16 k tiles
      base.sparsity = 0.6;
      base.bias = true;
      base.sm_count = 3;
      base.name = std::string("sparse [sim] ") + Fmt(f) + " m=" + std::to_string(m) + " n=61 k=1000";
      Inputs in;
      if (!sparq_test::TakeCase() || !MakeInputs(base, &in)) continue;
      LaunchInfo info1;
      in.c.force.splits = 1;
      in.c.name = base.name + " split_k=1: per element vs float64";
      const std::vector<uint16_t> y1 = RunCase(in, &info1);
      for (int splits : kTsanLight ? std::vector<int>{3, 16} : std::vector<int>{2, 3, 5, 16}) {
        in.c.force.splits = splits;
        in.c.name = base.name + " split_k=" + std::to_string(splits) + ": per element vs float64";
        LaunchInfo info;
        const std::vector<uint16_t> ys = RunCase(in, &info);
        Check(SplitsOf(info) == splits && info.grid_y == splits, in.c.name + ": grid has the splits", "config %s",
              info.config.c_str());
        // fp32 sums in another order: at most 1 fp16 ulp plus the fp32 rounding of the sum apart.
        bool close = true;
        std::string why;
        for (size_t e = 0; e < ys.size() && close; ++e) {
          const double a = sim::F16ToF32(ys[e]), b = sim::F16ToF32(y1[e]);
          const double tol = Ulp16(std::fmax(std::fabs(a), std::fabs(b))) + 2 * base.k * std::ldexp(in.mag[e], -24);
          if (!(std::fabs(a - b) <= tol)) {
            close = false;
            why = "element " + std::to_string(e) + ": " + std::to_string(a) + " vs unsplit " + std::to_string(b);
          }
        }
        Check(close, base.name + " split_k=" + std::to_string(splits) + ": agrees with split_k=1 within fp32 rounding",
              "%s", why.c_str());
        if (splits != 5) continue;
        Status st;
        LaunchInfo again;
        const std::vector<uint16_t> yr = Run(in, in.c.force, &again, &st);
        Check(st.ok() && yr == ys, base.name + " split_k=" + std::to_string(splits) + ": rerun gives the same bits",
              "%s", st.ok() ? "bits differ" : st.message.c_str());
      }
    }
}

// Grids planned for more SMs than the simulator runs at once (the launcher's own split choice),
// and one CTA at a time in blockIdx order: the arrival counters must not need co-residency.
void FewSms() {
  for (SparseFormat f : {SparseFormat::kBitmap, SparseFormat::kTiledCsl})
    for (bool concurrent : {true, false}) {
      Case c;
      c.format = f;
      c.m = 20;
      c.n = 64;
      c.k = 640;  // 10 k tiles: launcher splits 5 ways for 32 SMs
      c.sparsity = 0.5;
      c.sm_count = 2;
      c.launcher_sms = 32;
      c.concurrent = concurrent;
      c.want_config = "split_k=5";
      c.name = std::string("sparse [sim] ") + Fmt(f) + " 1 slab, grid for 32 SMs on 2" +
               (concurrent ? "" : " (one CTA at a time)") + ": launcher's split, counters reset";
      Inputs in;
      if (sparq_test::TakeCase() && MakeInputs(c, &in)) RunCase(in);
    }
}

// Several m-slabs (one launch each), the misaligned-x path, k below one tile.
void ShapesAndPaths() {
  struct S {
    int m, n, k, x_off;
    const char* what;
  };
  const S shapes[] = {{130, 65, 72, 0, "3 m-slabs, k % 8 == 0 below one tile"},
                      {70, 33, 264, 1, "2 m-slabs, x misaligned: padded copy"},
                      {2, 1, 1, 0, "n = k = 1"},
                      {1, 200, 8, 0, "k = 8"},
                      {64, 64, 64, 0, "one full tile, m = 64"}};
  for (SparseFormat f : {SparseFormat::kBitmap, SparseFormat::kTiledCsl})
    for (const S& s : shapes) {
      Case c;
      c.format = f;
      c.m = s.m;
      c.n = s.n;
      c.k = s.k;
      c.x_offset_elems = s.x_off;
      c.sparsity = 0.4;
      c.bias = true;
      c.name = std::string("sparse [sim] ") + Fmt(f) + " m=" + std::to_string(s.m) + " n=" + std::to_string(s.n) +
               " k=" + std::to_string(s.k) + ", " + s.what;
      Inputs in;
      if (sparq_test::TakeCase() && MakeInputs(c, &in)) RunCase(in);
    }
}

// The op entry the sim backend calls (op_list.h): the launcher's own choices, nothing forced.
void OpEntry() {
  for (SparseFormat f : {SparseFormat::kBitmap, SparseFormat::kTiledCsl}) {
    Case c;
    c.format = f;
    c.m = 12;
    c.n = 100;
    c.k = 256;
    c.sparsity = 0.75;
    c.name = std::string("sparse [sim] sim::SparseMatmul ") + Fmt(f) + ": the op entry matches float64";
    Inputs in;
    if (!MakeInputs(c, &in)) continue;
    std::vector<uint16_t> y(size_t(c.m) * c.n, kPoison);
    SparseMatmulArgs args;
    args.weight = in.enc.view();
    args.x = in.x;
    args.bias = in.bias.data();
    args.y = y.data();
    args.m = c.m;
    LaunchInfo info;
    const Status st = sim::SparseMatmul(args, sim::SimOptions{}, &info);
    std::string why = st.ok() ? "" : st.message;
    const bool ok = st.ok() && CheckElements(in, y, &why) && info.kernel == "sparse_matmul_kernel" &&
                    info.block_threads == 128 && info.smem_bytes > 0 && info.grid_x == 2;
    Check(ok, c.name + " [" + info.config + "]", "%s", why.c_str());
  }
}

}  // namespace

int main() {
  OpEntry();
  SweepSparsityAndM();
  EveryInstance();
  DenseTileInSparseMatrix();
  AllZeroWeight();
  ForcedSplits();
  FewSms();
  ShapesAndPaths();
  return sparq_test::Summary();
}
