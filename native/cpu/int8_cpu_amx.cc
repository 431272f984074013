// native/cpu/int8_cpu_amx.cc: the int8 matmul's integer accumulators on AMX-INT8 tiles (contract
// and the other kernels: int8_cpu.h). Integer sums are exact, so these are the same int32
// accumulators as every other kernel's, bit for bit; only the speed differs.
//
// The VNNI panels are already AMX's B operand: panel p holds 16 CA rows interleaved by 4 bytes of
// k, 64 bytes per k group (int8_cpu.h AccTile::ca_panel), which is a B tile's row (16 columns × 4
// bytes) for one group of 4 k. So with A = 16 W rows (k_pad apart: a tile load straight from the
// weight, no repacking) and B = 16 consecutive groups of one panel (64 bytes apart), TDPBSUD (A
// signed × B unsigned: the biased CA + 128) gives C[w row][CA row] = Σ_k W·(CA + 128), the
// transposed sums the VNNI panel kernel keeps in acc_t; the same correction (− 128·row_sums) ends
// both. C stays in tiles over the whole k: no k blocks, no partial sums in memory.
//
// Tiles (each 16 rows × 64 bytes): tmm0..3 = C of (W block a, panel b) = (0,0), (1,0), (0,1),
// (1,1); tmm4 / tmm5 = A of W blocks 0 / 1; tmm6 / tmm7 = B of panels 0 / 1. Per 64 bytes of k, 4
// tile loads feed 4 TDPBSUD of 16·16·64 multiply-adds each.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include "cpu/int8_cpu.h"

// AMX intrinsics need GCC 11 or Clang 12 (as dense_cpu_amx.cc); an older compiler gets Built() ==
// false and the driver never picks this kernel.
#if (defined(__clang__) && __clang_major__ >= 12) || (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 11)
#define SPARQ_INT8_AMX_BUILT 1
#else
#define SPARQ_INT8_AMX_BUILT 0
#endif

#if SPARQ_INT8_AMX_BUILT
// After every #include: only this file's own functions get the ISA (STYLE.md §11).
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,amx-tile,amx-int8")
#endif

namespace sparq::cpu::int8::amx {
#if SPARQ_INT8_AMX_BUILT
namespace {

constexpr int kT = 16;          // rows of every tile: W rows, CA rows (one panel), k groups
constexpr int kTileBytes = 64;  // bytes of every tile row

#include "cpu/amx_tiles.inc"

// C of WB W blocks (16 rows each from w, k_pad apart) × PB panels (from xp, 16·k_pad apart) over
// the whole k, stored to acc_t[w row][CA row] (rows_pad int32 apart). GCC's tile intrinsics paste
// the register number into the instruction, hence the literal numbers and the constexpr ifs.
template <int WB, int PB>
void TileBlock(const int8_t* w, const uint8_t* xp, int64_t k_pad, int32_t* acc_t, int64_t rows_pad) {
  _tile_zero(0);
  if constexpr (WB == 2) _tile_zero(1);
  if constexpr (PB == 2) _tile_zero(2);
  if constexpr (WB == 2 && PB == 2) _tile_zero(3);
  const int64_t panel_stride = kT * k_pad;
  for (int64_t k0 = 0; k0 < k_pad; k0 += kTileBytes) {
    _tile_loadd(4, w + k0, k_pad);
    if constexpr (WB == 2) _tile_loadd(5, w + kT * k_pad + k0, k_pad);
    // Groups k0/4 .. k0/4 + 15 of the panel: 64 bytes each, contiguous.
    _tile_loadd(6, xp + kT * k0, kTileBytes);
    if constexpr (PB == 2) _tile_loadd(7, xp + panel_stride + kT * k0, kTileBytes);
    _tile_dpbsud(0, 4, 6);
    if constexpr (WB == 2) _tile_dpbsud(1, 5, 6);
    if constexpr (PB == 2) _tile_dpbsud(2, 4, 7);
    if constexpr (WB == 2 && PB == 2) _tile_dpbsud(3, 5, 7);
  }
  const int64_t ld = rows_pad * int64_t(sizeof(int32_t));
  _tile_stored(0, acc_t, ld);
  if constexpr (WB == 2) _tile_stored(1, acc_t + kT * rows_pad, ld);
  if constexpr (PB == 2) _tile_stored(2, acc_t + kT, ld);
  if constexpr (WB == 2 && PB == 2) _tile_stored(3, acc_t + kT * rows_pad + kT, ld);
}

// Every panel (pairs, then one left) against WB W blocks at w.
template <int WB>
void Panels(const AccTile& t, const int8_t* w, int32_t* acc_t, int64_t panels, int64_t rows_pad) {
  int64_t p = 0;
  for (; p + 2 <= panels; p += 2)
    TileBlock<WB, 2>(w, t.ca_panel + p * kT * t.k_pad, t.k_pad, acc_t + p * kT, rows_pad);
  if (p < panels) TileBlock<WB, 1>(w, t.ca_panel + p * kT * t.k_pad, t.k_pad, acc_t + p * kT, rows_pad);
}

}  // namespace

bool Built() { return true; }

void AccPanels(const AccTile& t) {
  const int64_t rows_pad = (t.rows + kT - 1) / kT * kT, panels = rows_pad / kT;
  const int64_t cols = t.cols / kT * kT;  // whole W blocks; the VNNI panel kernel takes the rest
  if (cols < t.cols) {
    AccTile rest = t;
    rest.cb = t.cb + cols * t.k_pad;
    rest.row_sums = t.row_sums + cols;
    rest.cols = t.cols - cols;
    rest.acc = t.acc + cols;
    rest.acc_t = t.acc_t + cols * rows_pad;
    avx512::AccVnni(rest);
  }
  if (cols == 0) return;
  ConfigureTiles();
  int64_t c = 0;
  for (; c + 2 * kT <= cols; c += 2 * kT) Panels<2>(t, t.cb + c * t.k_pad, t.acc_t + c * rows_pad, panels, rows_pad);
  if (c < cols) Panels<1>(t, t.cb + c * t.k_pad, t.acc_t + c * rows_pad, panels, rows_pad);
  _tile_release();
  AccFromPanelSums(t, cols, rows_pad);  // as the VNNI panel kernel ends
}
#else
bool Built() { return false; }
void AccPanels(const AccTile& t) { avx512::AccVnni(t); }
#endif

void Acc(const AccTile& t) {
  if (Built() && t.ca_panel != nullptr && t.rows >= kAmxMinRows) return AccPanels(t);
  avx512::AccVnni(t);
}

}  // namespace sparq::cpu::int8::amx
