// native/cuda/ptx_prims.cuh: the ONLY file with inline PTX (CI rejects `asm` anywhere else).
//
// Every primitive has three bodies:
//   SPARQ_SIM                               -> the host SIMT simulator (native/sim), built by g++
//   __CUDA_ARCH__ >= 800 (nvcc device pass) -> the real instruction
//   anything else                           -> a trap (an arch without the instruction; the nvcc
//                                              host pass never runs device bodies)
// SPARQ_SIM is implied when the compiler is not nvcc, so a kernel header included from a g++ file
// always gets the simulator. Kernel headers use only what is here: no `asm`, no `__shared__`
// (SPARQ_SMEM instead), no CUDA intrinsics for warp-level operations.
//
// Each comment names the full instruction, the PTX ISA section *title* (numbers move between
// releases), the minimum SM, whether it is warp-collective, and the alignment it needs.
// The API is stable: other kernels are written against these names and signatures.
#pragma once
#include <cstdint>
#include <cstring>

#include "layouts.cuh"

#if !defined(__CUDACC__) && !defined(SPARQ_SIM)
#define SPARQ_SIM 1
#endif

#if defined(SPARQ_SIM)
#include <chrono>
#include <cmath>

#include "../sim/sim_device.h"
#define SPARQ_DEVICE inline
#define SPARQ_HOST_DEVICE inline
#else
#define SPARQ_DEVICE __device__ __forceinline__
#define SPARQ_HOST_DEVICE __host__ __device__ __forceinline__
#endif

// SPARQ_SITE / SPARQ_SITE_ONLY end the parameter list of each .aligned collective: on the
// simulator two defaulted parameters that GCC fills with the caller's file and line
// (__builtin_FILE/__builtin_LINE in a default argument take the call site), so the simulator can
// tell a warp that reached one collective from two places (sim::Site); nothing under nvcc.
#if defined(SPARQ_SIM)
#define SPARQ_SITE , const char* sparq_site_file = __builtin_FILE(), int sparq_site_line = __builtin_LINE()
#define SPARQ_SITE_ONLY const char* sparq_site_file = __builtin_FILE(), int sparq_site_line = __builtin_LINE()
#define SPARQ_SITE_ARG ::sparq::sim::Site{sparq_site_file, sparq_site_line}
#else
#define SPARQ_SITE
#define SPARQ_SITE_ONLY
#endif

#if defined(__CUDA_ARCH__)
#define SPARQ_UNSUPPORTED_ARCH() __trap()  // built for an arch without this instruction
#else
#define SPARQ_UNSUPPORTED_ARCH() ((void)0)  // nvcc host pass: device bodies never run on the host
#endif

// ---- shared memory ---------------------------------------------------------------------------
// SPARQ_SMEM(T, name, count): a CTA-wide array `name` of `count` T, usable as `name[i]`.
// nvcc: static __shared__ storage, 128-B aligned. Simulator: a fresh heap buffer per CTA,
// 0xFF-poisoned (NaN for f16/f32, -1 for integers), so reads before writes show up as NaN and
// ASan sees overflows; never a `static` shared by concurrently running CTAs or grids.
// SPARQ_DYN_SMEM(T, name): the dynamic shared memory given at launch.
#if defined(SPARQ_SIM)
#define SPARQ_SMEM(T, name, count) \
  T* const name = static_cast<T*>(::sparq::sim::SmemAlloc(__COUNTER__, sizeof(T) * (count), #name))
#define SPARQ_DYN_SMEM(T, name) T* const name = static_cast<T*>(::sparq::sim::DynSmem())
#else
#define SPARQ_SMEM(T, name, count) __shared__ __align__(128) T name[count]
#define SPARQ_DYN_SMEM(T, name) extern __shared__ __align__(128) T name[]
#endif

namespace sparq {

// ---- typed fragments -------------------------------------------------------------------------
// Register images of the mma.sync operands; which lane holds which element is in layouts.cuh.
struct FragA_F16 { uint32_t x[4]; };   // m16n8k16 A, 16x16 f16  (layout::mma_m16n8k16_a)
struct FragB_F16 { uint32_t x[2]; };   // m16n8k16 B, 16x8 f16   (layout::mma_m16n8k16_b)
struct FragA_BF16 { uint32_t x[4]; };  // m16n8k16 A, 16x16 bf16
struct FragB_BF16 { uint32_t x[2]; };  // m16n8k16 B, 16x8 bf16
struct FragC_F32 { float x[4]; };      // m16n8 f32 C/D          (layout::mma_m16n8_c)
struct FragA_S8 { uint32_t x[4]; };    // m16n8k32 A, 16x32 s8   (layout::mma_m16n8k32_a)
struct FragB_S8 { uint32_t x[2]; };    // m16n8k32 B, 32x8 s8    (layout::mma_m16n8k32_b)
struct FragC_S32 { int32_t x[4]; };    // m16n8 s32 C/D          (layout::mma_m16n8_c)
static_assert(sizeof(FragA_F16) == 16 && sizeof(FragB_F16) == 8, "m16n8k16 f16: 4 + 2 registers per lane");
static_assert(sizeof(FragA_BF16) == 16 && sizeof(FragB_BF16) == 8, "m16n8k16 bf16: 4 + 2 registers per lane");
static_assert(sizeof(FragA_S8) == 16 && sizeof(FragB_S8) == 8, "m16n8k32 s8: 4 + 2 registers per lane");
static_assert(sizeof(FragC_F32) == 16 && sizeof(FragC_S32) == 16, "m16n8 C/D: 4 registers per lane");

struct U32x4 { uint32_t x[4]; };  // one 16-byte global load

#if !defined(SPARQ_SIM)
// 32-bit shared-state-space address of a generic pointer into shared memory (cvta.to.shared).
SPARQ_DEVICE uint32_t smem_u32addr(const void* s_ptr) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(s_ptr));
}
SPARQ_DEVICE size_t gmem_addr(const void* g_ptr) { return __cvta_generic_to_global(g_ptr); }
#endif

// ==== mma.sync ================================================================================
// mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 d, a, b, c. sm_80+, warp-collective (all 32
// lanes, converged). PTX ISA "Matrix Multiply-Accumulate Instruction: mma"; layouts: "Matrix
// Fragments for mma.m16n8k16 with floating point type". d may alias c.
SPARQ_DEVICE void mma_m16n8k16_f32_f16_f16_f32(FragC_F32& d, const FragA_F16& a, const FragB_F16& b,
                                               const FragC_F32& c SPARQ_SITE) {
#if defined(SPARQ_SIM)
  sim::MmaM16N8K16(sim::MmaKind::kF16, d.x, a.x, b.x, c.x, SPARQ_SITE_ARG);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%10,%11,%12,%13};\n"
      : "=f"(d.x[0]), "=f"(d.x[1]), "=f"(d.x[2]), "=f"(d.x[3])
      : "r"(a.x[0]), "r"(a.x[1]), "r"(a.x[2]), "r"(a.x[3]), "r"(b.x[0]), "r"(b.x[1]), "f"(c.x[0]), "f"(c.x[1]),
        "f"(c.x[2]), "f"(c.x[3]));
#else
  SPARQ_UNSUPPORTED_ARCH();
#endif
}

// mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 d, a, b, c. sm_80+, warp-collective.
// PTX ISA "Matrix Multiply-Accumulate Instruction: mma"; same fragment layout as f16.
SPARQ_DEVICE void mma_m16n8k16_f32_bf16_bf16_f32(FragC_F32& d, const FragA_BF16& a, const FragB_BF16& b,
                                                 const FragC_F32& c SPARQ_SITE) {
#if defined(SPARQ_SIM)
  sim::MmaM16N8K16(sim::MmaKind::kBF16, d.x, a.x, b.x, c.x, SPARQ_SITE_ARG);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%10,%11,%12,%13};\n"
      : "=f"(d.x[0]), "=f"(d.x[1]), "=f"(d.x[2]), "=f"(d.x[3])
      : "r"(a.x[0]), "r"(a.x[1]), "r"(a.x[2]), "r"(a.x[3]), "r"(b.x[0]), "r"(b.x[1]), "f"(c.x[0]), "f"(c.x[1]),
        "f"(c.x[2]), "f"(c.x[3]));
#else
  SPARQ_UNSUPPORTED_ARCH();
#endif
}

// mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 d, a, b, c. sm_80+, warp-collective; exact
// int32 accumulation (no .satfinite). PTX ISA "Matrix Multiply-Accumulate Instruction: mma";
// layouts: "Matrix Fragments for mma.m16n8k32".
SPARQ_DEVICE void mma_m16n8k32_s32_s8_s8_s32(FragC_S32& d, const FragA_S8& a, const FragB_S8& b,
                                             const FragC_S32& c SPARQ_SITE) {
#if defined(SPARQ_SIM)
  sim::MmaM16N8K32S8(d.x, a.x, b.x, c.x, SPARQ_SITE_ARG);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%10,%11,%12,%13};\n"
      : "=r"(d.x[0]), "=r"(d.x[1]), "=r"(d.x[2]), "=r"(d.x[3])
      : "r"(a.x[0]), "r"(a.x[1]), "r"(a.x[2]), "r"(a.x[3]), "r"(b.x[0]), "r"(b.x[1]), "r"(c.x[0]), "r"(c.x[1]),
        "r"(c.x[2]), "r"(c.x[3]));
#else
  SPARQ_UNSUPPORTED_ARCH();
#endif
}

// ==== ldmatrix ================================================================================
// ldmatrix.sync.aligned.m8n8.{x1,x2,x4}{,.trans}.shared.b16 d, [addr]. sm_75+ (used at sm_80+),
// warp-collective (all 32 lanes). PTX ISA "Warp-level matrix load instruction: ldmatrix".
// Lanes 8j..8j+7 give the 8 row addresses of matrix j (x1: lanes 0-7, x2: 0-15, x4: all); each
// row is 8 consecutive b16 in shared memory and must be 16-byte aligned. The address is passed
// as a 32-bit shared-window address (cvta), never a generic pointer (ptxas would not notice).
// Which lane receives which element: layout::ldmatrix_elem.
#if defined(SPARQ_SIM)
#define SPARQ_LDMATRIX_BODY(NUM, TRANS, ASM) sim::Ldmatrix(NUM, TRANS, s_row, d, SPARQ_SITE_ARG);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
#define SPARQ_LDMATRIX_BODY(NUM, TRANS, ASM) ASM
#else
#define SPARQ_LDMATRIX_BODY(NUM, TRANS, ASM) SPARQ_UNSUPPORTED_ARCH();
#endif

SPARQ_DEVICE void ldmatrix_m8n8_x1_b16(uint32_t (&d)[1], const void* s_row SPARQ_SITE) {
  SPARQ_LDMATRIX_BODY(1, false,
                      asm volatile("ldmatrix.sync.aligned.m8n8.x1.shared.b16 {%0}, [%1];\n"
                                   : "=r"(d[0])
                                   : "r"(smem_u32addr(s_row)));)
}
SPARQ_DEVICE void ldmatrix_m8n8_x1_trans_b16(uint32_t (&d)[1], const void* s_row SPARQ_SITE) {
  SPARQ_LDMATRIX_BODY(1, true,
                      asm volatile("ldmatrix.sync.aligned.m8n8.x1.trans.shared.b16 {%0}, [%1];\n"
                                   : "=r"(d[0])
                                   : "r"(smem_u32addr(s_row)));)
}
SPARQ_DEVICE void ldmatrix_m8n8_x2_b16(uint32_t (&d)[2], const void* s_row SPARQ_SITE) {
  SPARQ_LDMATRIX_BODY(2, false,
                      asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];\n"
                                   : "=r"(d[0]), "=r"(d[1])
                                   : "r"(smem_u32addr(s_row)));)
}
SPARQ_DEVICE void ldmatrix_m8n8_x2_trans_b16(uint32_t (&d)[2], const void* s_row SPARQ_SITE) {
  SPARQ_LDMATRIX_BODY(2, true,
                      asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0,%1}, [%2];\n"
                                   : "=r"(d[0]), "=r"(d[1])
                                   : "r"(smem_u32addr(s_row)));)
}
SPARQ_DEVICE void ldmatrix_m8n8_x4_b16(uint32_t (&d)[4], const void* s_row SPARQ_SITE) {
  SPARQ_LDMATRIX_BODY(4, false,
                      asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                                   : "=r"(d[0]), "=r"(d[1]), "=r"(d[2]), "=r"(d[3])
                                   : "r"(smem_u32addr(s_row)));)
}
SPARQ_DEVICE void ldmatrix_m8n8_x4_trans_b16(uint32_t (&d)[4], const void* s_row SPARQ_SITE) {
  SPARQ_LDMATRIX_BODY(4, true,
                      asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                                   : "=r"(d[0]), "=r"(d[1]), "=r"(d[2]), "=r"(d[3])
                                   : "r"(smem_u32addr(s_row)));)
}
#undef SPARQ_LDMATRIX_BODY

// ==== cp.async ================================================================================
// cp.async.{ca,cg}.shared.global [dst], [src], cp-size, src-size. sm_80+, per thread (not
// collective). PTX ISA "Data Movement and Conversion Instructions: cp.async". Copies cp-size
// bytes (4, 8, 16; .cg only 16) from global to shared, reading only the first src_bytes
// (0..cp-size) and zero-filling the rest: src_bytes = 0 is the predicated-off tail (nothing is
// read; pass any valid pointer). dst and src must be aligned to cp-size. The data is visible
// only after cp.async.wait_group covers its commit group, and to other threads only after a
// barrier: the simulator copies at the wait, so a missing wait reads NaN poison.
#define SPARQ_CP_ASYNC(NAME, CP_BYTES, PTX)                                                        \
  SPARQ_DEVICE void NAME(void* s_dst, const void* g_src, int src_bytes) {                          \
    SPARQ_CP_ASYNC_BODY(#NAME, CP_BYTES, PTX)                                                      \
  }
#if defined(SPARQ_SIM)
#define SPARQ_CP_ASYNC_BODY(NAME, CP_BYTES, PTX) sim::CpAsync(NAME, s_dst, g_src, CP_BYTES, src_bytes);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
#define SPARQ_CP_ASYNC_BODY(NAME, CP_BYTES, PTX)                                                   \
  asm volatile(PTX " [%0], [%1], " #CP_BYTES ", %2;\n" ::"r"(smem_u32addr(s_dst)), "l"(gmem_addr(g_src)), \
               "r"(src_bytes)                                                                      \
               : "memory");
#else
#define SPARQ_CP_ASYNC_BODY(NAME, CP_BYTES, PTX) SPARQ_UNSUPPORTED_ARCH();
#endif
SPARQ_CP_ASYNC(cp_async_ca_4, 4, "cp.async.ca.shared.global")    // L1-cached, 4-byte aligned
SPARQ_CP_ASYNC(cp_async_ca_8, 8, "cp.async.ca.shared.global")    // L1-cached, 8-byte aligned
SPARQ_CP_ASYNC(cp_async_ca_16, 16, "cp.async.ca.shared.global")  // L1-cached, 16-byte aligned
SPARQ_CP_ASYNC(cp_async_cg_16, 16, "cp.async.cg.shared.global")  // L2 only (bypasses L1), 16-B aligned
#undef SPARQ_CP_ASYNC_BODY
#undef SPARQ_CP_ASYNC

// cp.async.commit_group. sm_80+, per thread: closes the group of this thread's cp.async issued
// since the previous commit (an empty group is fine). PTX ISA "cp.async.commit_group".
SPARQ_DEVICE void cp_async_commit_group() {
#if defined(SPARQ_SIM)
  sim::CpAsyncCommit();
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::: "memory");
#else
  SPARQ_UNSUPPORTED_ARCH();
#endif
}

// cp.async.wait_group N. sm_80+, per thread: waits until at most N of this thread's most recent
// committed groups are pending. Other threads see the data only after a following barrier.
// PTX ISA "cp.async.wait_group / cp.async.wait_all".
template <int N>
SPARQ_DEVICE void cp_async_wait_group() {
  static_assert(N >= 0 && N < 8, "wait_group takes a small non-negative immediate");
#if defined(SPARQ_SIM)
  sim::CpAsyncWait(N);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
#else
  SPARQ_UNSUPPORTED_ARCH();
#endif
}
SPARQ_DEVICE void cp_async_wait_all() { cp_async_wait_group<0>(); }

// ==== global memory ===========================================================================
// Plain global loads/stores, routed through here so the simulator can bounds-check them against
// the launch's registered buffers and count the bytes read per buffer (LaunchInfo::bytes_read).
// Natural alignment of T is required. The simulator's memory is as weak as a GPU's: a g_store is
// seen by other CTAs only after a gpu-scope release of its CTA that follows it (through a bar.sync
// when another thread releases), and a g_load of another CTA's store needs an acquire of that
// release (docs/verification.md, "Weak global memory").
template <class T>
SPARQ_DEVICE T g_load(const T* g_ptr) {
#if defined(SPARQ_SIM)
  T v;
  sim::GlobalLoad("ld.global", static_cast<void*>(&v), static_cast<const void*>(g_ptr), sizeof(T));
  return v;
#else
  return *g_ptr;
#endif
}
template <class T>
SPARQ_DEVICE void g_store(T* g_ptr, const T& v) {
#if defined(SPARQ_SIM)
  sim::GlobalStore("st.global", static_cast<void*>(g_ptr), static_cast<const void*>(&v), sizeof(T));
#else
  *g_ptr = v;
#endif
}

// ld.global.nc.v4.u32 d, [addr]. Any SM, per thread: a 16-byte read-only (non-coherent) load;
// 16-byte aligned; the data must not be written during the kernel. PTX ISA "Data Movement and
// Conversion Instructions: ld.global.nc".
SPARQ_DEVICE U32x4 ld_global_nc_v4_u32(const void* g_ptr) {
  U32x4 r;
#if defined(SPARQ_SIM)
  if (reinterpret_cast<uintptr_t>(g_ptr) & 15) sim::Fail("ld.global.nc.v4.u32", "address is not 16-byte aligned");
  sim::GlobalRead("ld.global.nc.v4.u32", g_ptr, 16);
  std::memcpy(r.x, g_ptr, 16);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("ld.global.nc.v4.u32 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r.x[0]), "=r"(r.x[1]), "=r"(r.x[2]), "=r"(r.x[3])
               : "l"(gmem_addr(g_ptr)));
#else
  SPARQ_UNSUPPORTED_ARCH();
  r = U32x4{};
#endif
  return r;
}

// ld.global.v4.u32 d, [addr] / st.global.v4.u32 [addr], v. Any SM, per thread: one 16-byte
// coherent (weak) global access, for data that other CTAs write or read in the same kernel (so not
// .nc); 16-byte aligned. PTX ISA "Data Movement and Conversion Instructions: ld / st". g_load /
// g_store of a 16-byte struct may be split into four 4-byte accesses; these never are. Volatile
// with a memory clobber, so nvcc keeps them on their side of the acquires and releases around them.
SPARQ_DEVICE U32x4 ld_global_v4_u32(const void* g_ptr) {
  U32x4 r;
#if defined(SPARQ_SIM)
  if (reinterpret_cast<uintptr_t>(g_ptr) & 15) sim::Fail("ld.global.v4.u32", "address is not 16-byte aligned");
  sim::GlobalLoad("ld.global.v4.u32", static_cast<void*>(r.x), g_ptr, 16);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("ld.global.v4.u32 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r.x[0]), "=r"(r.x[1]), "=r"(r.x[2]), "=r"(r.x[3])
               : "l"(gmem_addr(g_ptr))
               : "memory");
#else
  SPARQ_UNSUPPORTED_ARCH();
  r = U32x4{};
#endif
  return r;
}
SPARQ_DEVICE void st_global_v4_u32(void* g_ptr, const U32x4& v) {
#if defined(SPARQ_SIM)
  if (reinterpret_cast<uintptr_t>(g_ptr) & 15) sim::Fail("st.global.v4.u32", "address is not 16-byte aligned");
  sim::GlobalStore("st.global.v4.u32", g_ptr, static_cast<const void*>(v.x), 16);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("st.global.v4.u32 [%0], {%1,%2,%3,%4};\n" ::"l"(gmem_addr(g_ptr)), "r"(v.x[0]), "r"(v.x[1]),
               "r"(v.x[2]), "r"(v.x[3])
               : "memory");
#else
  (void)g_ptr;
  (void)v;
  SPARQ_UNSUPPORTED_ARCH();
#endif
}

// ==== memory ordering across threads, CTAs and devices =========================================
// ld.acquire.{cta,gpu,sys}.global.u32 d, [addr] / st.release.{cta,gpu,sys}.global.u32 [addr], v.
// sm_70+, per thread; 4-byte aligned. PTX ISA "Memory Consistency Model" and "Data Movement and
// Conversion Instructions: ld / st". .cta orders only against threads of the same CTA (a .cta
// release/acquire pair across CTAs synchronizes nothing: the simulator then fails the reader's
// plain loads of the releaser's data); .gpu against every CTA on this device; .sys also against
// peers and the host. The simulator times out a spin-wait whose flag never changes (a CTA
// waiting for one that is not resident: deadlock on a real GPU too).
#define SPARQ_LD_ACQUIRE(NAME, PTX)                                                                \
  SPARQ_DEVICE uint32_t NAME(const uint32_t* g_ptr) {                                              \
    SPARQ_LD_ACQUIRE_BODY(PTX)                                                                     \
  }
#if defined(SPARQ_SIM)
#define SPARQ_LD_ACQUIRE_BODY(PTX) return sim::LdAcquire(PTX, g_ptr);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
#define SPARQ_LD_ACQUIRE_BODY(PTX)                                                                 \
  uint32_t v;                                                                                      \
  asm volatile(PTX " %0, [%1];\n" : "=r"(v) : "l"(gmem_addr(g_ptr)) : "memory");                   \
  return v;
#else
#define SPARQ_LD_ACQUIRE_BODY(PTX) \
  SPARQ_UNSUPPORTED_ARCH();        \
  return 0;
#endif
SPARQ_LD_ACQUIRE(ld_acquire_cta_u32, "ld.acquire.cta.global.u32")
SPARQ_LD_ACQUIRE(ld_acquire_gpu_u32, "ld.acquire.gpu.global.u32")
SPARQ_LD_ACQUIRE(ld_acquire_sys_u32, "ld.acquire.sys.global.u32")
#undef SPARQ_LD_ACQUIRE_BODY
#undef SPARQ_LD_ACQUIRE

#define SPARQ_ST_RELEASE(NAME, PTX)                                                                \
  SPARQ_DEVICE void NAME(uint32_t* g_ptr, uint32_t v) { SPARQ_ST_RELEASE_BODY(PTX) }
#if defined(SPARQ_SIM)
#define SPARQ_ST_RELEASE_BODY(PTX) sim::StRelease(PTX, g_ptr, v);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
#define SPARQ_ST_RELEASE_BODY(PTX) \
  asm volatile(PTX " [%0], %1;\n" ::"l"(gmem_addr(g_ptr)), "r"(v) : "memory");
#else
#define SPARQ_ST_RELEASE_BODY(PTX) SPARQ_UNSUPPORTED_ARCH();
#endif
SPARQ_ST_RELEASE(st_release_cta_u32, "st.release.cta.global.u32")
SPARQ_ST_RELEASE(st_release_gpu_u32, "st.release.gpu.global.u32")
SPARQ_ST_RELEASE(st_release_sys_u32, "st.release.sys.global.u32")
#undef SPARQ_ST_RELEASE_BODY
#undef SPARQ_ST_RELEASE

// fence.acq_rel.{gpu,sys}. sm_70+, per thread. PTX ISA "Parallel Synchronization and
// Communication Instructions: membar / fence" (what __threadfence / __threadfence_system emit).
// The simulator publishes the thread's and its CTA's observed stores at a fence (the release
// half); the acquire half is not modelled apart from the atomics and ld.acquire around it, which
// acquire themselves (a missing fence between a relaxed read and a data read goes unnoticed).
SPARQ_DEVICE void fence_acq_rel_gpu() {
#if defined(SPARQ_SIM)
  sim::Fence();
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("fence.acq_rel.gpu;\n" ::: "memory");
#else
  SPARQ_UNSUPPORTED_ARCH();
#endif
}
SPARQ_DEVICE void fence_acq_rel_sys() {
#if defined(SPARQ_SIM)
  sim::Fence();
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("fence.acq_rel.sys;\n" ::: "memory");
#else
  SPARQ_UNSUPPORTED_ARCH();
#endif
}

// ==== timers and traps ==========================================================================
// mov.u64 d, %globaltimer: a nanosecond wall clock (the same on every SM of the device). sm_70+,
// per thread. PTX ISA "Special Registers: %globaltimer". For deadlines of bounded spin-waits only:
// its resolution is coarse (about a microsecond) and it may jump. Simulator: the host's steady clock.
SPARQ_DEVICE uint64_t globaltimer_ns() {
#if defined(SPARQ_SIM)
  return uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::steady_clock::now().time_since_epoch())
                      .count());
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  uint64_t t;
  asm volatile("mov.u64 %0, %globaltimer;\n" : "=l"(t));
  return t;
#else
  SPARQ_UNSUPPORTED_ARCH();
  return 0;
#endif
}

// trap. Any SM, per thread: aborts the kernel; the launch (and the context) then fail with
// cudaErrorLaunchFailure. PTX ISA "Miscellaneous Instructions: trap". `reason` is for the
// simulator, which reports it as a located kDevice failure (the GPU has no message: a device-side
// printf would cost every kernel that calls this a stack frame, which the gates forbid).
SPARQ_DEVICE void trap_with_reason(const char* reason) {
#if defined(SPARQ_SIM)
  sim::Fail("trap", reason);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  (void)reason;
  asm volatile("trap;\n" ::: "memory");
#else
  (void)reason;
  SPARQ_UNSUPPORTED_ARCH();
#endif
}

// ==== atomics =================================================================================
// atom.relaxed.gpu.global.add.f32 d, [addr], v. sm_70+, per thread; returns the old value. For
// split-k partial sums: no ordering implied. PTX ISA "Parallel Synchronization and Communication
// Instructions: atom".
SPARQ_DEVICE float atom_add_relaxed_gpu_f32(float* g_ptr, float v) {
#if defined(SPARQ_SIM)
  return sim::AtomicAddF32(g_ptr, v);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  float old;
  asm volatile("atom.relaxed.gpu.global.add.f32 %0, [%1], %2;\n" : "=f"(old) : "l"(gmem_addr(g_ptr)), "f"(v) : "memory");
  return old;
#else
  SPARQ_UNSUPPORTED_ARCH();
  return 0.f;
#endif
}

// atom.acq_rel.gpu.global.{add.u32, exch.b32, cas.b32}. sm_70+, per thread; 4-byte aligned;
// return the old value. acq_rel so a counter or lock also publishes/receives the data around it.
// PTX ISA "Parallel Synchronization and Communication Instructions: atom".
SPARQ_DEVICE uint32_t atom_add_acq_rel_gpu_u32(uint32_t* g_ptr, uint32_t v) {
#if defined(SPARQ_SIM)
  return sim::AtomicU32("atom.acq_rel.gpu.global.add.u32", 0, g_ptr, v, 0);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  uint32_t old;
  asm volatile("atom.acq_rel.gpu.global.add.u32 %0, [%1], %2;\n" : "=r"(old) : "l"(gmem_addr(g_ptr)), "r"(v) : "memory");
  return old;
#else
  SPARQ_UNSUPPORTED_ARCH();
  return 0;
#endif
}
SPARQ_DEVICE uint32_t atom_exch_acq_rel_gpu_b32(uint32_t* g_ptr, uint32_t v) {
#if defined(SPARQ_SIM)
  return sim::AtomicU32("atom.acq_rel.gpu.global.exch.b32", 1, g_ptr, v, 0);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  uint32_t old;
  asm volatile("atom.acq_rel.gpu.global.exch.b32 %0, [%1], %2;\n" : "=r"(old) : "l"(gmem_addr(g_ptr)), "r"(v) : "memory");
  return old;
#else
  SPARQ_UNSUPPORTED_ARCH();
  return 0;
#endif
}
SPARQ_DEVICE uint32_t atom_cas_acq_rel_gpu_b32(uint32_t* g_ptr, uint32_t compare, uint32_t v) {
#if defined(SPARQ_SIM)
  return sim::AtomicU32("atom.acq_rel.gpu.global.cas.b32", 2, g_ptr, compare, v);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  uint32_t old;
  asm volatile("atom.acq_rel.gpu.global.cas.b32 %0, [%1], %2, %3;\n"
               : "=r"(old)
               : "l"(gmem_addr(g_ptr)), "r"(compare), "r"(v)
               : "memory");
  return old;
#else
  SPARQ_UNSUPPORTED_ARCH();
  return 0;
#endif
}
// red.release.gpu.global.add.u32 [addr], v. sm_70+, per thread: a release increment whose old
// value is not needed (arrival counters). PTX ISA "... Instructions: red".
SPARQ_DEVICE void red_release_gpu_add_u32(uint32_t* g_ptr, uint32_t v) {
#if defined(SPARQ_SIM)
  (void)sim::AtomicU32("red.release.gpu.global.add.u32", 0, g_ptr, v, 0);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("red.release.gpu.global.add.u32 [%0], %1;\n" ::"l"(gmem_addr(g_ptr)), "r"(v) : "memory");
#else
  SPARQ_UNSUPPORTED_ARCH();
#endif
}

// red.relaxed.gpu.global.add.u32 [addr], v. sm_70+, per thread: an increment with no ordering (split-k
// int32 partial sums: integer adds give the same total in any order; a release after them, e.g. a
// fence then an acq_rel counter, publishes them). PTX ISA "... Instructions: red".
SPARQ_DEVICE void red_relaxed_gpu_add_u32(uint32_t* g_ptr, uint32_t v) {
#if defined(SPARQ_SIM)
  (void)sim::AtomicU32("red.relaxed.gpu.global.add.u32", 0, g_ptr, v, 0);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("red.relaxed.gpu.global.add.u32 [%0], %1;\n" ::"l"(gmem_addr(g_ptr)), "r"(v) : "memory");
#else
  SPARQ_UNSUPPORTED_ARCH();
#endif
}

// ==== barriers ================================================================================
// bar.sync 0 (__syncthreads). Any SM, CTA-collective: every non-exited thread of the CTA must
// arrive. PTX ISA "Parallel Synchronization and Communication Instructions: bar / barrier".
SPARQ_DEVICE void syncthreads(SPARQ_SITE_ONLY) {
#if defined(SPARQ_SIM)
  sim::SyncThreads(SPARQ_SITE_ARG);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  __syncthreads();
#else
  SPARQ_UNSUPPORTED_ARCH();
#endif
}
// bar.warp.sync mask (__syncwarp). sm_70+, warp-collective over the lanes in mask, which must
// all reach the same __syncwarp. PTX ISA "... Instructions: bar.warp.sync".
SPARQ_DEVICE void syncwarp(uint32_t mask = 0xffffffffu) {
#if defined(SPARQ_SIM)
  sim::SyncWarp(mask);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  __syncwarp(mask);
#else
  SPARQ_UNSUPPORTED_ARCH();
#endif
}

// ==== warp shuffles and votes ==================================================================
// shfl.sync.{bfly,down,up,idx}.b32 d, a, b, c, membermask with c for a full 32-lane segment.
// sm_70+, warp-collective over membermask (every named lane must execute the same shfl; the
// source lane must be in the mask). Out-of-range sources (down past lane 31, up below lane 0)
// return the caller's own value. PTX ISA "Data Movement and Conversion Instructions: shfl.sync".
#if defined(SPARQ_SIM)
#define SPARQ_SHFL_BODY(MODE, INTRINSIC) return sim::Shfl(sim::ShflMode::MODE, mask, v, b);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
#define SPARQ_SHFL_BODY(MODE, INTRINSIC) return INTRINSIC(mask, v, b);
#else
#define SPARQ_SHFL_BODY(MODE, INTRINSIC) \
  SPARQ_UNSUPPORTED_ARCH();              \
  return v;
#endif
SPARQ_DEVICE uint32_t shfl_sync_bfly_b32(uint32_t mask, uint32_t v, int b) { SPARQ_SHFL_BODY(kBfly, __shfl_xor_sync) }
SPARQ_DEVICE uint32_t shfl_sync_down_b32(uint32_t mask, uint32_t v, int b) { SPARQ_SHFL_BODY(kDown, __shfl_down_sync) }
SPARQ_DEVICE uint32_t shfl_sync_up_b32(uint32_t mask, uint32_t v, int b) { SPARQ_SHFL_BODY(kUp, __shfl_up_sync) }
SPARQ_DEVICE uint32_t shfl_sync_idx_b32(uint32_t mask, uint32_t v, int b) { SPARQ_SHFL_BODY(kIdx, __shfl_sync) }
#undef SPARQ_SHFL_BODY

// Bit casts (memcpy: no aliasing UB on the host; nvcc lowers it to a register move).
SPARQ_HOST_DEVICE uint32_t f32_as_u32(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}
SPARQ_HOST_DEVICE float u32_as_f32(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}
SPARQ_DEVICE float shfl_sync_bfly_f32(uint32_t mask, float v, int b) {
  return u32_as_f32(shfl_sync_bfly_b32(mask, f32_as_u32(v), b));
}
SPARQ_DEVICE float shfl_sync_down_f32(uint32_t mask, float v, int b) {
  return u32_as_f32(shfl_sync_down_b32(mask, f32_as_u32(v), b));
}
SPARQ_DEVICE float shfl_sync_up_f32(uint32_t mask, float v, int b) {
  return u32_as_f32(shfl_sync_up_b32(mask, f32_as_u32(v), b));
}
SPARQ_DEVICE float shfl_sync_idx_f32(uint32_t mask, float v, int b) {
  return u32_as_f32(shfl_sync_idx_b32(mask, f32_as_u32(v), b));
}

// vote.sync.{ballot.b32, any.pred, all.pred} d, p, membermask. sm_70+, warp-collective over
// membermask. ballot bit i = predicate of lane i (0 for lanes outside the mask). PTX ISA
// "Parallel Synchronization and Communication Instructions: vote.sync".
SPARQ_DEVICE uint32_t vote_sync_ballot_b32(uint32_t mask, bool pred) {
#if defined(SPARQ_SIM)
  return sim::Vote(sim::VoteMode::kBallot, mask, pred);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  return __ballot_sync(mask, pred);
#else
  SPARQ_UNSUPPORTED_ARCH();
  return 0;
#endif
}
SPARQ_DEVICE bool vote_sync_any_pred(uint32_t mask, bool pred) {
#if defined(SPARQ_SIM)
  return sim::Vote(sim::VoteMode::kAny, mask, pred) != 0;
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  return __any_sync(mask, pred) != 0;
#else
  SPARQ_UNSUPPORTED_ARCH();
  return false;
#endif
}
SPARQ_DEVICE bool vote_sync_all_pred(uint32_t mask, bool pred) {
#if defined(SPARQ_SIM)
  return sim::Vote(sim::VoteMode::kAll, mask, pred) != 0;
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  return __all_sync(mask, pred) != 0;
#else
  SPARQ_UNSUPPORTED_ARCH();
  return false;
#endif
}

// ==== integer bit tricks =======================================================================
// This section and the next are pure arithmetic: their asm is not `volatile`, so nvcc may hoist
// a loop-invariant one (a scale's prmt), merge duplicates and schedule them freely. Only asm with
// side effects or ordering (memory, barriers, collectives) stays volatile.
// Reference semantics, also used by host tests: lop3 computes LUT[(a_bit<<2)|(b_bit<<1)|c_bit]
// per bit; prmt picks result byte i by selector nibble i from {b, a} (bytes 0-3 = a, 4-7 = b),
// nibble bit 3 replicating that byte's sign bit.
template <uint32_t LUT>
SPARQ_HOST_DEVICE uint32_t lop3_ref(uint32_t a, uint32_t b, uint32_t c) {
  uint32_t r = 0;
  for (int i = 0; i < 8; ++i)
    if ((LUT >> i) & 1u) r |= ((i & 4) ? a : ~a) & ((i & 2) ? b : ~b) & ((i & 1) ? c : ~c);
  return r;
}
SPARQ_HOST_DEVICE uint32_t prmt_ref(uint32_t a, uint32_t b, uint32_t selector) {
  const uint64_t bytes = (uint64_t(b) << 32) | a;
  uint32_t r = 0;
  for (int i = 0; i < 4; ++i) {
    const uint32_t sel = (selector >> (4 * i)) & 0xfu;
    uint32_t byte = uint32_t(bytes >> (8 * (sel & 7))) & 0xffu;
    if (sel & 8) byte = (byte & 0x80u) ? 0xffu : 0u;
    r |= byte << (8 * i);
  }
  return r;
}

// lop3.b32 d, a, b, c, LUT. sm_50+, per thread. PTX ISA "Integer Arithmetic Instructions: lop3".
// LUT is built from a=0xF0, b=0xCC, c=0xAA, e.g. (a & b) | c = (0xF0 & 0xCC) | 0xAA.
template <uint32_t LUT>
SPARQ_DEVICE uint32_t lop3_b32(uint32_t a, uint32_t b, uint32_t c) {
  static_assert(LUT < 256, "lop3 takes an 8-bit truth table");
#if defined(SPARQ_SIM)
  return lop3_ref<LUT>(a, b, c);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  uint32_t d;
  asm("lop3.b32 %0, %1, %2, %3, %4;\n" : "=r"(d) : "r"(a), "r"(b), "r"(c), "n"(LUT));
  return d;
#else
  SPARQ_UNSUPPORTED_ARCH();
  return 0;
#endif
}

// prmt.b32 d, a, b, c (default mode). sm_20+, per thread. PTX ISA "Integer Arithmetic
// Instructions: prmt" (byte permute).
SPARQ_DEVICE uint32_t prmt_b32(uint32_t a, uint32_t b, uint32_t selector) {
#if defined(SPARQ_SIM)
  return prmt_ref(a, b, selector);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  uint32_t d;
  asm("prmt.b32 %0, %1, %2, %3;\n" : "=r"(d) : "r"(a), "r"(b), "r"(selector));
  return d;
#else
  SPARQ_UNSUPPORTED_ARCH();
  return 0;
#endif
}

// popc.b32 d, a: the number of set bits of a. sm_20+, per thread. PTX ISA "Integer Arithmetic
// Instructions: popc". One SASS POPC, where popc.b64 is two: the sparse bitmap decode counts within
// one 32-bit half of a block's bitmap per lane.
SPARQ_DEVICE uint32_t popc_b32(uint32_t a) {
#if defined(SPARQ_SIM)
  return uint32_t(__builtin_popcount(a));
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  uint32_t d;
  asm("popc.b32 %0, %1;\n" : "=r"(d) : "r"(a));
  return d;
#else
  SPARQ_UNSUPPORTED_ARCH();
  return 0;
#endif
}

// popc.b64 d, a (d is .u32): the number of set bits of a. sm_20+, per thread. PTX ISA "Integer
// Arithmetic Instructions: popc". Counts stored entries (int8's outlier compaction).
SPARQ_DEVICE uint32_t popc_b64(uint64_t a) {
#if defined(SPARQ_SIM)
  return uint32_t(__builtin_popcountll(a));
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  uint32_t d;
  asm("popc.b64 %0, %1;\n" : "=r"(d) : "l"(a));
  return d;
#else
  SPARQ_UNSUPPORTED_ARCH();
  return 0;
#endif
}

// ==== fp64 steps ==============================================================================
// {add,div,sqrt}.rn.f64: one IEEE double operation, round to nearest even. sm_13+, per thread.
// PTX ISA "Floating Point Instructions: add / div / sqrt". Written out so that a contract spelled
// in fp64 steps (sparq/allreduce.h Rstd) is never contracted or approximated; not volatile (pure).
SPARQ_DEVICE double add_rn_f64(double a, double b) {
#if defined(SPARQ_SIM)
  return a + b;
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  double d;
  asm("add.rn.f64 %0, %1, %2;\n" : "=d"(d) : "d"(a), "d"(b));
  return d;
#else
  SPARQ_UNSUPPORTED_ARCH();
  return 0.0;
#endif
}
SPARQ_DEVICE double div_rn_f64(double a, double b) {
#if defined(SPARQ_SIM)
  return a / b;
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  double d;
  asm("div.rn.f64 %0, %1, %2;\n" : "=d"(d) : "d"(a), "d"(b));
  return d;
#else
  SPARQ_UNSUPPORTED_ARCH();
  return 0.0;
#endif
}
SPARQ_DEVICE double sqrt_rn_f64(double a) {
#if defined(SPARQ_SIM)
  return std::sqrt(a);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  double d;
  asm("sqrt.rn.f64 %0, %1;\n" : "=d"(d) : "d"(a));
  return d;
#else
  SPARQ_UNSUPPORTED_ARCH();
  return 0.0;
#endif
}
// mul.rn.f64 d, a, b.
SPARQ_DEVICE double mul_rn_f64(double a, double b) {
#if defined(SPARQ_SIM)
  return a * b;
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  double d;
  asm("mul.rn.f64 %0, %1, %2;\n" : "=d"(d) : "d"(a), "d"(b));
  return d;
#else
  SPARQ_UNSUPPORTED_ARCH();
  return 0.0;
#endif
}
// cvt.rn.f32.f64 d, a. Any SM, per thread.
SPARQ_DEVICE float cvt_rn_f32_f64(double a) {
#if defined(SPARQ_SIM)
  return static_cast<float>(a);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  float d;
  asm("cvt.rn.f32.f64 %0, %1;\n" : "=f"(d) : "d"(a));
  return d;
#else
  SPARQ_UNSUPPORTED_ARCH();
  return 0.f;
#endif
}

// Bit casts of a double, and shfl.sync.bfly of one (two b32 shuffles of its halves; the same
// contract as shfl_sync_bfly_b32).
SPARQ_HOST_DEVICE uint64_t f64_as_u64(double f) {
  uint64_t u;
  memcpy(&u, &f, 8);
  return u;
}
SPARQ_HOST_DEVICE double u64_as_f64(uint64_t u) {
  double f;
  memcpy(&f, &u, 8);
  return f;
}
SPARQ_DEVICE double shfl_sync_bfly_f64(uint32_t mask, double v, int b) {
  const uint64_t u = f64_as_u64(v);
  const uint32_t lo = shfl_sync_bfly_b32(mask, uint32_t(u), b);
  const uint32_t hi = shfl_sync_bfly_b32(mask, uint32_t(u >> 32), b);
  return u64_as_f64(uint64_t(hi) << 32 | lo);
}

// ==== half-precision math and conversions ======================================================
// Packed f16x2 values travel as uint32_t: low half = element 0. The simulator computes each
// result exactly in double and rounds once to f16 (round-to-nearest-even), as .rn specifies.
// PTX ISA "Half Precision Floating Point Instructions: fma / sub / mul"; sm_53+ (bf16x2 fma:
// sm_80+). .rn also stops ptxas from contracting mul and sub into an fma.
#if defined(SPARQ_SIM)
namespace sim_detail {
template <class Op>
inline uint32_t f16x2_map(uint32_t a, uint32_t b, uint32_t c, Op op) {
  uint32_t r = 0;
  for (int h = 0; h < 2; ++h) {
    const double x = sim::F16ToF32(uint16_t(a >> (16 * h))), y = sim::F16ToF32(uint16_t(b >> (16 * h))),
                 z = sim::F16ToF32(uint16_t(c >> (16 * h)));
    r |= uint32_t(sim::F64ToF16(op(x, y, z))) << (16 * h);
  }
  return r;
}
}  // namespace sim_detail
#endif

#if defined(SPARQ_SIM)
#define SPARQ_F16X2_BODY(EXPR, PTX, ...) \
  return sim_detail::f16x2_map(a, b, c, [](double x, double y, double z) { (void)z; return EXPR; });
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
#define SPARQ_F16X2_BODY(EXPR, PTX, ...)           \
  uint32_t d;                                      \
  asm(PTX : "=r"(d) : __VA_ARGS__);                \
  return d;
#else
#define SPARQ_F16X2_BODY(EXPR, PTX, ...) \
  SPARQ_UNSUPPORTED_ARCH();              \
  return 0;
#endif
// fma.rn.f16x2 d, a, b, c: d = a*b + c, one rounding.
SPARQ_DEVICE uint32_t fma_rn_f16x2(uint32_t a, uint32_t b, uint32_t c) {
  SPARQ_F16X2_BODY(x * y + z, "fma.rn.f16x2 %0, %1, %2, %3;\n", "r"(a), "r"(b), "r"(c))
}
// sub.rn.f16x2 d, a, b: d = a - b.
SPARQ_DEVICE uint32_t sub_rn_f16x2(uint32_t a, uint32_t b) {
  const uint32_t c = 0;
  (void)c;
  SPARQ_F16X2_BODY(x - y, "sub.rn.f16x2 %0, %1, %2;\n", "r"(a), "r"(b))
}
// mul.rn.f16x2 d, a, b: d = a * b.
SPARQ_DEVICE uint32_t mul_rn_f16x2(uint32_t a, uint32_t b) {
  const uint32_t c = 0;
  (void)c;
  SPARQ_F16X2_BODY(x * y, "mul.rn.f16x2 %0, %1, %2;\n", "r"(a), "r"(b))
}
// add.rn.f16x2 d, a, b: d = a + b.
SPARQ_DEVICE uint32_t add_rn_f16x2(uint32_t a, uint32_t b) {
  const uint32_t c = 0;
  (void)c;
  SPARQ_F16X2_BODY(x + y, "add.rn.f16x2 %0, %1, %2;\n", "r"(a), "r"(b))
}
#undef SPARQ_F16X2_BODY

// cvt.rn.f16x2.f32 d, hi, lo (the first source lands in the upper half). sm_80+, per thread.
// PTX ISA "Data Movement and Conversion Instructions: cvt". Returns {lo, hi} packed, lo in bits 0-15.
SPARQ_DEVICE uint32_t cvt_rn_f16x2_f32(float lo, float hi) {
#if defined(SPARQ_SIM)
  return uint32_t(sim::F32ToF16(lo)) | (uint32_t(sim::F32ToF16(hi)) << 16);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  uint32_t d;
  asm("cvt.rn.f16x2.f32 %0, %1, %2;\n" : "=r"(d) : "f"(hi), "f"(lo));
  return d;
#else
  SPARQ_UNSUPPORTED_ARCH();
  return 0;
#endif
}
// cvt.rn.bf16x2.f32 d, hi, lo. sm_80+, per thread. PTX ISA "... Instructions: cvt".
SPARQ_DEVICE uint32_t cvt_rn_bf16x2_f32(float lo, float hi) {
#if defined(SPARQ_SIM)
  return uint32_t(sim::F32ToBF16(lo)) | (uint32_t(sim::F32ToBF16(hi)) << 16);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  uint32_t d;
  asm("cvt.rn.bf16x2.f32 %0, %1, %2;\n" : "=r"(d) : "f"(hi), "f"(lo));
  return d;
#else
  SPARQ_UNSUPPORTED_ARCH();
  return 0;
#endif
}
// cvt.rn.f16.f32 d, a. Any SM, per thread. f16 travels as its uint16_t bits.
SPARQ_DEVICE uint16_t cvt_rn_f16_f32(float f) {
#if defined(SPARQ_SIM)
  return sim::F32ToF16(f);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  uint16_t d;
  asm("cvt.rn.f16.f32 %0, %1;\n" : "=h"(d) : "f"(f));
  return d;
#else
  SPARQ_UNSUPPORTED_ARCH();
  return 0;
#endif
}
// cvt.f32.f16 d, a (exact). Any SM, per thread.
SPARQ_DEVICE float cvt_f32_f16(uint16_t h) {
#if defined(SPARQ_SIM)
  return sim::F16ToF32(h);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  float d;
  asm("cvt.f32.f16 %0, %1;\n" : "=f"(d) : "h"(h));
  return d;
#else
  SPARQ_UNSUPPORTED_ARCH();
  return 0.f;
#endif
}
// bf16 -> f32 is exact: the bf16 bits are the upper half of the f32 (no instruction needed).
SPARQ_HOST_DEVICE float bf16_bits_to_f32(uint16_t h) { return u32_as_f32(uint32_t(h) << 16); }
// Unpack an f16x2 register into two floats (lo = bits 0-15).
SPARQ_DEVICE void unpack_f16x2_f32(uint32_t v, float& lo, float& hi) {
  lo = cvt_f32_f16(uint16_t(v & 0xffffu));
  hi = cvt_f32_f16(uint16_t(v >> 16));
}

}  // namespace sparq
