// runtime/backend.h: what every backend (cpu, sim, cuda) provides to the binding. Memory lives in
// the backend's space (host for cpu/sim, device for cuda). Allocate may run on the JS thread (it
// must not wait for the device); everything else runs on the context's stream worker, in order.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "sparq/op_list.h"
#include "sparq/ops.h"
#include "sparq/status.h"

namespace sparq {

// A device buffer other ranks of a comm may read (runtime/comm_device.h): what this rank publishes
// in the comm's shared memory. kind says which backend made it; a peer opens it only with the same
// kind. cuda: `handle` is a cudaIpcMemHandle_t (64 bytes), `ptr` the address in the owner's
// process (used as is by a peer in the same process, where an IPC handle cannot be opened); sim:
// `ptr` alone, valid in the owner's process only. "The same process" is `process`, a random token
// drawn once per process (ThisProcessToken) — not the pid, which two containers sharing /dev/shm
// may both have.
struct PeerSlot {
  static constexpr uint32_t kNone = 0, kSim = 1, kCuda = 2;
  uint32_t kind = kNone;
  int32_t device = 0;   // cuda: the owner's device ordinal
  int64_t pid = 0;      // the owner's process, for messages
  uint64_t process = 0; // ThisProcessToken() of the owner's process
  uint64_t ptr = 0;
  uint64_t bytes = 0;
  uint8_t handle[64] = {};
};

// A random 64-bit token of this process, the same on every call (never 0).
uint64_t ThisProcessToken();

struct DeviceInfo {
  std::string name;
  int sm_major = 0, sm_minor = 0, sm_count = 0;
  uint64_t memory_bytes = 0;
  int driver_version = 0, runtime_version = 0;
  std::string cublas;       // path of the cuBLAS library in use, or empty
  std::string cublas_note;  // when empty: why cuBLAS is not used and what dense.matmul runs instead
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;          // "cpu" | "sim" | "cuda"
  virtual bool host_memory() const = 0;          // buffers are plain host memory the binding may memcpy into
  virtual const DeviceInfo* device() const { return nullptr; }
  virtual const char* cpu_isa() const = 0;       // ISA of the CPU kernels this context uses
  virtual int threads() const = 0;               // CPU worker threads

  virtual Status Allocate(size_t bytes, void** ptr) = 0;
  virtual void Free(void* ptr) = 0;
  virtual Status CopyToDevice(void* dst, const void* host_src, size_t bytes) = 0;
  virtual Status CopyToHost(void* host_dst, const void* src, size_t bytes) = 0;  // complete on return
  virtual Status Fill(void* dst, size_t bytes, uint8_t value) = 0;
  virtual Status CopyOnDevice(void* dst, const void* src, size_t bytes) = 0;  // device-to-device
  virtual Status Synchronize() = 0;                                // device idle on return
  // Allocations alive now (Allocate minus Free), for leak tests; -1 where not counted (cuda).
  virtual int64_t LiveAllocations() const { return -1; }
  virtual Status StreamTimeMs(double* ms) = 0;                     // time at which the stream reached this point
  // Bench support (the CPU floor): read `bytes` at `src` once with the op threads, each thread its
  // slice in `streams` runs with a prefetch `prefetch_bytes` ahead (sparq/cpu.h ReadProbeShape);
  // *sum = the u64 sum of its words. Only the cpu backend has it.
  virtual Status ReadProbe(const void* src, size_t bytes, int streams, int prefetch_bytes, uint64_t* sum) {
    (void)src;
    (void)bytes;
    (void)streams;
    (void)prefetch_bytes;
    (void)sum;
    return Unsupported("readProbe");
  }
  // Bench support (the floor of ops that read and write): copy `bytes` from src to dst once with
  // the op threads, each thread its slice (sparq/cpu.h CopyProbe). Only the cpu backend has it.
  virtual Status CopyProbe(void* dst, const void* src, size_t bytes, bool non_temporal) {
    (void)dst;
    (void)src;
    (void)bytes;
    (void)non_temporal;
    return Unsupported("copyProbe");
  }

  // Bench support (the CPU compute peak): every op thread runs `iterations` of
  // *flops_per_iteration fp32 FMA flops in registers; *checksum keeps them from being elided.
  // Only the cpu backend has it (*flops_per_iteration 0 on the scalar ISA: no probe).
  virtual Status FmaProbe(int64_t iterations, double* flops_per_iteration, double* checksum) {
    (void)iterations;
    (void)flops_per_iteration;
    (void)checksum;
    return Unsupported("fmaProbe");
  }

  // The comm's device transport (runtime/comm_device.h): a slot of `bytes` this rank's peers can
  // read, and a peer's slot opened for reading (ClosePeerSlot undoes OpenPeerSlot; FreePeerSlot
  // frees this rank's). A backend without peer memory (cpu) answers kBackend and the comm goes
  // through host memory.
  virtual Status AllocatePeerSlot(size_t bytes, PeerSlot* slot) {
    (void)bytes;
    (void)slot;
    return Unsupported("comm (peer slots)");
  }
  virtual void FreePeerSlot(const PeerSlot& slot) { (void)slot; }
  virtual Status OpenPeerSlot(const PeerSlot& peer, const void** ptr) {
    (void)peer;
    (void)ptr;
    return Unsupported("comm (peer slots)");
  }
  virtual void ClosePeerSlot(const PeerSlot& peer, const void* ptr) {
    (void)peer;
    (void)ptr;
  }

  // The comm's NCCL transport (runtime/comm_nccl.h). NcclFlavor: which NCCL this backend's memory
  // may go to — "cuda" (the real library: device pointers, its stream) or "sim" (only the test
  // double, which copies host memory) — or null (cpu: none). NcclStream: the stream NCCL work is
  // enqueued on, with this backend's device made current on the calling thread (sim: null).
  // StreamIdle: whether everything enqueued so far has finished (never waits).
  virtual const char* NcclFlavor() const { return nullptr; }
  virtual Status NcclStream(void** stream) {
    (void)stream;
    return Unsupported("comm (NCCL)");
  }
  virtual Status StreamIdle(bool* idle) {
    *idle = true;
    return Status::Ok();
  }

  // Which packed layout this backend's kernels read (weights are packed for the context that
  // runs them). cpu: kCpu; sim and cuda run the tensor-core kernels: kGpu.
  virtual PackedLayout WeightLayout(OpId op) const {
    (void)op;
    return PackedLayout::kGpu;
  }

  // One entry per op of sparq/op_list.h: `virtual Status Name(const Args&, LaunchInfo*)`. The
  // default answers that this backend does not have the op; a backend overrides the ops it has
  // (generated from the list's CPU/SIM/CUDA columns), so an op one backend lacks needs no stub.
  // Whether this backend runs `op` (the op list's column for it), for bindings that refuse an op
  // at the call rather than from the stream.
  bool Has(OpId op) const {
    const std::string backend = name();
    switch (op) {
#define SPARQ_BACKEND_HAS(Name, Args, C, S, G) \
  case OpId::k##Name: return backend == "cpu" ? (C) == 1 : backend == "sim" ? (S) == 1 : (G) == 1;
      SPARQ_OPS(SPARQ_BACKEND_HAS)
#undef SPARQ_BACKEND_HAS
      case OpId::kCount: break;
    }
    return false;
  }
  // The status a backend without `op` answers.
  Status UnsupportedStatus(OpId op) const { return Unsupported(OpName(op), OpUnsupportedHint(op)); }

#define SPARQ_BACKEND_OP_ENTRY(Name, Args, C, S, G)       \
  virtual Status Name(const Args& args, LaunchInfo* info) { \
    (void)args;                                             \
    (void)info;                                             \
    return Unsupported(Args::kOpName, UnsupportedHintOf<Args>::value); \
  }
  SPARQ_OPS(SPARQ_BACKEND_OP_ENTRY)
#undef SPARQ_BACKEND_OP_ENTRY

 protected:
  Status Unsupported(const char* op, const char* hint = "") const {
    return Status::Error(StatusCode::kBackend,
                         std::string(op) + ": not supported on backend '" + name() + "'" + (*hint ? std::string(" (") + hint + ")" : ""),
                         "backend");
  }
};

// What open() was asked for, resolved by the TS layer from options and SPARQ_* environment variables
// (read there, so worker_threads and test runners with their own process.env see the same values).
struct BackendOptions {
  // The SPARQ_* variables as TypeScript read them from process.env at open() (env_given), so native
  // code never walks `environ` off the main JS thread: glibc's getenv races Node's setenv there (a
  // worker's JS thread, a libuv worker, a stream worker; SIGSEGV, 2026-12-06). Without it (C++
  // callers of the core library) Env() is getenv.
  bool env_given = false;
  std::vector<std::pair<std::string, std::string>> env;
  const char* Env(const char* name) const {
    if (!env_given) return std::getenv(name);
    for (const auto& [k, v] : env)
      if (k == name) return v.c_str();
    return nullptr;
  }
  std::string cpu_isa;  // "" = best supported; "scalar" | "avx2" | "avx512"
  std::string cpu_isa_source = "SPARQ_CPU_ISA";  // or "cpuIsa": what errors about cpu_isa name
  int threads = 0;      // CPU worker threads; 0 = SPARQ_THREADS / hardware concurrency
  int sim_sms = 0;      // simulated SMs; 0 = default (4)
  size_t sim_memory_bytes = 0;  // the simulated device's memory; 0 = no limit (SPARQ_SIM_MEMORY_BYTES)
};

// Factories. Each returns a kBackend status that says what is missing and what to do.
Status CreateCpuBackend(const BackendOptions& options, std::shared_ptr<Backend>* out);
Status CreateSimBackend(const BackendOptions& options, std::shared_ptr<Backend>* out);
// device: CUDA ordinal. addon_dir: folder of sparq.node, where libsparq_cuda.so is looked for.
Status CreateCudaBackend(int device, const std::string& addon_dir, std::shared_ptr<Backend>* out);
// Cheap probe (driver library + device count) used by backend 'auto'; never loads libsparq_cuda.so.
Status ProbeCudaDriver(int device);

}  // namespace sparq
