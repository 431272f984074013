// cuda/cublas_loader.h: cuBLAS, found at run time (never linked): SPARQ_CUBLAS_PATH, then the
// system's libcublas.so.{13,12}, then a python wheel's nvidia/cublas/lib. Absent → our own kernel.
#pragma once
#include <cuda_runtime.h>

#include <string>

namespace sparq::cuda {

struct Cublas {
  bool available = false;
  std::string path;     // what was loaded
  std::string missing;  // why not, when unavailable
  void* handle = nullptr;  // cublasHandle_t
  // Y[m,n] = X[m,k]·W[n,k]ᵀ (+ beta·Y), fp16 in/out, fp32 compute. Returns a cublasStatus_t.
  int GemmF16(cudaStream_t stream, const void* w, const void* x, void* y, long m, long n, long k, float beta) const;
};

// Loads cuBLAS once per process and creates a handle for the current device (null on failure).
Cublas LoadCublas();
void DestroyCublas(Cublas* cublas);

}  // namespace sparq::cuda
