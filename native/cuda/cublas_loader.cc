#include "cuda/cublas_loader.h"

#include <dlfcn.h>
#include <glob.h>

#include <cstdlib>
#include <vector>

namespace sparq::cuda {
namespace {

// The few cuBLAS entry points used, with the v2 ABI's plain-int enums.
using CreateFn = int (*)(void**);
using DestroyFn = int (*)(void*);
using SetStreamFn = int (*)(void*, cudaStream_t);
using GemmExFn = int (*)(void*, int, int, int, int, int, const void*, const void*, int, int, const void*, int, int,
                         const void*, void*, int, int, int, int);
constexpr int kOpN = 0, kOpT = 1;          // cublasOperation_t
constexpr int kR16F = 2;                   // cudaDataType CUDA_R_16F
constexpr int kCompute32F = 68;            // cublasComputeType_t CUBLAS_COMPUTE_32F
constexpr int kGemmDefault = -1;           // cublasGemmAlgo_t CUBLAS_GEMM_DEFAULT

struct Symbols {
  void* lib = nullptr;
  std::string path;
  CreateFn create = nullptr;
  DestroyFn destroy = nullptr;
  SetStreamFn set_stream = nullptr;
  GemmExFn gemm_ex = nullptr;
};

std::vector<std::string> Candidates() {
  std::vector<std::string> out;
  if (const char* p = std::getenv("SPARQ_CUBLAS_PATH"); p && *p) out.push_back(p);
  out.push_back("libcublas.so.13");
  out.push_back("libcublas.so.12");
  out.push_back("libcublas.so");
  const char* patterns[] = {"/usr/local/lib/python3*/dist-packages/nvidia/cublas/lib/libcublas.so.*",
                            "/usr/lib/python3*/dist-packages/nvidia/cublas/lib/libcublas.so.*",
                            "/usr/local/lib/python3*/site-packages/nvidia/cublas/lib/libcublas.so.*",
                            "/root/.local/lib/python3*/site-packages/nvidia/cublas/lib/libcublas.so.*",
                            "/opt/conda/lib/python3*/site-packages/nvidia/cublas/lib/libcublas.so.*"};
  for (const char* pattern : patterns) {
    glob_t g{};
    if (glob(pattern, 0, nullptr, &g) == 0)
      for (size_t i = 0; i < g.gl_pathc; ++i) out.push_back(g.gl_pathv[i]);
    globfree(&g);
  }
  return out;
}

const Symbols& LoadSymbols() {
  static Symbols s = [] {
    Symbols r;
    for (const std::string& path : Candidates()) {
      void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (!lib) continue;
      r.create = reinterpret_cast<CreateFn>(dlsym(lib, "cublasCreate_v2"));
      r.destroy = reinterpret_cast<DestroyFn>(dlsym(lib, "cublasDestroy_v2"));
      r.set_stream = reinterpret_cast<SetStreamFn>(dlsym(lib, "cublasSetStream_v2"));
      r.gemm_ex = reinterpret_cast<GemmExFn>(dlsym(lib, "cublasGemmEx"));
      if (r.create && r.destroy && r.set_stream && r.gemm_ex) {
        r.lib = lib;
        r.path = path;
        return r;
      }
      dlclose(lib);
    }
    return Symbols{};
  }();
  return s;
}

}  // namespace

Cublas LoadCublas() {
  Cublas c;
  const Symbols& s = LoadSymbols();
  if (!s.lib) {
    c.missing = "cuBLAS not found (set SPARQ_CUBLAS_PATH to libcublas.so, or install libcublas); using sparq's own tensor-core GEMM";
    return c;
  }
  if (s.create(&c.handle) != 0) {
    c.missing = "cublasCreate failed for " + s.path + "; using sparq's own tensor-core GEMM";
    c.handle = nullptr;
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

int Cublas::GemmF16(cudaStream_t stream, const void* w, const void* x, void* y, long m, long n, long k,
                    float beta) const {
  const Symbols& s = LoadSymbols();
  int rc = s.set_stream(handle, stream);
  if (rc != 0) return rc;
  const float alpha = 1.0f;
  // Row-major Y[m][n] is column-major Yᵀ (n×m, ld n) = op(W)·X with W column-major k×n (ld k)
  // transposed and X column-major k×m (ld k).
  return s.gemm_ex(handle, kOpT, kOpN, static_cast<int>(n), static_cast<int>(m), static_cast<int>(k), &alpha, w,
                   kR16F, static_cast<int>(k), x, kR16F, static_cast<int>(k), &beta, y, kR16F, static_cast<int>(n),
                   kCompute32F, kGemmDefault);
}

}  // namespace sparq::cuda
