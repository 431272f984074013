// runtime/nccl_probe.h: finds the NCCL library sparq would use beyond one node and asks its
// version, by dlopen (never linked: NCCL is optional and large). Meant to run in a throwaway child
// process first (src/nccl.ts), so a broken library cannot take the service down.
#pragma once
#include <string>
#include <vector>

#include "sparq/status.h"

namespace sparq::nccl {

inline constexpr int kMinVersion = 21800;  // 2.18.0: ncclCommInitRankConfig and the 2.18 ABI

struct ProbeResult {
  std::string path;             // the library that loaded and answered
  int version = 0;              // ncclGetVersion: major*10000 + minor*100 + patch
  std::vector<std::string> tried;  // each candidate and why it was passed over
};

// Candidates in order: $SPARQ_NCCL_PATH (only it, when set), libnccl.so.2 (the loader's search
// path), then the python wheels' nvidia/nccl/lib (or nvidia/cu13/lib)/libnccl.so.2 in the usual
// site-packages folders (nccl_probe_test finds a stand-in in both).
// kBackend naming every candidate and why, when none loads with version >= kMinVersion.
// `forced`: SPARQ_NCCL_PATH as the caller's JS environment has it (src/ops/comm.ts passes it: a
// test runner's or worker's process.env need not be this process's environ); null: getenv.
Status Probe(ProbeResult* out, const char* forced = nullptr);

}  // namespace sparq::nccl
