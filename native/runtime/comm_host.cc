// runtime/comm_host.cc: see comm_host.h.
#include "runtime/comm_host.h"

#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "runtime/shm_comm.h"

namespace sparq::comm {

Status AllreduceThroughHost(Backend& backend, const CommAllreduceRmsnormArgs& a, LaunchInfo* info) {
  auto* c = static_cast<ShmComm*>(a.comm);
  const size_t elements = size_t(a.tokens) * size_t(a.hidden);
  const size_t bytes = elements * 2;
  // Everything that can fail here does so before this rank arrives: then the comm is abandoned, so
  // the peers fail at once (not at their timeout) and never pair this call with a later one. Inside
  // the exchange nothing may throw: a rank that arrived and never departs holds its peers.
  std::vector<uint16_t> x, staging;
  try {
    x.resize(elements);
    staging.resize(size_t(c->size()) * elements);
  } catch (const std::bad_alloc&) {
    const std::string why = "rank " + std::to_string(c->rank()) + " could not allocate its host buffers";
    c->Abandon(why);
    return Status::Error(StatusCode::kOutOfMemory, "comm.allreduceRmsnorm: " + why + " (" +
                                                       std::to_string((c->size() + 1) * bytes) + " bytes)");
  }
  Status s = backend.CopyToHost(x.data(), a.x, bytes);  // complete on return: the stream has run up to here
  if (!s.ok()) {
    c->Abandon("rank " + std::to_string(c->rank()) + " could not read its x from the device: " + s.message);
    return s;
  }
  // Copy the slots out while they are held, then let the peers go on before the kernel runs.
  s = c->Exchange(x.data(), bytes, a.tokens, a.hidden, [&](const std::vector<const void*>& slots) {
    for (size_t q = 0; q < slots.size(); ++q) std::memcpy(staging.data() + q * elements, slots[q], bytes);
    return Status::Ok();
  });
  if (!s.ok()) return s;
  AllreduceGatheredArgs g = GatheredArgsOf(a, c->rank(), c->size());
  g.staging = staging.data();
  return backend.AllreduceGathered(g, info);
}

}  // namespace sparq::comm
