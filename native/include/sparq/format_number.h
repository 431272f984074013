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
  // The fewest significant digits that read back as v (not std::to_chars: floating-point to_chars
  // needs libstdc++ 11, the README says g++ 10) ...
  char buf[40];
  int digits = 1;
  for (; digits <= 17; ++digits) {
    std::snprintf(buf, sizeof(buf), "%.*e", digits - 1, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  // ... laid out as Number.prototype.toString does: d.ddd·10^e fixed for -7 < e < 21, else
  // exponential with an explicit sign and no leading zeros (1e-7, 1e+21, 123456789012345680000).
  std::string mantissa, sign;
  const char* p = buf;
  if (*p == '-') sign = "-", ++p;
  for (; *p != 'e'; ++p)
    if (*p != '.') mantissa += *p;
  const int e = std::atoi(p + 1);
  const int n = e + 1;  // the value is 0.<mantissa> · 10^n
  const int k = int(mantissa.size());
  if (k <= n && n <= 21) return sign + mantissa + std::string(size_t(n - k), '0');
  if (0 < n && n <= 21) return sign + mantissa.substr(0, size_t(n)) + "." + mantissa.substr(size_t(n));
  if (-6 < n && n <= 0) return sign + "0." + std::string(size_t(-n), '0') + mantissa;
  std::string out = sign + mantissa.substr(0, 1);
  if (k > 1) out += "." + mantissa.substr(1);
  return out + "e" + (n - 1 >= 0 ? "+" : "-") + std::to_string(n - 1 >= 0 ? n - 1 : 1 - n);
}

}  // namespace sparq
