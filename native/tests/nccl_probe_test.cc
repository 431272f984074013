// native/tests/nccl_probe_test.cc: sparq::nccl::Probe finding NCCL where the python wheels put it
// (nvidia/nccl/lib, and nvidia/cu13/lib), under a virtualenv's site-packages, with a stand-in
// library (fixtures/fake_nccl.cc, path from the build: FAKE_NCCL_LIB); and passing over one that is
// too old, naming it. A machine whose loader already finds a real libnccl.so.2 takes that first
// (as it should): then the wheel checks are reported as not applicable, not passed.
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "runtime/nccl_probe.h"
#include "sim_test_util.h"

using sparq_test::Check;

namespace {

std::string MakeWheel(const std::string& root, const char* layout) {
  const std::filesystem::path dir = std::filesystem::path(root) / "lib/python3.12/site-packages" / layout;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (!ec) std::filesystem::copy_file(FAKE_NCCL_LIB, dir / "libnccl.so.2", ec);
  return ec ? "" : (dir / "libnccl.so.2").string();
}

bool SystemNcclPresent() {
  void* h = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
  if (h) dlclose(h);
  return h != nullptr;
}

void RunLayout(const char* layout) {
  char tmpl[] = "/tmp/sparq-nccl-probe-XXXXXX";
  const std::string root = mkdtemp(tmpl);
  const std::string lib = MakeWheel(root, layout);
  setenv("VIRTUAL_ENV", root.c_str(), 1);
  setenv("HOME", root.c_str(), 1);  // no ~/.local wheel of the real user's
  unsetenv("CONDA_PREFIX");
  unsetenv("SPARQ_NCCL_PATH");

  setenv("FAKE_NCCL_VERSION", "22005", 1);
  sparq::nccl::ProbeResult found;
  sparq::Status s = sparq::nccl::Probe(&found);
  Check(!lib.empty() && s.ok() && found.path == lib && found.version == 22005,
        std::string("a virtualenv's ") + layout + "/libnccl.so.2 is found, with its version",
        "status '%s', path '%s' (want '%s'), version %d", s.message.c_str(), found.path.c_str(), lib.c_str(),
        found.version);

  // The same path again, now answering 2.17: passed over, named, with the reason.
  setenv("FAKE_NCCL_VERSION", "21700", 1);
  sparq::nccl::ProbeResult old;
  s = sparq::nccl::Probe(&old);
  const bool named = s.message.find(lib + ": NCCL 21700 is older than 2.18") != std::string::npos;
  Check(!s.ok() && s.code == sparq::StatusCode::kBackend && named,
        std::string("an NCCL older than 2.18 in ") + layout + " is passed over, by name and why",
        "status ok=%d code %d: '%s'", s.ok(), int(s.code), s.message.c_str());
  std::error_code ec;
  std::filesystem::remove_all(root, ec);
}

}  // namespace

int main() {
  if (SystemNcclPresent()) {
    std::printf("skip nccl_probe_test: this machine's loader finds a real libnccl.so.2, which the probe takes first\n");
    return sparq_test::Summary();
  }
  RunLayout("nvidia/nccl/lib");
  RunLayout("nvidia/cu13/lib");
  return sparq_test::Summary();
}
