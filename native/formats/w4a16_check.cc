// native/formats/w4a16_check.cc: the one validation of a W4A16 weight's shape and group size. The
// binding calls it before it queues quantize/fromCodes (so the caller gets the error at the call
// site), and the packer and quantizer call it too, so a C++ caller gets the same error.
#include <string>

#include "sparq/w4a16.h"

namespace sparq {

bool W4A16GroupSizeSupported(int64_t k, int64_t group_size) {
  return group_size == 32 || group_size == 64 || group_size == 128 || (group_size == k && k >= 1);
}

int W4A16DefaultGroupSize(int64_t k) { return k < 128 ? static_cast<int>(k) : 128; }

Status W4A16CheckShape(const char* op, int64_t n, int64_t k, int64_t group_size, bool group_size_given) {
  const std::string shape = "[" + std::to_string(n) + ", " + std::to_string(k) + "]";
  if (n < 1 || k < 1 || n > kMaxIndexDim || k > kMaxIndexDim)
    return Status::Error(StatusCode::kShape,
                         std::string(op) + ": shape must be [n, k] with 1 <= n, k <= " + std::to_string(kMaxIndexDim) +
                             ", got " + shape,
                         "shape");
  if (!W4A16GroupSizeSupported(k, group_size))
    return Status::Error(StatusCode::kArgument,
                         std::string(op) + ": groupSize must be 32, 64, 128 or k (" + std::to_string(k) + "), got " +
                             std::to_string(group_size),
                         "groupSize");
  if (k % group_size != 0) {
    const std::string hint =
        group_size_given ? " " + std::to_string(group_size)
                         : " " + std::to_string(group_size) + " (the default; pass { groupSize: " + std::to_string(k) +
                               " } for one scale per row, or 32/64 if they divide k)";
    return Status::Error(StatusCode::kShape,
                         std::string(op) + ": shape must be [n, k] with k a multiple of groupSize" + hint + ", got " +
                             shape,
                         "shape");
  }
  return Status::Ok();
}

}  // namespace sparq
