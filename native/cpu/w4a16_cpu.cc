// native/cpu/w4a16_cpu.cc: Y[m,n] = fp16(X[m,k] · dequant(W)ᵀ + bias) on the CPU (driver + the
// scalar kernels). Layout and paths: w4a16_cpu.h. Threads split output columns, so every Y
// element is computed by one thread in a fixed order: same bits run to run.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>

#include "cpu/aligned_array.h"
#include "cpu/cpu_switches.h"
#include "cpu/isa_kernels.h"
#include "cpu/row_blocks.h"
#include "cpu/w4a16_cpu.h"
#include "cuda/w4a16_layout.cuh"
#include "sparq/cpu_ops.h"
#include "sparq/w4a16.h"

namespace sparq::cpu::w4a16 {
namespace scalar {
namespace {

// lut[q] = fp32(fp16((q − 8)·s)): the contract's dequantised weight for each code.
void BuildLut(uint16_t s_bits, float lut[16]) {
  const float s = cpu::scalar::F16ToF32One(s_bits);
  for (int q = 0; q < 16; ++q) lut[q] = cpu::scalar::F16ToF32One(cpu::scalar::F32ToF16One(float(q - 8) * s));
}

void Gemv(const Problem& p, int64_t cb_begin, int64_t cb_end) {
  const int64_t chunks = p.k_pad / sparq::w4a16::kCpuChunkK;
  const int64_t chunks_per_group = p.group_eff / sparq::w4a16::kCpuChunkK;
  float lut[16];
  for (int64_t cb = cb_begin; cb < cb_end; ++cb) {
    for (int c = 0; c < sparq::w4a16::kCpuColBlock; ++c) {
      const int64_t col = cb * sparq::w4a16::kCpuColBlock + c;
      if (col >= p.n) break;
      for (int64_t r = 0; r < p.m; ++r) {
        const float* x = p.x + r * p.k_pad;
        float acc = 0.0f;
        for (int64_t ch = 0; ch < chunks; ++ch) {
          if (ch % chunks_per_group == 0) BuildLut(p.scales[col * p.groups_pad + ch / chunks_per_group], lut);
          const uint8_t* b = p.qw + ((cb * chunks + ch) * sparq::w4a16::kCpuColBlock + c) * 16;
          for (int i = 0; i < 16; ++i) acc += x[ch * 32 + i] * lut[b[i] & 15];
          for (int i = 0; i < 16; ++i) acc += x[ch * 32 + 16 + i] * lut[b[i] >> 4];
        }
        if (p.bias != nullptr) acc += p.bias[col];
        p.y[r * p.n + col] = cpu::scalar::F32ToF16One(acc);
      }
    }
  }
}

}  // namespace

const KernelSet& Kernels() {
  static const KernelSet set{1 << 30, &Gemv, nullptr};
  return set;
}
}  // namespace scalar

Problem ProblemFor(const sparq::W4A16WeightView& w, int64_t m) {
  Problem p;
  p.qw = static_cast<const uint8_t*>(w.qweight);
  p.scales = w.scales;
  p.n = w.n;
  p.n_pad = w.n_pad;
  p.k_pad = w.k_pad;
  p.group_eff = w.group_size_eff;
  p.groups_pad = w.groups_pad;
  p.m = m;
  p.tables = &GetScaleTables();
  return p;
}
}  // namespace sparq::cpu::w4a16

namespace sparq {
namespace {

using cpu::w4a16::KernelSet;
using cpu::w4a16::Problem;


// The avx512 gemv comes in three builds with the same bits (w4a16_cpu.h): plain (codes by a
// broadcast and a variable shift, tables from ScaleTables), VBMI (codes by one vpermb; the same
// tables) and FP16 (the plain codes, tables built by vmulph). FP16 is taken wherever the CPU has
// it, then VBMI. On paper a ScaleTables table (a scale load, an address, a row load, a vpaddd per
// column) is cheaper than FP16's ~15 vector uops per 4 columns, but on the 2026-12-03 Intel Xeon
// (Sapphire Rapids flags: both VBMI and FP16) the FP16 build was 13–45% faster at m = 1–8, with
// varied scales and with one fixed scale alike, alternated call by call (docs/kernels.md). CPUs
// with VBMI and no FP16 (AMD Zen 4/5, Ice Lake) keep VBMI, measured there before.
// SPARQ_W4A16_GEMV=plain|vbmi|fp16 forces one where the CPU has it (read at every call, like
// SPARQ_SPARSE_EXPAND, so one process can time them side by side; w4a16_test calls each build
// directly); anything else, or unset, takes the best.
enum class DecodeGemv { kPlain, kVbmi, kFp16 };

bool HasFp16Gemv() {
  static const bool has = cpu::w4a16::avx512fp16::DecodeGemv() != nullptr && cpu::HasAvx512Fp16();
  return has;
}

DecodeGemv ChooseDecodeGemv() {
  using Forced = cpu::CpuSwitches::W4a16Gemv;
  const Forced forced = cpu::CurrentCpuSwitches().w4a16_gemv;
  if (forced == Forced::kPlain) return DecodeGemv::kPlain;
  if (forced == Forced::kVbmi && cpu::HasAvx512Vbmi()) return DecodeGemv::kVbmi;
  if (HasFp16Gemv()) return DecodeGemv::kFp16;
  return cpu::HasAvx512Vbmi() ? DecodeGemv::kVbmi : DecodeGemv::kPlain;
}

const KernelSet& Avx512KernelsWithGemv(DecodeGemv which) {
  static const KernelSet vbmi = [] {
    KernelSet s = cpu::w4a16::avx512::Kernels();
    s.gemv = cpu::w4a16::avx512vbmi::DecodeGemv();
    return s;
  }();
  static const KernelSet fp16 = [] {
    KernelSet s = cpu::w4a16::avx512::Kernels();
    s.gemv = cpu::w4a16::avx512fp16::DecodeGemv();
    return s;
  }();
  switch (which) {
    case DecodeGemv::kVbmi: return vbmi;
    case DecodeGemv::kFp16: return fp16;
    default: return cpu::w4a16::avx512::Kernels();
  }
}

const KernelSet& KernelsFor(cpu::Isa isa) {
  if (isa == cpu::Isa::kAvx512 && cpu::IsaSupported(cpu::Isa::kAvx512))
    return Avx512KernelsWithGemv(ChooseDecodeGemv());
  if (isa != cpu::Isa::kScalar && cpu::IsaSupported(cpu::Isa::kAvx2)) return cpu::w4a16::avx2::Kernels();
  return cpu::w4a16::scalar::Kernels();
}

}  // namespace

Status W4A16MatmulCpu(const W4A16WeightView& w, const uint16_t* x, const uint16_t* bias, uint16_t* y,
                      int64_t m, cpu::Isa isa, cpu::ThreadPool& pool) {
  if (w.layout != W4A16Layout::kCpu)
    return Status::Error(StatusCode::kArgument,
                         "w4a16.matmul: weight must be packed for the cpu backend (W4A16Layout::kCpu), got the gpu layout",
                         "weight");
  if (m <= 0) return Status::Ok();
  try {
    const KernelSet& ks = KernelsFor(isa);
    Problem p = cpu::w4a16::ProblemFor(w, m);
    p.y = y;
    cpu::AlignedArray<float> bias32;
    if (bias != nullptr) {
      bias32 = cpu::AllocAligned<float>(w.n);
      cpu::F16ToF32(bias, bias32.get(), size_t(w.n), isa);
      p.bias = bias32.get();
    }
    const bool use_gemm = ks.gemm != nullptr && m > ks.gemv_max_m;
    const int64_t col_blocks = w.n_pad / sparq::w4a16::kCpuColBlock;
    if (!use_gemm) {
      cpu::AlignedArray<float> x32 = cpu::AllocAligned<float>(m * w.k_pad);
      for (int64_t r = 0; r < m; ++r) {
        cpu::F16ToF32(x + r * w.k, x32.get() + r * w.k_pad, size_t(w.k), isa);
        std::fill(x32.get() + r * w.k_pad + w.k, x32.get() + (r + 1) * w.k_pad, 0.0f);
      }
      if (ks.gemv_x_lane_order) {
        // Within each 32-k chunk: lane j of each half holds k = GemvLaneOrder(j) of that half.
        constexpr int kHalf = sparq::w4a16::kCpuChunkK / 2;
        float chunk[sparq::w4a16::kCpuChunkK];
        for (int64_t r = 0; r < m; ++r) {
          for (int64_t k0 = 0; k0 < w.k_pad; k0 += sparq::w4a16::kCpuChunkK) {
            float* xs = x32.get() + r * w.k_pad + k0;
            std::memcpy(chunk, xs, sizeof chunk);
            for (int j = 0; j < kHalf; ++j) {
              xs[j] = chunk[cpu::w4a16::GemvLaneOrder(j)];
              xs[kHalf + j] = chunk[kHalf + cpu::w4a16::GemvLaneOrder(j)];
            }
          }
        }
      }
      p.x = x32.get();
      pool.ParallelFor(col_blocks, [&](int64_t b, int64_t e) { ks.gemv(p, b, e); }, cpu::PartsForWork(m * w.n * w.k));
      return Status::Ok();
    }
    // The gemm's X blocks straight from fp16 (the conversion is exact, so the same floats as
    // through an fp32 copy of X): no m × k_pad fp32 copy beside them. At m = 128, k = 16384 the
    // two were 8 MiB each, together past the per-thread block cache, and every call faulted one of
    // them in afresh (2048 faults, ~16 ms of a ~70 ms call on the CI VM; docs/kernels.md).
    static_assert(cpu::w4a16::kRowBlock == cpu::kRowBlockRows, "the gemm reads row_blocks.h's xt");
    const cpu::F16ToF32Fn to_f32 = cpu::F16ToF32For(isa);
    p.xt_k_group = ks.gemm_k_group != nullptr ? ks.gemm_k_group(m) : 0;
    cpu::AlignedArray<float> xt =
        p.xt_k_group > 0
            ? cpu::KGroupRowBlocksF16(x, m, w.k, w.k_pad, p.xt_k_group, to_f32, pool)
            : cpu::RowBlocksF16(x, m, w.k, w.k_pad, to_f32, pool, cpu::RowsTailBegin(m, cpu::w4a16::kGemmTailRowsAvx2));
    p.xt = xt.get();
    const int64_t supers = (col_blocks * sparq::w4a16::kCpuColBlock + cpu::w4a16::kColsPerSuper - 1) /
                           cpu::w4a16::kColsPerSuper;
    pool.ParallelFor(supers, [&](int64_t b, int64_t e) { ks.gemm(p, b, e); }, cpu::PartsForWork(m * w.n * w.k));
  } catch (const std::bad_alloc&) {
    return Status::Error(StatusCode::kOutOfMemory, "w4a16.matmul: out of host memory for the cpu scratch buffers");
  }
  return Status::Ok();
}

}  // namespace sparq

namespace sparq::cpu_ops {

Status W4A16Matmul(const W4A16MatmulArgs& a, const cpu::Exec& exec, LaunchInfo* info) {
  if (info) *info = LaunchInfo{};
  return W4A16MatmulCpu(a.weight, a.x, a.bias, a.y, a.m, exec.isa, *exec.pool);
}

}  // namespace sparq::cpu_ops
