// sparq/format_number.h: a number as an error message shows it — as JavaScript would print it
// (NaN, Infinity, 1099511627776, 0.1), not as printf's %f or iostream's %g would (nan, inf,
// -1.000000, 1.09951e+12), so "got …" reads back the value the caller passed.
#pragma once
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace sparq {

inline std::string FormatNumber(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  if (v == 0) return "0";  // -0 too, as String(-0) gives
  // The fewest significant digits that read back as v (%g: fixed below 1e(digits), else
  // scientific). Not std::to_chars: floating-point to_chars needs libstdc++ 11, the README says g++ 10.
  char buf[40];
  for (int digits = 1; digits <= 17; ++digits) {
    std::snprintf(buf, sizeof(buf), "%.*g", digits, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

}  // namespace sparq
