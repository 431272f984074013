// native/cpu/w4a16_int8_cpu.cc: W4A16 with int8 activations on the CPU — the driver (activation
// quantization, dispatch, bias and fp16 store) and the scalar kernel. The function and the layout:
// w4a16_int8_cpu.h. Threads split quads of output columns; each output is one fixed chain, so the
// bits do not depend on the thread count or the kernel.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <string>

#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

#include "cpu/aligned_array.h"
#include "cpu/cpu_switches.h"
#include "cpu/isa_kernels.h"
#include "cpu/w4a16_cpu.h"
#include "cpu/w4a16_int8_cpu.h"
#include "cuda/w4a16_layout.cuh"
#include "sparq/cpu_ops.h"
#include "sparq/w4a16.h"

namespace sparq::cpu::w4a16_int8 {

float* Scratch(size_t floats) { return cpu::w4a16::GemmScratch(floats); }

namespace scalar {

void Quads(const Problem& p, int64_t q_begin, int64_t q_end) {
  using sparq::w4a16::kCpuChunkK;
  using sparq::w4a16::kCpuColBlock;
  const int64_t chunks = p.k_pad / kCpuChunkK, per_group = p.group_eff / kCpuChunkK;
  const int64_t col_blocks = p.n_pad / kCpuColBlock;
  for (int64_t cb = q_begin * kQuadBlocks; cb < col_blocks && cb < q_end * kQuadBlocks; ++cb) {
    for (int c = 0; c < kCpuColBlock; ++c) {
      const int64_t col = cb * kCpuColBlock + c;
      for (int64_t r = 0; r < p.m; ++r) {
        const int8_t* xq = p.xq + r * p.k_pad;
        float acc = 0.0f;
        for (int64_t g = 0; g < p.groups_pad; ++g) {
          uint32_t dot = 0;  // Σ q·xq, < 2^31 for groups up to kMaxGroupK (the driver's limit)
          for (int64_t ch = g * per_group; ch < (g + 1) * per_group; ++ch) {
            const uint8_t* b = p.qw + ((cb * chunks + ch) * kCpuColBlock + c) * 16;
            for (int i = 0; i < 16; ++i) {
              dot += uint32_t(int32_t(b[i] & 15) * xq[ch * kCpuChunkK + i]);
              dot += uint32_t(int32_t(b[i] >> 4) * xq[ch * kCpuChunkK + 16 + i]);
            }
          }
          const int32_t d = int32_t(dot - uint32_t(p.xsum8[r * p.groups_pad + g]));
          const float t = float(d) * p.xs[r * p.groups_pad + g];
          acc = std::fma(t, cpu::scalar::F16ToF32One(p.scales[col * p.groups_pad + g]), acc);
        }
        p.acc[r * p.n_pad + col] = acc;
      }
    }
  }
}

}  // namespace scalar

namespace {

enum class Kernel { kScalar, kAvx2, kAvxVnni, kAvx512Vnni };

Kernel KernelFor(Isa isa) {
  if (isa == Isa::kAvx512 && HasAvx512Vnni()) return Kernel::kAvx512Vnni;
  if (isa != Isa::kScalar && IsaSupported(Isa::kAvx2))
    return HasAvxVnni() && avxvnni::Built() && !CurrentCpuSwitches().w4a16_no_avxvnni ? Kernel::kAvxVnni : Kernel::kAvx2;
  return Kernel::kScalar;
}

}  // namespace

QuadsFn QuadsFor(int isa) {
  switch (KernelFor(static_cast<Isa>(isa))) {
    case Kernel::kAvx512Vnni: return &avx512vnni::Quads;
    case Kernel::kAvxVnni: return &avxvnni::Quads;
    case Kernel::kAvx2: return &avx2::Quads;
    case Kernel::kScalar: break;
  }
  return &scalar::Quads;
}

const char* KernelNameFor(int isa) {
  switch (KernelFor(static_cast<Isa>(isa))) {
    case Kernel::kAvx512Vnni: return "avx512vnni";
    case Kernel::kAvxVnni: return "avxvnni";
    case Kernel::kAvx2: return "avx2";
    case Kernel::kScalar: break;
  }
  return "scalar";
}

namespace scalar {
namespace {

// Round half to even (the default rounding mode, which nothing in the library changes). On x86 one
// cvtss2si (SSE, in the baseline ISA): std::nearbyint is a libm call per element there.
inline int32_t RoundHalfEven(float v) {
#if defined(__x86_64__)
  return _mm_cvtss_si32(_mm_set_ss(v));
#else
  return int32_t(std::nearbyint(v));
#endif
}

}  // namespace

// Each step is exact or one IEEE rounding (division, product, round-half-even under the default
// rounding mode), so there is one answer; the AVX-512 form gives the same.
void QuantizeRow(const float* x, int64_t k, int64_t k_pad, int64_t group, int64_t groups, int8_t* xq, float* xs,
                 int32_t* xsum8) {
  for (int64_t g = 0; g < groups; ++g) {
    const int64_t k0 = g * group, k1 = std::min(k, k0 + group);
    float a = 0.0f;
    bool finite = true;
    for (int64_t i = k0; i < k1; ++i) {
      const float v = std::fabs(x[i]);
      finite = finite && v <= std::numeric_limits<float>::max();
      a = v > a ? v : a;
    }
    int32_t sum = 0;
    if (!finite || a == 0.0f) {
      xs[g] = finite ? 0.0f : std::numeric_limits<float>::quiet_NaN();
      for (int64_t i = k0; i < k1; ++i) xq[i] = 0;
    } else {
      const float inv = 127.0f / a;
      xs[g] = a / 127.0f;
      for (int64_t i = k0; i < k1; ++i) {
        // |x·inv| ≤ 127 up to one rounding, which rounds to 127 at most.
        const int32_t q = RoundHalfEven(x[i] * inv);
        xq[i] = static_cast<int8_t>(q);
        sum += q;
      }
    }
    xsum8[g] = 8 * sum;
  }
  std::memset(xq + k, 0, size_t(k_pad - k));
}

}  // namespace scalar

QuantizeRowFn QuantizeRowFor(int isa) {
  return KernelFor(static_cast<Isa>(isa)) == Kernel::kAvx512Vnni ? &avx512vnni::QuantizeRow : &scalar::QuantizeRow;
}

}  // namespace sparq::cpu::w4a16_int8

namespace sparq {

Status W4A16MatmulInt8Cpu(const W4A16WeightView& w, const uint16_t* x, const uint16_t* bias, uint16_t* y, int64_t m,
                          cpu::Isa isa, cpu::ThreadPool& pool) {
  namespace wi = cpu::w4a16_int8;
  if (w.layout != W4A16Layout::kCpu)
    return Status::Error(StatusCode::kArgument,
                         "w4a16.matmul: weight must be packed for the cpu backend (W4A16Layout::kCpu), got the gpu layout",
                         "weight");
  static_assert(wi::kMaxGroupK == W4A16MatmulInt8Args::kMaxGroupK, "one limit");
  if (w.group_size_eff > wi::kMaxGroupK)
    return Status::Error(StatusCode::kArgument,
                         "w4a16.matmul: accuracy 'int8' takes groups of at most " + std::to_string(wi::kMaxGroupK) +
                             " k (its int32 sums), got a per-channel group of " + std::to_string(w.group_size_eff) +
                             "; use the exact path (no accuracy option)",
                         "accuracy");
  if (m <= 0) return Status::Ok();
  try {
    wi::Problem p;
    p.qw = static_cast<const uint8_t*>(w.qweight);
    p.scales = w.scales;
    p.n = w.n;
    p.n_pad = w.n_pad;
    p.k_pad = w.k_pad;
    p.group_eff = w.group_size_eff;
    p.groups_pad = w.groups_pad;
    p.m = m;
    auto xq = cpu::AllocAligned<int8_t>(m * w.k_pad);
    auto xs = cpu::AllocAligned<float>(m * w.groups_pad);
    auto xsum8 = cpu::AllocAligned<int32_t>(m * w.groups_pad);
    auto acc = cpu::AllocAligned<float>(m * w.n_pad);
    auto x32 = cpu::AllocAligned<float>(m * w.k);  // allocated here: nothing on the pool's threads may throw
    const wi::QuantizeRowFn quantize_row = wi::QuantizeRowFor(static_cast<int>(isa));
    pool.ParallelFor(m, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        float* row = x32.get() + r * w.k;
        cpu::F16ToF32(x + r * w.k, row, size_t(w.k), isa);
        quantize_row(row, w.k, w.k_pad, w.group_size_eff, w.groups_pad, xq.get() + r * w.k_pad,
                        xs.get() + r * w.groups_pad, xsum8.get() + r * w.groups_pad);
      }
    });
    p.xq = xq.get();
    p.xs = xs.get();
    p.xsum8 = xsum8.get();
    p.acc = acc.get();
    const wi::QuadsFn quads_fn = wi::QuadsFor(static_cast<int>(isa));
    cpu::AlignedArray<float> bias32;
    if (bias != nullptr) {
      bias32 = cpu::AllocAligned<float>(w.n);
      cpu::F16ToF32(bias, bias32.get(), size_t(w.n), isa);
    }
    // Each task also finishes its own columns (bias, fp16): no third pass over the pool.
    const int64_t quads = (w.n_pad / sparq::w4a16::kCpuColBlock + wi::kQuadBlocks - 1) / wi::kQuadBlocks;
    pool.ParallelFor(quads, [&](int64_t b, int64_t e) {
      quads_fn(p, b, e);
      const int64_t c0 = b * wi::kQuadCols, c1 = std::min(w.n, e * wi::kQuadCols);
      for (int64_t r = 0; r < m && c0 < c1; ++r) {
        float* row = acc.get() + r * w.n_pad;
        if (bias32)
          for (int64_t j = c0; j < c1; ++j) row[j] += bias32[j];
        cpu::F32ToF16(row + c0, y + r * w.n + c0, size_t(c1 - c0), isa);
      }
    });
  } catch (const std::bad_alloc&) {
    return Status::Error(StatusCode::kOutOfMemory, "w4a16.matmul: out of host memory for the int8 activation buffers");
  }
  return Status::Ok();
}

}  // namespace sparq

namespace sparq::cpu_ops {

Status W4A16MatmulInt8(const W4A16MatmulInt8Args& a, const cpu::Exec& exec, LaunchInfo* info) {
  if (info) *info = LaunchInfo{};
  return W4A16MatmulInt8Cpu(a.weight, a.x, a.bias, a.y, a.m, exec.isa, *exec.pool);
}

}  // namespace sparq::cpu_ops
