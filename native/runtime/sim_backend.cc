// runtime/sim_backend.cc: the sim backend: host memory, and every op runs the CUDA kernel source
// (native/cuda/kernels/*.cuh) on the host SIMT simulator (native/sim). Never chosen by 'auto'.
// SPARQ_SIM_SMS sets the simulated SM count (default 4); SPARQ_SIM_TIMEOUT_S the deadlock timeout.
#include <cstdlib>

#include "runtime/backend.h"
#include "runtime/host_memory.h"
#include "sparq/cpu.h"

#if defined(SPARQ_HAVE_SIM)
#include "sparq/sim.h"
#include "sparq/w4a16.h"
#endif

namespace sparq {

#if defined(SPARQ_HAVE_SIM)
namespace {

int EnvInt(const char* name, int fallback, int lo, int hi) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  long x = std::strtol(v, &end, 10);
  return (*end == 0 && x >= lo && x <= hi) ? static_cast<int>(x) : fallback;
}

class SimBackend : public HostMemoryBackend {
 public:
  SimBackend(cpu::Isa isa, int sim_sms) : isa_(isa) {
    options_.sm_count = sim_sms > 0 ? sim_sms : EnvInt("SPARQ_SIM_SMS", 4, 1, 64);
    options_.timeout_s = EnvInt("SPARQ_SIM_TIMEOUT_S", 10, 1, 3600);
  }
  const char* name() const override { return "sim"; }
  const char* cpu_isa() const override { return cpu::IsaName(isa_); }
  int threads() const override { return 1; }

  Status DenseMatmul(const DenseMatmulArgs& args, LaunchInfo* info) override {
    return sim::DenseMatmul(args, options_, info);
  }
  Status W4A16Matmul(const W4A16WeightView& w, const uint16_t* x, const uint16_t* bias, uint16_t* y, int64_t m,
                     LaunchInfo* info) override {
    return sim::W4A16Matmul(w, x, bias, y, m, options_, info);
  }
  Status FragmentDump(sim::FragmentDumpData* out) override { return sim::FragmentDump(out, options_); }

 private:
  cpu::Isa isa_;
  sim::SimOptions options_;
};

}  // namespace

Status CreateSimBackend(const BackendOptions& options, std::shared_ptr<Backend>* out) {
  cpu::Isa isa;
  Status s = cpu::ResolveIsa(options.cpu_isa.c_str(), &isa);
  if (!s.ok()) return s;
  *out = std::make_shared<SimBackend>(isa, options.sim_sms);
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
