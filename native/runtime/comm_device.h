// runtime/comm_device.h: comm.allreduceRmsnorm's device-to-device transport (cuda, sim). At join
// every rank (of a comm of 2 or more) puts a slot of the comm's slotBytes in its device memory and
// shows it to its peers
// (backend PeerSlot: a CUDA IPC handle across processes, the address itself within one); per call
// each rank copies its x into its slot, the ranks meet in the comm's shared memory (counters only,
// no rows), and each runs AllreduceGathered with the peers' slots, which the backend copies into
// its workspace on the device before the comm kernel. No row crosses host memory (between two
// devices that cannot reach each other's memory — no peer access — the driver stages the copy
// through host memory itself).
//
// The ranks agree on it at join, by two votes in the comm (ShmComm::Vote): "I have a slot", then
// "I opened every peer's slot". Any no — a cpu rank, a sim rank in another process, a device out
// of memory, an IPC handle the driver will not map — and every rank takes the host transport
// (runtime/comm_host.h) instead, so every rank of a comm moves its rows the same way.
#pragma once
#include <memory>
#include <vector>

#include "runtime/backend.h"
#include "runtime/shm_comm.h"
#include "sparq/comm.h"

namespace sparq::comm {

class DeviceTransport {
 public:
  // Every rank runs this once, right after ShmComm::Join, on its context's stream worker. *out is
  // the transport when every rank can use it, else null (then: the host transport). Fails only
  // when the comm does (a peer that never votes: kTimeout, the comm broken).
  // allow = false: this rank votes no (the user asked for the host transport), so every rank
  // takes the host transport.
  static Status Agree(std::shared_ptr<Backend> backend, std::shared_ptr<ShmComm> comm, bool allow,
                      std::shared_ptr<DeviceTransport>* out);
  ~DeviceTransport();
  DeviceTransport(const DeviceTransport&) = delete;
  DeviceTransport& operator=(const DeviceTransport&) = delete;

  // a.comm is the ShmComm this transport agreed on. On the stream worker; bounded by the comm's timeout.
  Status Allreduce(const CommAllreduceRmsnormArgs& a, LaunchInfo* info);

 private:
  DeviceTransport() = default;
  // Closes the peer slots this rank opened and says so in the comm; then frees this rank's slot
  // once every peer has closed it too (or exited) — freeing an exported allocation a peer still
  // maps, or may still be copying from after a close broke the comm mid-call, is undefined — at
  // once when they have (or, when no peer process can have imported it, once every peer is done
  // reading it), else from the process's slot reaper (comm_device.cc) when that becomes true.
  void Release();

  std::shared_ptr<Backend> backend_;
  std::shared_ptr<ShmComm> comm_;
  bool agreed_ = false;  // the ranks chose it (else Agree releases it and the comm goes on through host memory)
  int rank_ = 0;
  PeerSlot mine_;
  std::vector<PeerSlot> peers_;         // by rank (this rank's entry unused)
  std::vector<const void*> opened_;     // by rank: the peer slot as this rank's device reads it
};

}  // namespace sparq::comm
