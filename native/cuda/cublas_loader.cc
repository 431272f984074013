#include "cuda/cublas_loader.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <set>
#include <vector>

extern char** environ;

namespace sparq::cuda {
namespace {

// The few cuBLAS entry points used, with the v2 ABI's plain-int enums.
using CreateFn = int (*)(void**);
using DestroyFn = int (*)(void*);
using SetStreamFn = int (*)(void*, cudaStream_t);
using SetMathModeFn = int (*)(void*, int);
using GemmExFn = int (*)(void*, int, int, int, int, int, const void*, const void*, int, int, const void*, int, int,
                         const void*, void*, int, int, int, int);
constexpr int kOpN = 0, kOpT = 1;          // cublasOperation_t
constexpr int kR16F = 2;                   // cudaDataType CUDA_R_16F
constexpr int kR32F = 0;                   // cudaDataType CUDA_R_32F
constexpr int kCompute32F = 68;            // cublasComputeType_t CUBLAS_COMPUTE_32F
constexpr int kGemmDefault = -1;           // cublasGemmAlgo_t CUBLAS_GEMM_DEFAULT
// cublasMath_t CUBLAS_DEFAULT_MATH | CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION. By default
// cuBLAS may reduce split-K partials in the output type (fp16) even with CUBLAS_COMPUTE_32F, which
// the contract (fp32 accumulation, one rounding) forbids: a safeguard, not what fixed the first
// H200 run's misses (those came from adding the bias with beta = 1: cuda/dense.cu).
constexpr int kMathNoReducedPrecisionReduction = 16;

// cuda_loader.cc copies the note into a 512-byte buffer: longer notes are cut here, with a mark,
// so the start (what runs and why) always survives.
constexpr size_t kNoteMaxBytes = 500;
// A python3 that hangs (a broken sitecustomize, a network home) must not hang open().
constexpr int kPythonTimeoutMs = 3000;

struct Symbols {
  void* lib = nullptr;
  std::string path;
  CreateFn create = nullptr;
  DestroyFn destroy = nullptr;
  SetStreamFn set_stream = nullptr;
  SetMathModeFn set_math_mode = nullptr;
  GemmExFn gemm_ex = nullptr;
  std::string missing;  // when lib is null: what was tried
};

// Prints one directory per line: every site-packages the interpreter would import from (a venv's
// own, the user's, the system's). getattr: old virtualenvs' site.py lacks getsitepackages.
constexpr const char* kPythonSiteScript =
    "import site, sysconfig\n"
    "dirs = list(getattr(site, 'getsitepackages', lambda: [])())\n"
    "dirs.append(getattr(site, 'getusersitepackages', lambda: '')())\n"
    "dirs.append(sysconfig.get_paths().get('purelib', ''))\n"
    "print('\\n'.join(d for d in dirs if d))\n";

int64_t NowMs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// The site-packages directories of the python3 on PATH, or none (no python3, it failed, or it
// took longer than kPythonTimeoutMs: then it is killed). `why` says which when there are none.
std::vector<std::string> PythonSitePackages(std::string* why) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    *why = "pipe failed";
    return {};
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  char arg0[] = "python3", arg1[] = "-c";
  std::string script = kPythonSiteScript;
  char* argv[] = {arg0, arg1, script.data(), nullptr};
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, "python3", &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    *why = "no python3 on PATH";
    return {};
  }
  std::string out;
  bool timed_out = false;
  const int64_t deadline = NowMs() + kPythonTimeoutMs;
  for (;;) {
    const int64_t left = deadline - NowMs();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    const int ready = poll(&p, 1, int(left));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {
      timed_out = ready == 0;
      break;
    }
    char buf[1024];
    const ssize_t got = read(fds[0], buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;  // EOF: the script finished
    out.append(buf, size_t(got));
  }
  close(fds[0]);
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    *why = "python3 timed out";
    return {};
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    *why = "python3 failed";
    return {};
  }
  std::vector<std::string> dirs;
  size_t start = 0;
  while (start < out.size()) {
    size_t end = out.find('\n', start);
    if (end == std::string::npos) end = out.size();
    if (end > start) dirs.push_back(out.substr(start, end - start));
    start = end + 1;
  }
  if (dirs.empty()) *why = "python3 listed no site-packages";
  return dirs;
}

std::vector<std::string> Glob(const std::string& pattern) {
  std::vector<std::string> out;
  glob_t g{};
  if (glob(pattern.c_str(), 0, nullptr, &g) == 0)
    for (size_t i = 0; i < g.gl_pathc; ++i) out.push_back(g.gl_pathv[i]);
  globfree(&g);
  return out;
}

// Tries candidates in order until one has every symbol; remembers what it tried for the note.
class Search {
 public:
  bool Try(const std::string& path, Symbols* r) {
    if (!seen_.insert(path).second) return false;
    void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      // A file that exists but does not load (a missing libcublasLt, a wrong arch) is worth naming.
      if (path.find('/') != std::string::npos && access(path.c_str(), F_OK) == 0) {
        const char* e = dlerror();
        failures_ += (failures_.empty() ? "" : "; ") + path + ": " + (e ? e : "dlopen failed");
      }
      return false;
    }
    r->create = reinterpret_cast<CreateFn>(dlsym(lib, "cublasCreate_v2"));
    r->destroy = reinterpret_cast<DestroyFn>(dlsym(lib, "cublasDestroy_v2"));
    r->set_stream = reinterpret_cast<SetStreamFn>(dlsym(lib, "cublasSetStream_v2"));
    r->set_math_mode = reinterpret_cast<SetMathModeFn>(dlsym(lib, "cublasSetMathMode"));
    r->gemm_ex = reinterpret_cast<GemmExFn>(dlsym(lib, "cublasGemmEx"));
    if (r->create && r->destroy && r->set_stream && r->set_math_mode && r->gemm_ex) {
      r->lib = lib;
      r->path = path;
      return true;
    }
    failures_ += (failures_.empty() ? "" : "; ") + path + ": lacks cublasGemmEx/cublasCreate_v2/cublasSetMathMode";
    dlclose(lib);
    return false;
  }
  // The wheels' layouts inside one site-packages directory (or a glob of them).
  bool TrySitePackages(const std::string& dir, Symbols* r) {
    for (const std::string& d : Glob(dir)) {
      if (Try(d + "/nvidia/cu13/lib/libcublas.so.13", r)) return true;  // CUDA 13 wheels
      for (const std::string& p : Glob(d + "/nvidia/cublas/lib/libcublas.so.*"))  // CUDA 12 wheels
        if (Try(p, r)) return true;
    }
    return false;
  }
  void Tried(const std::string& what) { tried_ += (tried_.empty() ? "" : ", ") + what; }
  // Loadable-but-broken files first: the note may be clipped, and they are what a user must fix.
  std::string Note() const {
    return (failures_.empty() ? "" : "found but not loadable: " + failures_ + "; ") + "tried " + tried_ +
           " (wheel dirs nvidia/cu13/lib, nvidia/cublas/lib)";
  }

 private:
  std::set<std::string> seen_;
  std::string tried_, failures_;
};

Symbols Find() {
  Symbols r;
  Search s;
  const char* env_path = std::getenv("SPARQ_CUBLAS_PATH");
  if (env_path && *env_path) {
    if (s.Try(env_path, &r)) return r;
    s.Tried(std::string("SPARQ_CUBLAS_PATH=") + env_path);
  } else {
    s.Tried("SPARQ_CUBLAS_PATH (unset)");
  }
  for (const char* soname : {"libcublas.so.13", "libcublas.so.12", "libcublas.so"})
    if (s.Try(soname, &r)) return r;
  s.Tried("libcublas.so{.13,.12,}");

  std::vector<std::string> toolkits;
  for (const char* var : {"CUDA_HOME", "CUDA_PATH"})
    if (const char* v = std::getenv(var); v && *v) toolkits.push_back(std::string(v) + "/lib64");
  toolkits.push_back("/usr/local/cuda/lib64");
  for (const std::string& dir : toolkits) {
    for (const char* name : {"/libcublas.so.13", "/libcublas.so.12"})
      if (s.Try(dir + name, &r)) return r;
    s.Tried(dir);
  }

  std::string why;
  const std::vector<std::string> py_dirs = PythonSitePackages(&why);
  for (const std::string& dir : py_dirs)
    if (s.TrySitePackages(dir, &r)) return r;
  if (py_dirs.empty()) {
    s.Tried("python3's site-packages (" + why + ")");
  } else {
    std::string listed;
    std::set<std::string> listed_once;
    for (const std::string& d : py_dirs)
      if (listed_once.insert(d).second) listed += (listed.empty() ? "" : " ") + d;
    s.Tried("python3's site-packages " + listed);
  }

  std::vector<std::string> prefixes = {"/usr/local/lib/python3*/dist-packages", "/usr/lib/python3*/dist-packages",
                                       "/usr/local/lib/python3*/site-packages", "/opt/conda/lib/python3*/site-packages"};
  if (const char* home = std::getenv("HOME"); home && *home)
    prefixes.push_back(std::string(home) + "/.local/lib/python3*/site-packages");
  for (const std::string& prefix : prefixes) {
    if (s.TrySitePackages(prefix, &r)) return r;
    s.Tried(prefix);
  }
  r.missing = s.Note();
  return r;
}

const Symbols& LoadSymbols() {
  static const Symbols s = Find();
  return s;
}

std::string Clip(std::string s) {
  if (s.size() > kNoteMaxBytes) s = s.substr(0, kNoteMaxBytes - 3) + "...";
  return s;
}

}  // namespace

Status DenseKernelFromEnv(DenseKernel* out) {
  const char* v = std::getenv("SPARQ_DENSE_KERNEL");
  const std::string s = v ? v : "";
  if (s.empty() || s == "auto") *out = DenseKernel::kAuto;
  else if (s == "cublas") *out = DenseKernel::kCublas;
  else if (s == "sparq") *out = DenseKernel::kSparq;
  else
    return Status::Error(StatusCode::kArgument,
                         "SPARQ_DENSE_KERNEL must be one of auto, cublas, sparq, got '" + s + "'", "SPARQ_DENSE_KERNEL");
  return Status::Ok();
}

const char* DenseKernelName(DenseKernel k) {
  switch (k) {
    case DenseKernel::kCublas: return "cublas";
    case DenseKernel::kSparq: return "sparq";
    default: return "auto";
  }
}

std::string Cublas::Note() const {
  switch (requested) {
    case DenseKernel::kSparq:
      return "SPARQ_DENSE_KERNEL=sparq: dense.matmul runs sparq's tensor-core GEMM (dense_tc_gemm); cuBLAS was not "
             "searched";
    case DenseKernel::kCublas:
      return Clip("SPARQ_DENSE_KERNEL=cublas, so dense.matmul fails (SparqBackendError; SPARQ_CUBLAS_PATH names the "
                  "library, read once per process): " + missing);
    default:
      return Clip("dense.matmul runs sparq's tensor-core GEMM (dense_tc_gemm; SPARQ_CUBLAS_PATH names cuBLAS, read once per "
                  "process): " +
                  missing);
  }
}

Cublas LoadCublas(DenseKernel requested) {
  Cublas c;
  c.requested = requested;
  if (requested == DenseKernel::kSparq) return c;  // not even loaded: no handle, no device memory
  const Symbols& s = LoadSymbols();
  if (!s.lib) {
    c.missing = "cuBLAS not found: " + s.missing;
    return c;
  }
  const int rc = s.create(&c.handle);
  if (rc != 0) {
    c.missing = "cublasCreate failed with status " + std::to_string(rc) + " for " + s.path;
    c.handle = nullptr;
    return c;
  }
  const int mode_rc = s.set_math_mode(c.handle, kMathNoReducedPrecisionReduction);
  if (mode_rc != 0) {
    // Without the flag cuBLAS would break the fp32-reduction contract: run sparq's GEMM instead.
    s.destroy(c.handle);
    c.handle = nullptr;
    c.missing = "cublasSetMathMode(DISALLOW_REDUCED_PRECISION_REDUCTION) failed with status " + std::to_string(mode_rc) +
                " for " + s.path;
    return c;
  }
  c.available = true;
  c.path = s.path;
  return c;
}

void DestroyCublas(Cublas* c) {
  if (c->handle) LoadSymbols().destroy(c->handle);
  c->handle = nullptr;
  c->available = false;
}

int Cublas::Gemm(cudaStream_t stream, const void* w, const void* x, void* y, long m, long n, long k,
                 bool f32_out) const {
  const Symbols& s = LoadSymbols();
  int rc = s.set_stream(handle, stream);
  if (rc != 0) return rc;
  const float alpha = 1.0f, beta = 0.0f;
  // Row-major Y[m][n] is column-major Yᵀ (n×m, ld n) = op(W)·X with W column-major k×n (ld k)
  // transposed and X column-major k×m (ld k).
  return s.gemm_ex(handle, kOpT, kOpN, static_cast<int>(n), static_cast<int>(m), static_cast<int>(k), &alpha, w,
                   kR16F, static_cast<int>(k), x, kR16F, static_cast<int>(k), &beta, y, f32_out ? kR32F : kR16F,
                   static_cast<int>(n), kCompute32F, kGemmDefault);
}

}  // namespace sparq::cuda
