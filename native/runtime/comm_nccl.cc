// runtime/comm_nccl.cc: see comm_nccl.h.
#include "runtime/comm_nccl.h"

#include <sys/statvfs.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <new>
#include <thread>

#include "runtime/shm_comm.h"

namespace sparq::comm {
namespace {

using Clock = std::chrono::steady_clock;

constexpr char kMagic[4] = {'S', 'Q', 'N', '2'};

// What a node exchange's error adds: the node comm counts its exchanges, two a call.
constexpr const char* kNodeExchange = " (in this machine's shared-memory exchange, two a call)";

// Free bytes of /dev/shm (0 where it cannot be asked): the machine's comm needs its whole segment
// there, or writing a slot past what tmpfs has left is a SIGBUS, not an error.
uint64_t ShmFreeBytes() {
  struct statvfs v {};
  if (::statvfs("/dev/shm", &v) != 0) return 0;
  return uint64_t(v.f_bavail) * uint64_t(v.f_frsize);
}

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
  AbortAll();
  if (staging_ != nullptr) backend_->Free(staging_);
}

void NcclComm::AbortAll() {
  // ncclCommAbort never waits on a peer, unlike ncclCommDestroy
  if (void* shard = __atomic_exchange_n(&shard_comm_, nullptr, __ATOMIC_ACQ_REL)) api_->comm_abort(shard);
  if (comm_ != nullptr) api_->comm_abort(comm_);
  comm_ = nullptr;
  if (void* shard = __atomic_exchange_n(&shard_comm_, nullptr, __ATOMIC_ACQ_REL)) api_->comm_abort(shard);
}

std::string NcclComm::BrokenReason() const {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (!broken_.empty()) return broken_;
  }
  // a node peer that broke the node's comm breaks this one (node_comm_ is set before the comm is shared)
  return node_comm_ ? node_comm_->BrokenReason() : "";
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
  AbortAll();
  return Status::Error(code, std::string(op) + ": " + reason);
}

Status NcclComm::AsyncStateOf(void* comm, const char* call, bool* done) {
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
                   what + " within " + std::to_string(timeout_ms_) + " ms (rank " + std::to_string(rank_) + " waited)", op);
    Backoff(i, 64);  // NCCL work takes microseconds to milliseconds: spin less than a rendezvous
  }
}

Status NcclComm::Allreduce(const CommAllreduceRmsnormArgs& a, LaunchInfo* info) {
  const std::string broken = BrokenReason();
  if (!broken.empty())
    return Status::Error(StatusCode::kTimeout, "comm.allreduceRmsnorm: comm must be a usable comm, got one that is broken (" + broken + ")",
                         "comm");
  const size_t bytes = size_t(a.tokens) * size_t(a.hidden) * 2;
  const uint64_t call = ++calls_;
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms_);  // one for the whole call
  // Any failure from here on leaves this rank's call unmatched for its peers: the comm is broken
  // (and aborted), as NCCL cannot skip a collective.
  const std::string call_text = "call " + std::to_string(call);
  if (topo_.hierarchical) return AllreduceHierarchical(a, info, deadline, call_text);
  Status s = EnsureStaging(size_t(size_) * bytes, "comm.allreduceRmsnorm");
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
  g.peers_contiguous = 1;  // the all-gather's own layout: the kernel reads it in place
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

Status NcclComm::EnsureStaging(size_t bytes, const char* op) {
  if (bytes <= staging_bytes_) return Status::Ok();
  if (staging_ != nullptr) backend_->Free(staging_);
  staging_ = nullptr;
  staging_bytes_ = 0;
  Status s = backend_->Allocate(bytes, &staging_);
  if (!s.ok()) return Break(s.code, "rank " + std::to_string(rank_) + " could not allocate its NCCL staging: " + s.message, op);
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
    Status e = AsyncStateOf(comm, "ncclAllGather", &enqueued);
    if (!e.ok() || !enqueued) return e;
    return backend_->StreamIdle(done);
  });
}

Status NcclComm::JoinHierarchy(const std::vector<uint8_t>& id, const std::string& node, Clock::time_point deadline) {
  const char* op = "comm";
  // Each rank's record: its machine's key, whether its NCCL can split, the free bytes of its
  // /dev/shm. Every rank plans from the same records, so all take the same form.
  constexpr size_t kRecordBytes = 32, kSplitAt = kNodeKeyBytes, kShmFreeAt = 24;
  std::vector<uint8_t> records(size_t(size_ + 1) * kRecordBytes, 0);
  uint8_t* mine = records.data() + size_t(size_) * kRecordBytes;
  const NodeKey key = NodeKeyOf(node);
  std::memcpy(mine, key.data(), key.size());
  mine[kSplitAt] = api_->comm_split != nullptr ? 1 : 0;
  const uint64_t shm_free = ShmFreeBytes();
  std::memcpy(mine + kShmFreeAt, &shm_free, 8);
  Status s = EnsureStaging(records.size(), op);
  if (!s.ok()) return s;
  uint8_t* dev = static_cast<uint8_t*>(staging_);
  s = backend_->CopyToDevice(dev + size_t(size_) * kRecordBytes, mine, kRecordBytes);
  if (!s.ok()) return Break(s.code, "rank " + std::to_string(rank_) + ": " + s.message, op);
  s = GatherAndWait(comm_, dev + size_t(size_) * kRecordBytes, dev, kRecordBytes, deadline, op,
                    "the ranks' machine names were not exchanged");
  if (!s.ok()) return s;
  s = backend_->CopyToHost(records.data(), dev, size_t(size_) * kRecordBytes);
  if (!s.ok()) return Break(s.code, "rank " + std::to_string(rank_) + ": " + s.message, op);
  std::vector<NodeKey> keys(static_cast<size_t>(size_));
  for (int q = 0; q < size_; ++q) std::memcpy(keys[size_t(q)].data(), records.data() + size_t(q) * kRecordBytes, kNodeKeyBytes);
  const NcclTopology plan = PlanTopology(keys, rank_);
  if (!plan.hierarchical) return Status::Ok();  // flat, as planned before
  // The machine's segment: a header page and a slot per rank, wholly in /dev/shm on every machine.
  const uint64_t slot = NodeSlotBytes(slot_bytes_, plan);
  const uint64_t segment = 4096 + uint64_t(plan.local_size) * slot;
  for (int q = 0; q < size_; ++q) {
    const uint8_t* r = records.data() + size_t(q) * kRecordBytes;
    uint64_t free = 0;
    std::memcpy(&free, r + kShmFreeAt, 8);
    if (r[kSplitAt] != 1 || free < segment || slot > (uint64_t(1) << 40)) return Status::Ok();  // flat
  }
  topo_ = plan;
  nccl::Config config;
  config.blocking = 0;
  // Non-blocking: NCCL writes shard_comm_ from its own thread once the split is complete.
  const nccl::Result r = api_->comm_split(comm_, topo_.local, topo_.node, &shard_comm_, &config);
  if (r != nccl::kSuccess && r != nccl::kInProgress)
    return Break(StatusCode::kBackend, "rank " + std::to_string(rank_) + ": ncclCommSplit failed: " + api_->Describe(r, comm_), op);
  s = Wait(op, "the NCCL comm of shard " + std::to_string(topo_.local) + " did not come up", deadline, [&](bool* done) {
    bool parent = false;
    Status e = AsyncState("ncclCommSplit", &parent);
    if (!e.ok() || !parent) return e;
    void* shard = __atomic_load_n(&shard_comm_, __ATOMIC_ACQUIRE);
    if (shard == nullptr) return Status::Error(StatusCode::kBackend, "ncclCommSplit finished without making a comm");
    return AsyncStateOf(shard, "ncclCommSplit", done);
  });
  if (!s.ok()) return s;
  const int64_t left_ms = std::max<int64_t>(
      1, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
  std::vector<int> names(size_t(topo_.local_size));
  for (int l = 0; l < topo_.local_size; ++l) names[size_t(l)] = topo_.RankOf(topo_.node, l);
  s = ShmComm::Join(NodeCommId(id.data() + 12, nccl::kUniqueIdBytes, key, slot), topo_.local, topo_.local_size, left_ms, cancel_,
                    &node_comm_, names);
  if (!s.ok())
    return Break(s.code, "rank " + std::to_string(rank_) + " could not meet the ranks of its machine in shared memory: " +
                             WithoutOp(s.message) + " (ranks that name one machine must share /dev/shm)",
                 op);
  node_comm_->set_timeout_ms(timeout_ms_);  // the join had what was left of its deadline; calls get the whole timeout
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
  try {
    for (auto [buffer, bytes] : {std::pair{&host_x_, x_bytes}, std::pair{&host_send_, send_bytes},
                                 std::pair{&host_recv_, recv_bytes}, std::pair{&host_staging_, size_t(size_) * x_bytes}})
      if (buffer->size() < bytes) buffer->resize(bytes);
  } catch (const std::bad_alloc&) {
    return Break(StatusCode::kOutOfMemory, "rank " + std::to_string(rank_) + " could not allocate its host buffers (" +
                                               std::to_string(x_bytes + send_bytes + recv_bytes + size_t(size_) * x_bytes) +
                                               " bytes)");
  }
  uint8_t *x = host_x_.data(), *send = host_send_.data(), *recv = host_recv_.data(), *staging = host_staging_.data();
  Status s = EnsureStaging(send_bytes + recv_bytes, op);
  if (!s.ok()) return s;
  s = backend_->CopyToHost(x, a.x, x_bytes);
  if (!s.ok()) return Break(s.code, "rank " + std::to_string(rank_) + " could not read its x from the device: " + s.message);
  // 1. the node's x; this rank keeps shard `local` of each
  s = node_comm_->Exchange(x, x_bytes, T, a.hidden, [&](const std::vector<const void*>& slots) {
    for (int j = 0; j < L; ++j)
      CopyBytes(send + size_t(j) * rows * row, static_cast<const uint8_t*>(slots[size_t(j)]) + begin * row, rows * row);
    return Status::Ok();
  });
  if (!s.ok()) return Break(s.code, WithoutOp(s.message) + kNodeExchange);
  // 2. that shard of every node (every member of this shard comm has the same row count)
  if (rows > 0) {
    uint8_t* dev = static_cast<uint8_t*>(staging_);
    s = backend_->CopyToDevice(dev, send, send_bytes);
    if (!s.ok()) return Break(s.code, "rank " + std::to_string(rank_) + ": " + s.message);
    s = GatherAndWait(__atomic_load_n(&shard_comm_, __ATOMIC_ACQUIRE), dev, dev + send_bytes, send_bytes, deadline, op,
                      "the NCCL all-gather of " + call_text + "'s token shard " + std::to_string(topo_.local) + " did not finish");
    if (!s.ok()) return s;
    s = backend_->CopyToHost(recv, dev + send_bytes, recv_bytes);
    if (!s.ok()) return Break(s.code, "rank " + std::to_string(rank_) + ": " + s.message);
  }
  // 3. every shard of every rank, from the node peer that holds it, into rank order
  s = node_comm_->Exchange(recv_bytes ? recv : nullptr, recv_bytes, T, a.hidden, [&](const std::vector<const void*>& slots) {
    for (int j = 0; j < L; ++j) {
      const size_t rows_j = shard_rows(j), begin_j = size_t(ShardBegin(T, j, L));
      const uint8_t* held = static_cast<const uint8_t*>(slots[size_t(j)]);  // [N][L][rows_j][H]
      for (int n = 0; n < N; ++n)
        for (int p = 0; p < L; ++p)
          CopyBytes(staging + size_t(topo_.RankOf(n, p)) * x_bytes + begin_j * row,
                    held + size_t(n * L + p) * rows_j * row, rows_j * row);
    }
    return Status::Ok();
  });
  if (!s.ok()) return Break(s.code, WithoutOp(s.message) + kNodeExchange);
  // 4. the comm kernel, as every transport runs it
  AllreduceGatheredArgs g = GatheredArgsOf(a, rank_, size_);
  g.staging = reinterpret_cast<const uint16_t*>(staging);
  s = backend_->AllreduceGathered(g, info);
  if (!s.ok()) return Break(s.code, "rank " + std::to_string(rank_) + ": " + s.message);
  return Status::Ok();
}

}  // namespace sparq::comm
