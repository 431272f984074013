// cuda/cuda_backend.cc: libsparq_cuda.so's side of the C ABI (sparq/cuda_abi.h). One context =
// one device + one non-blocking stream + a cuBLAS handle when cuBLAS is found and SPARQ_DENSE_KERNEL
// (read here, at creation) allows it + the workspace the kernels need (owned here, never by the
// caller). Every CUDA call is checked. Ops arrive through run_op and go to cuda_ops::<Name>
// (cuda/cuda_ops.h), dispatched from sparq/op_list.h.
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cuda/cublas_loader.h"
#include "cuda/cuda_ops.h"
#include "cuda/cuda_status.h"
#include "cuda/pool_policy.h"
#include "sparq/cuda_abi.h"
#include "sparq/op_list.h"
#include "sparq/status.h"

namespace {

using sparq::StatusCode;

struct CudaContext {
  int device = 0;
  int sm_count = 0;
  int sm_major = 0;
  int smem_optin_bytes = 0;
  cudaStream_t stream = nullptr;
  cudaEvent_t origin = nullptr;  // stream_time_ms counts from here
  // The device's default pool (cudaMallocAsync's) when this context raised its release threshold
  // (pool_policy.h): trimmed at destroy, and trimmed before an allocation's one retry. Else null.
  cudaMemPool_t kept_pool = nullptr;
  sparq::cuda::Cublas cublas;
  // Two workspace blocks per op (OpId): what an op keeps in one between launches (W4A16's zeroed
  // arrival counters) is never overwritten by another op's, or its own other block's, scratch.
  struct Block {
    void* ptr = nullptr;
    size_t bytes = 0;
  };
  static constexpr int kBlocksPerOp = 2;
  Block workspaces[static_cast<int>(sparq::OpId::kCount)][kBlocksPerOp];
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

// pool_policy.h says why. Best effort: a pool that cannot be asked or set only costs the re-mapping
// it always cost, so nothing here fails the open, and no error is left as the thread's last.
void KeepPoolMemory(CudaContext* c, const sparq::cuda::PoolPolicy& policy) {
  cudaMemPool_t pool = nullptr;
  uint64_t current = 0;
  if (cudaDeviceGetDefaultMemPool(&pool, c->device) == cudaSuccess &&
      cudaMemPoolGetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &current) == cudaSuccess) {
    // CUDA's default (0) or what an earlier sparq context set: ours to set. Anything else another
    // library chose: kept, and nothing of theirs trimmed at close — unless the env says otherwise.
    const bool ours = current == 0 || current == policy.release_threshold;
    uint64_t threshold = policy.release_threshold;
    if ((ours || policy.from_env) &&
        cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold) == cudaSuccess && threshold != 0)
      c->kept_pool = pool;
  }
  (void)cudaGetLastError();
}

int32_t ContextCreate(int32_t device, void** out, SparqCudaError* err) {
  sparq::cuda::DenseKernel dense_kernel = sparq::cuda::DenseKernel::kAuto;
  if (const sparq::Status s = sparq::cuda::DenseKernelFromEnv(&dense_kernel); !s.ok())
    return Fail(err, s.code, s.message);  // before anything is created: nothing to undo
  sparq::cuda::PoolPolicy pool_policy;
  if (const sparq::Status s = sparq::cuda::PoolPolicyFrom(std::getenv(sparq::cuda::kPoolReleaseEnv), &pool_policy); !s.ok())
    return Fail(err, s.code, s.message);
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
  if ((e = cudaDeviceGetAttribute(&c->sm_major, cudaDevAttrComputeCapabilityMajor, device)) != cudaSuccess)
    return fail(e, "cudaDeviceGetAttribute");
  if ((e = cudaDeviceGetAttribute(&c->smem_optin_bytes, cudaDevAttrMaxSharedMemoryPerBlockOptin, device)) != cudaSuccess)
    return fail(e, "cudaDeviceGetAttribute");
  if ((e = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking)) != cudaSuccess)
    return fail(e, "cudaStreamCreate");
  if ((e = cudaEventCreate(&c->origin)) != cudaSuccess) return fail(e, "cudaEventCreate");
  if ((e = cudaEventRecord(c->origin, c->stream)) != cudaSuccess) return fail(e, "cudaEventRecord");
  KeepPoolMemory(c, pool_policy);
  c->cublas = sparq::cuda::LoadCublas(dense_kernel);
  *out = c;
  return 0;
}

void ContextDestroy(void* p) {
  CudaContext* c = Ctx(p);
  cudaSetDevice(c->device);
  cudaStreamSynchronize(c->stream);
  sparq::cuda::DestroyCublas(&c->cublas);
  for (auto& op_blocks : c->workspaces)
    for (CudaContext::Block& b : op_blocks)
      if (b.ptr) cudaFree(b.ptr);
  cudaEventDestroy(c->origin);
  cudaStreamDestroy(c->stream);
  // What this context freed goes back to the OS now (the pool kept it while the context lived);
  // memory other contexts on the device still use is not touched by a trim.
  if (c->kept_pool) cudaMemPoolTrimTo(c->kept_pool, 0);
  (void)cudaGetLastError();  // nothing of a destroyed context's teardown may fail a later launch on this thread
  delete c;
}

// Stream-ordered: usable by work enqueued after this point without a device-wide sync.
cudaError_t MallocOnStream(CudaContext* c, void** ptr, size_t bytes) {
  cudaError_t e = cudaMallocAsync(ptr, bytes, c->stream);
  if (e == cudaErrorMemoryAllocation && c->kept_pool) {
    // The pool keeps freed memory (pool_policy.h): hand back what it holds unused and try once
    // more, so keeping memory never turns an allocation that fit before into an out-of-memory
    // error. No synchronize (Alloc runs on the JS thread): frees still pending in a stream stay.
    (void)cudaGetLastError();
    if (cudaMemPoolTrimTo(c->kept_pool, 0) == cudaSuccess) e = cudaMallocAsync(ptr, bytes, c->stream);
  }
  return e;
}

int32_t Alloc(void* p, size_t bytes, void** ptr, SparqCudaError* err) {
  CudaContext* c = Ctx(p);
  SPARQ_CUDA_TRY(cudaSetDevice(c->device), "cudaSetDevice");
  SPARQ_CUDA_TRY(MallocOnStream(c, ptr, bytes == 0 ? 16 : bytes), "cudaMallocAsync");
  return 0;
}

// Every entry point runs on the context's stream worker (or the JS thread) and sets the context's
// device first: a thread's current device starts as 0, and an event or memset issued for device 0
// onto a stream of device d fails (multi-GPU hosts: ctx.mark() on device 1 lost the context).
void Free(void* p, void* ptr) {
  CudaContext* c = Ctx(p);
  cudaSetDevice(c->device);
  // A failed free must not stay this thread's last error: the next launch's cudaGetLastError()
  // (NvccTarget::Launch) would report it as that kernel's failure and lose the context.
  if (cudaFreeAsync(ptr, c->stream) != cudaSuccess) (void)cudaGetLastError();
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
  SPARQ_CUDA_TRY(cudaSetDevice(c->device), "cudaSetDevice");
  SPARQ_CUDA_TRY(cudaMemsetAsync(dst, value, bytes, c->stream), "cudaMemsetAsync");
  return 0;
}

int32_t CopyOnDevice(void* p, void* dst, const void* src, size_t bytes, SparqCudaError* err) {
  SPARQ_CUDA_TRY(cudaSetDevice(Ctx(p)->device), "cudaSetDevice");
  SPARQ_CUDA_TRY(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, Ctx(p)->stream), "cudaMemcpyAsync(D2D)");
  return 0;
}

int32_t Synchronize(void* p, SparqCudaError* err) {
  SPARQ_CUDA_TRY(cudaSetDevice(Ctx(p)->device), "cudaSetDevice");
  SPARQ_CUDA_TRY(cudaStreamSynchronize(Ctx(p)->stream), "cudaStreamSynchronize");
  return 0;
}

int32_t StreamTimeMs(void* p, double* ms, SparqCudaError* err) {
  CudaContext* c = Ctx(p);
  SPARQ_CUDA_TRY(cudaSetDevice(c->device), "cudaSetDevice");
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

// Block `which` of op `op`'s workspace: zero-filled, at least `bytes` on the context's stream, grown (never shrunk)
// on demand; a new block starts zeroed.
sparq::Status Workspace(CudaContext* c, sparq::OpId op, int which, size_t bytes, void** ptr) {
  using sparq::cuda::CudaStatus;
  if (which < 0 || which >= CudaContext::kBlocksPerOp)
    return sparq::Status::Error(StatusCode::kArgument, "workspace block " + std::to_string(which) + " does not exist");
  CudaContext::Block& b = c->workspaces[static_cast<int>(op)][which];
  if (bytes > b.bytes) {
    if (b.ptr) {
      sparq::Status s = CudaStatus(cudaFreeAsync(b.ptr, c->stream), "cudaFreeAsync(workspace)");
      if (!s.ok()) return s;
    }
    b.ptr = nullptr;
    b.bytes = 0;
    sparq::Status s = CudaStatus(MallocOnStream(c, &b.ptr, bytes), "cudaMallocAsync(workspace)");
    if (s.ok()) s = CudaStatus(cudaMemsetAsync(b.ptr, 0, bytes, c->stream), "cudaMemsetAsync(workspace)");
    if (!s.ok()) return s;
    b.bytes = bytes;
  }
  *ptr = b.ptr;
  return sparq::Status::Ok();
}

template <class Args>
int32_t RunTyped(CudaContext* c, sparq::OpId op, const void* args, size_t args_bytes,
                 sparq::Status (*entry)(const Args&, sparq::cuda::Exec&, sparq::LaunchInfo*),
                 SparqCudaLaunchInfo* info, SparqCudaError* err) {
  if (args_bytes != sizeof(Args))
    return Fail(err, StatusCode::kBackend,
                std::string(Args::kOpName) + ": the addon and libsparq_cuda.so disagree on its argument layout; "
                                             "rebuild both together (npm run build:native)");
  SPARQ_CUDA_TRY(cudaSetDevice(c->device), "cudaSetDevice");
  sparq::cuda::Exec exec;
  exec.device = c->device;
  exec.sm_count = c->sm_count;
  exec.sm_major = c->sm_major;
  exec.smem_optin_bytes = c->smem_optin_bytes;
  exec.stream = c->stream;
  exec.cublas = &c->cublas;
  exec.workspace = [c, op](int which, size_t bytes, void** ptr) { return Workspace(c, op, which, bytes, ptr); };
  sparq::LaunchInfo li;
  const sparq::Status s = entry(*static_cast<const Args*>(args), exec, &li);
  if (!s.ok()) return Fail(err, s.code, s.message);
  CopyLaunch(li, info);
  return 0;
}

int32_t RunOp(void* p, int32_t op_id, const void* args, size_t args_bytes, SparqCudaLaunchInfo* info,
              SparqCudaError* err) {
  CudaContext* c = Ctx(p);
  switch (static_cast<sparq::OpId>(op_id)) {
#define SPARQ_CUDA_DISPATCH(Name, Args, C, S, G) \
  SPARQ_IF(G, case sparq::OpId::k##Name:                                                              \
             return RunTyped<sparq::Args>(c, sparq::OpId::k##Name, args, args_bytes, &sparq::cuda_ops::Name, info, err);)
    SPARQ_OPS(SPARQ_CUDA_DISPATCH)
#undef SPARQ_CUDA_DISPATCH
    default:
      break;
  }
  return Fail(err, StatusCode::kBackend, "op " + std::to_string(op_id) + " is not in this libsparq_cuda.so");
}

const char* const kOpNames[] = {
#define SPARQ_OP_NAME_ENTRY(Name, Args, C, S, G) sparq::Args::kOpName,
    SPARQ_OPS(SPARQ_OP_NAME_ENTRY)
#undef SPARQ_OP_NAME_ENTRY
};

int32_t CublasStatus(void* p, char* out, size_t out_bytes) {
  // 1: `out` is the cuBLAS library dense.matmul uses (sq.device.cublas); 0: `out` says why none is
  // used and what dense.matmul does instead (sq.device.cublasNote), SPARQ_DENSE_KERNEL included.
  const sparq::cuda::Cublas& c = Ctx(p)->cublas;
  std::snprintf(out, out_bytes, "%s", c.used() ? c.path.c_str() : c.Note().c_str());
  return c.used() ? 1 : 0;
}

// The comm's device transport (sparq/cuda_abi.h peer_slot_*).
static_assert(sizeof(cudaIpcMemHandle_t) == 64, "the PeerSlot handle holds a cudaIpcMemHandle_t");

int32_t PeerSlotAlloc(void* p, size_t bytes, void** ptr, uint8_t* ipc_handle, SparqCudaError* err) {
  CudaContext* c = Ctx(p);
  SPARQ_CUDA_TRY(cudaSetDevice(c->device), "cudaSetDevice");
  SPARQ_CUDA_TRY(cudaMalloc(ptr, bytes), "cudaMalloc(comm slot)");
  cudaIpcMemHandle_t h;
  const cudaError_t e = cudaIpcGetMemHandle(&h, *ptr);
  if (e != cudaSuccess) {
    cudaFree(*ptr);
    *ptr = nullptr;
    return Check(e, "cudaIpcGetMemHandle(comm slot)", err);
  }
  std::memcpy(ipc_handle, &h, sizeof h);
  return 0;
}

void PeerSlotFree(void* p, void* ptr) {
  cudaSetDevice(Ctx(p)->device);
  if (cudaFree(ptr) != cudaSuccess) (void)cudaGetLastError();  // as Free
}

int32_t PeerSlotOpen(void* p, const uint8_t* ipc_handle, void** ptr, SparqCudaError* err) {
  SPARQ_CUDA_TRY(cudaSetDevice(Ctx(p)->device), "cudaSetDevice");
  cudaIpcMemHandle_t h;
  std::memcpy(&h, ipc_handle, sizeof h);
  SPARQ_CUDA_TRY(cudaIpcOpenMemHandle(ptr, h, cudaIpcMemLazyEnablePeerAccess), "cudaIpcOpenMemHandle(peer comm slot)");
  return 0;
}

void PeerSlotClose(void* p, void* ptr) {
  cudaSetDevice(Ctx(p)->device);
  if (cudaIpcCloseMemHandle(ptr) != cudaSuccess) (void)cudaGetLastError();  // as Free
}

int32_t PeerAccessEnable(void* p, int32_t peer_device) {
  const int device = Ctx(p)->device;
  if (peer_device == device) return 1;
  if (cudaSetDevice(device) != cudaSuccess) return (void)cudaGetLastError(), 0;
  int can = 0;
  if (cudaDeviceCanAccessPeer(&can, device, peer_device) != cudaSuccess || !can) return (void)cudaGetLastError(), 0;
  const cudaError_t e = cudaDeviceEnablePeerAccess(peer_device, 0);
  // Another context (or rank) of this process on the same device may have enabled it already.
  if (e == cudaSuccess) return 1;
  (void)cudaGetLastError();
  return e == cudaErrorPeerAccessAlreadyEnabled ? 1 : 0;
}

int32_t NcclStream(void* p, void** stream, SparqCudaError* err) {
  SPARQ_CUDA_TRY(cudaSetDevice(Ctx(p)->device), "cudaSetDevice");
  *stream = Ctx(p)->stream;
  return 0;
}

int32_t StreamIdle(void* p, int32_t* idle, SparqCudaError* err) {
  SPARQ_CUDA_TRY(cudaSetDevice(Ctx(p)->device), "cudaSetDevice");
  const cudaError_t e = cudaStreamQuery(Ctx(p)->stream);
  if (e == cudaErrorNotReady) {
    // "Not ready" is an answer, not a failure, but the runtime keeps it as this thread's last
    // error: the next launch's cudaGetLastError() (NvccTarget::Launch) would report it as that
    // kernel's failure and lose the context — the op after any NCCL wait that polled a busy stream.
    (void)cudaGetLastError();
    *idle = 0;
    return 0;
  }
  SPARQ_CUDA_TRY(e, "cudaStreamQuery");
  *idle = 1;
  return 0;
}

const SparqCudaApi kApi = {
    SPARQ_CUDA_ABI_VERSION, sizeof(SparqCudaApi), DeviceInfo, ContextCreate, ContextDestroy, Alloc, Free, CopyToDevice,
    CopyToHost, Fill, CopyOnDevice, Synchronize, StreamTimeMs, RunOp, CublasStatus,
    static_cast<int32_t>(sparq::OpId::kCount), kOpNames, PeerSlotAlloc, PeerSlotFree, PeerSlotOpen, PeerSlotClose,
    NcclStream, StreamIdle, PeerAccessEnable,
};

}  // namespace

extern "C" const SparqCudaApi* sparq_cuda_get_api(uint32_t abi_version) {
  return abi_version == SPARQ_CUDA_ABI_VERSION ? &kApi : nullptr;
}
