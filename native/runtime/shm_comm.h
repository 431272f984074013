// runtime/shm_comm.h: ranks in separate worker_threads or processes of one machine, meeting in a
// POSIX shared-memory segment (the cpu backend's comm; DESIGN.md `sq.comm`). The segment's name
// comes from the id `sparq.comm.create()` made (random, so two groups never meet by accident);
// every rank maps it, copies its input into its own slot, and synchronizes through per-rank
// counters: `arrive` (my slot holds call e's input) and `depart` (I have read every slot of call
// e, so it may be overwritten). Counters only grow, so nothing is ever reset between calls.
//
// Every wait is bounded: a rank that does not arrive within the comm's timeout (or whose process
// has exited) makes the waiting ranks fail with kTimeout naming it, and marks the segment broken,
// so every other rank fails at once too instead of waiting out its own timeout. A broken comm
// stays broken (each rank's next call fails with the recorded reason).
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "sparq/status.h"

namespace sparq::comm {

inline constexpr int kMaxRanks = 8;
inline constexpr size_t kIdBytes = 32;
inline constexpr uint64_t kDefaultSlotBytes = uint64_t(64) << 20;  // per rank: 64 MiB of input

// One step of a bounded poll (every comm wait): spin for the first `spins` iterations (peers
// usually answer within microseconds), then yield for as many again, then sleep in growing steps.
void Backoff(int iteration, int spins = 256);

// A new id: "SQC1", 16 random bytes (the segment's name), the slot size (little-endian u64), 4 zero bytes.
std::vector<uint8_t> NewId(uint64_t slot_bytes);

class ShmComm {
 public:
  // Maps (creating if first) the segment of `id` as `rank` of `size` and waits until every rank has
  // joined (bounded by timeout_ms: kTimeout naming the ranks that did not). kArgument on a malformed
  // id, a rank already joined, or a size that differs from the first rank's. Setting *cancel (from
  // any thread: the context is closing) ends this rank's waits now, here and in every later call,
  // and breaks the comm for the others.
  // rank_names: what its messages call rank p (default p) — a machine's part of an NCCL comm
  // (runtime/comm_nccl.h) names its ranks by their rank in that comm.
  static Status Join(const std::vector<uint8_t>& id, int rank, int size, int64_t timeout_ms,
                     std::shared_ptr<std::atomic<bool>> cancel, std::shared_ptr<ShmComm>* out,
                     const std::vector<int>& rank_names = {});
  ~ShmComm();
  ShmComm(const ShmComm&) = delete;
  ShmComm& operator=(const ShmComm&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  uint64_t slot_bytes() const { return slot_bytes_; }
  // The bound of every later wait (Join's timeout_ms bounds the join and, until set, the calls).
  // Before the comm is shared with another thread.
  void set_timeout_ms(int64_t timeout_ms) { timeout_ms_ = timeout_ms; }
  int64_t timeout_ms() const { return timeout_ms_; }
  // Why the comm is unusable ("" while it is usable): a timeout here or on a peer, or close().
  std::string BrokenReason() const;
  // Ok while the comm is usable, else the kTimeout a call gets (a cancelled one is closed first).
  // Only while it is usable may this rank write into its slot: see Exchange.
  Status CheckUsable();

  // One collective step, called by every rank with the same tokens × hidden: copies `bytes` of
  // `input` into this rank's slot, waits until every rank's slot holds this call's input, then
  // runs `read(slots)` (every rank's input, by rank), then waits until every rank has read. The
  // call number is this rank's count of Exchange calls. kShape when the ranks' shapes differ.
  // With input null (and bytes 0) nothing is copied: the ranks only meet (the device transport
  // moves the rows itself and ignores `slots`).
  template <class Read>
  Status Exchange(const void* input, size_t bytes, int64_t tokens, int64_t hidden, Read&& read) {
    std::vector<const void*> slots;
    Status s = Arrive(input, bytes, tokens, hidden, &slots);
    if (!s.ok()) return s;
    Status r = read(slots);
    Status d = Depart();
    return r.ok() ? d : r;
  }

  // A bounded barrier on which every rank says yes or no (the device transport's agreement at
  // join, runtime/comm_device.h): *all_yes = every rank said yes. Every rank must call Vote the
  // same number of times; a rank's answers stay readable after it votes again, so a fast rank
  // cannot overwrite an answer a slow one has yet to read. At most kMaxVotes per comm.
  static constexpr int kMaxVotes = 32;
  Status Vote(bool yes, bool* all_yes);

  // A record of up to kRecordBytes this rank shows its peers (the device transport's slot); write
  // it before a Vote, read the peers' after it (the vote orders them).
  static constexpr size_t kRecordBytes = 128;
  void Publish(const void* record, size_t bytes);
  const void* Published(int rank) const;

  // The device transport's teardown (runtime/comm_device.h). ReleasePeers: this rank has closed
  // every peer slot it opened and will read none again (after its last call). PeersReleased:
  // whether every other rank has said so or its process is gone (then this rank's slot may be
  // freed, whoever mapped it). PeersDoneReading: whether every other rank has released, is gone or
  // has departed from every call this rank arrived at — so it is reading none of this rank's slot
  // and never will (a call needs this rank's arrival, which ends with its release) — though a peer
  // process may still map it; a peer whose own call failed before it read never departs from it.
  void ReleasePeers();
  bool PeersReleased() const;
  bool PeersDoneReading() const;

  // This rank leaves: peers waiting on it fail at once ("rank r closed the comm").
  void Close();

  // This rank cannot take part in its next call (it failed before arriving, e.g. out of memory):
  // the comm is broken for every rank with `reason`, so the peers fail now instead of at their
  // timeout, and no later call can pair this rank's inputs with the peers' earlier ones.
  // Returns the kTimeout status the peers see.
  Status Abandon(const std::string& reason) { return Break(reason); }

 // The shared header's layout (shm_comm.cc); public for that file's helpers outside the class.
  struct Segment;

 private:
  ShmComm() = default;
  enum class Wait { kJoin, kArrive, kDepart, kVote };
  Status Arrive(const void* input, size_t bytes, int64_t tokens, int64_t hidden, std::vector<const void*>* slots);
  Status Depart();
  // Waits until every rank has joined, or its counter (arrive, depart, vote) reaches `target`; bounded.
  Status WaitAll(Wait what, uint64_t target);
  // Breaks the comm for every rank; the returned status reads "<op>: <reason>" (the join's waits
  // name op "comm", a call's "comm.allreduceRmsnorm"). failed_step: the first step the break fails
  // (a call number, 0 for the join); by default this rank's next call (it leaves, or cannot arrive).
  Status Break(const std::string& reason, const char* op = "comm.allreduceRmsnorm");
  Status Break(const std::string& reason, const char* op, uint64_t failed_step);
  std::string RankName(int p) const { return std::to_string(rank_names_.empty() ? p : rank_names_[size_t(p)]); }

  Segment* seg_ = nullptr;
  size_t mapped_bytes_ = 0;
  int fd_ = -1;                  // the segment's file, owned by the process's mapping
  uint64_t reserved_bytes_ = 0;  // of this rank's slot, backed by pages (Arrive)
  int rank_ = 0, size_ = 0;
  uint64_t slot_bytes_ = 0;
  int64_t timeout_ms_ = 0;
  // Written by the calls (the stream worker); read by Break, which a close on the JS thread runs too.
  std::atomic<uint64_t> calls_{0};
  uint64_t votes_ = 0;
  std::string name_;
  std::string mapping_key_;  // the process's mapping of the segment (its file's identity)
  std::vector<int> rank_names_;
  std::shared_ptr<std::atomic<bool>> cancel_;
  mutable std::mutex mu_;
  std::string local_broken_;
};

}  // namespace sparq::comm
