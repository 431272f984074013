// runtime/comm_nccl.cc: see comm_nccl.h.
#include "runtime/comm_nccl.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <new>
#include <thread>

#include "runtime/shm_comm.h"

namespace sparq::comm {
namespace {

using Clock = std::chrono::steady_clock;

constexpr char kMagic[4] = {'S', 'Q', 'N', '1'};

// memcpy that allows an empty copy from or to an empty buffer's null data()
void CopyBytes(void* dst, const void* src, size_t bytes) {
  if (bytes != 0) std::memcpy(dst, src, bytes);
}

// The node comm's errors already carry the op's prefix; Break adds it again.
std::string WithoutOp(const std::string& message) {
  const std::string prefix = "comm.allreduceRmsnorm: ";
  return message.compare(0, prefix.size(), prefix) == 0 ? message.substr(prefix.size()) : message;
}

}  // namespace

bool IsNcclId(const uint8_t* id, size_t bytes) { return bytes == kNcclIdBytes && std::memcmp(id, kMagic, 4) == 0; }

Status NewNcclId(uint64_t max_bytes, const std::string& nccl_path, std::vector<uint8_t>* id) {
  const nccl::Api* api = nullptr;
  Status s = nccl::Load(nccl_path, &api);
  if (!s.ok()) return s;
  nccl::UniqueId uid{};
  const nccl::Result r = api->get_unique_id(&uid);
  if (r != nccl::kSuccess)
    return Status::Error(StatusCode::kBackend, "comm.createNccl: ncclGetUniqueId failed: " + api->Describe(r, nullptr));
  id->assign(kNcclIdBytes, 0);
  std::memcpy(id->data(), kMagic, 4);
  for (int i = 0; i < 8; ++i) (*id)[4 + i] = uint8_t(max_bytes >> (8 * i));
  std::memcpy(id->data() + 12, uid.internal, nccl::kUniqueIdBytes);
  return Status::Ok();
}

Status NcclComm::Join(std::shared_ptr<Backend> backend, const std::vector<uint8_t>& id, int rank, int size,
                      int64_t timeout_ms, std::shared_ptr<std::atomic<bool>> cancel, const std::string& nccl_path,
                      const std::string& node, std::shared_ptr<NcclComm>* out) {
  const std::string op = "comm";
  if (!IsNcclId(id.data(), id.size()))
    return Status::Error(StatusCode::kArgument, op + ": id must be the bytes sparq.comm.createNccl() returned", "id");
  const char* flavor = backend->NcclFlavor();
  if (flavor == nullptr)
    return Status::Error(StatusCode::kBackend, op + ": an NCCL comm needs a cuda rank, got backend '" +
                                                   std::string(backend->name()) + "' (cpu ranks use sparq.comm.create())",
                         "backend");
  const nccl::Api* api = nullptr;
  Status s = nccl::Load(nccl_path, &api);
  if (!s.ok()) return s;
  const bool sim = std::strcmp(flavor, "sim") == 0;
  if (sim != api->fake)
    return Status::Error(StatusCode::kBackend,
                         sim ? op + ": a sim rank may use only sparq's NCCL test double (" + api->path +
                                   " is a real NCCL, which would take host memory for device memory)"
                             : op + ": " + api->path + " is sparq's NCCL test double, not NCCL; a cuda rank needs the real library",
                         "backend");
  std::shared_ptr<NcclComm> c(new NcclComm());
  c->api_ = api;
  c->backend_ = std::move(backend);
  c->cancel_ = cancel ? std::move(cancel) : std::make_shared<std::atomic<bool>>(false);
  c->rank_ = rank;
  c->size_ = size;
  c->timeout_ms_ = timeout_ms;
  for (int i = 0; i < 8; ++i) c->slot_bytes_ |= uint64_t(id[4 + size_t(i)]) << (8 * i);
  void* stream = nullptr;
  s = c->backend_->NcclStream(&stream);  // NCCL binds the comm to the current device
  if (!s.ok()) return s;
  nccl::UniqueId uid;
  std::memcpy(uid.internal, id.data() + 12, nccl::kUniqueIdBytes);
  nccl::Config config;
  config.blocking = 0;  // every wait is ours to bound
  const nccl::Result r = api->comm_init_rank_config(&c->comm_, size, uid, rank, &config);
  if (r != nccl::kSuccess && r != nccl::kInProgress) {
    const std::string why = api->Describe(r, c->comm_);
    if (c->comm_ != nullptr) api->comm_abort(c->comm_);
    c->comm_ = nullptr;
    return Status::Error(StatusCode::kBackend, op + ": ncclCommInitRankConfig failed on rank " + std::to_string(rank) + ": " + why);
  }
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  s = c->Wait("comm", "the NCCL comm did not come up (a rank that never joined, or peers it cannot reach)", deadline,
              [&](bool* done) { return c->AsyncState("ncclCommInitRankConfig", done); });
  if (!s.ok()) return s;
  c->topo_ = PlanTopology(std::vector<NodeKey>(size_t(size)), rank);  // flat until the ranks say otherwise
  if (size > 1) {
    s = c->JoinHierarchy(id, node.empty() ? DetectNode() : node, deadline);
    if (!s.ok()) return s;
  }
  *out = std::move(c);
  return Status::Ok();
}

NcclComm::~NcclComm() {
  if (shard_comm_ != nullptr) api_->comm_abort(shard_comm_);
  if (comm_ != nullptr) api_->comm_abort(comm_);  // never waits on a peer, unlike ncclCommDestroy
  if (staging_ != nullptr) backend_->Free(staging_);
}

std::string NcclComm::BrokenReason() const {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (!broken_.empty()) return broken_;
  }
  // a node peer that broke the node's comm breaks this one (node_comm_ is set before the comm is shared)
  const std::string node = node_comm_ ? node_comm_->BrokenReason() : "";
  return node.empty() ? node : node + NodeRanksNote();
}

void NcclComm::Close() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (broken_.empty()) broken_ = "rank " + std::to_string(rank_) + " closed the comm";
  }
  if (node_comm_) node_comm_->Close();  // this node's ranks fail at once
}

Status NcclComm::Break(StatusCode code, const std::string& reason, const char* op) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (broken_.empty()) broken_ = reason;
  }
  if (node_comm_) (void)node_comm_->Abandon(reason);  // this node's ranks fail now, not at their timeout
  if (shard_comm_ != nullptr) api_->comm_abort(shard_comm_);
  shard_comm_ = nullptr;
  if (comm_ != nullptr) api_->comm_abort(comm_);
  comm_ = nullptr;
  return Status::Error(code, std::string(op) + ": " + reason);
}

std::string NcclComm::NodeRanksNote() const {
  std::string local, global;
  for (int l = 0; l < topo_.local_size; ++l) {
    local += (l ? ", " : "") + std::to_string(l);
    global += (l ? ", " : "") + std::to_string(topo_.RankOf(topo_.node, l));
  }
  return " (in this node's exchange, two per call: node-local ranks " + local + " are ranks " + global + " of the comm)";
}

Status NcclComm::AsyncState(const char* call, bool* done, void* comm) {
  if (comm == nullptr) comm = comm_;
  nccl::Result e = nccl::kInProgress;
  const nccl::Result q = api_->comm_get_async_error(comm, &e);
  if (q != nccl::kSuccess) e = q;
  if (e != nccl::kSuccess && e != nccl::kInProgress)
    return Status::Error(StatusCode::kBackend, std::string(call) + " failed: " + api_->Describe(e, comm));
  *done = e == nccl::kSuccess;
  return Status::Ok();
}

template <class Poll>
Status NcclComm::Wait(const char* op, const std::string& what, Clock::time_point deadline, Poll&& poll) {
  for (int i = 0;; ++i) {
    bool done = false;
    Status s = poll(&done);
    if (!s.ok()) return Break(s.code, "rank " + std::to_string(rank_) + ": " + s.message, op);
    if (done) return Status::Ok();
    if (cancel_->load(std::memory_order_relaxed))
      return Break(StatusCode::kTimeout, "rank " + std::to_string(rank_) + " closed the comm (its context was closed)", op);
    const std::string closed = BrokenReason();
    if (!closed.empty()) return Break(StatusCode::kTimeout, closed, op);
    if ((i & 63) == 63 && Clock::now() > deadline)
      return Break(StatusCode::kTimeout,
                   what + " within " + std::to_string(timeout_ms_) + " ms (waited on rank " + std::to_string(rank_) + ")", op);
    Backoff(i, 64);  // NCCL work takes microseconds to milliseconds: spin less than a rendezvous
  }
}

Status NcclComm::Allreduce(const CommAllreduceRmsnormArgs& a, LaunchInfo* info) {
  const std::string broken = BrokenReason();
  if (!broken.empty())
    return Status::Error(StatusCode::kTimeout, "comm.allreduceRmsnorm: comm must be usable, got one that is broken (" + broken + ")",
                         "comm");
  const size_t bytes = size_t(a.tokens) * size_t(a.hidden) * 2;
  const uint64_t call = ++calls_;
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms_);  // one for the whole call
  // Any failure from here on leaves this rank's call unmatched for its peers: the comm is broken
  // (and aborted), as NCCL cannot skip a collective.
  const std::string call_text = "call " + std::to_string(call);
  if (topo_.hierarchical) return AllreduceHierarchical(a, info, deadline, call_text);
  Status s = EnsureStaging(size_t(size_) * bytes);
  if (!s.ok()) return s;
  void* stream = nullptr;
  s = backend_->NcclStream(&stream);
  if (!s.ok()) return Break(s.code, "rank " + std::to_string(rank_) + ": " + s.message);
  nccl::Result r = api_->all_gather(a.x, staging_, bytes, nccl::kUint8, comm_, stream);
  if (r != nccl::kSuccess && r != nccl::kInProgress)
    return Break(StatusCode::kBackend, "rank " + std::to_string(rank_) + ": ncclAllGather failed: " + api_->Describe(r, comm_));
  // Non-blocking: the all-gather may still be being enqueued; then everything on the stream.
  s = Wait("comm.allreduceRmsnorm", "the NCCL all-gather of " + call_text + " was not enqueued (a rank that never called?)",
           deadline, [&](bool* done) { return AsyncState("ncclAllGather", done); });
  if (!s.ok()) return s;
  AllreduceGatheredArgs g = GatheredArgsOf(a, rank_, size_);
  for (int q = 0; q < size_; ++q) g.peers[q] = reinterpret_cast<const uint16_t*>(static_cast<uint8_t*>(staging_) + size_t(q) * bytes);
  s = backend_->AllreduceGathered(g, info);
  if (!s.ok()) return Break(s.code, "rank " + std::to_string(rank_) + ": " + s.message);
  // Bounded: a peer that never calls leaves NCCL's kernel spinning on this stream; past the
  // deadline ncclCommAbort ends it, so the context can drain.
  return Wait("comm.allreduceRmsnorm", "the NCCL all-gather of " + call_text + " did not finish (a rank that never called?)",
              deadline, [&](bool* done) {
    bool enqueued = false;
    Status e = AsyncState("ncclAllGather", &enqueued);
    return e.ok() ? backend_->StreamIdle(done) : e;
  });
}

Status NcclComm::EnsureStaging(size_t bytes) {
  if (bytes <= staging_bytes_) return Status::Ok();
  if (staging_ != nullptr) backend_->Free(staging_);
  staging_ = nullptr;
  staging_bytes_ = 0;
  Status s = backend_->Allocate(bytes, &staging_);
  if (!s.ok()) return Break(s.code, "rank " + std::to_string(rank_) + " could not allocate its NCCL staging: " + s.message);
  staging_bytes_ = bytes;
  return Status::Ok();
}

Status NcclComm::GatherAndWait(void* comm, const void* send, void* recv, size_t bytes, Clock::time_point deadline, const char* op,
                               const std::string& what) {
  void* stream = nullptr;
  Status s = backend_->NcclStream(&stream);
  if (!s.ok()) return Break(s.code, "rank " + std::to_string(rank_) + ": " + s.message, op);
  const nccl::Result r = api_->all_gather(send, recv, bytes, nccl::kUint8, comm, stream);
  if (r != nccl::kSuccess && r != nccl::kInProgress)
    return Break(StatusCode::kBackend, "rank " + std::to_string(rank_) + ": ncclAllGather failed: " + api_->Describe(r, comm), op);
  // Never a blocking synchronize: a peer that never calls leaves NCCL's kernel spinning on the
  // stream until the deadline's abort ends it.
  return Wait(op, what + " (a rank that never called?)", deadline, [&](bool* done) {
    bool enqueued = false;
    Status e = AsyncState("ncclAllGather", &enqueued, comm);
    if (!e.ok() || !enqueued) return e;
    return backend_->StreamIdle(done);
  });
}

Status NcclComm::JoinHierarchy(const std::vector<uint8_t>& id, const std::string& node, Clock::time_point deadline) {
  const char* op = "comm";
  // Each rank's record: its node key, and whether its NCCL can split (the form needs every rank's).
  constexpr size_t kRecordBytes = 32;
  std::vector<uint8_t> records(size_t(size_ + 1) * kRecordBytes, 0);
  uint8_t* mine = records.data() + size_t(size_) * kRecordBytes;
  const NodeKey key = NodeKeyOf(node);
  std::memcpy(mine, key.data(), key.size());
  mine[kNodeKeyBytes] = api_->comm_split != nullptr ? 1 : 0;
  Status s = EnsureStaging(records.size());
  if (!s.ok()) return s;
  uint8_t* dev = static_cast<uint8_t*>(staging_);
  s = backend_->CopyToDevice(dev + size_t(size_) * kRecordBytes, mine, kRecordBytes);
  if (!s.ok()) return Break(s.code, "rank " + std::to_string(rank_) + ": " + s.message, op);
  s = GatherAndWait(comm_, dev + size_t(size_) * kRecordBytes, dev, kRecordBytes, deadline, op,
                    "the ranks' machine names were not exchanged within " + std::to_string(timeout_ms_) + " ms");
  if (!s.ok()) return s;
  s = backend_->CopyToHost(records.data(), dev, size_t(size_) * kRecordBytes);
  if (!s.ok()) return Break(s.code, "rank " + std::to_string(rank_) + ": " + s.message, op);
  std::vector<NodeKey> keys(static_cast<size_t>(size_));
  bool all_split = true;
  for (int q = 0; q < size_; ++q) {
    std::memcpy(keys[size_t(q)].data(), records.data() + size_t(q) * kRecordBytes, kNodeKeyBytes);
    all_split = all_split && records[size_t(q) * kRecordBytes + kNodeKeyBytes] == 1;
  }
  const NcclTopology plan = PlanTopology(keys, rank_);
  if (!plan.hierarchical || !all_split) return Status::Ok();  // flat, as planned before
  topo_ = plan;
  nccl::Config config;
  config.blocking = 0;
  const nccl::Result r = api_->comm_split(comm_, topo_.local, topo_.node, &shard_comm_, &config);
  if (r != nccl::kSuccess && r != nccl::kInProgress)
    return Break(StatusCode::kBackend, "rank " + std::to_string(rank_) + ": ncclCommSplit failed: " + api_->Describe(r, comm_), op);
  s = Wait(op, "the NCCL comm of local rank " + std::to_string(topo_.local) + "'s shard did not come up", deadline, [&](bool* done) {
    bool parent = false;
    Status e = AsyncState("ncclCommSplit", &parent);
    if (e.ok() && parent) e = AsyncState("ncclCommSplit", done, shard_comm_);
    return e;
  });
  if (!s.ok()) return s;
  const int64_t left_ms = std::max<int64_t>(
      1, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
  s = ShmComm::Join(NodeCommId(id.data() + 12, nccl::kUniqueIdBytes, key, NodeSlotBytes(slot_bytes_, topo_)), topo_.local,
                    topo_.local_size, left_ms, cancel_, &node_comm_);
  if (!s.ok()) return Break(s.code, "rank " + std::to_string(rank_) + " could not join its node's shared memory: " + s.message +
                                        NodeRanksNote() + "; ranks that name the same machine must share /dev/shm",
                            op);
  return Status::Ok();
}

Status NcclComm::AllreduceHierarchical(const CommAllreduceRmsnormArgs& a, LaunchInfo* info, Clock::time_point deadline,
                                       const std::string& call_text) {
  const char* op = "comm.allreduceRmsnorm";
  const int L = topo_.local_size, N = topo_.nodes;
  const int64_t T = a.tokens;
  const size_t row = size_t(a.hidden) * 2, x_bytes = size_t(T) * row;
  auto shard_rows = [&](int j) { return size_t(ShardBegin(T, j + 1, L) - ShardBegin(T, j, L)); };
  const size_t rows = shard_rows(topo_.local), begin = size_t(ShardBegin(T, topo_.local, L));
  const size_t send_bytes = size_t(L) * rows * row, recv_bytes = size_t(N) * send_bytes;
  // Host buffers first: a rank that fails before arriving abandons the comm (its peers fail now).
  std::vector<uint8_t> x, send, recv, staging;
  try {
    x.resize(x_bytes);
    send.resize(send_bytes);
    recv.resize(recv_bytes);
    staging.resize(size_t(size_) * x_bytes);
  } catch (const std::bad_alloc&) {
    return Break(StatusCode::kOutOfMemory, "rank " + std::to_string(rank_) + " could not allocate its host buffers (" +
                                               std::to_string(x_bytes + send_bytes + recv_bytes + size_t(size_) * x_bytes) +
                                               " bytes)");
  }
  Status s = EnsureStaging(send_bytes + recv_bytes);
  if (!s.ok()) return s;
  s = backend_->CopyToHost(x.data(), a.x, x_bytes);
  if (!s.ok()) return Break(s.code, "rank " + std::to_string(rank_) + " could not read its x from the device: " + s.message);
  // 1. the node's x; this rank keeps shard `local` of each
  s = node_comm_->Exchange(x.data(), x_bytes, T, a.hidden, [&](const std::vector<const void*>& slots) {
    for (int j = 0; j < L; ++j)
      CopyBytes(send.data() + size_t(j) * rows * row, static_cast<const uint8_t*>(slots[size_t(j)]) + begin * row, rows * row);
    return Status::Ok();
  });
  if (!s.ok()) return Break(s.code, WithoutOp(s.message) + NodeRanksNote());
  // 2. that shard of every node (every member of this shard comm has the same row count)
  if (rows > 0) {
    uint8_t* dev = static_cast<uint8_t*>(staging_);
    s = backend_->CopyToDevice(dev, send.data(), send_bytes);
    if (!s.ok()) return Break(s.code, "rank " + std::to_string(rank_) + ": " + s.message);
    s = GatherAndWait(shard_comm_, dev, dev + send_bytes, send_bytes, deadline, op,
                      "the NCCL all-gather of " + call_text + "'s token shard " + std::to_string(topo_.local) + " did not finish");
    if (!s.ok()) return s;
    s = backend_->CopyToHost(recv.data(), dev + send_bytes, recv_bytes);
    if (!s.ok()) return Break(s.code, "rank " + std::to_string(rank_) + ": " + s.message);
  }
  // 3. every shard of every rank, from the node peer that holds it, into rank order
  s = node_comm_->Exchange(recv.data(), recv_bytes, T, a.hidden, [&](const std::vector<const void*>& slots) {
    for (int j = 0; j < L; ++j) {
      const size_t rows_j = shard_rows(j), begin_j = size_t(ShardBegin(T, j, L));
      const uint8_t* held = static_cast<const uint8_t*>(slots[size_t(j)]);  // [N][L][rows_j][H]
      for (int n = 0; n < N; ++n)
        for (int p = 0; p < L; ++p)
          CopyBytes(staging.data() + size_t(topo_.RankOf(n, p)) * x_bytes + begin_j * row,
                    held + size_t(n * L + p) * rows_j * row, rows_j * row);
    }
    return Status::Ok();
  });
  if (!s.ok()) return Break(s.code, WithoutOp(s.message) + NodeRanksNote());
  // 4. the comm kernel, as every transport runs it
  AllreduceGatheredArgs g = GatheredArgsOf(a, rank_, size_);
  g.staging = reinterpret_cast<const uint16_t*>(staging.data());
  s = backend_->AllreduceGathered(g, info);
  if (!s.ok()) return Break(s.code, "rank " + std::to_string(rank_) + ": " + s.message);
  return Status::Ok();
}

}  // namespace sparq::comm
