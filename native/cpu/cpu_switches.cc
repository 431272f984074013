// cpu/cpu_switches.cc: CpuSwitchesFromEnvironment and the per-thread snapshot (cpu_switches.h).
#include "cpu/cpu_switches.h"

#include <cstring>

extern char** environ;  // POSIX: declared by no standard header under -std=c++17

namespace sparq::cpu {
namespace {

thread_local const CpuSwitches* t_installed = nullptr;

// "NAME=value" → value when the entry's name is `name`, else null.
template <size_t N>
const char* ValueOf(const char* entry, const char (&name)[N]) {
  constexpr size_t kLen = N - 1;
  return std::strncmp(entry, name, kLen) == 0 && entry[kLen] == '=' ? entry + kLen + 1 : nullptr;
}

bool Is(const char* value, const char* want) { return std::strcmp(value, want) == 0; }

}  // namespace

CpuSwitches CpuSwitchesFromEnvironment() {
  CpuSwitches s;
  // getenv's rule: the first entry of a name counts.
  bool seen_skip = false, seen_expand = false, seen_dense_amx = false, seen_int8_amx = false, seen_gemv = false;
  constexpr char kPrefix[] = "SPARQ_";
  constexpr size_t kPrefixLen = sizeof(kPrefix) - 1;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const char* entry = *e;
    if (entry[0] != 'S' || std::strncmp(entry, kPrefix, kPrefixLen) != 0) continue;  // most entries: one compare
    const char* v;
    if (!seen_skip && (v = ValueOf(entry, "SPARQ_SPARSE_SKIP")) != nullptr) {
      seen_skip = true;
      using K = CpuSwitches::SparseSkip;
      s.sparse_skip = Is(v, "off")      ? K::kOff
                      : Is(v, "on")     ? K::kOn
                      : Is(v, "rows")   ? K::kRows
                      : Is(v, "lists")  ? K::kLists
                      : Is(v, "bitmap") ? K::kBitmap
                      : Is(v, "lanes")  ? K::kLanes
                                        : K::kAuto;
    } else if (!seen_expand && (v = ValueOf(entry, "SPARQ_SPARSE_EXPAND")) != nullptr) {
      seen_expand = true;
      using K = CpuSwitches::SparseExpand;
      s.sparse_expand = Is(v, "word") ? K::kWord : Is(v, "float") ? K::kFloat : K::kAuto;
    } else if (!seen_dense_amx && (v = ValueOf(entry, "SPARQ_DENSE_AMX")) != nullptr) {
      seen_dense_amx = true;
      s.dense_amx = Is(v, "1") || Is(v, "on");
    } else if (!seen_int8_amx && (v = ValueOf(entry, "SPARQ_INT8_AMX")) != nullptr) {
      seen_int8_amx = true;
      s.int8_vnni = Is(v, "0");
    } else if (!seen_gemv && (v = ValueOf(entry, "SPARQ_W4A16_GEMV")) != nullptr) {
      seen_gemv = true;
      using K = CpuSwitches::W4a16Gemv;
      s.w4a16_gemv = Is(v, "plain") ? K::kPlain : Is(v, "vbmi") ? K::kVbmi : K::kAuto;
    } else if (ValueOf(entry, "SPARQ_W4A16_NO_AVXVNNI") != nullptr) {
      s.w4a16_no_avxvnni = true;
    }
  }
  return s;
}

CpuSwitches CurrentCpuSwitches() { return t_installed != nullptr ? *t_installed : CpuSwitchesFromEnvironment(); }

ScopedCpuSwitches::ScopedCpuSwitches(const CpuSwitches& switches) : previous_(t_installed) { t_installed = &switches; }
ScopedCpuSwitches::~ScopedCpuSwitches() { t_installed = previous_; }

}  // namespace sparq::cpu
