// native/sim/sim_device.h: what a kernel header sees when g++ builds it for the SIMT simulator.
//
// ptx_prims.cuh includes this under SPARQ_SIM. It supplies the CUDA keywords and built-ins the
// kernels use (__global__, threadIdx, dim3, ...) and declares the simulator's side of every
// primitive; the definitions live in sim_runtime.cc, sim_warp.cc and sim_memory.cc. No CUDA header
// is needed: sparq_core builds with g++ alone.
#pragma once
#include <cstddef>
#include <cstdint>

#ifndef __global__
#define __global__
#endif
#ifndef __device__
#define __device__
#endif
#ifndef __host__
#define __host__
#endif
#ifndef __forceinline__
#define __forceinline__ inline
#endif
#ifndef __launch_bounds__
#define __launch_bounds__(...)
#endif
#ifndef __restrict__
#define __restrict__ __restrict
#endif

struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
};
// Per simulated thread; thread_local so several grids (e.g. all-reduce ranks) run at once.
inline thread_local uint3 threadIdx{0, 0, 0};
inline thread_local uint3 blockIdx{0, 0, 0};
inline thread_local dim3 blockDim{1, 1, 1};
inline thread_local dim3 gridDim{1, 1, 1};
constexpr int warpSize = 32;

namespace sparq::sim {

// Where a kernel called an .aligned collective (bar.sync, mma.sync.aligned, ldmatrix.sync.aligned):
// the file and line of the ptx_prims.cuh call, taken by SPARQ_SITE's default arguments. A warp (or,
// for bar.sync, a CTA) that reaches one collective from two places fails: on a GPU those are two
// instructions, and an .aligned one must be executed by all its threads at the same instruction.
struct Site {
  const char* file = nullptr;  // null: not recorded
  int line = 0;
};
bool SameSite(const Site& a, const Site& b);  // same line of the same file (sim_warp.cc)

enum class ShflMode : int { kBfly = 0, kDown = 1, kUp = 2, kIdx = 3 };
enum class VoteMode : int { kBallot = 0, kAny = 1, kAll = 2 };
enum class MmaKind : int { kF16 = 0, kBF16 = 1 };

// ---- control (sim_runtime.cc) -----------------------------------------------------------------
// Records a located failure on the current launch, wakes every simulated thread and unwinds the
// calling one. `prim` is the PTX-level name ("mma.sync.m16n8k16", "cp.async", ...).
[[noreturn]] void Fail(const char* prim, const char* what);
void SyncThreads(Site site = {});  // bar.sync 0 for all non-exited threads of the CTA

// ---- warp collectives (sim_warp.cc) -----------------------------------------------------------
void SyncWarp(uint32_t mask);
uint32_t Shfl(ShflMode mode, uint32_t mask, uint32_t value, int b);
uint32_t Vote(VoteMode mode, uint32_t mask, bool pred);
void Ldmatrix(int num_matrices, bool trans, const void* s_row, uint32_t* d, Site site = {});
void MmaM16N8K16(MmaKind kind, float* d, const uint32_t* a, const uint32_t* b, const float* c, Site site = {});
void MmaM16N8K32S8(int32_t* d, const uint32_t* a, const uint32_t* b, const int32_t* c, Site site = {});

// ---- memory (sim_memory.cc) -------------------------------------------------------------------
void* SmemAlloc(int site, size_t bytes, const char* name);  // per CTA, 0xFF-poisoned, 128-B aligned
void* DynSmem();                                             // the launch's dynamic smem, per CTA
// cp.async of cp_bytes (4, 8, 16) with src_bytes (0..cp_bytes) read and the rest zero-filled;
// the destination is 0xFF-poisoned at issue and the copy deferred until the group that holds it
// is waited for (a read in between, e.g. of a ring slot being refilled, sees NaN).
void CpAsync(const char* prim, void* s_dst, const void* g_src, int cp_bytes, int src_bytes);
void CpAsyncCommit();
void CpAsyncWait(int newest_groups_left);
// Global loads: bounds-checked against the launch's registered buffers and counted per buffer.
// A prim named "ld.global.nc…" (the read-only path) also fails if any of its bytes were written
// earlier in the launch (GlobalWrite, release stores, atomics record them).
void GlobalRead(const char* prim, const void* g_ptr, size_t bytes);
void GlobalWrite(const char* prim, const void* g_ptr, size_t bytes);
// A plain load / store of `bytes` (≤ 16) that also moves the data, under the weak global memory
// model (SimOptions::weak_global_memory): the store is buffered until its CTA publishes it; the
// load sees the thread's own stores, its CTA's after a bar.sync, and what other CTAs published,
// and fails on another CTA's store that no release/acquire ordered before it.
void GlobalLoad(const char* prim, void* dst, const void* g_ptr, size_t bytes);
void GlobalStore(const char* prim, void* g_ptr, const void* src, size_t bytes);
// The scope comes from the prim's name: ".cta." is CTA scope (it neither publishes to nor
// synchronizes with other CTAs), anything else gpu/sys. Atomics: "acq_rel" releases and acquires,
// "release" only releases, "relaxed" neither.
uint32_t LdAcquire(const char* prim, const uint32_t* g_ptr);  // also detects endless spin-waits
void StRelease(const char* prim, uint32_t* g_ptr, uint32_t value);
void Fence();  // fence.acq_rel.{gpu,sys}: publishes the thread's and its CTA's observed stores
uint32_t AtomicU32(const char* prim, int op, uint32_t* g_ptr, uint32_t a, uint32_t b);  // op: 0 add 1 exch 2 cas
float AtomicAddF32(float* g_ptr, float v);

// ---- number formats (sim_warp.cc; exact IEEE, round-to-nearest-even) -------------------------
float F16ToF32(uint16_t h);
uint16_t F32ToF16(float f);
uint16_t F64ToF16(double d);
float BF16ToF32(uint16_t h);
uint16_t F32ToBF16(float f);

}  // namespace sparq::sim
