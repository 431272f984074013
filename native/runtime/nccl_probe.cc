#include "runtime/nccl_probe.h"

#include <dlfcn.h>
#include <glob.h>

#include <cstdlib>

namespace sparq::nccl {
namespace {

using GetVersionFn = int (*)(int*);  // ncclResult_t ncclGetVersion(int*); 0 = ncclSuccess

// The python wheels' copies under each site-packages / dist-packages a python install may use:
// nvidia-nccl-cu12 (and, as far as we know, -cu13: the H200 image has it) in nvidia/nccl/lib;
// nvidia/cu13/lib, where the CUDA 13 toolkit wheels put their libraries, is looked at too in case
// a build of NCCL follows them.
std::vector<std::string> WheelCandidates() {
  std::vector<std::string> sites = {
      "/usr/lib/python3*/site-packages",
      "/usr/lib/python3/dist-packages",
      "/usr/local/lib/python3*/site-packages",
      "/usr/local/lib/python3*/dist-packages",
      // GPU images often keep their python under /opt (/opt/conda, /opt/venv) with only PATH
      // pointing there: neither VIRTUAL_ENV nor CONDA_PREFIX is set (a 2026-12-05 review).
      "/opt/*/lib/python3*/site-packages",
  };
  if (const char* home = std::getenv("HOME")) sites.push_back(std::string(home) + "/.local/lib/python3*/site-packages");
  if (const char* venv = std::getenv("VIRTUAL_ENV")) sites.push_back(std::string(venv) + "/lib/python3*/site-packages");
  if (const char* conda = std::getenv("CONDA_PREFIX")) sites.push_back(std::string(conda) + "/lib/python3*/site-packages");
  std::vector<std::string> out;
  for (const std::string& site : sites)
    for (const char* lib_dir : {"/nvidia/nccl/lib/libnccl.so.2", "/nvidia/cu13/lib/libnccl.so.2"}) {
      const std::string p = site + lib_dir;
      glob_t g{};
      if (glob(p.c_str(), 0, nullptr, &g) == 0)
        for (size_t i = 0; i < g.gl_pathc; ++i) out.push_back(g.gl_pathv[i]);
      globfree(&g);
    }
  return out;
}

// Loads one candidate; "" when it is NCCL ≥ kMinVersion (path and version set), else why not.
std::string TryOne(const std::string& path, ProbeResult* out) {
  void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* e = dlerror();
    return e ? e : "dlopen failed";
  }
  auto get_version = reinterpret_cast<GetVersionFn>(dlsym(lib, "ncclGetVersion"));
  if (!get_version) {
    dlclose(lib);
    return "loads, but has no ncclGetVersion: not NCCL";
  }
  int version = 0;
  if (get_version(&version) != 0) {
    dlclose(lib);
    return "ncclGetVersion failed";
  }
  if (version < kMinVersion) {
    dlclose(lib);
    return "NCCL " + std::to_string(version) + " is older than 2.18 (" + std::to_string(kMinVersion) + ")";
  }
  out->path = path;
  out->version = version;
  return "";  // kept loaded: this process asked for it
}

}  // namespace

Status Probe(ProbeResult* out, const char* forced) {
  std::vector<std::string> candidates;
  if (forced == nullptr) forced = std::getenv("SPARQ_NCCL_PATH");
  if (forced && *forced) {
    candidates.push_back(forced);
  } else {
    candidates.push_back("libnccl.so.2");
    for (const std::string& w : WheelCandidates()) candidates.push_back(w);
  }
  for (const std::string& c : candidates) {
    const std::string why = TryOne(c, out);
    if (why.empty()) return Status::Ok();
    out->tried.push_back(c + ": " + why);
  }
  std::string list;
  for (const std::string& t : out->tried) list += (list.empty() ? "" : "; ") + t;
  return Status::Error(StatusCode::kBackend,
                       std::string("nccl: no usable NCCL library (tried ") + list +
                           "). Install NCCL >= 2.18 (the libnccl2 package, or pip install nvidia-nccl-cu12 or nvidia-nccl-cu13), or set "
                           "SPARQ_NCCL_PATH to its libnccl.so.2" +
                           (forced && *forced ? " (SPARQ_NCCL_PATH is set: only it was tried)" : ""));
}

}  // namespace sparq::nccl
