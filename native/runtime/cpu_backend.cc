// runtime/cpu_backend.cc: the cpu backend: host memory, the native thread pool and SIMD kernels
// chosen at open() (SPARQ_CPU_ISA forces one; SPARQ_THREADS sizes the pool). Its op entries are
// generated from sparq/op_list.h and call cpu_ops::<Name> (defined beside each op's kernels).
#include <cstdlib>

#include "runtime/backend.h"
#include "runtime/host_memory.h"
#include "sparq/cpu_ops.h"

namespace sparq {
namespace {

class CpuBackend : public HostMemoryBackend {
 public:
  CpuBackend(cpu::Isa isa, int threads) : isa_(isa), pool_(threads) {}
  const char* name() const override { return "cpu"; }
  const char* cpu_isa() const override { return cpu::IsaName(isa_); }
  int threads() const override { return pool_.size(); }
  PackedLayout WeightLayout(OpId) const override { return PackedLayout::kCpu; }
  Status ReadProbe(const void* src, size_t bytes, int streams, int prefetch_bytes, uint64_t* sum) override {
    *sum = cpu::ReadProbe(src, bytes, cpu::ReadProbeShape{streams, prefetch_bytes}, pool_);
    return Status::Ok();
  }
  Status CopyProbe(void* dst, const void* src, size_t bytes, bool non_temporal) override {
    cpu::CopyProbe(dst, src, bytes, non_temporal, pool_);
    return Status::Ok();
  }
  Status FmaProbe(int64_t iterations, double* flops_per_iteration, double* checksum) override {
    *flops_per_iteration = cpu::FmaProbeFlopsPerIteration(isa_);
    *checksum = cpu::FmaProbe(iterations, isa_, pool_);
    return Status::Ok();
  }

#define SPARQ_CPU_OP_ENTRY(Name, Args, C, S, G)                          \
  SPARQ_IF(C, Status Name(const Args& args, LaunchInfo* info) override { \
    return cpu_ops::Name(args, cpu::Exec{isa_, &pool_}, info);           \
  })
  SPARQ_OPS(SPARQ_CPU_OP_ENTRY)
#undef SPARQ_CPU_OP_ENTRY

 private:
  cpu::Isa isa_;
  cpu::ThreadPool pool_;
};

}  // namespace

Status CreateCpuBackend(const BackendOptions& options, std::shared_ptr<Backend>* out) {
  cpu::Isa isa;
  Status s = cpu::ResolveIsa(options.cpu_isa.c_str(), &isa, options.cpu_isa_source.c_str());
  if (!s.ok()) return s;
  *out = std::make_shared<CpuBackend>(isa, options.threads > 0 ? options.threads
                                          : options.env_given ? cpu::HardwareThreadCount()  // SPARQ_THREADS came as threads
                                                              : cpu::DefaultThreadCount());
  return Status::Ok();
}

}  // namespace sparq
