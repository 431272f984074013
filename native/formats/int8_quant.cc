// native/formats/int8_quant.cc: the int8 weight's host side — the shape check, the contract's
// weight quantizer, the two packed layouts and their exact inverse (sparq/int8.h) — and the
// contract's activation step on the host (outlier columns, rowStat, CA) that the cpu backend runs.
// The CUDA kernels do the activation step on the device with the same fp32 operations.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "formats/host_buffers.h"
#include "formats/host_parallel.h"
#include "sparq/format_number.h"
#include "sparq/int8.h"

namespace sparq {

namespace {

std::string ShapeString(int64_t n, int64_t k) { return "[" + std::to_string(n) + ", " + std::to_string(k) + "]"; }

// Index of the first non-finite fp16 in w[0..count), or -1.
int64_t FirstNonFinite(const uint16_t* w, int64_t count) {
  for (int64_t i = 0; i < count; ++i)
    if ((w[i] & 0x7C00u) == 0x7C00u) return i;
  return -1;
}

}  // namespace

void Int8PaddedDims(Int8Layout layout, int64_t n, int64_t k, int64_t* n_pad, int64_t* k_pad) {
  if (layout == Int8Layout::kCpu) {
    *n_pad = int8::RoundUp(n, int8::kCpuRowBlock);
    *k_pad = int8::RoundUp(k, int8::kCpuKAlign);
  } else {
    *n_pad = int8::RoundUp(n, int8::kGpuTileN);
    *k_pad = int8::RoundUp(k, int8::kGpuKBlock);
  }
}

Status Int8CheckShape(const char* op, int64_t n, int64_t k) {
  if (n < 1 || k < 1 || n > kMaxIndexDim || k > int8::kMaxK)
    return Status::Error(StatusCode::kShape,
                         std::string(op) + ": shape must be [n, k] with 1 <= n <= " + std::to_string(kMaxIndexDim) +
                             " and 1 <= k <= " + std::to_string(int8::kMaxK) +
                             " (the int32 accumulator is exact up to there), got " + ShapeString(n, k),
                         "shape");
  return Status::Ok();
}

Status Int8QuantizeWeights(const uint16_t* w_f16, int64_t n, int64_t k, std::vector<int8_t>* codes,
                           std::vector<float>* scb, const char* op, int threads) {
  Status s = Int8CheckShape(op, n, k);
  if (!s.ok()) return s;
  const int64_t bad = FirstNonFinite(w_f16, n * k);
  if (bad >= 0)
    return Status::Error(StatusCode::kArgument,
                         std::string(op) + ": w must be finite fp16 values, got a non-finite value at index " +
                             std::to_string(bad) + " (row " + std::to_string(bad / k) + ", column " +
                             std::to_string(bad % k) + ")",
                         "w");
  formats::ReserveOnHugePages(*codes, size_t(n * k));
  codes->assign(size_t(n * k), 0);
  scb->assign(size_t(n), 0.0f);
  formats::ForEachSlice(n, formats::MinItemsPerSlice(k), threads, [&](int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j) {
      const uint16_t* row = w_f16 + j * k;
      float absmax = 0.0f;
      for (int64_t c = 0; c < k; ++c) absmax = std::max(absmax, std::fabs(F16BitsToF32(row[c])));
      (*scb)[size_t(j)] = absmax;
      int8_t* out = codes->data() + j * k;
      for (int64_t c = 0; c < k; ++c) out[c] = int8::Int8QuantizeWeightValue(F16BitsToF32(row[c]), absmax);
    }
  });
  return Status::Ok();
}

Int8WeightView Int8Packed::view() const { return view(codes.data(), scb.data(), row_sums.data()); }

Int8WeightView Int8Packed::view(const void* codes_at, const void* scb_at, const void* row_sums_at) const {
  Int8WeightView v;
  v.codes = static_cast<const int8_t*>(codes_at);
  v.scb = static_cast<const float*>(scb_at);
  v.row_sums = static_cast<const int32_t*>(row_sums_at);
  v.n = n;
  v.k = k;
  v.n_pad = n_pad;
  v.k_pad = k_pad;
  v.layout = layout;
  return v;
}

Status Int8Pack(const int8_t* codes, const float* scb, int64_t n, int64_t k, Int8Layout layout, Int8Packed* out,
                const char* op, int threads) {
  Status s = Int8CheckShape(op, n, k);
  if (!s.ok()) return s;
  for (int64_t j = 0; j < n; ++j)
    if (!(std::isfinite(scb[j]) && scb[j] >= 0.0f))
      return Status::Error(StatusCode::kArgument,
                           std::string(op) + ": scb must hold finite values >= 0 (each row's absmax), got " +
                               FormatNumber(scb[j]) + " at index " + std::to_string(j),
                           "scb");
  Int8Packed p;
  p.layout = layout;
  p.n = n;
  p.k = k;
  Int8PaddedDims(layout, n, k, &p.n_pad, &p.k_pad);
  formats::ReserveOnHugePages(p.codes, size_t(p.n_pad * p.k_pad));
  p.codes.assign(size_t(p.n_pad * p.k_pad), 0);
  p.scb.assign(size_t(p.n_pad), 0.0f);
  p.row_sums.assign(size_t(p.n_pad), 0);
  std::copy(scb, scb + n, p.scb.begin());
  // Rows are independent in both layouts (each code has a byte of its own).
  formats::ForEachSlice(n, formats::MinItemsPerSlice(k), threads, [&](int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j) {
      const int8_t* row = codes + j * k;
      int32_t sum = 0;
      if (layout == Int8Layout::kCpu) {
        std::memcpy(p.codes.data() + j * p.k_pad, row, size_t(k));
        for (int64_t c = 0; c < k; ++c) sum += row[c];
      } else {
        for (int64_t c = 0; c < k; ++c) {
          p.codes[size_t(int8::GpuCodeOffset(j, c, p.k_pad))] = row[c];
          sum += row[c];
        }
      }
      p.row_sums[size_t(j)] = sum;
    }
  });
  *out = std::move(p);
  return Status::Ok();
}

Status Int8Unpack(const Int8Packed& packed, std::vector<int8_t>* codes, std::vector<float>* scb, int threads) {
  const int64_t n = packed.n, k = packed.k;
  if (packed.codes.size() != size_t(packed.n_pad * packed.k_pad) || packed.scb.size() < size_t(n))
    return Status::Error(StatusCode::kArgument, "int8.read: the packed weight's buffers do not match its dims",
                         "weight");
  formats::ReserveOnHugePages(*codes, size_t(n * k));
  codes->assign(size_t(n * k), 0);
  scb->assign(packed.scb.begin(), packed.scb.begin() + n);
  formats::ForEachSlice(n, formats::MinItemsPerSlice(k), threads, [&](int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j) {
      int8_t* out = codes->data() + j * k;
      if (packed.layout == Int8Layout::kCpu) {
        std::memcpy(out, packed.codes.data() + j * packed.k_pad, size_t(k));
      } else {
        for (int64_t c = 0; c < k; ++c) out[c] = packed.codes[size_t(int8::GpuCodeOffset(j, c, packed.k_pad))];
      }
    }
  });
  return Status::Ok();
}

int32_t Int8OutlierColumns(const uint16_t* x, int64_t m, int64_t k, float threshold, uint8_t* is_outlier,
                           int32_t* outlier_cols) {
  // Outlier columns: any row at or above the threshold (fp32 compare of the decoded value). Over
  // the non-NaN fp16 magnitudes the decoded value grows with the bits, so the compare is one on
  // the bits: |h| ≥ the smallest magnitude whose value reaches the threshold (NaN never does).
  std::fill(is_outlier, is_outlier + k, uint8_t(0));
  int32_t count = 0;
  if (threshold > 0.0f) {
    constexpr uint16_t kInfBits = 0x7c00, kAbsMask = 0x7fff;
    uint16_t lo = 0, hi = kInfBits;  // F16BitsToF32(kInfBits) = ∞ ≥ any finite threshold
    while (lo < hi) {
      const uint16_t mid = uint16_t((lo + hi) / 2);
      if (F16BitsToF32(mid) >= threshold) hi = mid;
      else lo = uint16_t(mid + 1);
    }
    const uint16_t min_bits = lo;
    for (int64_t i = 0; i < m; ++i) {
      const uint16_t* row = x + i * k;
      for (int64_t c = 0; c < k; ++c) {
        const uint16_t a = row[c] & kAbsMask;
        is_outlier[c] |= uint8_t(a >= min_bits && a <= kInfBits);
      }
    }
    for (int64_t c = 0; c < k; ++c)
      if (is_outlier[c]) outlier_cols[1 + count++] = int32_t(c);
  }
  outlier_cols[0] = count;
  return count;
}

float Int8QuantizeActivationRow(const uint16_t* x, const uint8_t* is_outlier, int64_t k, int8_t* ca, int64_t ldca) {
  float stat = 0.0f;
  for (int64_t c = 0; c < k; ++c)
    if (!is_outlier[c]) {
      const float a = std::fabs(F16BitsToF32(x[c]));
      stat = a > stat || a != a ? a : stat;  // IEEE max: a NaN stays (std::max would drop it)
    }
  for (int64_t c = 0; c < k; ++c)
    ca[c] = is_outlier[c] ? int8_t(0) : int8::Int8QuantizeActivationValue(F16BitsToF32(x[c]), stat);
  std::fill(ca + k, ca + ldca, int8_t(0));
  return stat;
}

void Int8QuantizeActivations(const uint16_t* x, int64_t m, int64_t k, float threshold, int8_t* ca, int64_t ldca,
                             float* row_stat, int32_t* outlier_cols) {
  std::vector<uint8_t> is_outlier(size_t(k), 0);
  Int8OutlierColumns(x, m, k, threshold, is_outlier.data(), outlier_cols);
  for (int64_t i = 0; i < m; ++i)
    row_stat[i] = Int8QuantizeActivationRow(x + i * k, is_outlier.data(), k, ca + i * ldca, ldca);
}

}  // namespace sparq
