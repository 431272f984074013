// runtime/sim_backend.cc: the sim backend: host memory, and every op runs the CUDA kernel source
// (native/cuda/kernels/*.cuh) on the host SIMT simulator (native/sim). Never chosen by 'auto'.
// Its op entries are generated from sparq/op_list.h and call sim::<Name> (native/sim/<op>_sim.cc).
// SPARQ_SIM_SMS sets the simulated SM count (default 4; 132 models an H200 — at most a few CTAs have
// host threads at once, SimOptions::max_resident_ctas); SPARQ_SIM_TIMEOUT_S the livelock limit
// (deadlocks are found by counting runnable threads, at once);
// SPARQ_SIM_LAUNCHER_SMS the SM count launchers size grids for (default: the simulated count; more
// makes grids larger than what runs at once, as when other work holds a GPU's SMs);
// SPARQ_SIM_SEED a schedule-fuzzing seed (decimal, 0 = off; SimOptions::schedule_seed);
// SPARQ_SIM_THREADS=1 host threads instead of fibers (SimOptions::threads_env: every launch of this
// context);
// SPARQ_SIM_MEMORY_BYTES (read by open() in src/context.ts, BackendOptions::sim_memory_bytes) the
// simulated device's memory: an allocation that would take the live total past it fails with
// kOutOfMemory, as cudaMalloc would (how the OOM path is tested off a GPU).
#include <unistd.h>

#include <cstdlib>
#include <mutex>
#include <string>
#include <unordered_map>

#include "runtime/backend.h"
#include "runtime/host_memory.h"
#include "sparq/cpu.h"

#if defined(SPARQ_HAVE_SIM)
#include "sparq/sim.h"
#endif

namespace sparq {

#if defined(SPARQ_HAVE_SIM)
namespace {

int EnvInt(const BackendOptions& o, const char* name, int fallback, int lo, int hi) {
  const char* v = o.Env(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  long x = std::strtol(v, &end, 10);
  return (*end == 0 && x >= lo && x <= hi) ? static_cast<int>(x) : fallback;
}

class SimBackend : public HostMemoryBackend {
 public:
  SimBackend(cpu::Isa isa, const BackendOptions& o) : isa_(isa), memory_limit_(o.sim_memory_bytes) {
    options_.sm_count = o.sim_sms > 0 ? o.sim_sms : EnvInt(o, "SPARQ_SIM_SMS", 4, 1, 1024);
    options_.timeout_s = EnvInt(o, "SPARQ_SIM_TIMEOUT_S", 10, 1, 3600);
    options_.launcher_sms = EnvInt(o, "SPARQ_SIM_LAUNCHER_SMS", 0, 0, 1024);
    const char* threads = o.Env("SPARQ_SIM_THREADS");
    options_.threads_env = threads != nullptr && std::string(threads) == "1" ? 1 : 0;
    if (const char* seed = o.Env("SPARQ_SIM_SEED"); seed != nullptr && *seed != '\0') {
      char* end = nullptr;
      const unsigned long long v = std::strtoull(seed, &end, 10);
      if (*end == '\0') options_.schedule_seed = v;
    }
  }

  Status Allocate(size_t bytes, void** ptr) override {
    if (memory_limit_ == 0) return HostMemoryBackend::Allocate(bytes, ptr);
    std::lock_guard<std::mutex> lock(memory_mu_);
    if (bytes > memory_limit_ - live_bytes_)
      return Status::Error(StatusCode::kOutOfMemory,
                           "allocation of " + std::to_string(bytes) + " bytes of simulated device memory failed (" +
                               std::to_string(live_bytes_) + " of SPARQ_SIM_MEMORY_BYTES=" +
                               std::to_string(memory_limit_) + " in use)");
    Status s = HostMemoryBackend::Allocate(bytes, ptr);
    if (s.ok()) {
      live_[*ptr] = bytes;
      live_bytes_ += bytes;
    }
    return s;
  }
  void Free(void* ptr) override {
    if (memory_limit_ != 0 && ptr != nullptr) {
      std::lock_guard<std::mutex> lock(memory_mu_);
      auto it = live_.find(ptr);
      if (it != live_.end()) {
        live_bytes_ -= it->second;
        live_.erase(it);
      }
    }
    HostMemoryBackend::Free(ptr);
  }
  // Peer slots (the comm's device transport): simulated device memory is host memory, so a peer
  // in the same process reads the owner's slot in place — the path cuda ranks of one process take
  // (runtime/comm_device.h). Ranks in other processes cannot: they vote for the host transport.
  Status AllocatePeerSlot(size_t bytes, PeerSlot* slot) override {
    void* p = nullptr;
    Status s = Allocate(bytes, &p);
    if (!s.ok()) return s;
    *slot = PeerSlot{};
    slot->kind = PeerSlot::kSim;
    slot->pid = int64_t(::getpid());
    slot->process = ThisProcessToken();
    slot->ptr = reinterpret_cast<uintptr_t>(p);
    slot->bytes = bytes;
    return Status::Ok();
  }
  void FreePeerSlot(const PeerSlot& slot) override { Free(reinterpret_cast<void*>(uintptr_t(slot.ptr))); }
  Status OpenPeerSlot(const PeerSlot& peer, const void** ptr) override {
    if (peer.kind != PeerSlot::kSim || peer.process != ThisProcessToken())
      return Status::Error(StatusCode::kBackend, "comm: a sim rank reads only the slots of sim ranks in its own process");
    *ptr = reinterpret_cast<const void*>(uintptr_t(peer.ptr));
    return Status::Ok();
  }
  // NCCL (runtime/comm_nccl.h): only the test double, which copies host memory; ops run to the end
  // before they return, so there is no stream to name and it is always idle.
  const char* NcclFlavor() const override { return "sim"; }
  Status NcclStream(void** stream) override {
    *stream = nullptr;
    return Status::Ok();
  }
  const char* name() const override { return "sim"; }
  const char* cpu_isa() const override { return cpu::IsaName(isa_); }
  int threads() const override { return 1; }

#define SPARQ_SIM_OP_ENTRY(Name, Args, C, S, G)                          \
  SPARQ_IF(S, Status Name(const Args& args, LaunchInfo* info) override { \
    return sim::Name(args, options_, info);                              \
  })
  SPARQ_OPS(SPARQ_SIM_OP_ENTRY)
#undef SPARQ_SIM_OP_ENTRY

 private:
  cpu::Isa isa_;
  sim::SimOptions options_;
  size_t memory_limit_ = 0;  // 0: no limit
  std::mutex memory_mu_;     // Allocate runs on the JS thread, Free wherever the last owner lets go
  std::unordered_map<void*, size_t> live_;
  size_t live_bytes_ = 0;
};

}  // namespace

Status CreateSimBackend(const BackendOptions& options, std::shared_ptr<Backend>* out) {
  cpu::Isa isa;
  Status s = cpu::ResolveIsa(options.cpu_isa.c_str(), &isa, options.cpu_isa_source.c_str());
  if (!s.ok()) return s;
  *out = std::make_shared<SimBackend>(isa, options);
  return Status::Ok();
}
#else
Status CreateSimBackend(const BackendOptions&, std::shared_ptr<Backend>*) {
  return Status::Error(StatusCode::kBackend,
                       "open: backend 'sim' is not in this build (prebuilt and node-gyp builds are CPU only); "
                       "build from a checkout with `npm run build:native` (cmake-js, SPARQ_SIM=ON)",
                       "backend");
}
#endif

}  // namespace sparq
