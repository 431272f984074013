// native/tests/test_shard.h: a shard of a test's case grid, for the sanitizer runs.
//
// SPARQ_TEST_SHARD="i/n" (0 <= i < n): TakeCase() answers true for the cases whose running index —
// the order in which the test visits them, the same every run — is i mod n, and false for the
// others, which the caller then skips whole. Unset (plain runs, the mutant runs, a developer's run):
// every case. scripts/native-tests.sh sets it for the ASan+UBSan and TSan runs with i from the UTC
// date, so n consecutive days sanitize every case while a CI run spends 1/n of the time there (the
// simulator's one-host-thread-per-CUDA-thread model costs 2–4x more under a sanitizer); the plain
// run checks every case for values each time. A malformed value is a failure, never "all cases".
#pragma once
#include <cstdio>
#include <cstdlib>

namespace sparq_test {

struct Shard {
  int index = 0, count = 1;  // 0/1: every case
};

inline Shard ShardFromEnv() {
  Shard s;
  const char* v = std::getenv("SPARQ_TEST_SHARD");
  if (v == nullptr || *v == '\0') return s;
  char tail = 0;
  if (std::sscanf(v, "%d/%d%c", &s.index, &s.count, &tail) != 2 || s.count < 1 || s.index < 0 || s.index >= s.count) {
    std::fprintf(stderr, "SPARQ_TEST_SHARD='%s': expected i/n with 0 <= i < n\n", v);
    std::exit(2);
  }
  return s;
}

inline const Shard& TheShard() {
  static const Shard s = ShardFromEnv();
  return s;
}

inline int& CasesSeen() { static int n = 0; return n; }
inline int& CasesTaken() { static int n = 0; return n; }

// Call once per case, before any of its work; false: skip the case.
inline bool TakeCase() {
  const Shard& s = TheShard();
  const bool take = CasesSeen()++ % s.count == s.index;
  if (take) ++CasesTaken();
  return take;
}

// A sequence whose calls depend on each other (back-to-back calls on one workspace) cannot skip
// cases; under a shard it runs 1/n of its length instead (at least one call).
inline int ShardLength(int calls) {
  const int n = TheShard().count;
  return (calls + n - 1) / n;
}

// One line for the log, printed before the runner's last line ("N passed, M failed").
inline void PrintShard() {
  const Shard& s = TheShard();
  if (s.count > 1)
    std::printf("shard %d/%d (SPARQ_TEST_SHARD): ran %d of %d cases; the other shards run on other days\n", s.index,
                s.count, CasesTaken(), CasesSeen());
}

}  // namespace sparq_test
