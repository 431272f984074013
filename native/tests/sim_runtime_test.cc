// native/tests/sim_runtime_test.cc: the simulator's primitives on small kernels written against
// ptx_prims.cuh: shuffles/votes, block reduction with the "warp 0 finishes" idiom, cp.async with
// zero-fill, ldmatrix + mma (f16, bf16, s8) against float64/int64 references, bit tricks, half
// math and conversions, atomics across concurrently running CTAs.
#include <cstdlib>
#include <cstring>
#include <functional>
#include <set>
#include <thread>

#include "cuda/ptx_prims.cuh"
#include "sim/sim_fiber.h"
#include "sim/sim_launch.h"
#include "sim_test_util.h"

using sparq_test::Check;

namespace sparq {

__global__ void block_sum_kernel(const float* g_x, float* g_out) {
  SPARQ_SMEM(float, s_partial, 4);  // [warps]
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  float v = g_load(&g_x[blockIdx.x * blockDim.x + threadIdx.x]);
  for (int o = 16; o > 0; o >>= 1) v += shfl_sync_bfly_f32(0xffffffffu, v, o);
  if (lane == 0) s_partial[warp] = v;
  syncthreads();
  if (warp == 0) {  // only warp 0 finishes: legal CUDA that a CTA-wide "shuffle" would get wrong
    float p = lane < 4 ? s_partial[lane] : 0.f;
    for (int o = 16; o > 0; o >>= 1) p += shfl_sync_down_f32(0xffffffffu, p, o);
    if (lane == 0) g_store(&g_out[blockIdx.x], p);
  }
}

__global__ void host_thread_kernel(uint64_t* g_out) {  // [blockDim.x]: the host thread that ran each thread
  g_store(&g_out[threadIdx.x], uint64_t(std::hash<std::thread::id>{}(std::this_thread::get_id())));
}

__global__ void shfl_vote_kernel(uint32_t* g_out) {  // [8][32]
  const uint32_t lane = threadIdx.x;
  g_store(&g_out[0 * 32 + lane], shfl_sync_up_b32(0xffffffffu, lane, 3));
  g_store(&g_out[1 * 32 + lane], shfl_sync_down_b32(0xffffffffu, lane, 5));
  g_store(&g_out[2 * 32 + lane], shfl_sync_idx_b32(0xffffffffu, lane * 10, int((lane * 7) % 32)));
  g_store(&g_out[3 * 32 + lane], vote_sync_ballot_b32(0xffffffffu, lane % 3 == 0));
  g_store(&g_out[4 * 32 + lane], uint32_t(vote_sync_any_pred(0xffffffffu, lane == 31)));
  g_store(&g_out[5 * 32 + lane], uint32_t(vote_sync_all_pred(0xffffffffu, lane < 31)));
  uint32_t half = 0;
  if (lane < 16) half = shfl_sync_bfly_b32(0x0000ffffu, lane, 1);  // a 16-lane collective
  else half = shfl_sync_bfly_b32(0xffff0000u, lane, 2);
  g_store(&g_out[6 * 32 + lane], half);
  syncwarp();
  g_store(&g_out[7 * 32 + lane], lane);
}

__global__ void cp_async_kernel(const uint8_t* g_src, uint8_t* g_dst) {  // 64 bytes each
  SPARQ_SMEM(uint8_t, s_buf, 64);
  const int lane = threadIdx.x;
  if (lane == 0) cp_async_cg_16(&s_buf[0], &g_src[0], 16);
  if (lane == 1) cp_async_ca_8(&s_buf[16], &g_src[16], 5);   // 5 bytes read, 3 zero-filled
  if (lane == 2) cp_async_ca_4(&s_buf[24], &g_src[24], 0);   // predicated off: 4 zeros
  if (lane == 3) cp_async_ca_16(&s_buf[32], &g_src[32], 16);
  if (lane == 4) cp_async_cg_16(&s_buf[48], &g_src[48], 12);  // 12 bytes read, 4 zero-filled
  if (lane == 5) s_buf[28] = 7;  // plain shared stores still work
  cp_async_commit_group();
  cp_async_wait_group<0>();
  syncwarp();
  if (lane < 16) {
    uint32_t v;
    std::memcpy(&v, &s_buf[4 * lane], 4);
    g_store(reinterpret_cast<uint32_t*>(&g_dst[4 * lane]), v);
  }
}

// One warp: C[16][8] = A[16][16] · W[8][16]ᵀ, through cp.async -> ldmatrix -> mma.
template <bool BF16>
__global__ void mma_tile_kernel(const uint16_t* g_a, const uint16_t* g_w, float* g_c) {
  SPARQ_SMEM(uint16_t, s_a, 16 * 16);
  SPARQ_SMEM(uint16_t, s_w, 8 * 16);
  const int lane = threadIdx.x;
  cp_async_cg_16(&s_a[lane * 8], &g_a[lane * 8], 16);
  if (lane < 16) cp_async_cg_16(&s_w[lane * 8], &g_w[lane * 8], 16);
  cp_async_commit_group();
  cp_async_wait_group<0>();
  syncwarp();
  const RowCol ra = layout::ldmatrix_x4_a_rows(lane);
  uint32_t a[4], b[2];
  ldmatrix_m8n8_x4_b16(a, &s_a[ra.row * 16 + ra.col]);
  ldmatrix_m8n8_x2_b16(b, &s_w[(lane & 7) * 16 + ((lane >> 3) & 1) * 8]);
  FragC_F32 c = {{0.f, 0.f, 0.f, 0.f}};
  if constexpr (BF16) {
    mma_m16n8k16_f32_bf16_bf16_f32(c, FragA_BF16{{a[0], a[1], a[2], a[3]}}, FragB_BF16{{b[0], b[1]}}, c);
  } else {
    mma_m16n8k16_f32_f16_f16_f32(c, FragA_F16{{a[0], a[1], a[2], a[3]}}, FragB_F16{{b[0], b[1]}}, c);
  }
  for (int e = 0; e < 4; ++e) {
    const RowCol rc = layout::mma_m16n8_c(lane, e);
    g_store(&g_c[rc.row * 8 + rc.col], c.x[e]);
  }
}

// One warp: C[16][8] = A[16][32] · B[8][32]ᵀ in s8, fragments gathered straight from global.
__global__ void mma_s8_kernel(const int8_t* g_a, const int8_t* g_bt, int32_t* g_c) {
  const int lane = threadIdx.x;
  FragA_S8 a;
  FragB_S8 b;
  for (int r = 0; r < 4; ++r) {
    const RowCol rc = layout::mma_m16n8k32_a(lane, 4 * r);
    a.x[r] = g_load(reinterpret_cast<const uint32_t*>(&g_a[rc.row * 32 + rc.col]));
  }
  for (int r = 0; r < 2; ++r) {
    const RowCol rc = layout::mma_m16n8k32_b(lane, 4 * r);  // (k, n): W row n, 4 consecutive k
    b.x[r] = g_load(reinterpret_cast<const uint32_t*>(&g_bt[rc.col * 32 + rc.row]));
  }
  FragC_S32 c = {{1, 2, 3, 4}};
  mma_m16n8k32_s32_s8_s8_s32(c, a, b, c);
  for (int e = 0; e < 4; ++e) {
    const RowCol rc = layout::mma_m16n8_c(lane, e);
    g_store(&g_c[rc.row * 8 + rc.col], c.x[e] - (e + 1));
  }
}

__global__ void atomics_kernel(uint32_t* g_counter, float* g_sum, uint32_t* g_lock, uint32_t* g_guarded) {
  atom_add_acq_rel_gpu_u32(g_counter, 1u);
  atom_add_relaxed_gpu_f32(g_sum, 0.5f);
  if (threadIdx.x == 0) {  // a CAS spin lock across CTAs
    while (atom_cas_acq_rel_gpu_b32(g_lock, 0u, 1u) != 0u) {
    }
    g_store(g_guarded, g_load(g_guarded) + 1u);
    atom_exch_acq_rel_gpu_b32(g_lock, 0u);
  }
}

// Counts the CTAs in flight: thread 0 counts its CTA in on entry (recording how many it saw, itself
// included) and out at the end, after a barrier that every thread of the CTA passes.
__global__ void residency_kernel(uint32_t* g_live, uint32_t* g_seen) {  // g_seen[64]
  if (threadIdx.x == 0) {
    const uint32_t live = atom_add_acq_rel_gpu_u32(g_live, 1u) + 1u;
    atom_add_acq_rel_gpu_u32(&g_seen[live < 63 ? live : 63], 1u);
  }
  syncthreads();
  if (threadIdx.x == 0) atom_add_acq_rel_gpu_u32(g_live, 0xffffffffu);
}

}  // namespace sparq

using namespace sparq;

static void TestConversions() {
  int bad = 0;
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = sim::F16ToF32(uint16_t(h));
    const uint16_t back = sim::F32ToF16(f);
    if (std::isnan(f) ? (back & 0x7c00) != 0x7c00 || !(back & 0x3ff) : back != h) ++bad;
  }
  Check(bad == 0, "f16 -> f32 -> f16 round-trips all 65536 values", "%d mismatches", bad);
  const float one = 1.f;
  Check(sim::F32ToF16(one + std::ldexp(1.f, -11)) == 0x3c00 && sim::F32ToF16(one + 3 * std::ldexp(1.f, -11)) == 0x3c02 &&
            sim::F32ToF16(65519.f) == 0x7bff && sim::F32ToF16(65520.f) == 0x7c00 &&
            sim::F32ToF16(std::ldexp(1.f, -25)) == 0 && sim::F32ToF16(std::ldexp(3.f, -26)) == 1 &&
            sim::F32ToF16(-2.f) == 0xc000,
        "f32 -> f16 rounds to nearest even (ties, overflow, subnormals)");
  Check(sim::F32ToBF16(1.f + std::ldexp(1.f, -8)) == 0x3f80 && sim::F32ToBF16(1.f + 3 * std::ldexp(1.f, -8)) == 0x3f82 &&
            sim::BF16ToF32(0x3f80) == 1.f,
        "f32 -> bf16 rounds to nearest even");
}

static void TestBitTricksAndHalfMath() {
  std::mt19937 rng(7);
  int bad = 0;
  for (int i = 0; i < 10000; ++i) {
    const uint32_t a = rng(), b = rng(), c = rng();
    bad += lop3_b32<(0xF0 & 0xCC) | 0xAA>(a, b, c) != ((a & b) | c);
    bad += lop3_b32<0xF0 ^ 0xCC ^ 0xAA>(a, b, c) != (a ^ b ^ c);
    bad += lop3_b32<(0xF0 & ~0xCC & 0xFF) | (0xCC & 0xAA)>(a, b, c) != ((a & ~b) | (b & c));
  }
  Check(bad == 0, "lop3.b32 truth tables", "%d wrong", bad);
  Check(prmt_b32(0x33221100u, 0x77665544u, 0x5410u) == 0x55441100u &&
            prmt_b32(0x000080ffu, 0u, 0x8888u) == 0xffffffffu && prmt_b32(0x0000807fu, 0u, 0x0808u) == 0x7f007f00u,
        "prmt.b32 byte select and sign replication");
  const uint32_t two_three = cvt_rn_f16x2_f32(2.f, 3.f), half_quarter = cvt_rn_f16x2_f32(0.5f, 0.25f),
                 one_one = cvt_rn_f16x2_f32(1.f, 1.f);
  float lo, hi;
  unpack_f16x2_f32(fma_rn_f16x2(two_three, half_quarter, one_one), lo, hi);
  bool ok = lo == 2.f && hi == 1.75f;
  unpack_f16x2_f32(sub_rn_f16x2(two_three, one_one), lo, hi);
  ok = ok && lo == 1.f && hi == 2.f;
  unpack_f16x2_f32(mul_rn_f16x2(two_three, two_three), lo, hi);
  ok = ok && lo == 4.f && hi == 9.f;
  // fma rounds once: 1 + 2^-11 needs no rounding in the product but the sum rounds to even
  unpack_f16x2_f32(fma_rn_f16x2(cvt_rn_f16x2_f32(std::ldexp(1.f, -11), 0.f), one_one, one_one), lo, hi);
  ok = ok && lo == 1.f && hi == 1.f;
  Check(ok && cvt_f32_f16(cvt_rn_f16_f32(0.1f)) == sim::F16ToF32(0x2e66) && bf16_bits_to_f32(0x4040) == 3.f,
        "f16x2 fma/sub/mul and f32<->f16 conversions");
  // The Marlin-style int4 -> f16 magic: (0x6400 | q) - 1032 = q - 8 for q in 0..15.
  int wrong = 0;
  for (uint32_t q = 0; q < 16; ++q) {
    const uint32_t v = lop3_b32<(0xF0 & 0xCC) | 0xAA>(q | (q << 16), 0x000f000fu, 0x64006400u);
    unpack_f16x2_f32(sub_rn_f16x2(v, 0x64086408u), lo, hi);
    wrong += lo != float(int(q) - 8) || hi != float(int(q) - 8);
  }
  Check(wrong == 0, "int4 -> f16 dequant magic through lop3 + sub.f16x2", "%d wrong", wrong);
}

static void TestBlockSum(bool concurrent) {
  const int ctas = 5, threads = 128;
  std::vector<float> x(ctas * threads), out(ctas, NAN);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(i % 97) * 0.25f;
  sim::SimOptions o;
  o.concurrent_ctas = concurrent;
  sim::Launch launch("block_sum_kernel", o);
  launch.RegisterBuffer("x", x.data(), x.size() * 4);
  launch.RegisterBuffer("out", out.data(), out.size() * 4);
  Status s = launch.Run(dim3(ctas), dim3(threads), 0, &block_sum_kernel, x.data(), out.data());
  bool ok = s.ok();
  for (int b = 0; b < ctas; ++b) {
    double ref = 0;
    for (int i = 0; i < threads; ++i) ref += x[b * threads + i];
    ok = ok && std::fabs(out[b] - ref) < 1e-3;
  }
  const auto traffic = launch.BytesRead();
  Check(ok && traffic[0].second == x.size() * 4 && traffic[1].second == 0,
        std::string("block reduction (shfl bfly/down, warp 0 finishes) ") + (concurrent ? "concurrent" : "sequential"),
        "status '%s'", s.message.c_str());
}

static void TestShflVote() {
  std::vector<uint32_t> out(8 * 32, 0xdeadbeef);
  sim::Launch launch("shfl_vote_kernel", sim::SimOptions{});
  Status s = launch.Run(dim3(1), dim3(32), 0, &shfl_vote_kernel, out.data());
  int bad = 0;
  uint32_t ballot = 0;
  for (int l = 0; l < 32; l += 3) ballot |= 1u << l;
  for (uint32_t l = 0; l < 32; ++l) {
    bad += out[l] != (l >= 3 ? l - 3 : l);
    bad += out[32 + l] != (l + 5 <= 31 ? l + 5 : l);
    bad += out[64 + l] != ((l * 7) % 32) * 10;
    bad += out[96 + l] != ballot;
    bad += out[128 + l] != 1u;
    bad += out[160 + l] != 0u;
    bad += out[192 + l] != (l < 16 ? l ^ 1u : l ^ 2u);
    bad += out[224 + l] != l;
  }
  Check(s.ok() && bad == 0, "shfl.sync up/down/idx/bfly, vote ballot/any/all, sub-warp masks", "%d wrong, '%s'", bad,
        s.message.c_str());
}

static void TestCpAsync() {
  std::vector<uint8_t> src(64), dst(64, 0xEE);
  for (int i = 0; i < 64; ++i) src[i] = uint8_t(i + 1);
  alignas(16) static thread_local uint8_t aligned_src[64];
  std::memcpy(aligned_src, src.data(), 64);
  sim::Launch launch("cp_async_kernel", sim::SimOptions{});
  launch.RegisterBuffer("src", aligned_src, 64);
  launch.RegisterBuffer("dst", dst.data(), 64);
  Status s = launch.Run(dim3(1), dim3(32), 0, &cp_async_kernel, static_cast<const uint8_t*>(aligned_src), dst.data());
  int bad = 0;
  for (int i = 0; i < 64; ++i) {
    uint8_t want = uint8_t(i + 1);
    if (i >= 21 && i < 24) want = 0;             // zero-filled tail of the 8-byte copy
    if (i >= 24 && i < 28) want = 0;             // predicated-off 4-byte copy
    if (i >= 28 && i < 32) want = i == 28 ? 7 : 0xFF;  // poison where nothing was copied
    if (i >= 60) want = 0;                       // 12 of 16 bytes read
    bad += dst[i] != want;
  }
  const auto traffic = launch.BytesRead();
  Check(s.ok() && bad == 0 && traffic[0].second == 16 + 5 + 0 + 16 + 12,
        "cp.async 4/8/16 with src-size zero-fill, deferred to wait_group; traffic counts bytes read",
        "%d wrong bytes, %llu bytes read, '%s'", bad, (unsigned long long)traffic[0].second, s.message.c_str());
}

template <bool BF16>
static void TestMmaTile() {
  std::mt19937 rng(BF16 ? 11 : 12);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<uint16_t> a(256), w(128);
  auto enc = [](float f) { return BF16 ? sim::F32ToBF16(f) : sim::F32ToF16(f); };
  auto dec = [](uint16_t h) { return BF16 ? sim::BF16ToF32(h) : sim::F16ToF32(h); };
  for (auto& v : a) v = enc(u(rng));
  for (auto& v : w) v = enc(u(rng));
  std::vector<float> c(128, NAN);
  sim::Launch launch(BF16 ? "mma_tile_kernel<bf16>" : "mma_tile_kernel<f16>", sim::SimOptions{});
  Status s = launch.Run(dim3(1), dim3(32), 0, &mma_tile_kernel<BF16>, static_cast<const uint16_t*>(a.data()),
                        static_cast<const uint16_t*>(w.data()), c.data());
  double worst = 0;
  for (int m = 0; m < 16; ++m)
    for (int n = 0; n < 8; ++n) {
      double ref = 0;
      for (int k = 0; k < 16; ++k) ref += double(dec(a[m * 16 + k])) * dec(w[n * 16 + k]);
      worst = std::isfinite(c[m * 8 + n]) ? std::fmax(worst, std::fabs(ref - c[m * 8 + n])) : INFINITY;
    }
  Check(s.ok() && worst < 1e-5, std::string("cp.async -> ldmatrix -> mma.m16n8k16 ") + (BF16 ? "bf16" : "f16"),
        "max |err| %g, '%s'", worst, s.message.c_str());
}

static void TestMmaS8() {
  std::mt19937 rng(13);
  std::vector<int8_t> a(16 * 32), bt(8 * 32);
  for (auto& v : a) v = int8_t(rng());
  for (auto& v : bt) v = int8_t(rng());
  std::vector<int32_t> c(128, -1);
  sim::Launch launch("mma_s8_kernel", sim::SimOptions{});
  Status s = launch.Run(dim3(1), dim3(32), 0, &mma_s8_kernel, static_cast<const int8_t*>(a.data()),
                        static_cast<const int8_t*>(bt.data()), c.data());
  int bad = 0;
  for (int m = 0; m < 16; ++m)
    for (int n = 0; n < 8; ++n) {
      int32_t ref = 0;
      for (int k = 0; k < 32; ++k) ref += int32_t(a[m * 32 + k]) * bt[n * 32 + k];
      bad += ref != c[m * 8 + n];
    }
  Check(s.ok() && bad == 0, "mma.m16n8k32 s8 exact, with accumulator input", "%d wrong, '%s'", bad, s.message.c_str());
}

static void TestAtomics() {
  uint32_t counter = 0, lock = 0, guarded = 0;
  float sum = 0;
  sim::Launch launch("atomics_kernel", sim::SimOptions{});
  Status s = launch.Run(dim3(8), dim3(64), 0, &atomics_kernel, &counter, &sum, &lock, &guarded);
  Check(s.ok() && counter == 512 && sum == 256.f && guarded == 8 && lock == 0,
        "atom add/cas/exch and f32 add across 8 CTAs on 4 simulated SMs", "counter %u sum %g guarded %u '%s'", counter,
        sum, guarded, s.message.c_str());
}

// 132 simulated SMs but at most 3 CTAs with threads at once: a grid of 40 CTAs never has more
// than 3 in flight, and all 40 run.
static void TestResidencyCap() {
  uint32_t live = 0, seen[64] = {};
  sim::SimOptions o;
  o.sm_count = 132;
  o.max_resident_ctas = 3;
  sim::Launch launch("residency_kernel", o);
  Status s = launch.Run(dim3(40), dim3(64), 0, &residency_kernel, &live, seen);
  uint32_t total = 0, peak = 0;
  for (uint32_t i = 0; i < 64; ++i)
    if (seen[i]) total += seen[i], peak = i;
  Check(s.ok() && total == 40 && peak >= 1 && peak <= 3 && live == 0,
        "132 simulated SMs, max_resident_ctas 3: at most 3 of the 40 CTAs in flight at once, all run",
        "peak %u, %u CTAs counted, '%s'", peak, total, s.message.c_str());
}

// Two grids at once from two host threads (as all-reduce ranks will run): state is per launch.
static void TestTwoLaunchesAtOnce() {
  bool ok[2] = {false, false};
  std::vector<std::thread> ranks;
  for (int r = 0; r < 2; ++r)
    ranks.emplace_back([r, &ok] {
      std::vector<float> x(3 * 128, float(r + 1)), out(3, NAN);
      sim::Launch launch("block_sum_kernel", sim::SimOptions{});
      Status s = launch.Run(dim3(3), dim3(128), 0, &block_sum_kernel, x.data(), out.data());
      ok[r] = s.ok() && out[0] == 128.f * (r + 1) && out[2] == 128.f * (r + 1);
    });
  for (auto& t : ranks) t.join();
  Check(ok[0] && ok[1], "two grids launched concurrently from two host threads");
}

// SimOptions::threads_env, as the sim backend resolves SPARQ_SIM_THREADS at open: 1 runs each
// simulated thread on a host thread of its own, 0 runs them as fibers on one host thread, whatever
// the process environment says (no getenv on the launching thread: docs/decisions.md).
static void TestThreadsEnvOption() {
  const char* before = std::getenv("SPARQ_SIM_THREADS");
  const std::string saved = before ? before : "";
  for (const char* process_env : {"1", "0"}) {
    setenv("SPARQ_SIM_THREADS", process_env, 1);
    for (int threads_env : {0, 1}) {
      sim::SimOptions o;
      o.threads_env = threads_env;
      std::vector<uint64_t> ids(32, 0);
      sim::Launch launch("host_thread_kernel", o);
      const Status s = launch.Run(dim3(1), dim3(32), 0, &host_thread_kernel, ids.data());
      const size_t distinct = std::set<uint64_t>(ids.begin(), ids.end()).size();
      const size_t want = threads_env == 1 || !sim::FibersAvailable() ? 32 : 1;
      Check(s.ok() && distinct == want,
            std::string("threads_env ") + std::to_string(threads_env) + " with SPARQ_SIM_THREADS=" + process_env +
                ": " + std::to_string(distinct) + " host threads ran the 32 simulated threads, want " +
                std::to_string(want) + (s.ok() ? "" : " (" + s.message + ")"));
    }
  }
  if (before) setenv("SPARQ_SIM_THREADS", saved.c_str(), 1);
  else unsetenv("SPARQ_SIM_THREADS");
}

int main() {
  TestConversions();
  TestBitTricksAndHalfMath();
  TestBlockSum(false);
  TestBlockSum(true);
  TestShflVote();
  TestCpAsync();
  TestMmaTile<false>();
  TestMmaTile<true>();
  TestMmaS8();
  TestAtomics();
  TestResidencyCap();
  TestTwoLaunchesAtOnce();
  TestThreadsEnvOption();
  return sparq_test::Summary();
}
