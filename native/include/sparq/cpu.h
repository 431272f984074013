// sparq/cpu.h: the CPU backend's kernels, thread pool and ISA dispatch (native/cpu/).
// Every kernel takes the ISA explicitly so tests can run each path in one process.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "sparq/dense.h"
#include "sparq/ops.h"
#include "sparq/status.h"

namespace sparq::cpu {

enum class Isa : int { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

const char* IsaName(Isa isa);            // "scalar" | "avx2" | "avx512"
Isa BestSupportedIsa();                  // what this CPU can run (cpuid + xgetbv)
bool IsaSupported(Isa isa);
// VNNI byte dot products beyond the three ISAs, each with that ISA's OS state: AVX512_VNNI (zmm,
// with kAvx512) and AVX-VNNI (ymm, with kAvx2). The int8 kernels pick their inner loop by them.
bool HasAvx512Vnni();
bool HasAvxVnni();
// AVX512_VBMI (vpermb) with kAvx512's features; the w4a16 decode path uses it.
bool HasAvx512Vbmi();
// AVX512_VBMI2 (16-bit expand/compress) with kAvx512's features; the sparse kernels use it.
bool HasAvx512Vbmi2();
// AVX512-FP16 with kAvx512's features (and so the OS's zmm state); the w4a16 decode path's fp16
// build uses it. From CPUID, not __builtin_cpu_supports: g++ 11 rejects that name at compile time.
bool HasAvx512Fp16();
// AMX-TILE + AMX-BF16 with kAvx512's features, tile state saved by the OS, and (Linux) this
// process granted tile data; the dense prefill uses it (dense_cpu_amx.cc).
bool HasAmxBf16();
// AMX-TILE + AMX-INT8 under the same conditions; the int8 matmul's panel tiles use it
// (int8_cpu_amx.cc).
bool HasAmxInt8();
// The CPU's vendor is AMD: where the faster of two exact kernels differs by vendor (measured; see
// docs/kernels.md), the dispatch asks this.
bool IsAmdCpu();
// The CPU's vendor is Intel ("GenuineIntel"), for the same kind of measured dispatch.
bool IsIntelCpu();
// CPUID's display family (AMD: 0x19 Zen 3/4, 0x1A Zen 5; Intel: 6), 0 where unknown. For the same
// kind of measured dispatch, where one vendor's generations differ.
int CpuFamily();
// Ways of the L1 data cache (sysconf), 0 when the system does not say. Kernels that stream several
// rows a power-of-two stride apart (all in one L1 set) size their tiles by it.
int L1dWays();
// forced: "" or null → best supported; "scalar"|"avx2"|"avx512" → that one if supported, else a
// kBackend status naming the missing CPU features; anything else → kArgument.
// source names where `forced` came from in the message: "SPARQ_CPU_ISA" or "cpuIsa" (open()'s option).
Status ResolveIsa(const char* forced, Isa* out, const char* source = "SPARQ_CPU_ISA");

// A fixed pool of worker threads; ParallelFor splits [0, n) into chunks run on the pool and the
// calling thread, and returns when all are done. Not re-entrant.
class ThreadPool {
 public:
  explicit ThreadPool(int threads);  // threads >= 1 (1 = run inline)
  ~ThreadPool();
  int size() const;
  // max_chunks caps the split (see PartsForWork): a job too small to pay for waking a worker runs
  // on the calling thread alone. Chunks are fixed ranges, so results never depend on the split.
  void ParallelFor(int64_t n, const std::function<void(int64_t begin, int64_t end)>& fn,
                   int64_t max_chunks = INT64_MAX);
 private:
  void StopWorkers();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};
int DefaultThreadCount();  // SPARQ_THREADS if set and valid, else HardwareThreadCount() (getenv: see BackendOptions::env)
int HardwareThreadCount();  // std::thread::hardware_concurrency(), at least 1
// How many threads `macs` multiply-adds are worth: one per 2^19 (at m = 1 a thread per MiB of fp16
// W), at least 1. Waking a pool worker cost ~45 µs on the 2-core CI VM (2026-12-05), more than a
// 256²–512² matmul takes on one thread.
inline int64_t PartsForWork(int64_t macs) { return macs >> 19 > 0 ? macs >> 19 : 1; }

// fp16 / bf16 <-> fp32, round-to-nearest-even, NaN kept NaN (quiet), Inf, subnormals exact.
void F32ToF16(const float* src, uint16_t* dst, size_t n, Isa isa);
void F16ToF32(const uint16_t* src, float* dst, size_t n, Isa isa);
// The body F16ToF32(…, isa) runs, as a pointer (for helpers that take a converter: row_blocks.h).
using F16ToF32Fn = void (*)(const uint16_t* src, float* dst, size_t n);
F16ToF32Fn F16ToF32For(Isa isa);
void F32ToBF16(const float* src, uint16_t* dst, size_t n, Isa isa);
void BF16ToF32(const uint16_t* src, float* dst, size_t n, Isa isa);
// double → fp16 / bf16, rounded once from the double (through fp32 would round twice: toF16 of JS
// numbers). Scalar, integer arithmetic only; NaN kept NaN (quiet, sign kept), overflow → ±Inf.
void F64ToF16(const double* src, uint16_t* dst, size_t n);
void F64ToBF16(const double* src, uint16_t* dst, size_t n);

void DenseMatmulF16(const DenseMatmulArgs& args, Isa isa, ThreadPool& pool);

// The benchmarks' CPU floor (read_probe.cc): reads [src, src + bytes) once on the pool, one
// contiguous slice per thread, and returns the u64 sum of its words (so no load is elided). How a
// thread reads its slice: `streams` equal runs read a line of each in turn, each line read asking
// for the one prefetch_bytes further on (0: no software prefetch).
struct ReadProbeShape {
  static constexpr int kMaxStreams = 64;
  static constexpr int kMaxPrefetchBytes = 1 << 16;
  int streams = 1;         // 1 .. kMaxStreams
  int prefetch_bytes = 0;  // 0 .. kMaxPrefetchBytes
};
uint64_t ReadProbe(const void* src, size_t bytes, const ReadProbeShape& shape, ThreadPool& pool);
// The floor of ops that read and write (read_probe.cc; the allreduceRmsnorm bench): copies
// [src, src + bytes) to dst once on the pool, one contiguous slice per thread, with memcpy or, with
// `non_temporal`, 16-byte streaming stores that bypass the caches (as the ops' large outputs do).
void CopyProbe(void* dst, const void* src, size_t bytes, bool non_temporal, ThreadPool& pool);
// Bench support (the CPU compute peak, fma_probe.cc): each pool thread runs `iterations` of
// FmaProbeFlopsPerIteration(isa) fp32 flops as independent FMA chains; returns their checksum.
// Scalar has no probe: 0 flops per iteration, nothing run.
double FmaProbe(int64_t iterations, Isa isa, ThreadPool& pool);
double FmaProbeFlopsPerIteration(Isa isa);

}  // namespace sparq::cpu
