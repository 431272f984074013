// runtime/comm_nccl.cc: see comm_nccl.h.
#include "runtime/comm_nccl.h"

#include <chrono>
#include <cstring>
#include <thread>

#include "runtime/shm_comm.h"

namespace sparq::comm {
namespace {

using Clock = std::chrono::steady_clock;

constexpr char kMagic[4] = {'S', 'Q', 'N', '1'};

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
                      std::shared_ptr<NcclComm>* out) {
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
  s = c->Wait("comm", "the NCCL comm did not come up (a rank that never joined, or peers it cannot reach)",
              Clock::now() + std::chrono::milliseconds(timeout_ms),
              [&](bool* done) { return c->AsyncState("ncclCommInitRankConfig", done); });
  if (!s.ok()) return s;
  *out = std::move(c);
  return Status::Ok();
}

NcclComm::~NcclComm() {
  if (comm_ != nullptr) api_->comm_abort(comm_);  // never waits on a peer, unlike ncclCommDestroy
  if (staging_ != nullptr) backend_->Free(staging_);
}

std::string NcclComm::BrokenReason() const {
  std::lock_guard<std::mutex> lk(mu_);
  return broken_;
}

void NcclComm::Close() {
  std::lock_guard<std::mutex> lk(mu_);
  if (broken_.empty()) broken_ = "rank " + std::to_string(rank_) + " closed the comm";
}

Status NcclComm::Break(StatusCode code, const std::string& reason, const char* op) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (broken_.empty()) broken_ = reason;
  }
  if (comm_ != nullptr) api_->comm_abort(comm_);
  comm_ = nullptr;
  return Status::Error(code, std::string(op) + ": " + reason);
}

Status NcclComm::AsyncState(const char* call, bool* done) {
  nccl::Result e = nccl::kInProgress;
  const nccl::Result q = api_->comm_get_async_error(comm_, &e);
  if (q != nccl::kSuccess) e = q;
  if (e != nccl::kSuccess && e != nccl::kInProgress)
    return Status::Error(StatusCode::kBackend, std::string(call) + " failed: " + api_->Describe(e, comm_));
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
  if (size_t(size_) * bytes > staging_bytes_) {
    if (staging_ != nullptr) backend_->Free(staging_);
    staging_ = nullptr;
    staging_bytes_ = 0;
    Status s = backend_->Allocate(size_t(size_) * bytes, &staging_);
    if (!s.ok()) return Break(s.code, "rank " + std::to_string(rank_) + " could not allocate its NCCL staging: " + s.message);
    staging_bytes_ = size_t(size_) * bytes;
  }
  void* stream = nullptr;
  Status s = backend_->NcclStream(&stream);
  if (!s.ok()) return Break(s.code, "rank " + std::to_string(rank_) + ": " + s.message);
  const std::string call_text = "call " + std::to_string(call);
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

}  // namespace sparq::comm
