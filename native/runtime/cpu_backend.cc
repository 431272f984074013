// runtime/cpu_backend.cc: the cpu backend: host memory, the native thread pool and SIMD kernels
// chosen at open() (SPARQ_CPU_ISA forces one; SPARQ_THREADS sizes the pool).
#include <cstdlib>

#include "runtime/backend.h"
#include "runtime/host_memory.h"
#include "sparq/cpu.h"
#include "sparq/w4a16.h"

namespace sparq {
namespace {

class CpuBackend : public HostMemoryBackend {
 public:
  CpuBackend(cpu::Isa isa, int threads) : isa_(isa), pool_(threads) {}
  const char* name() const override { return "cpu"; }
  const char* cpu_isa() const override { return cpu::IsaName(isa_); }
  int threads() const override { return pool_.size(); }

  Status DenseMatmul(const DenseMatmulArgs& args, LaunchInfo* info) override {
    cpu::DenseMatmulF16(args, isa_, pool_);
    if (info) *info = LaunchInfo{};
    return Status::Ok();
  }
  Status W4A16Matmul(const W4A16WeightView& w, const uint16_t* x, const uint16_t* bias, uint16_t* y, int64_t m,
                     LaunchInfo* info) override {
    if (info) *info = LaunchInfo{};
    return W4A16MatmulCpu(w, x, bias, y, m, isa_, pool_);
  }

 private:
  cpu::Isa isa_;
  cpu::ThreadPool pool_;
};

}  // namespace

Status CreateCpuBackend(const BackendOptions& options, std::shared_ptr<Backend>* out) {
  cpu::Isa isa;
  Status s = cpu::ResolveIsa(options.cpu_isa.c_str(), &isa);
  if (!s.ok()) return s;
  *out = std::make_shared<CpuBackend>(isa, options.threads > 0 ? options.threads : cpu::DefaultThreadCount());
  return Status::Ok();
}

}  // namespace sparq
