// native/tests/sim_test_util.h: the tiny runner the standalone native tests share. One line per
// check ("ok   <name>" / "FAIL <name>: <why>"); the last line is exactly "N passed, M failed";
// exit status 0 iff M == 0.
#pragma once
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "test_shard.h"

namespace sparq_test {

// Under ThreadSanitizer (10-20x slower) tests run a reduced set: the plain and ASan runs cover the
// whole grid for values; the TSan run is there for races, which the same code paths at fewer sizes
// show as well.
#if defined(__SANITIZE_THREAD__)
constexpr bool kTsanLight = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr bool kTsanLight = true;
#else
constexpr bool kTsanLight = false;
#endif
#else
constexpr bool kTsanLight = false;
#endif

inline int& Passed() { static int n = 0; return n; }
inline int& Failed() { static int n = 0; return n; }

inline void Check(bool ok, const std::string& name, const char* fmt = "", ...) {
  if (ok) {
    ++Passed();
    std::printf("ok   %s\n", name.c_str());
  } else {
    ++Failed();
    char why[2048];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    std::printf("FAIL %s: %s\n", name.c_str(), why);
  }
  std::fflush(stdout);
}

inline int Summary() {
  PrintShard();
  std::printf("%d passed, %d failed\n", Passed(), Failed());
  return Failed() == 0 ? 0 : 1;
}

// fp16 through the compiler's _Float16 (RNE both ways): an implementation independent of the
// library's half.h for references.
inline uint16_t ToF16Bits(float f) {
  const _Float16 h = static_cast<_Float16>(f);
  uint16_t b;
  std::memcpy(&b, &h, 2);
  return b;
}
inline float FromF16Bits(uint16_t b) {
  _Float16 h;
  std::memcpy(&h, &b, 2);
  return static_cast<float>(h);
}

inline bool Contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

// Relative Frobenius error; NaN anywhere (an element never written) counts as infinite.
inline double RelFrobenius(const std::vector<double>& ref, const std::vector<float>& got) {
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (!std::isfinite(got[i])) return INFINITY;
    num += (got[i] - ref[i]) * (got[i] - ref[i]);
    den += ref[i] * ref[i];
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

}  // namespace sparq_test
