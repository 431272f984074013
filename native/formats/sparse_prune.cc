// native/formats/sparse_prune.cc: magnitude pruning (sparq/sparse.h SparsePrune), per row or over
// the whole matrix. fp16 magnitudes order like their 15-bit patterns (NaN above ∞), which makes the
// keys plain integers.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "sparq/sparse.h"

namespace sparq {

namespace {

constexpr int kMagnitudes = 1 << 15;

uint16_t Magnitude(uint16_t bits) { return bits & 0x7fffu; }

// Zeroes the `zeros` smallest of src[0..count) (ties: the higher index goes first, so the lower
// one is kept), writing all of them to dst. A short run selects on (magnitude, −index) keys; a long
// one takes a histogram pass instead, which costs 32768 bins once rather than a sort.
void PruneRun(const uint16_t* src, uint16_t* dst, int64_t count, int64_t zeros, std::vector<uint64_t>& scratch) {
  for (int64_t i = 0; i < count; ++i) dst[i] = src[i];
  if (zeros <= 0) return;
  if (count <= 4 * kMagnitudes) {
    scratch.resize(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) scratch[i] = (uint64_t(Magnitude(src[i])) << 32) | (0xffffffffu - uint32_t(i));
    if (zeros < count) std::nth_element(scratch.begin(), scratch.begin() + zeros, scratch.end());
    for (int64_t z = 0; z < zeros; ++z) dst[0xffffffffu - uint32_t(scratch[z] & 0xffffffffu)] = 0;
    return;
  }
  scratch.assign(kMagnitudes, 0);
  for (int64_t i = 0; i < count; ++i) ++scratch[Magnitude(src[i])];
  // Every magnitude below `cut` goes, and `at_cut` of the entries equal to it, highest index first.
  int cut = 0;
  int64_t below = 0;
  while (cut < kMagnitudes && below + int64_t(scratch[cut]) <= zeros) below += int64_t(scratch[cut++]);
  int64_t at_cut = zeros - below;
  for (int64_t i = count - 1; i >= 0; --i) {
    const int mag = Magnitude(src[i]);
    if (mag < cut || (mag == cut && at_cut-- > 0)) dst[i] = 0;
  }
}

}  // namespace

Status SparsePrune(const uint16_t* w, int64_t n, int64_t k, double sparsity, SparsePruneScope scope,
                   std::vector<uint16_t>* out, const char* op) {
  Status st = SparseCheckShape(op, n, k);
  if (!st.ok()) return st;
  if (!(sparsity >= 0.0 && sparsity <= 1.0))
    return Status::Error(StatusCode::kArgument,
                         std::string(op) + ": sparsity must be a number in [0, 1], got " + std::to_string(sparsity),
                         "sparsity");
  out->assign(static_cast<size_t>(n * k), 0);
  std::vector<uint64_t> scratch;
  if (scope == SparsePruneScope::kGlobal) {
    const int64_t count = n * k;
    PruneRun(w, out->data(), count, std::llround(sparsity * static_cast<double>(count)), scratch);
  } else {
    const int64_t zeros = std::llround(sparsity * static_cast<double>(k));
    for (int64_t r = 0; r < n; ++r) PruneRun(w + r * k, out->data() + r * k, k, zeros, scratch);
  }
  return Status::Ok();
}

}  // namespace sparq
