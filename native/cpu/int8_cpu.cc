// native/cpu/int8_cpu.cc: LLM.int8() on the CPU (the contract: sparq/int8.h) — driver, scalar
// kernel, and the fp32 epilogue. Kernels and their exactness: int8_cpu.h.
//
// The activations are quantized once (Int8OutlierColumns, then the rows spread over the pool with
// the ISA's QuantRow: rowStat, CA padded to k_pad). The output is cut into tiles of row_block rows of X × col_block rows of W, sized so
// the CA block and the W block each stay in L2; threads claim W blocks one at a time and run
// every row block of the one they hold (so consecutive tiles of a thread share the W block). Each tile's int32 accumulators come from the
// ISA's Acc kernel and its outlier terms from the ISA's Outlier kernel (fma chains, lanes over
// output columns); the rest of the epilogue (baseline ISA, the int8.h helpers) writes Y: every
// Y element is computed by one thread from exact integers and fixed fp32 steps, so the bits are the
// same run to run, for any thread count and on every ISA.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "cpu/aligned_array.h"
#include "cpu/cpu_switches.h"
#include "cpu/int8_cpu.h"
#include "sparq/cpu_ops.h"
#include "sparq/int8.h"

namespace sparq::cpu::int8 {

static_assert(kColGroup == sparq::int8::kCpuRowBlock, "kernel column group = the kCpu row padding");
static_assert(kKStep == sparq::int8::kCpuKAlign, "kernel k step = the kCpu k padding");
static_assert(kCodeScale == sparq::int8::kScale && kCodeScale2 == sparq::int8::kScale2,
              "the ISA epilogues' constants are the contract's");

namespace scalar {
// One row of CA against the 4 W rows of a column group per pass (the compiler vectorizes the four
// int32 reductions; |sum| ≤ 127·128·k_pad < 2³¹ for k ≤ 2¹⁷ and CA ∈ [−127, 127]).
void Acc(const AccTile& t) {
  for (int64_t c0 = 0; c0 < t.cols; c0 += kColGroup) {
    const int8_t* b0 = t.cb + c0 * t.k_pad;
    const int8_t* b1 = b0 + t.k_pad;
    const int8_t* b2 = b1 + t.k_pad;
    const int8_t* b3 = b2 + t.k_pad;
    for (int64_t r = 0; r < t.rows; ++r) {
      const int8_t* a = t.ca + r * t.k_pad;
      int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (int64_t kk = 0; kk < t.k_pad; ++kk) {
        const int32_t av = a[kk];
        s0 += av * b0[kk];
        s1 += av * b1[kk];
        s2 += av * b2[kk];
        s3 += av * b3[kk];
      }
      int32_t* out = t.acc + r * t.ld_acc + c0;
      out[0] = s0;
      out[1] = s1;
      out[2] = s2;
      out[3] = s3;
    }
  }
}

float QuantRow(const uint16_t* x, const uint8_t* is_outlier, int64_t k, int64_t k_pad, int8_t* ca) {
  return Int8QuantizeActivationRow(x, is_outlier, k, ca, k_pad);
}

void Epilogue(const EpilogueRow& e) {
  for (int64_t c = 0; c < e.cols; ++c) {
    const float t = sparq::int8::Int8MainTerm(e.acc[c], e.row_stat, e.scb[c]);
    const float o = e.o != nullptr ? e.o[c] : 0.0f;
    e.y[c] = sparq::int8::Int8Output(t, o, e.bias != nullptr, e.bias != nullptr ? e.bias[c] : uint16_t(0));
  }
}

void Outlier(const OutlierTile& t) {
  for (int64_t r = 0; r < t.rows; ++r)
    for (int64_t c = 0; c < t.cols; ++c) {
      float o = 0.0f;
      for (int64_t q = 0; q < t.n_out; ++q) o = std::fma(t.xo[r * t.ld_xo + q], t.wo[q * t.ld_wo + c], o);
      t.o[r * t.ld_o + c] = o;
    }
}
}  // namespace scalar

namespace {

// True when a kept (non-outlier) value of the row is NaN. The contract's rowStat is an IEEE maximum,
// which a NaN makes NaN, so the row's outputs are NaN; the ISA kernels' QuantRow take the max with
// vmaxps/std::max, which drop a NaN (and give the row finite outputs, as if the NaN were 0), so the
// driver sets the NaN itself. |x|'s fp16 bits above 0x7c00 are NaN. One pass over k per row.
bool HasKeptNaN(const uint16_t* x, const uint8_t* is_outlier, int64_t k) {
  // Branch-free, so the compiler vectorizes it (the baseline SSE2 of this file): ~k/8 ops a row.
  unsigned any = 0;
  for (int64_t c = 0; c < k; ++c) any |= unsigned((x[c] & 0x7fffu) > 0x7c00u) & unsigned(is_outlier[c] == 0);
  return any != 0;
}

struct KernelSet {
  AccFn acc;
  OutlierFn outlier;
  QuantRowFn quant_row;
  EpilogueFn epilogue;
};
KernelSet SetFor(Kernel k) {
  switch (k) {
    case Kernel::kScalar: return {&scalar::Acc, &scalar::Outlier, &scalar::QuantRow, &scalar::Epilogue};
    case Kernel::kAvx2: return {&avx2::Acc, &avx2::Outlier, &avx2::QuantRow, &avx2::Epilogue};
    case Kernel::kAvx512Bw: return {&avx512::AccBw, &avx512::Outlier, &avx512::QuantRow, &avx512::Epilogue};
    case Kernel::kAvx512Vnni: return {&avx512::AccVnni, &avx512::Outlier, &avx512::QuantRow, &avx512::Epilogue};
    case Kernel::kAmx: return {&amx::Acc, &avx512::Outlier, &avx512::QuantRow, &avx512::Epilogue};
  }
  return {&scalar::Acc, &scalar::Outlier, &scalar::QuantRow, &scalar::Epilogue};
}

// The kernel to run for a requested one: itself when supported, else the next one down.
Kernel Supported(Kernel k) {
  if (k == Kernel::kAmx && !KernelSupported(k)) k = Kernel::kAvx512Vnni;
  if (k == Kernel::kAvx512Vnni && !KernelSupported(k)) k = Kernel::kAvx512Bw;
  if (k == Kernel::kAvx512Bw && !KernelSupported(k)) k = Kernel::kAvx2;
  if (k == Kernel::kAvx2 && !KernelSupported(k)) k = Kernel::kScalar;
  return k;
}

constexpr int64_t kBlockBytes = 128 << 10;  // CA block and W block each (L2 is ≥ 1 MiB on AVX-512 parts)
constexpr int64_t kMaxBlockRows = 256;      // caps the per-thread accumulator tile at 256 KiB
constexpr int64_t kPanelRowBlock = 128;     // rows per tile with panels (a multiple of 16·kPanelMz)
constexpr int64_t kOutCols = 64;            // epilogue column chunk (the outlier terms of 4 zmm)
// Up to kDecodeMaxRows X rows (one register tile of the dot forms, so each W row is read once) W
// blocks take up to kDecodeColBlock rows instead of kBlockBytes' worth (32 at k = 4096, 8 at
// 14336). Alternated call by call in one process (2026-12-07, Zen 5, 2 threads, a C++ loop over
// Int8MatmulCpu, rotated weight copies, medians ms, the far-apart dot form both ways), kBlockBytes →
// 128 rows: VNNI m = 1 4096² 0.321–0.389 → 0.272–0.351, 14336×4096 1.076–1.338 → 0.918–1.231,
// 4096×14336 1.138–1.365 → 0.834–1.104, 8192² 1.220–1.529 → 0.970–1.301 (10–27%); m = 4 7–14%
// faster, m = 2 level (±3%); AVX2 m = 1 19–34% faster. 64 rows measured about as fast, 256 a little
// slower.
constexpr int64_t kDecodeMaxRows = 4;
constexpr int64_t kDecodeColBlock = 128;

// What every tile needs: the weight, the quantized activations and the outlier values.
struct Problem {
  const Int8WeightView* w = nullptr;
  int64_t m = 0;
  const int8_t* ca = nullptr;      // [m][k_pad]
  const uint8_t* ca_biased = nullptr;  // [m][k_pad], CA + 128: the VNNI kernel's only
  const uint8_t* ca_panel = nullptr;   // the same in panels (AccTile::ca_panel) for m ≥ kPanelMinRows
  const float* row_stat = nullptr;  // [m]
  const int32_t* outliers = nullptr;  // O, increasing
  int64_t n_out = 0;                // |O|
  const float* xo = nullptr;        // [m][n_out]: fp32 of X[i][O[c]]
  const uint16_t* bias = nullptr;   // [n] or null
  uint16_t* y = nullptr;            // [m][n]
  OutlierFn outlier = nullptr;
  EpilogueFn epilogue = nullptr;
};

// A thread's epilogue scratch.
struct Scratch {
  std::vector<float> wo;  // [n_out][kOutCols]
  std::vector<float> o;   // [row_block][kOutCols]
};

// Y for rows [r0, r0 + rows) × W rows [j0, j0 + cols) from the tile's accumulators, in chunks of
// kOutCols columns (the whole tile row at once without outliers): the outlier weights and terms of
// a chunk, then per row the ISA's epilogue (main term, sum, bias, fp16).
void Epilogue(const Problem& p, int64_t r0, int64_t rows, int64_t j0, int64_t cols, const int32_t* acc,
              int64_t ld_acc, Scratch& s) {
  const Int8WeightView& w = *p.w;
  const int64_t chunk = p.n_out > 0 ? kOutCols : cols;
  for (int64_t c0 = 0; c0 < cols && j0 + c0 < w.n; c0 += chunk) {
    const int64_t cc = std::min(chunk, cols - c0);
    if (p.n_out > 0) {
      for (int64_t c = 0; c < cc; ++c) {
        const int64_t j = j0 + c0 + c;
        const int8_t* cb = w.codes + j * w.k_pad;
        for (int64_t q = 0; q < p.n_out; ++q)
          s.wo[size_t(q * kOutCols + c)] = sparq::int8::Int8OutlierWeight(cb[p.outliers[q]], w.scb[j]);
      }
      OutlierTile ot;
      ot.xo = p.xo + r0 * p.n_out;
      ot.ld_xo = p.n_out;
      ot.wo = s.wo.data();
      ot.ld_wo = kOutCols;
      ot.n_out = p.n_out;
      ot.rows = rows;
      ot.cols = cc;
      ot.o = s.o.data();
      ot.ld_o = kOutCols;
      p.outlier(ot);
    }
    EpilogueRow e;
    e.scb = w.scb + j0 + c0;
    e.bias = p.bias != nullptr ? p.bias + j0 + c0 : nullptr;
    e.cols = std::min(cc, w.n - j0 - c0);
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t i = r0 + r;
      e.acc = acc + r * ld_acc + c0;
      e.row_stat = p.row_stat[i];
      e.o = p.n_out > 0 ? s.o.data() + r * kOutCols : nullptr;
      e.y = p.y + i * w.n + j0 + c0;
      p.epilogue(e);
    }
  }
}

}  // namespace

void AccFromPanelSums(const AccTile& t, int64_t cols, int64_t rows_pad) {
  for (int64_t c = 0; c < cols; ++c) {
    const uint32_t corr = static_cast<uint32_t>(t.row_sums[c]) << 7;
    const int32_t* from = t.acc_t + c * rows_pad;
    for (int64_t r = 0; r < t.rows; ++r)
      t.acc[r * t.ld_acc + c] = static_cast<int32_t>(static_cast<uint32_t>(from[r]) - corr);
  }
}

const char* KernelName(Kernel k) {
  switch (k) {
    case Kernel::kScalar: return "scalar";
    case Kernel::kAvx2: return "avx2";
    case Kernel::kAvx512Bw: return "avx512bw";
    case Kernel::kAvx512Vnni: return "avx512vnni";
    case Kernel::kAmx: return "amx";
  }
  return "scalar";
}

bool KernelSupported(Kernel k) {
  switch (k) {
    case Kernel::kScalar: return true;
    case Kernel::kAvx2: return IsaSupported(Isa::kAvx2);
    case Kernel::kAvx512Bw: return IsaSupported(Isa::kAvx512);
    case Kernel::kAvx512Vnni: {
      return HasAvx512Vnni();
    }
    case Kernel::kAmx: return HasAvx512Vnni() && HasAmxInt8() && amx::Built();
  }
  return false;
}

Kernel KernelFor(int isa) {
  switch (static_cast<Isa>(isa)) {
    case Isa::kAvx512: {
      // AMX where the CPU has it: the same accumulators, 0.59–0.83× the VNNI kernel's time at
      // m = 16–256 (docs/kernels.md). SPARQ_INT8_AMX=0 keeps VNNI (read at every call).
      return Supported(CurrentCpuSwitches().int8_vnni ? Kernel::kAvx512Vnni : Kernel::kAmx);
    }
    case Isa::kAvx2: return Supported(Kernel::kAvx2);
    case Isa::kScalar: break;
  }
  return Kernel::kScalar;
}

Status Int8MatmulCpu(const Int8MatmulArgs& a, Kernel kernel, ThreadPool& pool) {
  const Int8WeightView& w = a.weight;
  if (w.layout != Int8Layout::kCpu)
    return Status::Error(StatusCode::kArgument,
                         "int8.matmul: weight must be packed for the cpu backend (Int8Layout::kCpu), got the gpu layout",
                         "weight");
  int64_t n_pad = 0, k_pad = 0;
  Int8PaddedDims(Int8Layout::kCpu, w.n, w.k, &n_pad, &k_pad);
  if (w.n < 1 || w.k < 1 || w.k > sparq::int8::kMaxK || w.n_pad != n_pad || w.k_pad != k_pad ||
      w.codes == nullptr || w.scb == nullptr || w.row_sums == nullptr)
    return Status::Error(StatusCode::kArgument,
                         "int8.matmul: the cpu weight view is inconsistent (n=" + std::to_string(w.n) +
                             ", k=" + std::to_string(w.k) + ", n_pad=" + std::to_string(w.n_pad) +
                             ", k_pad=" + std::to_string(w.k_pad) + ")",
                         "weight");
  const int64_t m = a.m;
  try {
    std::vector<int32_t> own_outliers;
    int32_t* outlier_cols = a.outlier_cols;
    if (outlier_cols == nullptr) {
      own_outliers.assign(size_t(w.k + 1), 0);
      outlier_cols = own_outliers.data();
    }
    if (m <= 0) {
      outlier_cols[0] = 0;
      return Status::Ok();
    }
    const Kernel runs = Supported(kernel);
    const KernelSet ks = SetFor(runs);
    std::vector<float> row_stat(static_cast<size_t>(m));
    std::vector<uint8_t> is_outlier(static_cast<size_t>(w.k));
    const int64_t n_out = Int8OutlierColumns(a.x, m, w.k, a.threshold, is_outlier.data(), outlier_cols);
    // Rows quantize independently once O is known: spread them over the pool (at m = 64 one thread
    // doing them all took longer than the matmul's integer work).
    // The VNNI kernel multiplies u8 by s8, so it reads the activations biased, CA + 128 (int8_cpu.h),
    // made here once rather than per weight block.
    const bool biased = runs == Kernel::kAvx512Vnni || runs == Kernel::kAmx;
    // With enough rows the VNNI kernel's big tiles take the panel form (int8_cpu.h AccTile::ca_panel),
    // and the AMX kernel's tiles of ≥ kAmxMinRows rows: the biased rows again, 16 to a panel,
    // interleaved by 4 bytes; pad rows hold code 0 (0x80).
    const bool panels = biased && m >= (runs == Kernel::kAmx ? kAmxMinRows : kPanelMinRows);
    const int64_t m_panel = (m + kPanelRows - 1) / kPanelRows * kPanelRows;
    // One buffer: CA | CA + 128 (VNNI) | panels (VNNI, m ≥ 16); k_pad is a multiple of 64, so each
    // part starts on a cache line.
    // (AllocAligned's per-thread block cache keeps it mapped between calls: fresh pages per call
    // took longer than quantizing at m = 128, k = 4096, 0.8–1.3 ms of a 6.4 ms call on 2026-11-30.)
    const AlignedArray<int8_t> act = AllocAligned<int8_t>(m * k_pad + (biased ? m * k_pad : 0) + (panels ? m_panel * k_pad : 0));
    int8_t* const ca = act.get();
    uint8_t* const ca_biased = biased ? reinterpret_cast<uint8_t*>(ca + m * k_pad) : nullptr;
    uint8_t* const ca_panel = panels ? ca_biased + m * k_pad : nullptr;
    // Pool tasks are single rows, or with panels the 16 rows of one panel: quantized, then biased
    // and transposed into the panel by avx512::MakePanel.
    const int64_t unit = panels ? kPanelRows : 1;
    pool.ParallelFor((m + unit - 1) / unit, [&](int64_t begin, int64_t end) {
      for (int64_t u = begin; u < end; ++u) {
        const int64_t i0 = u * unit, i1 = std::min(m, i0 + unit);
        for (int64_t i = i0; i < i1; ++i) {
          int8_t* row = ca + i * k_pad;
          row_stat[size_t(i)] = ks.quant_row(a.x + i * w.k, is_outlier.data(), w.k, k_pad, row);
          if (HasKeptNaN(a.x + i * w.k, is_outlier.data(), w.k)) row_stat[size_t(i)] = std::numeric_limits<float>::quiet_NaN();
          if (biased && !panels) {
            uint8_t* to = ca_biased + i * k_pad;
            for (int64_t c = 0; c < k_pad; ++c) to[c] = uint8_t(uint8_t(row[c]) ^ 0x80u);
          }
        }
        if (panels)
          avx512::MakePanel(ca + i0 * k_pad, i1 - i0, k_pad, ca_biased + i0 * k_pad, ca_panel + i0 * k_pad);
      }
    });
    std::vector<float> xo(static_cast<size_t>(m * n_out));
    for (int64_t i = 0; i < m; ++i)
      for (int64_t c = 0; c < n_out; ++c) xo[size_t(i * n_out + c)] = F16BitsToF32(a.x[i * w.k + outlier_cols[1 + c]]);

    Problem p;
    p.w = &w;
    p.m = m;
    p.ca = ca;
    p.ca_biased = ca_biased;
    p.ca_panel = ca_panel;
    p.row_stat = row_stat.data();
    p.outliers = outlier_cols + 1;
    p.n_out = n_out;
    p.xo = xo.data();
    p.bias = a.bias;
    p.y = a.y;

    p.outlier = ks.outlier;
    p.epilogue = ks.epilogue;
    // The CA block and the W block are each about kBlockBytes (row blocks on panel-group boundaries
    // with panels), except with panels past kPanelWholeKMax: up to kPanelRowBlock rows ×
    // kPanelColBlock W rows for any k, the panel kernel blocking k itself (int8_cpu.h).
    constexpr int64_t kPanelGroupRows = kPanelMz * kPanelRows;
    const bool k_blocked = panels && k_pad > kPanelWholeKMax;
    int64_t row_block = std::clamp<int64_t>(kBlockBytes / k_pad, 1, kMaxBlockRows);
    int64_t col_block = std::clamp<int64_t>(kBlockBytes / k_pad / kColGroup * kColGroup, kColGroup, kMaxBlockRows);
    if (panels) row_block = std::max(kPanelGroupRows, row_block / kPanelGroupRows * kPanelGroupRows);
    if (k_blocked) {
      row_block = std::min(kPanelRowBlock, (m + kPanelGroupRows - 1) / kPanelGroupRows * kPanelGroupRows);
      col_block = kPanelColBlock;
    }
    if (!panels && m <= kDecodeMaxRows) {
      // Longer W blocks, at least 4 per thread where n allows: W is read once whatever the block,
      // and the dot forms' 4 far-apart streams (a quarter of a block each) run longer.
      const int64_t per_thread = n_pad / (4 * int64_t(pool.size())) / kColGroup * kColGroup;
      col_block = std::clamp(per_thread, col_block, std::max(col_block, kDecodeColBlock));
    }
    const int64_t row_blocks = (m + row_block - 1) / row_block;
    const int64_t col_blocks = (n_pad + col_block - 1) / col_block;
    // Threads claim W blocks (each with all its row blocks) one at a time rather than a fixed half
    // each: a worker that wakes late, or runs on a busy core, still gets a share instead of finding
    // the caller has taken its whole chunk. Which thread computes a tile never changes its bits.
    std::atomic<int64_t> next_col_block{0};
    const int ways = L1dWays();
    const int pair_w_rows = ways == 0 || ways >= 12 ? 12 : 8;
    pool.ParallelFor(std::min<int64_t>({int64_t(pool.size()), col_blocks, PartsForWork(m * w.n * w.k)}), [&](int64_t, int64_t) {
      std::vector<int32_t> acc(static_cast<size_t>(std::min(row_block, m) * col_block));
      std::vector<int32_t> acc_t(panels ? static_cast<size_t>(row_block * col_block) : 0);  // row_block: a multiple of 16·kPanelMz
      Scratch s;
      s.wo.resize(static_cast<size_t>(n_out * kOutCols));
      s.o.resize(static_cast<size_t>(std::min(row_block, m) * kOutCols));
      for (;;) {
        const int64_t cb = next_col_block.fetch_add(1, std::memory_order_relaxed);
        if (cb >= col_blocks) break;
        for (int64_t rb = 0; rb < row_blocks; ++rb) {
          const int64_t j0 = cb * col_block, r0 = rb * row_block;
          AccTile t;
          t.ca = p.ca + r0 * k_pad;
          t.ca_biased = p.ca_biased != nullptr ? p.ca_biased + r0 * k_pad : nullptr;
          t.ca_panel = p.ca_panel != nullptr ? p.ca_panel + r0 * k_pad : nullptr;  // r0: a multiple of 16
          t.cb = w.codes + j0 * k_pad;
          t.row_sums = w.row_sums + j0;
          t.k_pad = k_pad;
          t.rows = std::min(row_block, m - r0);
          t.cols = std::min(col_block, n_pad - j0);
          t.acc = acc.data();
          t.ld_acc = col_block;
          t.acc_t = panels ? acc_t.data() : nullptr;
          t.panel_pair_w_rows = pair_w_rows;
          ks.acc(t);
          Epilogue(p, r0, t.rows, j0, t.cols, acc.data(), col_block, s);
        }
      }
    });
  } catch (const std::bad_alloc&) {
    return Status::Error(StatusCode::kOutOfMemory, "int8.matmul: out of host memory for the cpu scratch buffers");
  }
  return Status::Ok();
}

}  // namespace sparq::cpu::int8

namespace sparq::cpu_ops {

Status Int8Matmul(const Int8MatmulArgs& a, const cpu::Exec& exec, LaunchInfo* info) {
  if (info) *info = LaunchInfo{};
  return cpu::int8::Int8MatmulCpu(a, cpu::int8::KernelFor(static_cast<int>(exec.isa)), *exec.pool);
}

}  // namespace sparq::cpu_ops
