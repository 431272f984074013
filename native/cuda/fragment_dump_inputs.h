// native/cuda/fragment_dump_inputs.h: the fragment-dump kernel's fixed inputs (kernels/fragment_dump.cuh),
// the same bytes for the simulator (sim/fragment_dump_sim.cc) and the GPU (cuda/fragment_dump.cu).
// Header-only because libsparq_cuda does not link the simulator; plain host code, no CUDA headers,
// not for native/cpu/*_avx*.cc (STYLE.md §11).
//
// The values are chosen so that a misread register order shows in the dump (native/tests/
// sim_layouts_test.cc proves it for every permutation):
//   a16, bk     iota, exact in f16: every element distinct, so ldmatrix delivery is visible.
//   a_mma       mma f16 A: small integers in [-4, 4], not symmetric, its four 8x8 blocks (= the four
//               A registers) distinct and non-zero. An identity A hid a swapped a2a3/a4a5 order:
//               both off-diagonal blocks were zero. Sums of products stay below 2^24: exact in fp32.
//   a8          mma s8 A: integers in [-5, 5], four 8x16 blocks (= the four A registers) distinct.
//   b8_nmajor   mma s8 B, stored [n][k]: (k*8 + n) % 127.
//   w4_codes    one warp's 16-B slice of a kGpu W4A16 tile (chunk 0: k16 step 0, n64 half 0), packed
//               with w4a16::GpuNibble: lane l's 4 u32 at [4l]. Codes W4Code(n, k) differ in all 8
//               nibbles of every u32, so any misrouted nibble (lop3 mask, shift, half order) shows.
//   w4_scales   the kGpu scales of that slice (group 0): lane l's 8 scales at [8(l/4)], u32 j =
//               (n8 tile 2j, 2j+1); 5 distinct fp16 values, different for the two tiles of every u32
//               (so a swapped prmt selector shows), some making (q-8)*s round in fp16.
#pragma once
#include <cstddef>
#include <cstdint>

#include "w4a16_layout.cuh"

namespace sparq {
namespace dump {

inline constexpr int kW4N = w4a16::kBlockN;  // 64 columns: the n64 half one warp dequantizes
inline constexpr int kW4K = w4a16::kMmaK;    // 16: one k16 step
inline constexpr int kW4WordsPerLane = w4a16::kU128Bytes / 4;  // 4 u32 of codes (and of scales) per lane
inline constexpr int kW4RegsPerLane = 2 * (kW4N / w4a16::kMmaN);  // 16: frag_b x[0..1] of 8 n8 tiles

constexpr int A16(int r, int c) { return r * 16 + c; }  // 0..255
constexpr int Bk(int k, int n) { return k * 8 + n; }    // 0..127
constexpr int AMma(int r, int c) { return (7 * r + 3 * c + 5 * (r / 8) + 11 * (c / 8)) % 9 - 4; }
constexpr int A8(int r, int k) { return (5 * r + 3 * k + 7 * (r / 8) + 2 * (k / 16)) % 11 - 5; }
constexpr int B8(int k, int n) { return (k * 8 + n) % 127; }
// The 8 nibbles of a lane's u32 j are (k = 2t + {0,1,8,9}) x (n = 16j + g + {0, 8}): offsets
// {0,1,10,11} + {0,4} are 8 distinct values mod 16.
constexpr int W4Code(int n, int k) { return (k + 2 * (k / 8) + 4 * (n / 8) + 3 * (n % 8)) % 16; }
// fp16 bits: 0.0999755859375, 1, 0.333251953125, 2.5, 0.0078125.
inline constexpr uint16_t kW4ScaleBits[5] = {0x2E66, 0x3C00, 0x3555, 0x4100, 0x2000};
constexpr uint16_t W4Scale(int n) { return kW4ScaleBits[(n / 8 + 3 * (n % 8)) % 5]; }

// An integer with |v| < 2048 as f16 bits (exact).
constexpr uint16_t ExactF16(int v) {
  const uint16_t sign = v < 0 ? 0x8000 : 0;
  const int a = v < 0 ? -v : v;
  if (a == 0) return sign;
  int e = 0;
  while ((a >> (e + 1)) != 0) ++e;
  return uint16_t(sign | ((e + 15) << 10) | ((a << (10 - e)) & 0x3ff));
}

}  // namespace dump

struct alignas(16) FragmentDumpInputs {
  uint16_t a16[16 * 16];       // [16][16] row-major
  uint16_t bk[16 * 8];         // [16 k][8 n]
  uint16_t a_mma[16 * 16];     // [16][16] row-major
  int8_t a8[16 * 32];          // [16][32] row-major
  int8_t b8_nmajor[8 * 32];    // [8 n][32 k]
  uint32_t w4_codes[32 * dump::kW4WordsPerLane];  // [32 lanes][4 u32]
  uint16_t w4_scales[dump::kW4N];                 // [8 g][8 n8 tiles]
};
// cp.async and 16-B lane loads read these arrays: each must start 16-byte aligned.
static_assert(offsetof(FragmentDumpInputs, bk) % 16 == 0 && offsetof(FragmentDumpInputs, a_mma) % 16 == 0 &&
                  offsetof(FragmentDumpInputs, a8) % 16 == 0 && offsetof(FragmentDumpInputs, b8_nmajor) % 16 == 0 &&
                  offsetof(FragmentDumpInputs, w4_codes) % 16 == 0 && offsetof(FragmentDumpInputs, w4_scales) % 16 == 0,
              "every input array starts on a 16-byte boundary");

inline void FillFragmentDumpInputs(FragmentDumpInputs& in) {
  for (int r = 0; r < 16; ++r)
    for (int c = 0; c < 16; ++c) {
      in.a16[r * 16 + c] = dump::ExactF16(dump::A16(r, c));
      in.a_mma[r * 16 + c] = dump::ExactF16(dump::AMma(r, c));
    }
  for (int k = 0; k < 16; ++k)
    for (int n = 0; n < 8; ++n) in.bk[k * 8 + n] = dump::ExactF16(dump::Bk(k, n));
  for (int r = 0; r < 16; ++r)
    for (int k = 0; k < 32; ++k) in.a8[r * 32 + k] = int8_t(dump::A8(r, k));
  for (int n = 0; n < 8; ++n)
    for (int k = 0; k < 32; ++k) in.b8_nmajor[n * 32 + k] = int8_t(dump::B8(k, n));
  for (uint32_t& w : in.w4_codes) w = 0;
  for (int n = 0; n < dump::kW4N; ++n) {
    for (int k = 0; k < dump::kW4K; ++k) {
      const w4a16::NibbleAt at = w4a16::GpuNibble(n, k, /*k_tiles=*/1);  // tile (0, 0), chunk 0
      in.w4_codes[at.word] |= uint32_t(dump::W4Code(n, k)) << at.shift;
    }
    in.w4_scales[w4a16::GpuScaleIndex(n, /*group=*/0, /*groups_pad=*/1)] = dump::W4Scale(n);
  }
}

}  // namespace sparq
