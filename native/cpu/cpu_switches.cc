// cpu/cpu_switches.cc: the switches parsed from an environment lookup, and the per-thread snapshot (cpu_switches.h).
#include "cpu/cpu_switches.h"

#include <cstdlib>
#include <cstring>

namespace sparq::cpu {
namespace {

thread_local const CpuSwitches* t_installed = nullptr;

bool Is(const char* value, const char* want) { return value != nullptr && std::strcmp(value, want) == 0; }

const char* GetEnv(const void*, const char* name) { return std::getenv(name); }

}  // namespace

CpuSwitches CpuSwitchesFrom(const char* (*lookup)(const void* ctx, const char* name), const void* ctx) {
  CpuSwitches s;
  using Skip = CpuSwitches::SparseSkip;
  const char* skip = lookup(ctx, "SPARQ_SPARSE_SKIP");
  s.sparse_skip = Is(skip, "off")      ? Skip::kOff
                  : Is(skip, "on")     ? Skip::kOn
                  : Is(skip, "rows")   ? Skip::kRows
                  : Is(skip, "lists")  ? Skip::kLists
                  : Is(skip, "bitmap") ? Skip::kBitmap
                  : Is(skip, "lanes")  ? Skip::kLanes
                                       : Skip::kAuto;
  using Expand = CpuSwitches::SparseExpand;
  const char* expand = lookup(ctx, "SPARQ_SPARSE_EXPAND");
  s.sparse_expand = Is(expand, "word")    ? Expand::kWord
                    : Is(expand, "float") ? Expand::kFloat
                    : Is(expand, "bits")  ? Expand::kBits
                                          : Expand::kAuto;
  const char* amx = lookup(ctx, "SPARQ_DENSE_AMX");
  s.dense_amx = Is(amx, "1") || Is(amx, "on");
  s.int8_vnni = Is(lookup(ctx, "SPARQ_INT8_AMX"), "0");
  using Gemv = CpuSwitches::W4a16Gemv;
  const char* gemv = lookup(ctx, "SPARQ_W4A16_GEMV");
  s.w4a16_gemv = Is(gemv, "plain") ? Gemv::kPlain : Is(gemv, "vbmi") ? Gemv::kVbmi : Gemv::kAuto;
  s.w4a16_no_avxvnni = lookup(ctx, "SPARQ_W4A16_NO_AVXVNNI") != nullptr;
  return s;
}

CpuSwitches CpuSwitchesFromEnvironment() { return CpuSwitchesFrom(&GetEnv, nullptr); }

CpuSwitches CurrentCpuSwitches() { return t_installed != nullptr ? *t_installed : CpuSwitchesFromEnvironment(); }

ScopedCpuSwitches::ScopedCpuSwitches(const CpuSwitches& switches) : previous_(t_installed) { t_installed = &switches; }
ScopedCpuSwitches::~ScopedCpuSwitches() { t_installed = previous_; }

}  // namespace sparq::cpu
