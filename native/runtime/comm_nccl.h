// runtime/comm_nccl.h: comm.allreduceRmsnorm through NCCL — the transport for ranks that share no
// machine (and no shared memory), on cuda. Per call: ncclAllGather of every rank's x into a
// staging on this rank's device, then the backend's AllreduceGathered (the comm kernel: rank-order
// sum, residual, RMSNorm — the bits of every other transport). An all-gather, not ncclAllReduce:
// NCCL sums in an order of its own (ring, tree, NVLS), which would break the contract's rank order.
//
// Every wait is bounded by the comm's timeout: the comm is non-blocking (config.blocking = 0), its
// init and every call polled (ncclCommGetAsyncError, the stream's idle state) against a deadline;
// past it, or on close, ncclCommAbort — a rank that never comes makes the others fail with
// SparqTimeoutError, never a hang; the comm is then broken for good.
//
// Across nodes (runtime/comm_topology.h): at join the ranks exchange the name of their machine;
// where there are ≥ 2 nodes of L ≥ 2 ranks each, the comm is hierarchical — the ranks of a node
// meet in shared memory (runtime/shm_comm.h) and NCCL carries only each token shard between the
// nodes, among the ranks of one local index (ncclCommSplit): 1/L of the flat all-gather's bytes
// between machines, the same bits.
//
// The id: "SQN2" (the join's exchange of machine names came with 2: a rank of an older sparq refuses
// this id instead of pairing its first call with that exchange), maxBytes (u64, little-endian), then
// ncclGetUniqueId's 128 bytes. The process that
// made it hosts NCCL's bootstrap root: it must live until every rank has joined.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/backend.h"
#include "runtime/comm_topology.h"
#include "runtime/nccl_api.h"
#include "runtime/shm_comm.h"
#include "sparq/comm.h"

namespace sparq::comm {

inline constexpr size_t kNcclIdBytes = 4 + 8 + nccl::kUniqueIdBytes;

bool IsNcclId(const uint8_t* id, size_t bytes);
// Loads NCCL (runtime/nccl_api.h) and asks it for a unique id. kBackend when NCCL is missing.
// nccl_path: SPARQ_NCCL_PATH as the JS caller sees it ("" = unset).
Status NewNcclId(uint64_t max_bytes, const std::string& nccl_path, std::vector<uint8_t>* id);

class NcclComm {
 public:
  // On the context's stream worker. kBackend: no NCCL, or one this backend cannot hand its memory
  // to (cpu; sim with the real library; cuda with the test double); kTimeout: the comm did not
  // come up within timeout_ms (a rank that never joined) or *cancel was set. `node`: the name of
  // this rank's machine ("" = DetectNode(); ranks that give the same name must share /dev/shm).
  static Status Join(std::shared_ptr<Backend> backend, const std::vector<uint8_t>& id, int rank, int size,
                     int64_t timeout_ms, std::shared_ptr<std::atomic<bool>> cancel, const std::string& nccl_path,
                     const std::string& node, std::shared_ptr<NcclComm>* out);
  ~NcclComm();  // aborts the NCCL comm (never waits on peers) and frees the staging
  NcclComm(const NcclComm&) = delete;
  NcclComm& operator=(const NcclComm&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  uint64_t slot_bytes() const { return slot_bytes_; }
  const NcclTopology& topology() const { return topo_; }
  bool hierarchical() const { return topo_.hierarchical; }
  std::string BrokenReason() const;
  // Any thread: this rank leaves. A call waiting now fails at once (and aborts the NCCL comm);
  // peers on this node fail at once too, those on other nodes at their timeout (NCCL has no way
  // to tell them sooner).
  void Close();

  // This rank cannot take part in its next call (its input failed earlier): the comm is broken and
  // aborted, so no later call pairs with the peers' current one. On the stream worker.
  void Abandon(const std::string& reason) { (void)Break(StatusCode::kTimeout, reason); }

  // a.comm is this object. On the stream worker; bounded by the timeout.
  Status Allreduce(const CommAllreduceRmsnormArgs& a, LaunchInfo* info);

 private:
  NcclComm() = default;
  // Polls `done` until it says so, the comm errs, it is closed, or the deadline passes (then the
  // comm is aborted and broken with `what`).
  // `op` prefixes the error ("comm" for the join, "comm.allreduceRmsnorm" for a call).
  template <class Poll>
  Status Wait(const char* op, const std::string& what, std::chrono::steady_clock::time_point deadline, Poll&& done);
  Status Break(StatusCode code, const std::string& reason, const char* op = "comm.allreduceRmsnorm");
  // ncclCommGetAsyncError on the comm's own NCCL comm (AsyncStateOf: on `comm`): *done once NCCL
  // has finished `call`'s part on the host (non-blocking init, or a collective enqueued); an NCCL
  // error as kBackend.
  Status AsyncState(const char* call, bool* done) { return AsyncStateOf(comm_, call, done); }
  Status AsyncStateOf(void* comm, const char* call, bool* done);
  // The staging on the device holds at least `bytes` (`op` prefixes a failure).
  Status EnsureStaging(size_t bytes, const char* op);
  // Aborts the per-shard comm and then the comm (a split still in flight is ended by the comm's
  // abort, which may hand over its result only then: looked at again after it).
  void AbortAll();
  // ncclAllGather of `bytes` from `send` into `recv` (backend memory) on `comm`, waited for to
  // the end (enqueued, then the stream idle), so the host may read recv; bounded by `deadline`.
  Status GatherAndWait(void* comm, const void* send, void* recv, size_t bytes, std::chrono::steady_clock::time_point deadline,
                       const char* op, const std::string& what);
  // At join, after the NCCL comm is up: the ranks' node names, the plan, and for a hierarchical
  // plan the per-shard NCCL comm and the node's shared-memory comm.
  Status JoinHierarchy(const std::vector<uint8_t>& id, const std::string& node, std::chrono::steady_clock::time_point deadline);
  // One call of the hierarchical form (comm_topology.h, steps 1-4).
  Status AllreduceHierarchical(const CommAllreduceRmsnormArgs& a, LaunchInfo* info, std::chrono::steady_clock::time_point deadline,
                               const std::string& call_text);

  const nccl::Api* api_ = nullptr;
  std::shared_ptr<Backend> backend_;
  std::shared_ptr<std::atomic<bool>> cancel_;
  void* comm_ = nullptr;  // ncclComm_t; null once aborted
  // hierarchical: the ranks of this local index, one per node. Written by NCCL's own thread when a
  // non-blocking ncclCommSplit completes: read and replaced only with __atomic builtins.
  void* shard_comm_ = nullptr;
  NcclTopology topo_;
  std::shared_ptr<ShmComm> node_comm_;  // hierarchical: this node's ranks, by local index
  std::vector<uint8_t> host_x_, host_send_, host_recv_, host_staging_;  // hierarchical, grown on demand
  int rank_ = 0, size_ = 0;
  uint64_t slot_bytes_ = 0;
  int64_t timeout_ms_ = 0;
  uint64_t calls_ = 0;
  // backend memory, grown on demand: flat [size][T·H] fp16; hierarchical send [L][rows][H] then
  // recv [N][L][rows][H] (one allocation either way)
  void* staging_ = nullptr;
  size_t staging_bytes_ = 0;
  mutable std::mutex mu_;    // broken_
  std::string broken_;
};

}  // namespace sparq::comm
