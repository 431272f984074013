// cpu/cpu_switches.h: the CPU kernels' diagnostic switches (README "Environment"):
// SPARQ_SPARSE_SKIP, SPARQ_SPARSE_EXPAND, SPARQ_DENSE_AMX, SPARQ_INT8_AMX, SPARQ_W4A16_GEMV and
// SPARQ_W4A16_NO_AVXVNNI.
//
// Why a snapshot: the kernels' drivers run on a context's stream worker, and a getenv off Node's
// main JS thread races its setenv (`process.env.X = …`): glibc's setenv may move the environment's
// array while another thread's getenv walks it (a SIGSEGV, 2026-12-06). So in the addon TypeScript
// reads them from process.env at open() (runtime/backend.h BackendOptions::env), the context keeps
// them (CpuSwitchesFrom), each op's task carries them, and the worker installs them for the task's
// length (ScopedCpuSwitches). Code with no snapshot installed — the native tests, C++ harnesses
// linking the core library, which set the variables with setenv on their one thread — reads the
// environment at the call (CpuSwitchesFromEnvironment).
#pragma once
#include <cstdint>

namespace sparq::cpu {

struct CpuSwitches {
  enum class SparseSkip : uint8_t { kAuto, kOff, kOn, kRows, kLists, kBitmap, kLanes };
  enum class SparseExpand : uint8_t { kAuto, kWord, kFloat, kBits };
  enum class W4a16Gemv : uint8_t { kAuto, kPlain, kVbmi };
  SparseSkip sparse_skip = SparseSkip::kAuto;        // SPARQ_SPARSE_SKIP (another value: kAuto)
  SparseExpand sparse_expand = SparseExpand::kAuto;  // SPARQ_SPARSE_EXPAND
  bool dense_amx = false;                            // SPARQ_DENSE_AMX = 1 or on
  bool int8_vnni = false;                            // SPARQ_INT8_AMX = 0
  W4a16Gemv w4a16_gemv = W4a16Gemv::kAuto;           // SPARQ_W4A16_GEMV (fp16: the default where it exists)
  bool w4a16_no_avxvnni = false;                     // SPARQ_W4A16_NO_AVXVNNI set, to anything
};

// getenv for each switch. Only where no other thread can change the environment: a program's only
// thread (Node's main JS thread is not one: a worker's JS thread, libuv's threads and the stream
// workers all run beside Node's setenv).
CpuSwitches CpuSwitchesFromEnvironment();
// The same from values already read (the binding's: what TypeScript read from process.env at open()).
CpuSwitches CpuSwitchesFrom(const char* (*lookup)(const void* ctx, const char* name), const void* ctx);

// The switches for the op running on this thread: its submitter's snapshot where one is
// installed, else the environment now.
CpuSwitches CurrentCpuSwitches();

// Installs a snapshot on this thread until destroyed (nests).
class ScopedCpuSwitches {
 public:
  explicit ScopedCpuSwitches(const CpuSwitches& switches);
  ~ScopedCpuSwitches();
  ScopedCpuSwitches(const ScopedCpuSwitches&) = delete;
  ScopedCpuSwitches& operator=(const ScopedCpuSwitches&) = delete;

 private:
  const CpuSwitches* previous_;
};

}  // namespace sparq::cpu
