// cpu/comm_cpu.cc: comm.allreduceRmsnorm on the cpu backend: this rank's x goes into its slot of
// the shared-memory segment, and once every rank's is there this rank's out and residual_out are
// computed from all slots in rank order — the same rows as the Group op, so a comm and a group of
// the same ranks give the same bits.
#include "cpu/allreduce_cpu.h"
#include "runtime/shm_comm.h"
#include "sparq/comm.h"
#include "sparq/cpu_ops.h"

namespace sparq::cpu_ops {

Status CommAllreduceRmsnorm(const CommAllreduceRmsnormArgs& a, const cpu::Exec& exec, LaunchInfo* info) {
  if (info) *info = LaunchInfo{};
  auto* comm = static_cast<comm::ShmComm*>(a.comm);
  const size_t bytes = size_t(a.tokens) * size_t(a.hidden) * 2;
  return comm->Exchange(a.x, bytes, a.tokens, a.hidden, [&](const std::vector<const void*>& slots) {
    const uint16_t* xs[comm::kMaxRanks] = {};
    for (size_t p = 0; p < slots.size(); ++p) xs[p] = static_cast<const uint16_t*>(slots[p]);
    const uint16_t* residual[1] = {a.residual};
    uint16_t* out[1] = {a.out};
    uint16_t* residual_out[1] = {a.residual_out};
    cpu::AllreduceRows rows;
    rows.op = CommAllreduceRmsnormArgs::kOpName;
    rows.x = xs;
    rows.x_ranks = int(slots.size());
    rows.residual = residual;
    rows.out = out;
    rows.residual_out = residual_out;
    rows.out_ranks = 1;
    rows.gamma = a.gamma;
    rows.tokens = a.tokens;
    rows.hidden = a.hidden;
    rows.eps = a.eps;
    return cpu::AllreduceRmsnormRows(rows, exec);
  });
}

}  // namespace sparq::cpu_ops
