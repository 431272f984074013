// native/tests/smem_bank_test.cc: bank conflicts of every swizzled shared-memory map, checked the
// same way for all of them. Shared memory has 32 banks of 4 bytes; a warp's access is served in
// phases — one 128-byte wavefront per phase for 16-byte accesses (ldmatrix serves one 8×16-B
// matrix per phase; a 16-byte cp.async/st.shared serves a quarter warp per phase). A phase is
// conflict-free when no bank is asked for two different 4-byte words. The maps checked are the
// kernels' own __host__ __device__ functions, so a changed XOR (or row term) is caught here:
//   dense   layout::swizzled_offset_halves (cp.async writes, ldmatrix.x4 of A and of B)
//   w4a16   ASmemChunk (cp.async writes of A, ldmatrix.x4 of A for every k16 step)
#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "cuda/layouts.cuh"
#include "cuda/w4a16_layout.cuh"
#include "sim_test_util.h"

using sparq_test::Check;

namespace {

// Worst number of distinct 4-byte words one bank is asked for within a phase (1 = conflict-free).
// `phase` holds the byte addresses of the accesses served together, each `bytes` wide.
int ConflictWays(const std::vector<uint32_t>& phase, int bytes) {
  std::map<int, std::set<uint32_t>> words_per_bank;
  for (uint32_t addr : phase)
    for (int b = 0; b < bytes; b += 4) words_per_bank[int(((addr + b) / 4) % 32)].insert((addr + b) / 4);
  size_t worst = 0;
  for (const auto& [bank, words] : words_per_bank) worst = words.size() > worst ? words.size() : worst;
  return int(worst);
}

// ldmatrix.x4: four phases, matrix q's 8 row addresses come from lanes 8q..8q+7.
int LdmatrixX4Ways(const std::vector<uint32_t>& lane_addr) {
  int worst = 0;
  for (int q = 0; q < 4; ++q) {
    std::vector<uint32_t> phase(lane_addr.begin() + 8 * q, lane_addr.begin() + 8 * q + 8);
    const int w = ConflictWays(phase, 16);
    worst = w > worst ? w : worst;
  }
  return worst;
}

// 16-byte stores (cp.async into smem) by 32 consecutive threads: four phases of 8 threads.
int Store16Ways(const std::vector<uint32_t>& thread_addr) {
  int worst = 0;
  for (size_t q = 0; q + 8 <= thread_addr.size(); q += 8) {
    std::vector<uint32_t> phase(thread_addr.begin() + q, thread_addr.begin() + q + 8);
    const int w = ConflictWays(phase, 16);
    worst = w > worst ? w : worst;
  }
  return worst;
}

template <int CPR>
void CheckDense() {
  using sparq::layout::swizzled_offset_halves;
  const std::string tag = "dense smem rows of " + std::to_string(CPR * 16) + " B";
  constexpr int kRows = 128, kHalvesPerChunk = 8, kTileK = CPR * kHalvesPerChunk;
  int store = 0, lda = 0, ldb = 0;
  // cp.async: thread t fills chunk t (row t / CPR, chunk t % CPR), warps of 32 consecutive chunks
  for (int w0 = 0; w0 + 32 <= kRows * CPR; w0 += 32) {
    std::vector<uint32_t> a;
    for (int t = w0; t < w0 + 32; ++t) a.push_back(uint32_t(swizzled_offset_halves<CPR>(t / CPR, (t % CPR) * kHalvesPerChunk) * 2));
    store = std::max(store, Store16Ways(a));
  }
  // ldmatrix.x4 of A (rows ldmatrix_x4_a_rows) and of B (rows ldmatrix_x4_b_nmajor_rows) at every
  // 16-row block and k16 step
  for (int row0 = 0; row0 + 16 <= kRows; row0 += 16)
    for (int ks = 0; ks < kTileK / 16; ++ks) {
      std::vector<uint32_t> a, b;
      for (int lane = 0; lane < 32; ++lane) {
        const sparq::RowCol ra = sparq::layout::ldmatrix_x4_a_rows(lane);
        const sparq::RowCol rb = sparq::layout::ldmatrix_x4_b_nmajor_rows(lane);
        a.push_back(uint32_t(swizzled_offset_halves<CPR>(row0 + ra.row, ks * 16 + ra.col) * 2));
        b.push_back(uint32_t(swizzled_offset_halves<CPR>(row0 + rb.row, ks * 16 + rb.col) * 2));
      }
      lda = std::max(lda, LdmatrixX4Ways(a));
      ldb = std::max(ldb, LdmatrixX4Ways(b));
    }
  if (CPR >= 2) {  // a k16 step spans two chunks: only rows of ≥ 32 B carry one
    Check(store == 1, tag + ": cp.async stores conflict-free", "%d-way", store);
    Check(lda == 1, tag + ": ldmatrix.x4 of A conflict-free", "%d-way", lda);
    Check(ldb == 1, tag + ": ldmatrix.x4 of B conflict-free", "%d-way", ldb);
  }
}

void CheckW4a16A() {
  using namespace sparq::w4a16;
  constexpr int kAChunksPerRowForTest = kTileK / kHalvesPerU128;  // 8 chunks of 16 B per A row
  constexpr int kRows = kSlabM;
  int store = 0, ld = 0;
  for (int w0 = 0; w0 + 32 <= kRows * kAChunksPerRowForTest; w0 += 32) {
    std::vector<uint32_t> a;
    for (int c = w0; c < w0 + 32; ++c) a.push_back(uint32_t(ASmemChunk(c / kAChunksPerRowForTest, c % kAChunksPerRowForTest) * kU128Bytes));
    store = std::max(store, Store16Ways(a));
  }
  for (int row0 = 0; row0 + 16 <= kRows; row0 += 16)
    for (int k16 = 0; k16 < kTileK16; ++k16) {
      std::vector<uint32_t> a;
      for (int lane = 0; lane < 32; ++lane)
        a.push_back(uint32_t(ASmemChunk(row0 + ALdmatrixRow(lane), ALdmatrixChunk(lane, k16)) * kU128Bytes));
      ld = std::max(ld, LdmatrixX4Ways(a));
    }
  Check(store == 1, "w4a16 A tile (ASmemChunk): cp.async stores conflict-free", "%d-way", store);
  Check(ld == 1, "w4a16 A tile (ASmemChunk): ldmatrix.x4 at every k16 step conflict-free", "%d-way", ld);
}

// The checker itself: an unswizzled 128-byte-row tile read by ldmatrix puts all 8 rows of a
// matrix in the same 16-byte bank group (8-way), and a swizzle that XORs row % 4 (the mutant the
// old tests missed) leaves 2-way conflicts. Both must be reported.
void CheckTheChecker() {
  std::vector<uint32_t> plain, mod4;
  for (int lane = 0; lane < 32; ++lane) {
    const int row = lane % 16, chunk = lane / 16;
    plain.push_back(uint32_t((row * 8 + chunk) * 16));
    mod4.push_back(uint32_t((row * 8 + (chunk ^ (row % 4))) * 16));
  }
  Check(LdmatrixX4Ways(plain) == 8, "checker: unswizzled 128-B rows are an 8-way conflict", "got %d", LdmatrixX4Ways(plain));
  Check(LdmatrixX4Ways(mod4) == 2, "checker: XOR with row % 4 instead of row % 8 is a 2-way conflict", "got %d",
        LdmatrixX4Ways(mod4));
}

}  // namespace

int main() {
  CheckTheChecker();
  CheckDense<2>();
  CheckDense<4>();
  CheckDense<8>();
  CheckW4a16A();
  return sparq_test::Summary();
}
