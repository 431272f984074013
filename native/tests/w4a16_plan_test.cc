// native/tests/w4a16_plan_test.cc: the W4A16 launch plan's stripes and reduction slots, on the host,
// for the SM counts of real GPUs (H200/H100 SXM 132, H100 PCIe 114, A100 108, L40S/4090-class 84
// … 128) and small ones (7, 4): every (n, k) tile is owned by exactly one CTA, a column's
// contributors are consecutive CTAs whose slots are 0..count−1 (unique, within the reserved
// slots), and the workspace holds every slot. No CTA waits for another, so there is no cycle to
// check: the order of the column sum is the slot order, fixed by the plan alone.
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "cuda/w4a16_layout.cuh"

using namespace sparq::w4a16;

namespace {

int g_pass = 0, g_fail = 0;
void Check(bool ok, const std::string& what) {
  if (ok) {
    ++g_pass;
  } else {
    ++g_fail;
    std::printf("FAIL %s\n", what.c_str());
  }
}

void CheckPlan(int64_t n, int64_t k, int sms) {
  const int64_t n_tiles = GpuPadN(n) / kTileN, k_tiles = GpuPadK(k) / kTileK;
  const Stripes s = MakeStripes(n_tiles, k_tiles, sms);
  const std::string tag = "n=" + std::to_string(n) + " k=" + std::to_string(k) + " sms=" + std::to_string(sms);
  std::vector<int> owner(size_t(n_tiles * k_tiles), -1);
  bool once = s.ctas >= 1 && s.ctas <= sms;
  for (int cta = 0; cta < s.ctas; ++cta)
    for (int64_t t = StripeBegin(s, cta); t < StripeEnd(s, cta); ++t) {
      once = once && owner[size_t(t)] == -1;
      owner[size_t(t)] = cta;
    }
  for (int o : owner) once = once && o >= 0;
  Check(once, tag + ": every tile owned by exactly one CTA, grid <= SMs (" + std::to_string(s.ctas) + " CTAs)");

  const int slots = MaxColumnContributors(s);
  bool slots_ok = slots >= 1;
  int widest = 0;
  for (int64_t col = 0; col < n_tiles; ++col) {
    const int first = ColumnFirstCta(s, col), count = ColumnContributors(s, col);
    widest = count > widest ? count : widest;
    std::vector<int> seen(size_t(count), 0);
    for (int64_t kt = 0; kt < k_tiles; ++kt) {
      const int cta = owner[size_t(col * k_tiles + kt)];
      const int slot = ColumnSlot(s, col, cta);
      slots_ok = slots_ok && cta >= first && slot >= 0 && slot < count && slot < slots;
      if (slot >= 0 && slot < count) seen[size_t(slot)] = 1;
      // slots follow k: a later k tile never has a smaller slot
      if (kt > 0) slots_ok = slots_ok && slot >= ColumnSlot(s, col, owner[size_t(col * k_tiles + kt - 1)]);
    }
    for (int v : seen) slots_ok = slots_ok && v == 1;  // slots 0..count−1 all used: unique, no gap
  }
  Check(slots_ok && widest <= slots,
        tag + ": slots per column unique, in k order, within the " + std::to_string(slots) + " reserved (widest " +
            std::to_string(widest) + ")");
  const Workspace ws = MakeWorkspace(GpuPadN(n), GpuPadK(k), 64, true, slots);
  Check(ws.counters_bytes >= n_tiles * 4 &&
            (slots == 1 || ws.x_pad_offset >= n_tiles * slots * kSlabM * kTileN * 4) &&
            ws.scratch_bytes >= ws.x_pad_offset + 64 * GpuPadK(k) * 2,
        tag + ": workspace holds the counters, every slot and x_pad");
}

}  // namespace

int main() {
  const int64_t shapes[][2] = {{4096, 4096}, {14336, 4096}, {4096, 14336}, {8192, 8192}, {128, 64},
                               {130, 100},   {1001, 1024},  {256, 28672},  {28672, 8192}, {64, 5000}};
  for (int sms : {132, 114, 108, 84, 7, 4, 1})
    for (const auto& nk : shapes) CheckPlan(nk[0], nk[1], sms);
  std::printf("%d passed, %d failed\n", g_pass, g_fail);
  return g_fail == 0 ? 0 : 1;
}
