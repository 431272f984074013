// cuda/cublas_loader.h: cuBLAS, found at run time (never linked), and which dense GEMM a context
// uses. SPARQ_DENSE_KERNEL (read once per context at creation) picks it:
//   auto    cuBLAS when found, else sparq's tensor-core GEMM (default)
//   cublas  cuBLAS only; the context opens without it, and dense.matmul then fails (kBackend)
//   sparq   sparq's tensor-core GEMM even where cuBLAS exists; cuBLAS is not even searched
// Search order: SPARQ_CUBLAS_PATH, then libcublas.so.{13,12} and libcublas.so by the loader's
// path, the CUDA toolkit's lib64, the site-packages of the python3 on PATH (nvidia/cu13/lib for
// the CUDA 13 wheels, nvidia/cublas/lib for CUDA 12's), then the usual system python prefixes.
#pragma once
#include <cuda_runtime.h>

#include <string>

#include "sparq/status.h"

namespace sparq::cuda {

enum class DenseKernel { kAuto, kCublas, kSparq };

// SPARQ_DENSE_KERNEL as a DenseKernel; unset or empty is kAuto, anything else but the three
// names is a kArgument error (a typo must not silently change what a benchmark measures).
Status DenseKernelFromEnv(DenseKernel* out);
const char* DenseKernelName(DenseKernel k);

struct Cublas {
  DenseKernel requested = DenseKernel::kAuto;
  bool available = false;  // a handle exists (never under kSparq)
  std::string path;        // what was loaded
  std::string missing;     // why not, when unavailable: what was tried, or why it was not searched
  void* handle = nullptr;  // cublasHandle_t
  // Whether dense.matmul runs cuBLAS; with requested == kCublas and !available it must fail.
  bool used() const { return available && requested != DenseKernel::kSparq; }
  // What cublas_status reports (sq.device.cublasNote) when cuBLAS is not used: why, and what runs.
  std::string Note() const;
  // Y[m,n] = X[m,k]·W[n,k]ᵀ, fp16 in, fp32 compute; Y fp16 (rounded once) or, with f32_out, the
  // fp32 accumulators (for a bias added before the one rounding). Returns a cublasStatus_t.
  int Gemm(cudaStream_t stream, const void* w, const void* x, void* y, long m, long n, long k, bool f32_out) const;
};

// Loads cuBLAS once per process (unless `requested` is kSparq) and creates a handle for the
// current device; never fails: a missing cuBLAS is a `missing` note, not an error.
Cublas LoadCublas(DenseKernel requested);
void DestroyCublas(Cublas* cublas);

}  // namespace sparq::cuda
