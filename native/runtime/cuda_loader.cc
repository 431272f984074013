// runtime/cuda_loader.cc: the addon side of the cuda backend. ProbeCudaDriver dlopens the driver
// (libcuda.so.1) itself — never linked — and asks for a device; only then is libsparq_cuda.so
// (beside sparq.node) dlopened and its ABI table checked. Every failure says what is missing and
// what to do, so `auto` can fall back to cpu with a one-line reason.
#include <dlfcn.h>
#include <unistd.h>

#include <cstring>
#include <mutex>
#include <string>

#include "runtime/backend.h"
#include "sparq/cuda_abi.h"
#include "sparq/op_list.h"

namespace sparq {
namespace {

Status BackendError(const std::string& msg) { return Status::Error(StatusCode::kBackend, msg, "backend"); }

Status FromCuda(const SparqCudaError& e) {
  return Status::Error(e.code == 0 ? StatusCode::kDevice : static_cast<StatusCode>(e.code), e.message);
}

void CopyLaunch(const SparqCudaLaunchInfo& in, LaunchInfo* out) {
  if (!out) return;
  out->kernel = in.kernel;
  out->config = in.config;
  out->grid_x = in.grid[0];
  out->grid_y = in.grid[1];
  out->grid_z = in.grid[2];
  out->block_threads = in.block_threads;
  out->smem_bytes = in.smem_bytes;
}

class CudaBackend : public Backend {
 public:
  CudaBackend(const SparqCudaApi* api, void* ctx, int device, DeviceInfo info)
      : api_(api), ctx_(ctx), device_(device), info_(std::move(info)) {}
  ~CudaBackend() override { api_->context_destroy(ctx_); }
  const char* name() const override { return "cuda"; }
  bool host_memory() const override { return false; }
  const DeviceInfo* device() const override { return &info_; }
  const char* cpu_isa() const override { return "n/a"; }
  int threads() const override { return 1; }

  Status Allocate(size_t bytes, void** ptr) override { return Call(api_->alloc, bytes, ptr); }
  void Free(void* ptr) override { api_->free(ctx_, ptr); }
  Status CopyToDevice(void* dst, const void* src, size_t bytes) override { return Call(api_->copy_to_device, dst, src, bytes); }
  Status CopyToHost(void* dst, const void* src, size_t bytes) override { return Call(api_->copy_to_host, dst, src, bytes); }
  Status Fill(void* dst, size_t bytes, uint8_t value) override { return Call(api_->fill, dst, bytes, value); }
  Status CopyOnDevice(void* dst, const void* src, size_t bytes) override { return Call(api_->copy_on_device, dst, src, bytes); }
  Status Synchronize() override { return Call(api_->synchronize); }
  Status StreamTimeMs(double* ms) override { return Call(api_->stream_time_ms, ms); }

  // Peer slots (the comm's device transport): IPC-exported device memory. A peer in this process
  // uses the owner's address as is (any device: copies go through UVA, direct where the pair allows
  // peer access, which is enabled here — else the driver stages them through host memory) —
  // cudaIpcOpenMemHandle refuses a handle from its own process; a peer in another process maps the
  // IPC handle (peer access enabled lazily by the open's flag).
  Status AllocatePeerSlot(size_t bytes, PeerSlot* slot) override {
    *slot = PeerSlot{};
    void* p = nullptr;
    Status s = Call(api_->peer_slot_alloc, bytes, &p, slot->handle);
    if (!s.ok()) return s;
    slot->kind = PeerSlot::kCuda;
    slot->device = device_;
    slot->pid = int64_t(::getpid());
    slot->process = ThisProcessToken();
    slot->ptr = reinterpret_cast<uintptr_t>(p);
    slot->bytes = bytes;
    return Status::Ok();
  }
  void FreePeerSlot(const PeerSlot& slot) override { api_->peer_slot_free(ctx_, reinterpret_cast<void*>(uintptr_t(slot.ptr))); }
  Status OpenPeerSlot(const PeerSlot& peer, const void** ptr) override {
    if (peer.kind != PeerSlot::kCuda)
      return Status::Error(StatusCode::kBackend, "comm: a cuda rank reads only the slots of cuda ranks");
    if (peer.process == ThisProcessToken()) {
      (void)api_->peer_access_enable(ctx_, peer.device);  // 0: the copies are staged, still correct
      *ptr = reinterpret_cast<const void*>(uintptr_t(peer.ptr));
      return Status::Ok();
    }
    void* p = nullptr;
    Status s = Call(api_->peer_slot_open, static_cast<const uint8_t*>(peer.handle), &p);
    if (s.ok()) *ptr = p;
    return s;
  }
  const char* NcclFlavor() const override { return "cuda"; }
  Status NcclStream(void** stream) override { return Call(api_->nccl_stream, stream); }
  Status StreamIdle(bool* idle) override {
    int32_t done = 0;
    Status s = Call(api_->stream_idle, &done);
    *idle = done != 0;
    return s;
  }
  void ClosePeerSlot(const PeerSlot& peer, const void* ptr) override {
    if (peer.process != ThisProcessToken()) api_->peer_slot_close(ctx_, const_cast<void*>(ptr));
  }
  // Every op the library has goes through run_op with its args struct as is (layout pinned by
  // SPARQ_ASSERT_ABI_LAYOUT); generated from sparq/op_list.h's CUDA column.
#define SPARQ_CUDA_OP_ENTRY(Name, Args, C, S, G)                          \
  SPARQ_IF(G, Status Name(const Args& args, LaunchInfo* info) override { \
    return RunOp(OpId::k##Name, &args, sizeof args, info);               \
  })
  SPARQ_OPS(SPARQ_CUDA_OP_ENTRY)
#undef SPARQ_CUDA_OP_ENTRY

 private:
  template <typename Fn, typename... Args>
  Status Call(Fn fn, Args... args) {
    SparqCudaError err{};
    if (fn(ctx_, args..., &err) != 0) return FromCuda(err);
    return Status::Ok();
  }
  Status RunOp(OpId op, const void* args, size_t bytes, LaunchInfo* info) {
    SparqCudaLaunchInfo li{};
    Status s = Call(api_->run_op, static_cast<int32_t>(op), args, bytes, &li);
    if (s.ok()) CopyLaunch(li, info);
    return s;
  }
  const SparqCudaApi* api_;
  void* ctx_;
  int device_;
  DeviceInfo info_;
};

bool SameOpList(const SparqCudaApi& api) {
  if (api.op_count != static_cast<int32_t>(OpId::kCount)) return false;
  for (int32_t i = 0; i < api.op_count; ++i)
    if (std::strcmp(api.op_names[i], OpName(static_cast<OpId>(i))) != 0) return false;
  return true;
}

// CUDA driver API subset, resolved from libcuda.so.1 at run time.
using CuInitFn = int (*)(unsigned);
using CuDeviceGetCountFn = int (*)(int*);
using CuDriverGetVersionFn = int (*)(int*);

}  // namespace

Status ProbeCudaDriver(int device) {
  void* libcuda = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!libcuda)
    return BackendError("no NVIDIA driver: libcuda.so.1 could not be loaded; install the NVIDIA driver or use backend 'cpu'");
  auto cu_init = reinterpret_cast<CuInitFn>(dlsym(libcuda, "cuInit"));
  auto cu_count = reinterpret_cast<CuDeviceGetCountFn>(dlsym(libcuda, "cuDeviceGetCount"));
  if (!cu_init || !cu_count) return BackendError("the NVIDIA driver library lacks cuInit/cuDeviceGetCount; reinstall the driver");
  int rc = cu_init(0);
  if (rc != 0)
    return BackendError("the NVIDIA driver failed to initialize (cuInit error " + std::to_string(rc) +
                        "); check nvidia-smi, or use backend 'cpu'");
  int count = 0;
  if (cu_count(&count) != 0 || count == 0) return BackendError("no CUDA device found; use backend 'cpu'");
  if (device >= count)
    return Status::Error(StatusCode::kArgument,
                         "open: device must be < " + std::to_string(count) + " (CUDA devices present), got " +
                             std::to_string(device),
                         "device");
  return Status::Ok();  // libcuda stays loaded: the CUDA runtime will use it
}

Status CreateCudaBackend(int device, const std::string& addon_dir, std::shared_ptr<Backend>* out) {
  static std::mutex mu;
  static const SparqCudaApi* api = nullptr;
  std::lock_guard<std::mutex> lock(mu);
  if (!api) {
    std::string path = addon_dir + "/libsparq_cuda.so";
    void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib)
      return BackendError(std::string("this install has no CUDA library (") + dlerror() +
                          "): a node-gyp source build (npm rebuild sparq) is CPU only. The published package "
                          "carries libsparq_cuda.so beside its prebuilt addon (linux x64, glibc >= 2.34); in a "
                          "checkout, npm run build:native with nvcc on PATH builds it. Or use backend 'cpu'");
    auto get_api = reinterpret_cast<SparqCudaGetApiFn>(dlsym(lib, "sparq_cuda_get_api"));
    const SparqCudaApi* table = get_api ? get_api(SPARQ_CUDA_ABI_VERSION) : nullptr;
    if (!table || table->abi_version != SPARQ_CUDA_ABI_VERSION || table->struct_bytes != sizeof(SparqCudaApi))
      return BackendError(path + " speaks another ABI version than this addon (want " +
                          std::to_string(SPARQ_CUDA_ABI_VERSION) + "); rebuild both together (npm run build:native)");
    if (!SameOpList(*table))
      return BackendError(path + " was built with another op list than this addon; rebuild both together "
                                 "(npm run build:native)");
    api = table;
  }
  SparqCudaDeviceInfo dev{};
  SparqCudaError err{};
  if (api->device_info(device, &dev, &err) != 0) return BackendError(err.message);
  if (dev.sm_major < 8)
    return BackendError("device " + std::string(dev.name) + " is sm_" + std::to_string(dev.sm_major) +
                        std::to_string(dev.sm_minor) + "; sparq's kernels need sm_80 or newer (Ampere+)");
  void* ctx = nullptr;
  if (api->context_create(device, &ctx, &err) != 0) return BackendError(err.message);
  DeviceInfo info;
  info.name = dev.name;
  info.sm_major = dev.sm_major;
  info.sm_minor = dev.sm_minor;
  info.sm_count = dev.sm_count;
  info.memory_bytes = dev.memory_bytes;
  info.driver_version = dev.driver_version;
  info.runtime_version = dev.runtime_version;
  char cublas[512] = {0};
  if (api->cublas_status(ctx, cublas, sizeof(cublas)) == 1) info.cublas = cublas;
  else info.cublas_note = cublas;
  *out = std::make_shared<CudaBackend>(api, ctx, device, std::move(info));
  return Status::Ok();
}

}  // namespace sparq
