// native/tests/sim_layouts_test.cc: native/cuda/layouts.cuh against tables written here from the
// PTX ISA documentation ("Matrix Fragments for mma.m16n8k16 with floating point type", "... for
// mma.m16n8k32", "ldmatrix"), independent of the code under test; bijection checks; the ldmatrix
// row-address maps composed with ldmatrix's delivery give the mma fragments; the swizzle is a
// conflict-free bijection; the fragment-dump kernel run on the simulator equals the tables (and the
// W4A16 dequant contract), and its inputs make every register misrouting visible.
#include <algorithm>
#include <cstring>
#include <random>
#include <set>

#include "cuda/fragment_dump_inputs.h"
#include "cuda/layouts.cuh"
#include "sim/sim_device.h"
#include "sim_test_util.h"
#include "sparq/sim.h"

using sparq_test::Check;
using namespace sparq;

namespace {

// ---- the PTX ISA tables, as the documentation lists them ------------------------------------
// groupID = laneid >> 2, threadID_in_group = laneid % 4.
struct Offset { int row_add, col_add; };
// m16n8k16 A (.f16/.bf16): a0,a1 (g, 2t+{0,1}); a2,a3 (g+8, ...); a4,a5 (g, 2t+8+{0,1}); a6,a7 (g+8, 2t+8+{0,1})
const Offset kDocA16[8] = {{0, 0}, {0, 1}, {8, 0}, {8, 1}, {0, 8}, {0, 9}, {8, 8}, {8, 9}};
// m16n8k16 B: b0,b1 (k = 2t+{0,1}, n = g); b2,b3 (k = 2t+8+{0,1}, n = g)   -> k offsets
const int kDocB16K[4] = {0, 1, 8, 9};
// C/D (.f32/.s32): c0,c1 (g, 2t+{0,1}); c2,c3 (g+8, 2t+{0,1})
const Offset kDocC[4] = {{0, 0}, {0, 1}, {8, 0}, {8, 1}};
// m16n8k32 A (.s8): a0..a3 (g, 4t+i); a4..a7 (g+8, 4t+i-4); a8..a11 (g, 4t+16+i-8); a12..a15 (g+8, 4t+16+i-12)
const Offset kDocA8Base[4] = {{0, 0}, {8, 0}, {0, 16}, {8, 16}};
// m16n8k32 B (.s8): b0..b3 (k = 4t+i, n = g); b4..b7 (k = 4t+16+i-4, n = g)
const int kDocB8KBase[2] = {0, 16};

RowCol DocA16(int lane, int e) { return {lane / 4 + kDocA16[e].row_add, (lane % 4) * 2 + kDocA16[e].col_add}; }
RowCol DocB16(int lane, int e) { return {(lane % 4) * 2 + kDocB16K[e], lane / 4}; }
RowCol DocC(int lane, int e) { return {lane / 4 + kDocC[e].row_add, (lane % 4) * 2 + kDocC[e].col_add}; }
RowCol DocA8(int lane, int e) {
  return {lane / 4 + kDocA8Base[e / 4].row_add, (lane % 4) * 4 + kDocA8Base[e / 4].col_add + e % 4};
}
RowCol DocB8(int lane, int e) { return {(lane % 4) * 4 + kDocB8KBase[e / 4] + e % 4, lane / 4}; }
// ldmatrix: "thread i holds row i/4, elements 2*(i%4) and 2*(i%4)+1" of each 8x8 matrix; .trans
// delivers the transpose: (row 2*(i%4)+h, col i/4).
RowCol DocLdm(int lane, int h, bool trans) {
  return trans ? RowCol{2 * (lane % 4) + h, lane / 4} : RowCol{lane / 4, 2 * (lane % 4) + h};
}

bool Same(RowCol a, RowCol b) { return a.row == b.row && a.col == b.col; }

template <class Fn>
int CountMismatches(int elems, Fn fn) {
  int bad = 0;
  for (int l = 0; l < 32; ++l)
    for (int e = 0; e < elems; ++e) bad += !fn(l, e);
  return bad;
}

template <class Fn>
bool Bijection(int elems, int rows, int cols, Fn fn) {
  std::vector<int> owned(rows * cols, 0);
  for (int l = 0; l < 32; ++l)
    for (int e = 0; e < elems; ++e) {
      const RowCol rc = fn(l, e);
      if (rc.row < 0 || rc.row >= rows || rc.col < 0 || rc.col >= cols) return false;
      ++owned[rc.row * cols + rc.col];
    }
  for (int v : owned)
    if (v != 1) return false;
  return true;
}

void TestFragmentMaps() {
  Check(CountMismatches(8, [](int l, int e) { return Same(layout::mma_m16n8k16_a(l, e), DocA16(l, e)); }) == 0,
        "mma.m16n8k16 A map equals the PTX ISA table");
  Check(CountMismatches(4, [](int l, int e) { return Same(layout::mma_m16n8k16_b(l, e), DocB16(l, e)); }) == 0,
        "mma.m16n8k16 B map equals the PTX ISA table");
  Check(CountMismatches(4, [](int l, int e) { return Same(layout::mma_m16n8_c(l, e), DocC(l, e)); }) == 0,
        "mma.m16n8 C/D map equals the PTX ISA table");
  Check(CountMismatches(16, [](int l, int e) { return Same(layout::mma_m16n8k32_a(l, e), DocA8(l, e)); }) == 0,
        "mma.m16n8k32 s8 A map equals the PTX ISA table");
  Check(CountMismatches(8, [](int l, int e) { return Same(layout::mma_m16n8k32_b(l, e), DocB8(l, e)); }) == 0,
        "mma.m16n8k32 s8 B map equals the PTX ISA table");
  Check(CountMismatches(4, [](int l, int e) {
          return Same(layout::ldmatrix_elem(l, e & 1, e >> 1), DocLdm(l, e & 1, e >> 1));
        }) == 0,
        "ldmatrix delivery (plain and .trans) equals the PTX ISA description");
  Check(Bijection(8, 16, 16, layout::mma_m16n8k16_a) && Bijection(4, 16, 8, layout::mma_m16n8k16_b) &&
            Bijection(4, 16, 8, layout::mma_m16n8_c) && Bijection(16, 16, 32, layout::mma_m16n8k32_a) &&
            Bijection(8, 32, 8, layout::mma_m16n8k32_b),
        "every fragment map is a bijection onto its matrix");
}

// ldmatrix row addresses + delivery must land exactly the mma fragment each kernel assumes.
void TestLdmatrixAddressMaps() {
  int bad = 0;
  for (int l = 0; l < 32; ++l)
    for (int j = 0; j < 4; ++j)
      for (int h = 0; h < 2; ++h) {
        const RowCol e = DocLdm(l, h, false);
        const RowCol start = layout::ldmatrix_x4_a_rows(layout::ldmatrix_addr_lane(j, e.row));
        bad += !Same(RowCol{start.row, start.col + e.col}, DocA16(l, 2 * j + h));
      }
  Check(bad == 0, "ldmatrix.x4 at ldmatrix_x4_a_rows yields frag_a of m16n8k16", "%d mismatches", bad);
  bad = 0;
  for (int l = 0; l < 32; ++l)
    for (int j = 0; j < 4; ++j)
      for (int h = 0; h < 2; ++h) {  // W stored [n][k]: a smem row is one n, 8 consecutive k
        const RowCol e = DocLdm(l, h, false);
        const RowCol start = layout::ldmatrix_x4_b_nmajor_rows(layout::ldmatrix_addr_lane(j, e.row));
        const RowCol kn{start.col + e.col, start.row};  // (k, n)
        const RowCol want = DocB16(l, 2 * (j % 2) + h);
        bad += !Same(kn, RowCol{want.row, want.col + 8 * (j / 2)});
      }
  Check(bad == 0, "ldmatrix.x4 at ldmatrix_x4_b_nmajor_rows yields frag_b of two n8 tiles", "%d mismatches", bad);
  bad = 0;
  for (int l = 0; l < 32; ++l)
    for (int j = 0; j < 2; ++j)
      for (int h = 0; h < 2; ++h) {  // B stored [k][n]: a smem row is one k, 8 consecutive n
        const RowCol e = DocLdm(l, h, true);
        const RowCol start = layout::ldmatrix_x2_trans_b_kmajor_rows(layout::ldmatrix_addr_lane(j, e.row));
        bad += !Same(RowCol{start.row, start.col + e.col}, DocB16(l, 2 * j + h));
      }
  Check(bad == 0, "ldmatrix.x2.trans at ldmatrix_x2_trans_b_kmajor_rows yields frag_b from k-major B", "%d mismatches",
        bad);
}

template <int CPR>
bool SwizzleOk() {
  for (int row = 0; row < 64; ++row) {  // bijection on the chunks of every row
    std::set<int> seen;
    for (int c = 0; c < CPR; ++c) seen.insert(layout::swizzle_chunk<CPR>(row, c));
    if (int(seen.size()) != CPR || *seen.begin() != 0 || *seen.rbegin() != CPR - 1) return false;
  }
  for (int row0 = 0; row0 < 64; row0 += 8)  // 8 rows read by one ldmatrix: 8 distinct 16-B bank groups
    for (int c = 0; c < CPR; ++c) {
      std::set<int> banks;
      for (int r = row0; r < row0 + 8; ++r) banks.insert((r * CPR + layout::swizzle_chunk<CPR>(r, c)) % 8);
      if (banks.size() != 8) return false;
    }
  return true;
}

void TestSwizzle() {
  Check(SwizzleOk<2>() && SwizzleOk<4>() && SwizzleOk<8>(),
        "XOR swizzle of 16-B chunks: a bijection per row, conflict-free for ldmatrix (32/64/128-B rows)");
  Check(layout::swizzled_offset_halves<4>(3, 9) == 3 * 32 + layout::swizzle_chunk<4>(3, 1) * 8 + 1,
        "swizzled_offset_halves composes row, swizzled chunk and element");
}

// ---- the fragment dump's expectation, from the tables above ---------------------------------
// A model of a simulator that routes registers wrongly: lane register r of A or B is taken to hold
// the documentation's register perm[r], and output register e is written from the documentation's
// C element perm.c[e]. The identity is the PTX ISA reading; any other permutation must change the
// dump, or the device check could not see that misreading.
struct RegPerm {
  int a[4] = {0, 1, 2, 3};
  int b[2] = {0, 1};
  int c[4] = {0, 1, 2, 3};
};

template <class AFn, class BFn>
void ExpectMmaF16(AFn a_of, BFn b_of, const RegPerm& perm, float out[32][4]) {
  double a[16][16] = {}, b[16][8] = {};  // what the (mis)reading mma multiplies
  for (int l = 0; l < 32; ++l)
    for (int h = 0; h < 2; ++h) {
      for (int r = 0; r < 4; ++r) {
        const RowCol held = DocA16(l, 2 * r + h), seen = DocA16(l, 2 * perm.a[r] + h);
        a[seen.row][seen.col] = a_of(held.row, held.col);
      }
      for (int r = 0; r < 2; ++r) {
        const RowCol held = DocB16(l, 2 * r + h), seen = DocB16(l, 2 * perm.b[r] + h);
        b[seen.row][seen.col] = b_of(held.row, held.col);
      }
    }
  for (int l = 0; l < 32; ++l)
    for (int e = 0; e < 4; ++e) {
      const RowCol c = DocC(l, perm.c[e]);
      double sum = 0;
      for (int k = 0; k < 16; ++k) sum += a[c.row][k] * b[k][c.col];
      out[l][e] = float(sum);  // |sum| < 2^24: exact
    }
}

template <class AFn, class BFn>
void ExpectMmaS8(AFn a_of, BFn b_of, const RegPerm& perm, int32_t out[32][4]) {
  int a[16][32] = {}, b[32][8] = {};
  for (int l = 0; l < 32; ++l)
    for (int i = 0; i < 4; ++i) {
      for (int r = 0; r < 4; ++r) {
        const RowCol held = DocA8(l, 4 * r + i), seen = DocA8(l, 4 * perm.a[r] + i);
        a[seen.row][seen.col] = a_of(held.row, held.col);
      }
      for (int r = 0; r < 2; ++r) {
        const RowCol held = DocB8(l, 4 * r + i), seen = DocB8(l, 4 * perm.b[r] + i);
        b[seen.row][seen.col] = b_of(held.row, held.col);
      }
    }
  for (int l = 0; l < 32; ++l)
    for (int e = 0; e < 4; ++e) {
      const RowCol c = DocC(l, perm.c[e]);
      int32_t sum = 0;
      for (int k = 0; k < 32; ++k) sum += a[c.row][k] * b[k][c.col];
      out[l][e] = sum;
    }
}

// W4A16: lane (g, t) holds, for u32 j, 8 slots s = 4·tile + 2·i + h = half h of frag_b.x[i] of n8
// tile 2j + tile, i.e. B element 2i + h of the mma.m16n8k16 table at column n = 16j + 8·tile + g.
// The contract: w = fp16((q − 8)·s), one rounding ((q − 8)·s is exact in fp32). A misrouting model:
// slot s dequantizes the code of slot perm[s] (a wrong lop3 mask, shift or half order), with the
// other tile's scale if swap_scales (a wrong prmt selector).
struct W4Perm {
  int slot[8] = {0, 1, 2, 3, 4, 5, 6, 7};
  bool swap_scales = false;
};
struct W4Slot {
  int n, k;
};
W4Slot W4SlotAt(int lane, int j, int s) {
  const RowCol kn = DocB16(lane, s % 4);  // (k, n within the n8 tile)
  return {16 * j + 8 * (s / 4) + kn.col, kn.row};
}
uint16_t W4Contract(int code, int scale_n) {
  return sim::F32ToF16(float(code - 8) * sim::F16ToF32(dump::W4Scale(scale_n)));
}
void ExpectW4(const W4Perm& perm, uint32_t out[32][16]) {
  for (int l = 0; l < 32; ++l)
    for (int j = 0; j < dump::kW4WordsPerLane; ++j) {
      for (int r = 0; r < 4; ++r) out[l][4 * j + r] = 0;
      for (int s = 0; s < 8; ++s) {
        const W4Slot from = W4SlotAt(l, j, perm.slot[s]);
        const int scale_n = W4SlotAt(l, j, perm.swap_scales ? s ^ 4 : s).n;
        out[l][4 * j + s / 2] |= uint32_t(W4Contract(dump::W4Code(from.n, from.k), scale_n)) << (16 * (s % 2));
      }
    }
}

template <class AFn, class A8Fn>
sim::FragmentDumpData Expected(AFn a_mma, A8Fn a8, const RegPerm& perm, const W4Perm& w4) {
  sim::FragmentDumpData d;
  auto h16 = [](int v) { return uint32_t(sim::F32ToF16(float(v))); };
  for (int l = 0; l < 32; ++l) {
    for (int j = 0; j < 4; ++j) {
      const RowCol a0 = DocA16(l, 2 * j), a1 = DocA16(l, 2 * j + 1);
      d.ldmatrix_x4[l][j] = h16(dump::A16(a0.row, a0.col)) | (h16(dump::A16(a1.row, a1.col)) << 16);
    }
    for (int j = 0; j < 2; ++j) {
      const RowCol b0 = DocB16(l, 2 * j), b1 = DocB16(l, 2 * j + 1);
      d.ldmatrix_x2_trans[l][j] = h16(dump::Bk(b0.row, b0.col)) | (h16(dump::Bk(b1.row, b1.col)) << 16);
    }
  }
  ExpectMmaF16(a_mma, dump::Bk, perm, d.mma_f16);
  ExpectMmaS8(a8, dump::B8, perm, d.mma_s8);
  ExpectW4(w4, d.w4a16_dequant);
  return d;
}
sim::FragmentDumpData Expected(const RegPerm& perm = {}, const W4Perm& w4 = {}) {
  return Expected(dump::AMma, dump::A8, perm, w4);
}

// The comparison the device check makes: every 32-bit word of the dump, bit for bit.
int DumpMismatches(const sim::FragmentDumpData& got, const sim::FragmentDumpData& want) {
  static_assert(sizeof got % 4 == 0, "the dump is made of 32-bit words");
  uint32_t g[sizeof got / 4], w[sizeof want / 4];
  std::memcpy(g, &got, sizeof got);
  std::memcpy(w, &want, sizeof want);
  int bad = 0;
  for (size_t i = 0; i < sizeof g / sizeof g[0]; ++i) bad += g[i] != w[i];
  return bad;
}

void TestFragmentDump(bool concurrent) {
  sim::FragmentDumpData d;
  sim::SimOptions o;
  o.concurrent_ctas = concurrent;
  sparq::FragmentDumpArgs args;
  args.out = &d;
  const Status s = sim::FragmentDump(args, o, nullptr);
  const int bad = DumpMismatches(d, Expected());
  Check(s.ok() && bad == 0,
        std::string("fragment-dump kernel on the simulator (ldmatrix, mma f16/s8, W4A16 dequant) equals the PTX ISA "
                    "tables and the dequant contract (") +
            (concurrent ? "concurrent" : "sequential") + ")",
        "%d of %zu words differ, '%s'", bad, sizeof d / 4, s.message.c_str());
  if (!concurrent) return;
  // The check can fail: a swapped a2a3/a4a5 order, or a dequant that swaps the two halves of
  // each register, is what the dump must expose.
  RegPerm swap_a;
  swap_a.a[1] = 2;
  swap_a.a[2] = 1;
  W4Perm swap_halves;
  for (int i = 0; i < 8; ++i) swap_halves.slot[i] = i ^ 1;
  const int bad_a = DumpMismatches(d, Expected(swap_a)), bad_w4 = DumpMismatches(d, Expected({}, swap_halves));
  Check(s.ok() && bad_a > 0 && bad_w4 > 0,
        "the dump comparison reports an a2a3/a4a5 swap and a half-swapped dequant against the simulator's dump",
        "%d and %d words differ", bad_a, bad_w4);
}

// With the old identity A, swapping the A registers a2a3 <-> a4a5 (f16) or a8..a11 <-> a12..a15
// (s8) moved only zero blocks: the dump could not show it. The new inputs show every permutation of
// A's four, B's two and C's four registers that changes the mma at all. (Three composite ones do
// not: swapping A's row halves together with C's, or A's k halves together with B's, or both, is
// the same function of the registers, so no input can tell them apart; random inputs find exactly
// those.)
void TestDumpInputsExposeRegisterOrder() {
  const auto identity = [](int r, int c) { return r == c ? 1 : 0; };
  RegPerm swap_a, swap_a8;
  swap_a.a[1] = 2;
  swap_a.a[2] = 1;
  swap_a8.a[2] = 3;
  swap_a8.a[3] = 2;
  const sim::FragmentDumpData old_want = Expected(identity, identity, {}, {});
  const sim::FragmentDumpData old_f16 = Expected(identity, identity, swap_a, {});
  const sim::FragmentDumpData old_s8 = Expected(identity, identity, swap_a8, {});
  Check(std::memcmp(old_f16.mma_f16, old_want.mma_f16, sizeof old_want.mma_f16) == 0 &&
            std::memcmp(old_s8.mma_s8, old_want.mma_s8, sizeof old_want.mma_s8) == 0,
        "with an identity A the dump is blind to an a2a3/a4a5 swap (f16) and an a8-11/a12-15 swap (s8): the old gap");
  Check(DumpMismatches(Expected(swap_a), Expected()) > 0 && DumpMismatches(Expected(swap_a8), Expected()) > 0,
        "with the new A the dump shows both swaps");

  std::mt19937 rng(20261130);
  std::uniform_int_distribution<int> small(-9, 9);
  int ra[16][32], rb[32][8];
  for (auto& row : ra)
    for (int& v : row) v = small(rng);
  for (auto& row : rb)
    for (int& v : row) v = small(rng);
  const auto rand_a = [&](int r, int c) { return ra[r][c]; };
  const auto rand_b = [&](int k, int n) { return rb[k][n]; };
  const sim::FragmentDumpData want = Expected();
  float rand_f16[32][4];
  int32_t rand_s8[32][4];
  ExpectMmaF16(rand_a, rand_b, RegPerm{}, rand_f16);
  ExpectMmaS8(rand_a, rand_b, RegPerm{}, rand_s8);
  int combos = 0, single = 0, unseen_single = 0, unseen = 0, equivalent = 0, mismatched = 0;
  RegPerm p;
  const RegPerm id;
  do {
    do {
      do {
        const int moved = !std::equal(p.a, p.a + 4, id.a) + !std::equal(p.b, p.b + 2, id.b) +
                          !std::equal(p.c, p.c + 4, id.c);
        if (moved == 0) continue;
        ++combos;
        sim::FragmentDumpData got = want;
        ExpectMmaF16(dump::AMma, dump::Bk, p, got.mma_f16);
        ExpectMmaS8(dump::A8, dump::B8, p, got.mma_s8);
        float r16[32][4];
        int32_t r8[32][4];
        ExpectMmaF16(rand_a, rand_b, p, r16);
        ExpectMmaS8(rand_a, rand_b, p, r8);
        // each mma part on its own: seen by the dump's inputs iff seen by random ones
        const bool seen16 = std::memcmp(got.mma_f16, want.mma_f16, sizeof want.mma_f16) != 0;
        const bool seen8 = std::memcmp(got.mma_s8, want.mma_s8, sizeof want.mma_s8) != 0;
        const bool real16 = std::memcmp(r16, rand_f16, sizeof r16) != 0;
        const bool real8 = std::memcmp(r8, rand_s8, sizeof r8) != 0;
        mismatched += (seen16 != real16) + (seen8 != real8);
        unseen += !seen16 + !seen8;
        equivalent += !real16 + !real8;
        if (moved == 1) {
          ++single;
          unseen_single += !seen16 + !seen8;
        }
      } while (std::next_permutation(p.c, p.c + 4));
    } while (std::next_permutation(p.b, p.b + 2));
  } while (std::next_permutation(p.a, p.a + 4));
  Check(single == 23 + 1 + 23 && unseen_single == 0,
        "every permutation of A's 4, B's 2 or C's 4 registers changes the mma f16 and the mma s8 dump",
        "%d of %d unseen", unseen_single, single);
  Check(combos == 24 * 2 * 24 - 1 && mismatched == 0 && unseen == 2 * 3 && equivalent == 2 * 3,
        "of all 1151 combined permutations, the dump misses only the 3 that leave each mma unchanged",
        "%d differ from random inputs' verdict, %d unseen, %d equivalent", mismatched, unseen, equivalent);

  // W4A16: all 8! slot orders x {scales, swapped scales}, compared on the whole dequant dump.
  W4Slot slot_of[32][4][8];
  for (int l = 0; l < 32; ++l)
    for (int j = 0; j < 4; ++j)
      for (int s = 0; s < 8; ++s) slot_of[l][j][s] = W4SlotAt(l, j, s);
  int w4_combos = 0, w4_unseen = 0;
  W4Perm w;
  do {
    for (int swap = 0; swap < 2; ++swap) {
      bool same = true;
      for (int l = 0; l < 32 && same; ++l)
        for (int j = 0; j < 4 && same; ++j)
          for (int s = 0; s < 8 && same; ++s) {
            const W4Slot held = slot_of[l][j][s], from = slot_of[l][j][w.slot[s]];
            const int scale_n = slot_of[l][j][swap ? s ^ 4 : s].n;
            same = W4Contract(dump::W4Code(from.n, from.k), scale_n) == W4Contract(dump::W4Code(held.n, held.k), held.n);
          }
      const bool identity = swap == 0 && std::is_sorted(w.slot, w.slot + 8);
      w4_combos += !identity;
      w4_unseen += !identity && same;
    }
  } while (std::next_permutation(w.slot, w.slot + 8));
  Check(w4_combos == 40320 * 2 - 1 && w4_unseen == 0,
        "every misrouting of the 8 nibbles of a u32 (8! orders) and a swapped scale pair change the dequant dump",
        "%d of %d unseen", w4_unseen, w4_combos);
  // the input really spans the format: all 16 codes, and 8 distinct codes in every packed u32
  FragmentDumpInputs in;
  FillFragmentDumpInputs(in);
  std::set<int> codes;
  int dup_words = 0;
  for (uint32_t word : in.w4_codes) {
    std::set<int> nibbles;
    for (int i = 0; i < 8; ++i) nibbles.insert(int(word >> (4 * i)) & 15);
    dup_words += nibbles.size() != 8;
    codes.insert(nibbles.begin(), nibbles.end());
  }
  Check(codes.size() == 16 && dup_words == 0, "the packed W4A16 slice uses all 16 codes, 8 distinct per u32",
        "%zu codes, %d words with a repeated nibble", codes.size(), dup_words);
}

}  // namespace

int main() {
  TestFragmentMaps();
  TestLdmatrixAddressMaps();
  TestSwizzle();
  TestDumpInputsExposeRegisterOrder();
  TestFragmentDump(true);
  TestFragmentDump(false);
  return sparq_test::Summary();
}
