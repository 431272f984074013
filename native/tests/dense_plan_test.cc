// native/tests/dense_plan_test.cc: the dense GEMM's launch plan (native/cuda/dense_plan.cuh) on
// the host, no kernel run: split-K's k ranges cover every k tile exactly once, in order, none
// empty; the split count follows its rule; and the plan at the shapes split-K exists for (decode,
// n = 4096 on a 132-SM H100/H200 and a 108-SM A100) is what the docs say.
#include <algorithm>
#include <string>

#include "cuda/dense_plan.cuh"
#include "sim_test_util.h"

using sparq_test::Check;
using namespace sparq;

namespace {

using RangeFn = DenseKRange (*)(int k_tiles, int k_splits, int split);

// Empty when splits 0..k_splits-1 of `range` tile [0, k_tiles) in order, each non-empty, sizes
// within one of each other; else the first problem.
std::string CoverageProblem(RangeFn range, int k_tiles, int k_splits) {
  int next = 0, smallest = k_tiles, largest = 0;
  for (int s = 0; s < k_splits; ++s) {
    const DenseKRange r = range(k_tiles, k_splits, s);
    if (r.begin != next)
      return "split " + std::to_string(s) + " begins at " + std::to_string(r.begin) + ", want " + std::to_string(next);
    if (r.end <= r.begin) return "split " + std::to_string(s) + " is empty";
    smallest = std::min(smallest, r.end - r.begin);
    largest = std::max(largest, r.end - r.begin);
    next = r.end;
  }
  if (next != k_tiles) return "the splits end at " + std::to_string(next) + ", want " + std::to_string(k_tiles);
  if (largest - smallest > 1) return "sizes " + std::to_string(smallest) + ".." + std::to_string(largest);
  return "";
}

// The kind of defect the coverage check exists for: the remainder k_tiles % k_splits dropped.
DenseKRange DropsRemainder(int k_tiles, int k_splits, int split) {
  const int per = k_tiles / k_splits;
  return {split * per, (split + 1) * per};
}

DenseMatmulArgs Args(int64_t m, int64_t n, int64_t k) {
  // Never dereferenced by the plan; 16-B aligned so the 16-byte copy instance is chosen.
  alignas(16) static uint16_t dummy[8];
  DenseMatmulArgs a;
  a.w = dummy;
  a.x = dummy;
  a.y = dummy;
  a.m = m;
  a.n = n;
  a.k = k;
  return a;
}

void CheckPlan(int64_t m, int64_t n, int64_t k, int sms, bool small_m, int want_splits) {
  const dense_plan::DensePlan p = dense_plan::MakePlan(Args(m, n, k), sms);
  const int64_t tiles = p.m_tiles * p.n_tiles;
  const int64_t want_partials = want_splits > 1 ? tiles * want_splits * p.tile_m * p.tile_n * 4 : 0;
  const int64_t want_counters = want_splits > 1 ? tiles * 4 : 0;
  Check(p.choice.small_m == small_m && p.k_splits == want_splits && p.launches == 1 &&
            p.partials_bytes == want_partials && p.counters_bytes == want_counters,
        "plan m=" + std::to_string(m) + " n=" + std::to_string(n) + " k=" + std::to_string(k) + " on " +
            std::to_string(sms) + " SMs: " + (small_m ? "small_m" : "large") + ", split_k=" + std::to_string(want_splits) +
            ", workspace " + std::to_string(want_counters) + " + " + std::to_string(want_partials) + " B",
        "small_m %d, k_splits %d, launches %d, counters %lld, partials %lld B", p.choice.small_m, p.k_splits, p.launches,
        (long long)p.counters_bytes, (long long)p.partials_bytes);
}

}  // namespace

int main() {
  // Every k range the plan can ask for: k_tiles 1..600, k_splits 1..min(k_tiles, kDenseMaxKSplits).
  std::string first_problem;
  int combos = 0;
  for (int k_tiles = 1; k_tiles <= 600 && first_problem.empty(); ++k_tiles)
    for (int splits = 1; splits <= std::min(k_tiles, kDenseMaxKSplits) && first_problem.empty(); ++splits, ++combos) {
      const std::string why = CoverageProblem(&dense_split_k_range, k_tiles, splits);
      if (!why.empty()) first_problem = std::to_string(k_tiles) + " tiles / " + std::to_string(splits) + ": " + why;
    }
  Check(first_problem.empty(), "dense_split_k_range: every k tile exactly once, in order, none empty, sizes within 1",
        "%s (after %d combinations)", first_problem.c_str(), combos);
  // The check above can fail: it rejects a range function that drops the remainder.
  const std::string mutant = CoverageProblem(&DropsRemainder, 9, 4);
  Check(!mutant.empty(), "coverage check rejects a range that drops k_tiles % k_splits", "mutant accepted");

  // The split rule, over a grid of (tiles, k_tiles, SMs).
  std::string rule_problem;
  for (int sms : {1, 4, 32, 108, 132})
    for (int64_t tiles = 1; tiles <= 300 && rule_problem.empty(); tiles += 7)
      for (int64_t k_tiles = 1; k_tiles <= 300 && rule_problem.empty(); k_tiles += 5) {
        const int s = dense_choose_k_splits(tiles, k_tiles, sms);
        const bool cap_hit = s == kDenseMaxKSplits || s == std::max<int64_t>(1, k_tiles / kDenseMinKTilesPerSplit);
        const char* why = nullptr;
        if (s < 1) why = "fewer than 1 split";
        else if (tiles >= sms && s != 1) why = "split although the (m, n) grid fills the SMs";
        else if (s > kDenseMaxKSplits) why = "more than kDenseMaxKSplits";
        else if (s > 1 && k_tiles / s < kDenseMinKTilesPerSplit) why = "a split with fewer than kDenseMinKTilesPerSplit tiles";
        else if (tiles < sms && tiles * s < int64_t(kDenseSplitCtasPerSm) * sms && !cap_hit)
          why = "fewer CTAs than kDenseSplitCtasPerSm per SM without hitting a cap";
        if (why)
          rule_problem = std::string(why) + " (tiles " + std::to_string(tiles) + ", k_tiles " + std::to_string(k_tiles) +
                         ", SMs " + std::to_string(sms) + ": " + std::to_string(s) + " splits)";
      }
  Check(rule_problem.empty(), "dense_choose_k_splits: 1 when the grid fills the SMs, else >= 2 CTAs/SM up to its caps",
        "%s", rule_problem.c_str());

  // Decode on an H100/H200 (132 SMs): n = 4096 is 64 column tiles, 5 splits give 320 CTAs.
  CheckPlan(1, 4096, 4096, 132, true, 5);
  CheckPlan(16, 4096, 4096, 132, true, 5);
  CheckPlan(16, 4096, 14336, 132, true, 5);
  CheckPlan(64, 4096, 4096, 132, false, 5);
  CheckPlan(1, 4096, 4096, 108, true, 4);  // A100
  CheckPlan(1, 14336, 4096, 132, true, 1);  // 224 column tiles already fill the GPU
  CheckPlan(256, 4096, 4096, 132, false, 1);
  CheckPlan(1, 64, 64, 132, true, 1);  // one k tile: nothing to split
  CheckPlan(1, 64, 1 << 20, 132, true, kDenseMaxKSplits);
  // m beyond one launch's row tiles never splits (several launches share no workspace).
  const dense_plan::DensePlan huge = dense_plan::MakePlan(Args((dense_plan::kMaxGridY + 1) * 64, 64, 4096), 1 << 20);
  Check(huge.launches == 2 && huge.k_splits == 1, "plan with 2 row launches: no split-K", "launches %d, k_splits %d",
        huge.launches, huge.k_splits);
  return sparq_test::Summary();
}
