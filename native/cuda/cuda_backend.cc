// cuda/cuda_backend.cc: libsparq_cuda.so's side of the C ABI (sparq/cuda_abi.h). One context =
// one device + one non-blocking stream + a cuBLAS handle when cuBLAS is found + the workspace the
// kernels need (owned here, never by the caller). Every CUDA call is checked.
#include <cuda_runtime.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cuda/cublas_loader.h"
#include "cuda/dense.h"
#include "cuda/fragment_dump.h"
#include "cuda/w4a16.h"
#include "sparq/cuda_abi.h"
#include "sparq/status.h"
#include "sparq/w4a16.h"

namespace {

using sparq::StatusCode;

struct CudaContext {
  int device = 0;
  int sm_count = 0;
  cudaStream_t stream = nullptr;
  cudaEvent_t origin = nullptr;  // stream_time_ms counts from here
  sparq::cuda::Cublas cublas;
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
};

int32_t Fail(SparqCudaError* err, StatusCode code, const std::string& what) {
  if (err) {
    err->code = static_cast<int32_t>(code);
    std::snprintf(err->message, sizeof(err->message), "%s", what.c_str());
  }
  return 1;
}

int32_t Check(cudaError_t e, const char* what, SparqCudaError* err) {
  if (e == cudaSuccess) return 0;
  cudaGetLastError();  // clear a non-sticky error so the context stays usable
  StatusCode code = e == cudaErrorMemoryAllocation ? StatusCode::kOutOfMemory : StatusCode::kDevice;
  return Fail(err, code, std::string(what) + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
}

#define SPARQ_CUDA_TRY(call, what) \
  do {                             \
    if (Check((call), what, err) != 0) return 1; \
  } while (0)

CudaContext* Ctx(void* p) { return static_cast<CudaContext*>(p); }

void CopyLaunch(const sparq::LaunchInfo& in, SparqCudaLaunchInfo* out) {
  if (!out) return;
  std::snprintf(out->kernel, sizeof(out->kernel), "%s", in.kernel.c_str());
  std::snprintf(out->config, sizeof(out->config), "%s", in.config.c_str());
  out->grid[0] = in.grid_x;
  out->grid[1] = in.grid_y;
  out->grid[2] = in.grid_z;
  out->block_threads = in.block_threads;
  out->smem_bytes = in.smem_bytes;
}

int32_t DeviceInfo(int32_t device, SparqCudaDeviceInfo* out, SparqCudaError* err) {
  cudaDeviceProp prop{};
  SPARQ_CUDA_TRY(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
  std::snprintf(out->name, sizeof(out->name), "%s", prop.name);
  out->sm_major = prop.major;
  out->sm_minor = prop.minor;
  out->sm_count = prop.multiProcessorCount;
  out->memory_bytes = prop.totalGlobalMem;
  SPARQ_CUDA_TRY(cudaDriverGetVersion(&out->driver_version), "cudaDriverGetVersion");
  SPARQ_CUDA_TRY(cudaRuntimeGetVersion(&out->runtime_version), "cudaRuntimeGetVersion");
  return 0;
}

int32_t ContextCreate(int32_t device, void** out, SparqCudaError* err) {
  auto* c = new CudaContext();
  c->device = device;
  auto fail = [&](cudaError_t e, const char* what) {
    Check(e, what, err);
    delete c;
    return 1;
  };
  cudaError_t e;
  if ((e = cudaSetDevice(device)) != cudaSuccess) return fail(e, "cudaSetDevice");
  if ((e = cudaDeviceGetAttribute(&c->sm_count, cudaDevAttrMultiProcessorCount, device)) != cudaSuccess)
    return fail(e, "cudaDeviceGetAttribute");
  if ((e = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking)) != cudaSuccess)
    return fail(e, "cudaStreamCreate");
  if ((e = cudaEventCreate(&c->origin)) != cudaSuccess) return fail(e, "cudaEventCreate");
  if ((e = cudaEventRecord(c->origin, c->stream)) != cudaSuccess) return fail(e, "cudaEventRecord");
  c->cublas = sparq::cuda::LoadCublas();
  *out = c;
  return 0;
}

void ContextDestroy(void* p) {
  CudaContext* c = Ctx(p);
  cudaSetDevice(c->device);
  cudaStreamSynchronize(c->stream);
  sparq::cuda::DestroyCublas(&c->cublas);
  if (c->workspace) cudaFree(c->workspace);
  cudaEventDestroy(c->origin);
  cudaStreamDestroy(c->stream);
  delete c;
}

int32_t Alloc(void* p, size_t bytes, void** ptr, SparqCudaError* err) {
  CudaContext* c = Ctx(p);
  SPARQ_CUDA_TRY(cudaSetDevice(c->device), "cudaSetDevice");
  // Stream-ordered: usable by work enqueued after this point without a device-wide sync.
  SPARQ_CUDA_TRY(cudaMallocAsync(ptr, bytes == 0 ? 16 : bytes, c->stream), "cudaMallocAsync");
  return 0;
}

void Free(void* p, void* ptr) {
  CudaContext* c = Ctx(p);
  cudaSetDevice(c->device);
  cudaFreeAsync(ptr, c->stream);
}

int32_t CopyToDevice(void* p, void* dst, const void* src, size_t bytes, SparqCudaError* err) {
  CudaContext* c = Ctx(p);
  SPARQ_CUDA_TRY(cudaSetDevice(c->device), "cudaSetDevice");
  SPARQ_CUDA_TRY(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, c->stream), "cudaMemcpyAsync(H2D)");
  // Pageable source: the caller frees its staging copy after return, so wait for the copy.
  SPARQ_CUDA_TRY(cudaStreamSynchronize(c->stream), "cudaStreamSynchronize");
  return 0;
}

int32_t CopyToHost(void* p, void* dst, const void* src, size_t bytes, SparqCudaError* err) {
  CudaContext* c = Ctx(p);
  SPARQ_CUDA_TRY(cudaSetDevice(c->device), "cudaSetDevice");
  SPARQ_CUDA_TRY(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, c->stream), "cudaMemcpyAsync(D2H)");
  SPARQ_CUDA_TRY(cudaStreamSynchronize(c->stream), "cudaStreamSynchronize");
  return 0;
}

int32_t Fill(void* p, void* dst, size_t bytes, uint8_t value, SparqCudaError* err) {
  CudaContext* c = Ctx(p);
  SPARQ_CUDA_TRY(cudaMemsetAsync(dst, value, bytes, c->stream), "cudaMemsetAsync");
  return 0;
}

int32_t CopyOnDevice(void* p, void* dst, const void* src, size_t bytes, SparqCudaError* err) {
  SPARQ_CUDA_TRY(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, Ctx(p)->stream), "cudaMemcpyAsync(D2D)");
  return 0;
}

int32_t Synchronize(void* p, SparqCudaError* err) {
  SPARQ_CUDA_TRY(cudaStreamSynchronize(Ctx(p)->stream), "cudaStreamSynchronize");
  return 0;
}

int32_t StreamTimeMs(void* p, double* ms, SparqCudaError* err) {
  CudaContext* c = Ctx(p);
  cudaEvent_t ev;
  SPARQ_CUDA_TRY(cudaEventCreate(&ev), "cudaEventCreate");
  cudaError_t e = cudaEventRecord(ev, c->stream);
  if (e == cudaSuccess) e = cudaEventSynchronize(ev);
  float elapsed = 0;
  if (e == cudaSuccess) e = cudaEventElapsedTime(&elapsed, c->origin, ev);
  cudaEventDestroy(ev);
  SPARQ_CUDA_TRY(e, "stream timing event");
  *ms = elapsed;
  return 0;
}

// Broadcasts bias[n] into every row of y[m][n] with log2(m) device copies, so cuBLAS can add it
// with beta = 1 inside its fp32 epilogue: fp16(acc + bias) with one rounding, as the contract says.
int32_t BroadcastBias(CudaContext* c, const uint16_t* bias, uint16_t* y, int64_t m, int64_t n, SparqCudaError* err) {
  const size_t row_bytes = static_cast<size_t>(n) * 2;
  SPARQ_CUDA_TRY(cudaMemcpyAsync(y, bias, row_bytes, cudaMemcpyDeviceToDevice, c->stream), "bias broadcast");
  for (int64_t filled = 1; filled < m;) {
    int64_t rows = filled < m - filled ? filled : m - filled;
    SPARQ_CUDA_TRY(cudaMemcpyAsync(y + filled * n, y, rows * row_bytes, cudaMemcpyDeviceToDevice, c->stream),
                   "bias broadcast");
    filled += rows;
  }
  return 0;
}

int32_t DenseMatmul(void* p, const SparqCudaDenseArgs* a, SparqCudaLaunchInfo* info, SparqCudaError* err) {
  CudaContext* c = Ctx(p);
  SPARQ_CUDA_TRY(cudaSetDevice(c->device), "cudaSetDevice");
  if (c->cublas.available) {
    if (a->bias && BroadcastBias(c, a->bias, a->y, a->m, a->n, err) != 0) return 1;
    int rc = c->cublas.GemmF16(c->stream, a->w, a->x, a->y, a->m, a->n, a->k, a->bias ? 1.0f : 0.0f);
    if (rc != 0) return Fail(err, StatusCode::kDevice, "cublasGemmEx failed with status " + std::to_string(rc));
    if (info) {
      std::snprintf(info->kernel, sizeof(info->kernel), "cublasGemmEx");
      std::snprintf(info->config, sizeof(info->config), "%s", c->cublas.path.c_str());
    }
    return 0;
  }
  sparq::DenseMatmulArgs args;
  args.w = a->w;
  args.x = a->x;
  args.bias = a->bias;
  args.y = a->y;
  args.m = a->m;
  args.n = a->n;
  args.k = a->k;
  sparq::LaunchInfo li;
  SPARQ_CUDA_TRY(static_cast<cudaError_t>(sparq_cuda_dense_matmul(args, c->stream, c->sm_count, &li)),
                 "dense tensor-core GEMM");
  CopyLaunch(li, info);
  return 0;
}

int32_t W4A16Matmul(void* p, const SparqCudaW4A16Args* a, SparqCudaLaunchInfo* info, SparqCudaError* err) {
  CudaContext* c = Ctx(p);
  SPARQ_CUDA_TRY(cudaSetDevice(c->device), "cudaSetDevice");
  sparq::W4A16WeightView view;
  view.qweight = a->qweight;
  view.scales = a->scales;
  view.n = a->n;
  view.k = a->k;
  view.n_pad = a->n_pad;
  view.k_pad = a->k_pad;
  view.groups_pad = a->groups_pad;
  view.group_size = a->group_size;
  view.group_size_eff = a->group_size_eff;
  view.layout = sparq::W4A16Layout::kGpu;
  size_t need = sparq_cuda_w4a16_workspace_bytes(view, a->m, a->x);
  if (need > c->workspace_bytes) {
    if (c->workspace) SPARQ_CUDA_TRY(cudaFreeAsync(c->workspace, c->stream), "cudaFreeAsync(workspace)");
    c->workspace = nullptr;
    c->workspace_bytes = 0;
    SPARQ_CUDA_TRY(cudaMallocAsync(&c->workspace, need, c->stream), "cudaMallocAsync(workspace)");
    SPARQ_CUDA_TRY(cudaMemsetAsync(c->workspace, 0, need, c->stream), "cudaMemsetAsync(workspace)");
    c->workspace_bytes = need;
  }
  sparq::LaunchInfo li;
  SPARQ_CUDA_TRY(static_cast<cudaError_t>(sparq_cuda_w4a16_matmul(view, a->x, a->bias, a->y, a->m, c->workspace,
                                                                  c->workspace_bytes, c->stream, c->sm_count, &li)),
                 "w4a16 GEMM");
  CopyLaunch(li, info);
  return 0;
}

int32_t FragmentDump(void* p, void* out, size_t out_bytes, SparqCudaError* err) {
  if (out_bytes != sizeof(sparq::sim::FragmentDumpData))
    return Fail(err, StatusCode::kArgument, "fragment_dump: output size mismatch (addon and library built apart)");
  CudaContext* c = Ctx(p);
  SPARQ_CUDA_TRY(cudaSetDevice(c->device), "cudaSetDevice");
  SPARQ_CUDA_TRY(static_cast<cudaError_t>(
                     sparq_cuda_fragment_dump(static_cast<sparq::sim::FragmentDumpData*>(out), c->stream)),
                 "fragment dump kernel");
  return 0;
}

int32_t CublasStatus(void* p, char* out, size_t out_bytes) {
  const sparq::cuda::Cublas& c = Ctx(p)->cublas;
  std::snprintf(out, out_bytes, "%s", c.available ? c.path.c_str() : c.missing.c_str());
  return c.available ? 1 : 0;
}

const SparqCudaApi kApi = {
    SPARQ_CUDA_ABI_VERSION, sizeof(SparqCudaApi), DeviceInfo, ContextCreate, ContextDestroy, Alloc, Free,
    CopyToDevice, CopyToHost, Fill, CopyOnDevice, Synchronize, StreamTimeMs, DenseMatmul, W4A16Matmul, CublasStatus, FragmentDump,
};

}  // namespace

extern "C" const SparqCudaApi* sparq_cuda_get_api(uint32_t abi_version) {
  return abi_version == SPARQ_CUDA_ABI_VERSION ? &kApi : nullptr;
}
