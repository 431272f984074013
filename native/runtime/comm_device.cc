// runtime/comm_device.cc: see comm_device.h.
#include "runtime/comm_device.h"
#include "runtime/worker_thread.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace sparq {

uint64_t ThisProcessToken() {
  static const uint64_t token = [] {
    std::random_device rd;
    const uint64_t t = (uint64_t(rd()) << 32) ^ rd();
    return t == 0 ? 1 : t;
  }();
  return token;
}

}  // namespace sparq

namespace sparq::comm {

static_assert(sizeof(PeerSlot) <= ShmComm::kRecordBytes, "a PeerSlot fits the comm's per-rank record");

namespace {

// The slots of ranks that left while a peer could still read or map theirs, freed by one thread
// of the process. A slot is freed once every peer has released its transport or exited — the only
// safe point for a slot a peer process imported through CUDA IPC (cudaFree before the importer's
// cudaIpcCloseMemHandle is undefined) — or, for a slot only peers of this process can hold (sim;
// cuda workers of one process, which read the address itself), once every peer has departed from
// every call this rank arrived at (ShmComm::PeersDoneReading), or `kSameProcessGrace` (at least
// the comm's timeout) after the release: a peer whose call failed before it read never departs,
// and one still reading finishes its copy long before that. One thread, not one per slot: a
// service closing comms whose peers linger carried a sleeping thread per slot for timeoutMs, and
// until 2026-12-05 a slot whose wait ran out was dropped, never freed (a device transport's
// maxBytes of device memory lost for good, even with every peer in this process).
class SlotReaper {
 public:
  static constexpr auto kSameProcessGrace = std::chrono::seconds(10);

  static SlotReaper& Get() {
    static SlotReaper* reaper = new SlotReaper();  // never destroyed: its thread may outlive main()
    return *reaper;
  }
  void Add(std::shared_ptr<Backend> backend, std::shared_ptr<ShmComm> comm, const PeerSlot& slot, bool same_process) {
    const auto now = std::chrono::steady_clock::now();
    const auto grace = std::max<std::chrono::steady_clock::duration>(kSameProcessGrace, std::chrono::milliseconds(comm->timeout_ms()));
    std::lock_guard<std::mutex> lk(mu_);
    pending_.push_back(Pending{std::move(backend), std::move(comm), slot, same_process, now, now + grace});
    if (!started_) {
      started_ = true;
      std::thread reaper_thread([this] { Run(); });
      NameThread(reaper_thread, "sparq-slots");  // named before it runs (worker_thread.h says why)
      reaper_thread.detach();
    }
    cv_.notify_one();
  }

 private:
  struct Pending {
    std::shared_ptr<Backend> backend;
    std::shared_ptr<ShmComm> comm;
    PeerSlot slot;
    bool same_process;
    std::chrono::steady_clock::time_point added, grace_end;
  };
  static bool Freeable(const Pending& p, std::chrono::steady_clock::time_point now) {
    if (p.comm->PeersReleased()) return true;
    return p.same_process && (p.comm->PeersDoneReading() || now >= p.grace_end);
  }
  void Run() {
    std::unique_lock<std::mutex> lk(mu_);
    for (;;) {
      cv_.wait(lk, [&] { return !pending_.empty(); });
      std::vector<Pending> due;
      const auto now = std::chrono::steady_clock::now();
      bool recent = false;  // a slot released in the last 100 ms: its peers usually let go within ms
      for (size_t i = 0; i < pending_.size();) {
        if (Freeable(pending_[i], now)) {
          due.push_back(std::move(pending_[i]));
          pending_[i] = std::move(pending_.back());
          pending_.pop_back();
        } else {
          recent = recent || now - pending_[i].added < std::chrono::milliseconds(100);
          ++i;
        }
      }
      lk.unlock();
      for (Pending& p : due) p.backend->FreePeerSlot(p.slot);
      due.clear();  // the backends and comms let go outside the lock
      lk.lock();
      if (!pending_.empty()) cv_.wait_for(lk, std::chrono::milliseconds(recent ? 2 : 100));
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Pending> pending_;
  bool started_ = false;
};

}  // namespace

Status DeviceTransport::Agree(std::shared_ptr<Backend> backend, std::shared_ptr<ShmComm> comm, bool allow,
                              std::shared_ptr<DeviceTransport>* out) {
  out->reset();
  std::shared_ptr<DeviceTransport> t(new DeviceTransport());
  t->backend_ = std::move(backend);
  t->comm_ = std::move(comm);
  ShmComm& c = *t->comm_;
  t->rank_ = c.rank();
  // A backend without peer memory (cpu), or a device without room for the slot, votes no; the
  // comm still works, through host memory. A comm of one rank needs no slot: nobody reads it.
  const bool have = allow && (c.size() == 1 ? t->backend_->Has(OpId::kAllreduceGathered)
                                            : t->backend_->AllocatePeerSlot(c.slot_bytes(), &t->mine_).ok());
  if (!have) t->mine_ = PeerSlot{};
  c.Publish(&t->mine_, sizeof t->mine_);
  bool all = false;
  Status s = c.Vote(have, &all);
  if (!s.ok() || !all) {
    t->Release();
    return s;
  }
  t->peers_.assign(size_t(c.size()), PeerSlot{});
  t->opened_.assign(size_t(c.size()), nullptr);
  bool opened = true;
  for (int p = 0; p < c.size() && opened; ++p) {
    if (p == t->rank_) continue;
    std::memcpy(&t->peers_[size_t(p)], c.Published(p), sizeof(PeerSlot));
    const void* ptr = nullptr;
    opened = t->backend_->OpenPeerSlot(t->peers_[size_t(p)], &ptr).ok();
    if (opened) t->opened_[size_t(p)] = ptr;
  }
  s = c.Vote(opened, &all);
  if (!s.ok() || !all) {
    t->Release();
    return s;
  }
  t->agreed_ = true;
  *out = std::move(t);
  return Status::Ok();
}

DeviceTransport::~DeviceTransport() {
  // This rank leaves with its transport (a close, or its handle collected): tell the peers now, or
  // they would wait on it until the slot's release below gives up — and could not release theirs.
  if (agreed_) comm_->Close();
  Release();
}

void DeviceTransport::Release() {
  for (size_t p = 0; p < opened_.size(); ++p)
    if (opened_[p] != nullptr) backend_->ClosePeerSlot(peers_[p], opened_[p]);
  opened_.clear();
  comm_->ReleasePeers();
  if (mine_.kind == PeerSlot::kNone) return;
  // No peer process can have imported it: a sim slot, or every peer's slot is of this process. (A
  // cuda slot released by a failed vote has no peers_ yet, and a peer may have opened it already.)
  bool same_process = mine_.kind == PeerSlot::kSim || !peers_.empty();
  for (size_t p = 0; p < peers_.size(); ++p)
    if (int(p) != rank_ && peers_[p].process != ThisProcessToken()) same_process = false;
  if (comm_->PeersReleased() || (same_process && comm_->PeersDoneReading())) {
    backend_->FreePeerSlot(mine_);
  } else {
    // A peer may still read or map it: freed by the process's reaper when it is safe, not on the
    // context's stream, whose later work must not wait for another rank's close.
    SlotReaper::Get().Add(backend_, comm_, mine_, same_process);
  }
  mine_ = PeerSlot{};
}

Status DeviceTransport::Allreduce(const CommAllreduceRmsnormArgs& a, LaunchInfo* info) {
  ShmComm* c = comm_.get();
  const size_t bytes = size_t(a.tokens) * size_t(a.hidden) * 2;
  // Nothing is written into the slot of a broken comm: the last call may have ended (its depart
  // wait broken) while a peer still copies this slot's rows, and the next x would land under that
  // copy — a peer's call then succeeded with this rank's next x (2026-12-05, sim). A comm that is
  // not broken here had every peer depart from the last call, and broken stays broken.
  Status usable = c->CheckUsable();
  if (!usable.ok()) return usable;
  // x into this rank's slot, finished before the peers are told it is there. Like the host
  // transport, a failure before arriving abandons the comm so the peers fail now, not at their timeout.
  Status s = bytes <= c->slot_bytes() ? Status::Ok()
                                      : Status::Error(StatusCode::kArgument, std::string(a.kOpName) + ": x must be at most " +
                                                                                 std::to_string(c->slot_bytes()) + " bytes (the id's maxBytes), got " +
                                                                                 std::to_string(bytes), "x");
  if (s.ok() && mine_.kind != PeerSlot::kNone) s = backend_->CopyOnDevice(reinterpret_cast<void*>(uintptr_t(mine_.ptr)), a.x, bytes);
  if (s.ok()) s = backend_->Synchronize();
  if (!s.ok()) {
    c->Abandon("rank " + std::to_string(rank_) + " could not put its x in its comm slot: " + s.message);
    return s;
  }
  AllreduceGatheredArgs g = GatheredArgsOf(a, rank_, c->size());
  for (size_t q = 0; q < opened_.size(); ++q) g.peers[q] = static_cast<const uint16_t*>(opened_[q]);
  // The peers' slots hold this call's rows while every rank is between arriving and departing:
  // the op's copies out of them (and its kernel) finish before this rank departs.
  return c->Exchange(nullptr, 0, a.tokens, a.hidden, [&](const std::vector<const void*>&) {
    Status r = backend_->AllreduceGathered(g, info);
    Status y = backend_->Synchronize();
    return r.ok() ? y : r;
  });
}

}  // namespace sparq::comm
