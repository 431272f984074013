// native/tests/sim_int8_test.cc: the int8 (LLM.int8()) CUDA kernels (native/cuda/kernels/int8.cuh) on
// the simulator, through sim::Int8Matmul / Int8MatmulForced (the plan the nvcc launcher runs),
// against a reference of the contract of sparq/int8.h written here from its text: the test's own
// weight quantizer, outlier set, rowStat, CA, int64 accumulation and fp32 epilogue (std::fma where
// the contract says fma; -ffp-contract=off). Only the packer (Int8Pack) is borrowed, and its layout
// is checked against the kernels' own WeightCodeOffset over whole ranges.
//
// Asserted exactly: Y bit for bit, the outlier list (count, columns, entries past the count left
// as they were), CA and rowStat in the workspace (padding rows and columns zero), the bytes the
// kernels read of the codes and of CA, and the same bits on a rerun with another CTA schedule.
// Cases: m ∈ {1, 8, 24, 33, 64, 65, 130} (every instance, slab tails, several slabs), odd n and k
// incl. k = 499 and k = 1300 (warps with 1, 2 and 3 k blocks) and k = 8300 (two compaction rounds),
// thresholds 0 and 6 with planted outlier columns (×20–60), every column an outlier (count > the
// staging capacity of 64), 70 planted columns (past the capacity, mixed with the int8 part), a
// value exactly at the threshold and one just below, zero rows of X and of W, codes from anywhere
// (−128 included), bias on/off, detection split over many row chunks with an outlier only the
// last chunk sees, and a main term the bias cancels (the epilogue's order changes the fp16 result).
// Fresh random fp16 inputs (never zeros, except the zero-row cases), NaN-poisoned Y and a poisoned
// outlier list.
#include <cmath>
#include <cstdint>
#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cuda/int8_layout.cuh"
#include "sim/int8_sim.h"
#include "sim_test_util.h"
#include "sparq/half.h"
#include "sparq/int8.h"
#include "sparq/sim.h"

using sparq_test::Check;
using namespace sparq;

namespace {

constexpr uint16_t kPoisonY = 0x7e00;            // fp16 NaN
constexpr int32_t kPoisonCols = int32_t(0x5eadbeef);
uint32_t g_seed = 20261130;

using sparq_test::kTsanLight;

struct Case {
  std::string name;
  int m = 1, n = 8, k = 64;
  float threshold = 0.f;
  bool bias = true;
  std::vector<int> planted;         // columns whose values get ×20..60 in a few rows
  int last_row_outlier = -1;        // ≥ 0: the only |x| ≥ 6 of this column is in the last row
  std::vector<int> zero_x_rows;     // rows of X set to +0
  std::vector<int> zero_w_rows;     // rows of W set to +0 (SCB = 0)
  bool all_outliers = false;        // |x| ≥ 0.015625 everywhere, threshold 0.015625
  bool at_threshold = false;        // column 1 holds exactly 6.0 once, column 2 at most 6 − 2^-8
  bool free_codes = false;          // codes uniform in [−128, 127], scb any ≥ 0 (fromCodes)
  bool cancel = false;              // t = 4088 exactly, bias = −4088, o small: the epilogue order shows
  int64_t rows_per_chunk = 0;       // forced detection chunk
  int splits = 0;                   // forced k splits of every GEMM launch (0: the plan's)
  bool rerun = false;               // a second run, one CTA at a time on 1 SM: same bits
};

uint16_t RandomNonZero(std::mt19937& rng, float lo = -1.f, float hi = 1.f) {
  std::uniform_real_distribution<float> u(lo, hi);
  for (;;) {
    const uint16_t h = F32ToF16Bits(u(rng));
    if ((h & 0x7fff) != 0) return h;
  }
}

// ---------------------------------------------------------------- the contract, from its text
struct Ref {
  std::vector<int8_t> cb;       // [n][k]
  std::vector<float> scb;       // [n]
  std::vector<int32_t> cols;    // O, increasing
  std::vector<float> stat;      // [m]
  std::vector<int8_t> ca;       // [m][k]
  std::vector<uint16_t> y;      // [m][n]
};

int RneInt(float v) { return int(std::nearbyint(v)); }  // default rounding mode: to nearest even

void QuantizeWeights(const std::vector<uint16_t>& w, int n, int k, Ref* r) {
  r->cb.assign(size_t(n) * k, 0);
  r->scb.assign(size_t(n), 0.f);
  for (int j = 0; j < n; ++j) {
    float absmax = 0.f;
    for (int c = 0; c < k; ++c) absmax = std::fmax(absmax, std::fabs(F16BitsToF32(w[size_t(j) * k + c])));
    r->scb[j] = absmax;
    if (absmax == 0.f) continue;
    for (int c = 0; c < k; ++c) {
      const float scaled = F16BitsToF32(w[size_t(j) * k + c]) * 127.0f;
      r->cb[size_t(j) * k + c] = int8_t(RneInt(scaled / absmax));
    }
  }
}

void Reference(const Case& c, const std::vector<uint16_t>& x, const std::vector<uint16_t>& bias, Ref* r) {
  const int m = c.m, n = c.n, k = c.k;
  std::vector<bool> outlier(size_t(k), false);
  r->cols.clear();
  if (c.threshold > 0.f)
    for (int col = 0; col < k; ++col) {
      for (int i = 0; i < m && !outlier[col]; ++i)
        outlier[col] = std::fabs(F16BitsToF32(x[size_t(i) * k + col])) >= c.threshold;
      if (outlier[col]) r->cols.push_back(col);
    }
  r->stat.assign(size_t(m), 0.f);
  r->ca.assign(size_t(m) * k, 0);
  for (int i = 0; i < m; ++i) {
    float stat = 0.f;
    for (int col = 0; col < k; ++col)
      if (!outlier[col]) stat = std::fmax(stat, std::fabs(F16BitsToF32(x[size_t(i) * k + col])));
    r->stat[i] = stat;
    if (stat == 0.f) continue;
    for (int col = 0; col < k; ++col)
      if (!outlier[col]) {
        const float scaled = F16BitsToF32(x[size_t(i) * k + col]) * 127.0f;
        r->ca[size_t(i) * k + col] = int8_t(RneInt(scaled / stat));
      }
  }
  r->y.assign(size_t(m) * n, 0);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      int64_t acc = 0;
      for (int col = 0; col < k; ++col) acc += int64_t(r->ca[size_t(i) * k + col]) * r->cb[size_t(j) * k + col];
      const float a = float(int32_t(acc));
      const float t = ((a * r->stat[i]) * r->scb[j]) / 16129.0f;
      float o = 0.f;
      for (int col : r->cols) {
        const float w = (float(r->cb[size_t(j) * k + col]) * r->scb[j]) / 127.0f;
        o = std::fma(F16BitsToF32(x[size_t(i) * k + col]), w, o);
      }
      float v = t + o;
      if (c.bias) v = v + F16BitsToF32(bias[j]);
      r->y[size_t(i) * n + j] = F32ToF16Bits(v);
    }
}

// ---------------------------------------------------------------- inputs
struct Inputs {
  std::vector<uint16_t> w, x, bias;
  Int8Packed packed;
  Ref ref;
};

bool MakeInputs(const Case& c, Inputs* in) {
  std::mt19937 rng(g_seed++);
  const int m = c.m, n = c.n, k = c.k;
  in->x.resize(size_t(m) * k);
  for (auto& v : in->x) v = c.all_outliers ? RandomNonZero(rng, 0.015625f, 1.f) : RandomNonZero(rng);
  if (c.all_outliers)
    for (auto& v : in->x)
      if (rng() % 2) v ^= 0x8000;
  std::uniform_real_distribution<float> factor(20.f, 60.f);
  for (int col : c.planted)
    for (int i = int(rng() % uint32_t(std::min(3, m))); i < m; i += 1 + int(rng() % 7))  // a few rows, never the same pattern
      in->x[size_t(i) * k + col] = F32ToF16Bits(F16BitsToF32(in->x[size_t(i) * k + col]) * factor(rng));
  if (c.last_row_outlier >= 0) {
    for (int i = 0; i < m; ++i)  // |x| ≤ 5 above the last row, 25 ≤ |x| ≤ 75 there
      in->x[size_t(i) * k + c.last_row_outlier] = F32ToF16Bits(F16BitsToF32(in->x[size_t(i) * k + c.last_row_outlier]) * 5.f);
    uint16_t& v = in->x[size_t(m - 1) * k + c.last_row_outlier];
    v = F32ToF16Bits(F16BitsToF32(v) * 10.f + (F16BitsToF32(v) < 0 ? -25.f : 25.f));
  }
  if (c.at_threshold) {
    for (int i = 0; i < m; ++i) {  // |x| < 6 elsewhere in columns 1 and 2
      in->x[size_t(i) * k + 1] = F32ToF16Bits(F16BitsToF32(in->x[size_t(i) * k + 1]) * 5.f);
      in->x[size_t(i) * k + 2] = F32ToF16Bits(F16BitsToF32(in->x[size_t(i) * k + 2]) * 5.f);
    }
    in->x[size_t(m / 2) * k + 1] = F32ToF16Bits(-6.0f);                  // exactly the threshold: outlier
    in->x[size_t(m - 1) * k + 2] = F32ToF16Bits(6.0f - 1.0f / 256.0f);  // the fp16 just below: not
  }
  for (int i : c.zero_x_rows)
    for (int col = 0; col < k; ++col) in->x[size_t(i) * k + col] = 0;
  in->bias.resize(size_t(n));
  for (auto& v : in->bias) v = RandomNonZero(rng);

  if (c.cancel) {
    // Every column but kCancelCol: x = 4, CB = 127, SCB = 1, so t = (16129·(k−1)·4)/16129 = 4(k−1)
    // exactly (4088 at k = 1023, an fp16); bias = −t; column kCancelCol is an outlier (x ≥ 6) with
    // CB = 1 or 2, so o ≈ 0.05..0.13: (t + o) + bias keeps o only to t's fp32 ulp (2^-12), several
    // fp16 ulps of o, while (t + bias) + o keeps all of it.
    constexpr int kCancelCol = 250;
    for (int i = 0; i < m; ++i)
      for (int col = 0; col < k; ++col)
        in->x[size_t(i) * k + col] = F32ToF16Bits(col == kCancelCol ? 6.0f + 0.37f * float(i) : 4.0f);
    in->ref.cb.assign(size_t(n) * k, int8_t(127));
    in->ref.scb.assign(size_t(n), 1.0f);
    for (int j = 0; j < n; ++j) {
      in->ref.cb[size_t(j) * k + kCancelCol] = int8_t(1 + j % 2);
      in->bias[j] = F32ToF16Bits(-4.0f * float(k - 1));
    }
  } else if (c.free_codes) {
    std::uniform_int_distribution<int> code(-128, 127);
    std::uniform_real_distribution<float> scale(0.f, 0.05f);
    in->ref.cb.resize(size_t(n) * k);
    for (auto& v : in->ref.cb) v = int8_t(code(rng));
    in->ref.scb.resize(size_t(n));
    for (auto& v : in->ref.scb) v = scale(rng);
    for (int j : c.zero_w_rows) in->ref.scb[j] = 0.f;
  } else {
    in->w.resize(size_t(n) * k);
    for (auto& v : in->w) v = RandomNonZero(rng);
    for (int j : c.zero_w_rows)
      for (int col = 0; col < k; ++col) in->w[size_t(j) * k + col] = 0;
    QuantizeWeights(in->w, n, k, &in->ref);
  }
  const Status s = Int8Pack(in->ref.cb.data(), in->ref.scb.data(), n, k, Int8Layout::kGpu, &in->packed);
  if (!s.ok()) {
    Check(false, c.name + ": pack", "%s", s.message.c_str());
    return false;
  }
  Reference(c, in->x, in->bias, &in->ref);
  return true;
}

struct Run {
  Status status;
  std::vector<uint16_t> y;
  std::vector<int32_t> cols;
  LaunchInfo info;
  sim::Int8Workspace ws;
};

Run RunSim(const Case& c, const Inputs& in, const sim::SimOptions& o) {
  Run r;
  r.y.assign(size_t(c.m) * c.n, kPoisonY);
  r.cols.assign(size_t(c.k) + 1, kPoisonCols);
  Int8MatmulArgs a;
  a.weight = in.packed.view();
  a.x = in.x.data();
  a.bias = c.bias ? in.bias.data() : nullptr;
  a.y = r.y.data();
  a.outlier_cols = r.cols.data();
  a.m = c.m;
  a.threshold = c.threshold;
  sim::Int8Force force;
  force.rows_per_chunk = c.rows_per_chunk;
  force.splits = c.splits;
  r.status = sim::Int8MatmulForced(a, force, o, &r.info, &r.ws);
  return r;
}

uint64_t BytesOf(const LaunchInfo& info, const char* name) {
  for (const auto& [n, b] : info.bytes_read)
    if (n == name) return b;
  return 0;
}

std::string Hex16(uint16_t v) {
  char b[8];
  std::snprintf(b, sizeof b, "%04x", v);
  return b;
}

// Every exact check of one run.
void CheckRun(const Case& c, const Inputs& in, const Run& r) {
  const Ref& ref = in.ref;
  if (!r.status.ok()) {
    Check(false, c.name, "sim: %s", r.status.message.c_str());
    return;
  }
  const std::string tag = c.name + " [" + r.info.config + "]";
  // Y, bit for bit
  int bad = 0;
  std::string why;
  for (int i = 0; i < c.m; ++i)
    for (int j = 0; j < c.n; ++j) {
      const size_t e = size_t(i) * c.n + j;
      if (r.y[e] != ref.y[e] && bad++ == 0)
        why = "y[" + std::to_string(i) + "][" + std::to_string(j) + "] = " + Hex16(r.y[e]) + " (" +
              std::to_string(F16BitsToF32(r.y[e])) + "), contract " + Hex16(ref.y[e]) + " (" +
              std::to_string(F16BitsToF32(ref.y[e])) + ")";
    }
  Check(bad == 0, tag + ": Y bit-identical to the contract", "%d elements differ; first %s", bad, why.c_str());
  // the outlier list
  bool cols_ok = r.cols[0] == int32_t(ref.cols.size());
  for (size_t i = 0; cols_ok && i < ref.cols.size(); ++i) cols_ok = r.cols[1 + i] == ref.cols[i];
  for (size_t i = 1 + ref.cols.size(); cols_ok && i < r.cols.size(); ++i) cols_ok = r.cols[i] == kPoisonCols;
  std::string got = std::to_string(r.cols[0]) + ":", want = std::to_string(ref.cols.size()) + ":";
  for (size_t i = 1; i < r.cols.size() && i <= 12; ++i) got += " " + std::to_string(r.cols[i]);
  for (size_t i = 0; i < ref.cols.size() && i < 12; ++i) want += " " + std::to_string(ref.cols[i]);
  Check(cols_ok, tag + ": outlier_cols exact, entries past the count untouched", "got %s …, want %s …", got.c_str(),
        want.c_str());
  // CA and rowStat in the workspace; padding rows and columns zero
  const int64_t ca_rows = i8::CaRows(c.m), k_pad = in.packed.k_pad;
  bool ws_ok = r.ws.ca_rows == ca_rows && r.ws.k_pad == k_pad;
  std::string ws_why = ws_ok ? "" : "dims";
  for (int64_t i = 0; ws_ok && i < ca_rows; ++i) {
    const float want_stat = i < c.m ? ref.stat[i] : 0.f;
    if (std::memcmp(&r.ws.row_stat[i], &want_stat, 4) != 0) {
      ws_ok = false;
      ws_why = "rowStat[" + std::to_string(i) + "] = " + std::to_string(r.ws.row_stat[i]) + ", want " +
               std::to_string(want_stat);
    }
    for (int64_t col = 0; ws_ok && col < k_pad; ++col) {
      const int8_t want = i < c.m && col < c.k ? ref.ca[size_t(i) * c.k + col] : int8_t(0);
      if (r.ws.ca[size_t(i * k_pad + col)] != want) {
        ws_ok = false;
        ws_why = "CA[" + std::to_string(i) + "][" + std::to_string(col) + "] = " +
                 std::to_string(r.ws.ca[size_t(i * k_pad + col)]) + ", want " + std::to_string(want);
      }
    }
  }
  Check(ws_ok, tag + ": CA and rowStat exact, padding rows/columns zero", "%s", ws_why.c_str());
  // traffic: every code block once per CTA row (slab), staged outlier codes once per CTA column,
  // overflowing ones once per output element; every CA byte of a slab once per CTA.
  const int64_t n_tiles = in.packed.n_pad / 8, k_blocks = k_pad / 64, n_ctas = (n_tiles + 3) / 4;
  const int64_t full = c.m / 64, tail = c.m % 64, slabs = full + (tail > 0 ? 1 : 0);
  const int64_t count = int64_t(ref.cols.size()), staged = c.threshold > 0 ? std::min<int64_t>(count, 64) : 0;
  const uint64_t want_codes =
      uint64_t(slabs * (n_tiles * k_blocks * 512 + staged * c.n) + int64_t(c.m) * c.n * (count - staged));
  const int64_t slab_rows = full * 64 + (tail > 0 ? i8::ChooseMTiles(tail) * 16 : 0);
  const uint64_t want_ca = uint64_t(n_ctas * slab_rows * k_pad);
  Check(BytesOf(r.info, "codes") == want_codes && BytesOf(r.info, "ca") == want_ca,
        tag + ": codes and CA bytes read as designed", "codes %llu (want %llu), ca %llu (want %llu)",
        (unsigned long long)BytesOf(r.info, "codes"), (unsigned long long)want_codes,
        (unsigned long long)BytesOf(r.info, "ca"), (unsigned long long)want_ca);
}

// The cancel case is only worth its name if the other order gives other fp16 bits for most
// elements (the check above then fails on a kernel that adds the bias first).
void CheckCancelSeparates(const Case& c, const Inputs& in) {
  const Ref& r = in.ref;
  int differ = 0;
  for (int i = 0; i < c.m; ++i)
    for (int j = 0; j < c.n; ++j) {
      int64_t acc = 0;
      for (int col = 0; col < c.k; ++col) acc += int64_t(r.ca[size_t(i) * c.k + col]) * r.cb[size_t(j) * c.k + col];
      const float t = ((float(int32_t(acc)) * r.stat[i]) * r.scb[j]) / 16129.0f;
      float o = 0.f;
      for (int col : r.cols)
        o = std::fma(F16BitsToF32(in.x[size_t(i) * c.k + col]), (float(r.cb[size_t(j) * c.k + col]) * r.scb[j]) / 127.0f, o);
      const float other = (t + F16BitsToF32(in.bias[j])) + o;
      differ += F32ToF16Bits(other) != r.y[size_t(i) * c.n + j];
    }
  Check(2 * differ >= c.m * c.n, c.name + ": (t + bias) + o gives other bits for most elements",
        "only %d of %d differ", differ, c.m * c.n);
}

void RunCase(const Case& c) {
  if (!sparq_test::TakeCase()) return;
  Inputs in;
  if (!MakeInputs(c, &in)) return;
  if (c.cancel) CheckCancelSeparates(c, in);
  sim::SimOptions o;
  o.sm_count = 4;
  const Run r = RunSim(c, in, o);
  CheckRun(c, in, r);
  if (!c.rerun) return;
  sim::SimOptions one;
  one.sm_count = 1;
  one.concurrent_ctas = false;
  const Run again = RunSim(c, in, one);
  Check(again.status.ok() && again.y == r.y && again.cols == r.cols,
        c.name + ": rerun one CTA at a time gives the same bits", "%s",
        again.status.ok() ? "bits differ" : again.status.message.c_str());
}

std::string Dims(const Case& c) {
  return "m=" + std::to_string(c.m) + " n=" + std::to_string(c.n) + " k=" + std::to_string(c.k) +
         " t=" + (c.threshold == 0.f ? std::string("0") : std::to_string(c.threshold).substr(0, 6)) +
         (c.bias ? " bias" : "");
}

// ---------------------------------------------------------------- the cases
// The packer's layout is the kernels' WeightCodeOffset (and CaOffset a permutation within blocks).
void Layouts() {
  bool same = true;
  std::string why;
  for (int64_t k_pad : {64, 192})
    for (int64_t j = 0; j < 24 && same; ++j)
      for (int64_t c = 0; c < k_pad && same; ++c)
        if (int8::GpuCodeOffset(j, c, k_pad) != i8::WeightCodeOffset(j, c, k_pad)) {
          same = false;
          why = "j=" + std::to_string(j) + " c=" + std::to_string(c);
        }
  Check(same, "int8 [sim] layout: WeightCodeOffset == sparq/int8.h GpuCodeOffset", "%s", why.c_str());
  std::vector<int> seen(128, 0);
  for (int c = 0; c < 128; ++c) ++seen[size_t(i8::CaOffset(1, c, 128) - 128)];
  bool perm = true;
  for (int v : seen) perm = perm && v == 1;
  for (int c = 0; c < 128 && perm; ++c) perm = i8::CaOffset(1, c, 128) / 64 == 2 + c / 64;
  Check(perm, "int8 [sim] layout: CaOffset permutes each row's k64 blocks in place");
}

// Under ThreadSanitizer (every simulated thread a host thread, 10-20x slower) the sweep keeps
// m = 1 and 65 (instances 1 and 4, two slabs), each (n, k) with one threshold, and the edge cases
// skip their one-CTA-at-a-time reruns (no race can show there) and duplicates of a path: every
// kernel, instance and outlier path still runs, for races; the plain and ASan runs cover values.
void Sweep() {
  const std::vector<int> ms = kTsanLight ? std::vector<int>{1, 65} : std::vector<int>{1, 8, 24, 33, 64, 65};
  struct NK {
    int n, k;
  };
  const std::vector<NK> nks = {{13, 499}, {72, 136}};
  int idx = 0;
  for (float t : {0.f, 6.f})
    for (int m : ms)
      for (const NK& nk : nks) {
        if (kTsanLight && (t == 0.f) != (nk.k == nks[0].k)) continue;
        Case c;
        c.m = m;
        c.n = nk.n;
        c.k = nk.k;
        c.threshold = t;
        c.bias = idx++ % 2 == 0;
        c.planted = nk.k == 499 ? std::vector<int>{3, 200, 498} : std::vector<int>{0, 77};
        c.name = "int8 [sim] " + Dims(c) + " planted " + std::to_string(c.planted.size());
        RunCase(c);
      }
}

void Edges() {
  std::vector<Case> cases;
  Case c;
  // every column an outlier: rowStat 0, CA 0, the whole result from the outlier term, 200 > 64 staged
  c = Case{};
  c.m = 5;
  c.n = 11;
  c.k = 200;
  c.threshold = 0.015625f;
  c.all_outliers = true;
  c.name = "int8 [sim] every column an outlier, count 200 > capacity 64: " + Dims(c);
  cases.push_back(c);
  // 70 planted columns: past the capacity, mixed with the int8 part; many slabs
  c = Case{};
  c.m = kTsanLight ? 20 : 130;
  c.n = 19;
  c.k = 499;
  c.threshold = 6.f;
  for (int col = 2; col < 499 && c.planted.size() < 70; col += 7) c.planted.push_back(col);
  c.bias = false;
  c.name = "int8 [sim] 70 outlier columns (capacity 64 + 6 from global): " + Dims(c);
  cases.push_back(c);
  // a value exactly at the threshold is an outlier, the fp16 below it is not
  c = Case{};
  c.m = 9;
  c.n = 16;
  c.k = 70;
  c.threshold = 6.f;
  c.at_threshold = true;
  c.name = "int8 [sim] |x| == threshold is an outlier, 6 - 2^-8 is not: " + Dims(c);
  cases.push_back(c);
  // zero rows of X and of W, with outliers elsewhere in those rows' columns
  for (float t : {0.f, 6.f}) {
    c = Case{};
    c.m = 20;
    c.n = 21;
    c.k = 130;
    c.threshold = t;
    c.planted = {5, 64};
    c.zero_x_rows = {0, 7, 19};
    c.zero_w_rows = {0, 9, 20};
    c.bias = t == 0.f;
    c.name = "int8 [sim] zero rows of X (rowStat 0) and of W (SCB 0): " + Dims(c);
    cases.push_back(c);
  }
  // codes from anywhere (fromCodes), −128 included
  c = Case{};
  c.m = 17;
  c.n = 30;
  c.k = 300;
  c.threshold = 6.f;
  c.planted = {0, 150, 299};
  c.free_codes = true;
  c.zero_w_rows = {3};
  c.name = "int8 [sim] codes in [-128, 127] with any scb: " + Dims(c);
  cases.push_back(c);
  // warps with 3 and 2 k blocks (the prefetch chain), one n8 tile
  c = Case{};
  c.m = 3;
  c.n = 7;
  c.k = 1300;
  c.threshold = 6.f;
  c.planted = {1299};
  c.rerun = true;
  c.name = "int8 [sim] 21 k blocks over 8 warps, n < 8: " + Dims(c);
  cases.push_back(c);
  // k > 8192: the compaction CTA runs two rounds of 256 words (the second placed after the first's count)
  c = Case{};
  c.m = 2;
  c.n = 5;
  c.k = 8300;
  c.threshold = 6.f;
  c.planted = {100, 8191, 8192, 8299};
  c.last_row_outlier = 5000;
  c.name = "int8 [sim] two compaction rounds: " + Dims(c);
  cases.push_back(c);
  // the last of two slabs' detection chunks
  c = Case{};
  c.m = 65;
  c.n = 9;
  c.k = 64;
  c.threshold = 6.f;
  c.last_row_outlier = 63;
  c.name = "int8 [sim] outlier in row 64 only (second detection chunk): " + Dims(c);
  cases.push_back(c);
  // the epilogue's order made visible: t and the bias cancel, the outlier term survives
  c = Case{};
  c.m = 6;
  c.n = 8;
  c.k = 1023;
  c.threshold = 6.f;
  c.cancel = true;
  c.name = "int8 [sim] t = -bias = 4088, small outlier term: (t + o) + bias, in that order: " + Dims(c);
  cases.push_back(c);
  // the smallest shape
  c = Case{};
  c.m = 1;
  c.n = 1;
  c.k = 1;
  c.name = "int8 [sim] 1x1x1: " + Dims(c);
  cases.push_back(c);
  c.threshold = 6.f;
  c.planted = {0};
  c.name = "int8 [sim] 1x1x1 outlier: " + Dims(c);
  cases.push_back(c);
  // detection over many row chunks (outliers found by different chunks), rerun on one SM
  c = Case{};
  c.m = 33;
  c.n = 40;
  c.k = 260;
  c.threshold = 6.f;
  c.planted = {31, 32, 33, 255};
  c.last_row_outlier = 259;  // found by the last chunk (row 32) only
  c.rows_per_chunk = 4;
  c.rerun = true;
  c.name = "int8 [sim] detection in 9 row chunks of 4: " + Dims(c);
  cases.push_back(c);
  // threshold 0 with huge values: nothing is an outlier, rowStat takes them in
  c = Case{};
  c.m = 12;
  c.n = 33;
  c.k = 99;
  c.planted = {4, 50};
  c.rerun = true;
  c.name = "int8 [sim] threshold 0 with planted large values: no outliers: " + Dims(c);
  cases.push_back(c);
  for (Case& e : cases) {
    if (kTsanLight) {
      if (e.k == 1300 || e.k == 1023 || (e.m == 65 && e.k == 64)) continue;  // paths the sweep runs too
      if ((!e.zero_x_rows.empty() || e.k == 1) && e.threshold == 0.f) continue;
      e.rerun = false;
    }
    RunCase(e);
  }
}

}  // namespace

// Split k (the int32 totals of several CTAs per tile, the last arrival's epilogue): forced splits
// that divide k evenly, unevenly (the last split short) and one per k block, with and without
// outliers (staged by the last arrival only), one and two slabs, a partial tail slab; the sim
// checks after every call that the totals and counters are zero again. Bits must be the contract's
// as for one CTA per tile — int adds in any order — and a rerun one CTA at a time gives them too.
void SplitK() {
  struct S {
    int m, n, k, splits;
    float t;
  };
  std::vector<S> cases = {{1, 40, 1024, 2, 0.f},  {5, 72, 640, 3, 6.f},   {33, 13, 499, 8, 6.f},
                          {65, 9, 384, 6, 0.f},   {130, 40, 256, 4, 6.f}, {1, 4096 / 32, 512, 8, 0.f}};
  if (kTsanLight) cases = {{5, 72, 640, 3, 6.f}};
  for (const S& v : cases) {
    Case c;
    c.m = v.m;
    c.n = v.n;
    c.k = v.k;
    c.threshold = v.t;
    c.splits = v.splits;
    c.bias = v.m % 2 == 1;
    c.planted = {1, v.k / 2, v.k - 1};
    c.rerun = !kTsanLight;
    c.name = "int8 [sim] split k=" + std::to_string(v.splits) + " " + Dims(c);
    RunCase(c);
  }
}

// The split-k block is sized from the same GEMM launches RunPlan makes: runs of kMaxGridY full
// slabs, the leftover run and the tail slab (a leftover run that splits while the first does not
// once made a legal m fail with "split-k block missing"). Plans only: no launch.
void SplitPlanSizing() {
  struct P {
    int64_t m, n, k;
  };
  bool ok = true;
  std::string why;
  for (const P& v : {P{64 * (i8::kMaxGridY + 2), 128, 4096}, P{64 * (i8::kMaxGridY + 2) + 5, 128, 4096},
                     P{1, 4096, 4096}, P{70, 128, 2048}, P{64 * 3, 8192, 8192}})
    ok = ok && sim::Int8SplitBlockCoversLaunches(v.m, v.n, v.k, 132, &why);
  Check(ok, "int8 plan: the split-k block covers every splitting GEMM launch (132 SMs, up to kMaxGridY + 2 slabs)", "%s",
        why.c_str());
}

int main() {
  Layouts();
  SplitPlanSizing();
  Sweep();
  Edges();
  SplitK();
  return sparq_test::Summary();
}
