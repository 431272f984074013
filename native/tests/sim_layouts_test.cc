// native/tests/sim_layouts_test.cc: native/cuda/layouts.cuh against tables written here from the
// PTX ISA documentation ("Matrix Fragments for mma.m16n8k16 with floating point type", "... for
// mma.m16n8k32", "ldmatrix"), independent of the code under test; bijection checks; the ldmatrix
// row-address maps composed with ldmatrix's delivery give the mma fragments; the swizzle is a
// conflict-free bijection; and the fragment-dump kernel run on the simulator equals the tables.
#include <cstring>
#include <set>

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

void TestFragmentDump(bool concurrent) {
  sim::FragmentDumpData d;
  sim::SimOptions o;
  o.concurrent_ctas = concurrent;
  sparq::FragmentDumpArgs args;
  args.out = &d;
  const Status s = sim::FragmentDump(args, o, nullptr);
  auto h16 = [](int v) { return uint32_t(sim::F32ToF16(float(v))); };
  int bad = 0;
  for (int l = 0; l < 32; ++l) {
    for (int j = 0; j < 4; ++j) {
      const RowCol a0 = DocA16(l, 2 * j), a1 = DocA16(l, 2 * j + 1);
      bad += d.ldmatrix_x4[l][j] != (h16(a0.row * 16 + a0.col) | (h16(a1.row * 16 + a1.col) << 16));
    }
    for (int j = 0; j < 2; ++j) {
      const RowCol b0 = DocB16(l, 2 * j), b1 = DocB16(l, 2 * j + 1);
      bad += d.ldmatrix_x2_trans[l][j] != (h16(b0.row * 8 + b0.col) | (h16(b1.row * 8 + b1.col) << 16));
    }
    for (int e = 0; e < 4; ++e) {
      const RowCol c = DocC(l, e);
      bad += d.mma_f16[l][e] != float(c.row * 8 + c.col);
      bad += d.mma_s8[l][e] != (c.row * 8 + c.col) % 127;
    }
  }
  Check(s.ok() && bad == 0, std::string("fragment-dump kernel on the simulator equals the PTX ISA tables (") +
                                (concurrent ? "concurrent" : "sequential") + ")",
        "%d mismatches, '%s'", bad, s.message.c_str());
}

}  // namespace

int main() {
  TestFragmentMaps();
  TestLdmatrixAddressMaps();
  TestSwizzle();
  TestFragmentDump(true);
  TestFragmentDump(false);
  return sparq_test::Summary();
}
