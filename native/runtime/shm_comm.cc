#include "runtime/shm_comm.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <random>
#include <thread>

namespace sparq::comm {

// The segment: this header (one page), then one slot of slot_bytes per rank.
struct RankState {
  std::atomic<uint64_t> arrive;   // calls whose input is in my slot
  std::atomic<uint64_t> depart;   // calls whose slots I have finished reading
  std::atomic<int64_t> pid;       // my process (0 = not joined)
  std::atomic<int64_t> tokens, hidden;  // the shape of my current call
  std::atomic<uint32_t> joined;
  std::atomic<uint32_t> released;  // ReleasePeers: no peer slot of mine is open any more
  // Vote v (1-based) of this rank: bit 31 + v of `votes` is its answer, the low 32 bits how many
  // votes it has cast. Answers accumulate, so they stay readable after later votes.
  std::atomic<uint64_t> votes;
  // My process's pid namespace (PidNamespace(); 0 unknown): a pid means a process only inside its
  // namespace, and ranks in two containers sharing /dev/shm may each be pid 1.
  std::atomic<uint64_t> pid_ns;
};
static_assert(sizeof(RankState) == 64, "one cache line per rank");

struct ShmComm::Segment {
  std::atomic<uint32_t> init;     // 0 fresh (ftruncate zero-fills), 1 being initialized, 2 ready
  uint32_t magic;
  int32_t size;
  uint32_t reserved;
  uint64_t slot_bytes;
  // The first step the break failed (written before broken = 2): call c, or 0 for the join. A wait
  // that completes at that step or a later one fails too (WaitAll), so a rank that was stalled
  // while its peers gave up does not report success for the call they failed.
  std::atomic<uint64_t> broken_step;
  std::atomic<uint32_t> broken;   // 0 usable, 1 reason being written, 2 broken (reason valid)
  char reason[500];
  RankState ranks[kMaxRanks];
  uint8_t records[kMaxRanks][ShmComm::kRecordBytes];  // Publish
};
static_assert(std::atomic<uint64_t>::is_always_lock_free && std::atomic<uint32_t>::is_always_lock_free,
              "atomics in shared memory must be lock-free (address-free across processes)");

namespace {

constexpr uint32_t kMagic = 0x32435153;  // "SQC2" (SQC1 had no broken_step)
constexpr size_t kHeaderBytes = 4096;

using Clock = std::chrono::steady_clock;

std::string Hex(const uint8_t* p, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s += digits[p[i] >> 4];
    s += digits[p[i] & 15];
  }
  return s;
}

// This process's pid namespace: the inode of /proc/self/ns/pid (0 where /proc is not mounted).
uint64_t PidNamespace() {
  static const uint64_t ns = [] {
    struct stat st {};
    return ::stat("/proc/self/ns/pid", &st) == 0 ? uint64_t(st.st_ino) : uint64_t(0);
  }();
  return ns;
}

// Whether the process of a rank that joined is known to have exited. Only a pid of this pid
// namespace can be asked about (kill(pid, 0)); a rank in another one — a container sharing
// /dev/shm — or of unknown namespace is never called gone: its absence shows at the timeout.
// This process's own ranks (threads) are never gone.
bool RankProcessGone(const RankState& r) {
  const int64_t pid = r.pid.load(std::memory_order_acquire);
  const uint64_t ns = r.pid_ns.load(std::memory_order_acquire);
  if (pid <= 0 || ns == 0 || ns != PidNamespace() || pid == int64_t(::getpid())) return false;
  return ::kill(pid_t(pid), 0) != 0 && errno == ESRCH;
}

// "name@device:inode": a segment file's identity (a name may be given to a new file once the old
// one is unlinked: a comm joined again).
std::string FileKey(const std::string& name, const struct stat& st) {
  return name + "@" + std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
}

// Unlinks the name of the file `key` names, only while the name still names that file — never a
// newer file given the same name (a re-join's) that is not this caller's to remove.
void UnlinkIfStill(const std::string& key) {
  const std::string name = key.substr(0, key.find('@'));
  struct stat st {};
  if (::stat(("/dev/shm" + name).c_str(), &st) == 0 && FileKey(name, st) == key) ::shm_unlink(name.c_str());
}

// One mapping of a segment per process, shared by every rank of this process (refcounted): ranks
// that are threads see the counters and slots at one address, as ThreadSanitizer must to follow
// their release/acquire pairs (two mappings of one page are two objects to it), and a process
// with several ranks maps the slots once. Every process that has a segment open holds a shared
// flock on it, from the open until its last rank lets go (the kernel drops it when the process
// ends, however it ends, in any pid namespace): a segment no one holds is one no live rank is in,
// which the sweep removes (SweepDeadSegments).
struct Mapping {
  void* base = nullptr;
  size_t bytes = 0;
  int refs = 0;
  int fd = -1;  // kept open to reserve the segment's pages (ReserveBytes)
};
// Keyed by the segment file's identity, not only its name: a name may be reused for a fresh file
// once the old one was unlinked (an id joined again after its comm ended), and a closed comm's
// mapping lives until its handle is collected — keyed by name alone, a new join found the old,
// broken segment ("rank 0 twice" until a GC). A join still finds a live (unbroken) comm of its name
// this process maps, whose name rank 0 has unlinked: so a rank joined twice, or another size, is
// refused at once rather than waiting in a fresh file for peers that are elsewhere.
std::mutex g_mappings_mu;
std::map<std::string, Mapping>& Mappings() {
  static auto* m = new std::map<std::string, Mapping>();  // never destroyed: ranks may outlive statics
  return *m;
}

// Names of segments a join of this process is waiting in: the name is unlinked when every rank has
// joined, or when the wait fails; a process that exits in between (process.exit(), an uncaught
// exception: Node runs no environment cleanup hook for the main thread then) would leave the file
// in /dev/shm for good (maxBytes · size bytes of apparent size, seen 2026-12-05). exit() runs this
// process's atexit handler, which unlinks them; the ranks that already mapped one keep it, and see
// this rank's pid gone.
std::mutex g_joining_mu;
std::multiset<std::string>& JoiningNames() {  // mapping keys, one per waiting join (ranks in workers share one)
  static auto* s = new std::multiset<std::string>();  // never destroyed: the atexit handler reads it last
  return *s;
}
void UnlinkJoiningAtExit() {
  std::lock_guard<std::mutex> lk(g_joining_mu);
  for (const std::string& key : JoiningNames()) UnlinkIfStill(key);
}
void MarkJoining(const std::string& key, bool joining) {
  static const bool registered = std::atexit(UnlinkJoiningAtExit) == 0;
  (void)registered;
  std::lock_guard<std::mutex> lk(g_joining_mu);
  if (joining) {
    JoiningNames().insert(key);
  } else {
    auto it = JoiningNames().find(key);
    if (it != JoiningNames().end()) JoiningNames().erase(it);
  }
}

// Backs [offset, offset + bytes) of the segment with real pages. tmpfs allocates a page when it is
// first written, and a write /dev/shm has no room for is a SIGBUS that kills the process (a 16 MiB
// /dev/shm and a 32 MiB x did, 2026-12-05; Docker's default is 64 MiB): posix_fallocate makes that
// an ENOSPC here instead. A file system without fallocate (EOPNOTSUPP, EINVAL) keeps the old risk.
int ReserveBytes(int fd, size_t offset, size_t bytes) {
  if (fd < 0 || bytes == 0) return 0;
  const int e = ::posix_fallocate(fd, off_t(offset), off_t(bytes));
  return e == EOPNOTSUPP || e == EINVAL || e == ENOSYS ? 0 : e;
}

// *key_out: the mapping's key (UnmapSegment's argument). A mapping this process already has is
// shared when it is large enough; else `too_small(its bytes)` says why not (Join knows the ranks'
// size and slot bytes, and names the one that differs).
template <class TooSmall>
Status MapSegment(const std::string& name, size_t total, Clock::time_point deadline, const std::atomic<bool>& cancel,
                  void** out, int* fd_out, std::string* key_out, TooSmall&& too_small) {
  const char* op = "comm";
  auto share = [&](const std::string& key, Mapping& m) {
    if (m.bytes < total) return too_small(m.base);
    ++m.refs;
    *out = m.base;
    *fd_out = m.fd;
    *key_out = key;
    return Status::Ok();
  };
  {
    std::lock_guard<std::mutex> lk(g_mappings_mu);
    const std::string prefix = name + "@";
    for (auto& [key, m] : Mappings())
      if (key.compare(0, prefix.size(), prefix) == 0 &&
          static_cast<const ShmComm::Segment*>(m.base)->broken.load(std::memory_order_acquire) == 0)
        return share(key, m);
  }
  int fd = -1;
  struct stat st {};
  // The shared lock waits only while a sweep holds the file (microseconds), but a sweeping process
  // can be stopped there (Ctrl-Z, a frozen container): the wait is bounded by the join's timeout and
  // ends when the context closes, as every comm wait is. A file a sweep removed between our open
  // and our lock (no one held it then) has no name any more: open the name again.
  for (int i = 0;; ++i) {
    if (fd < 0) {
      fd = ::shm_open(name.c_str(), O_CREAT | O_RDWR, 0600);
      if (fd < 0)
        return Status::Error(StatusCode::kBackend, std::string(op) + ": could not open the shared-memory segment " + name +
                                                       " (" + std::strerror(errno) + "); is /dev/shm mounted and writable?");
    }
    if (::flock(fd, LOCK_SH | LOCK_NB) == 0) {
      if (::fstat(fd, &st) != 0) {
        const int e = errno;
        ::close(fd);
        return Status::Error(StatusCode::kBackend, std::string(op) + ": could not stat the shared-memory segment " + name +
                                                       " (" + std::strerror(e) + ")");
      }
      if (st.st_nlink > 0) break;
      ::close(fd);  // unlinked by a sweep: the next turn opens the name afresh
      fd = -1;
    } else if (errno != EWOULDBLOCK && errno != EINTR) {
      const int e = errno;
      ::close(fd);
      return Status::Error(StatusCode::kBackend, std::string(op) + ": could not lock the shared-memory segment " + name +
                                                     " (" + std::strerror(e) + ")");
    }
    const bool cancelled = cancel.load(std::memory_order_relaxed);
    if (cancelled || Clock::now() > deadline) {
      if (fd >= 0) ::close(fd);
      return Status::Error(StatusCode::kTimeout,
                           std::string(op) + (cancelled ? ": the context was closed while the join waited for "
                                                        : ": the join timed out waiting for ") +
                               "the shared-memory segment " + name + " (a process holding it exclusively, stopped?)");
    }
    Backoff(i);
  }
  const std::string key = FileKey(name, st);
  std::lock_guard<std::mutex> lk(g_mappings_mu);
  auto it = Mappings().find(key);
  if (it != Mappings().end()) {  // another rank of this process mapped this file meanwhile
    ::close(fd);
    return share(key, it->second);
  }
  if (size_t(st.st_size) < total && ::ftruncate(fd, off_t(total)) != 0) {
    const int e = errno;
    ::close(fd);
    return Status::Error(StatusCode::kOutOfMemory, std::string(op) + ": could not size the shared-memory segment to " +
                                                       std::to_string(total) + " bytes (" + std::strerror(e) + ")");
  }
  if (const int e = ReserveBytes(fd, 0, kHeaderBytes)) {  // the header is written at once (the join's counters)
    ::close(fd);
    return Status::Error(StatusCode::kOutOfMemory, std::string(op) + ": /dev/shm has no room for the comm's " +
                                                       std::to_string(kHeaderBytes) + "-byte header (" + std::strerror(e) +
                                                       "); enlarge /dev/shm (docker run --shm-size)");
  }
  void* p = ::mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    const int e = errno;
    ::close(fd);
    return Status::Error(StatusCode::kOutOfMemory, std::string(op) + ": could not map the shared-memory segment (" +
                                                       std::strerror(e) + ")");
  }
  Mappings()[key] = Mapping{p, total, 1, fd};
  *out = p;
  *fd_out = fd;
  *key_out = key;
  return Status::Ok();
}

void UnmapSegment(const std::string& key) {
  std::lock_guard<std::mutex> lk(g_mappings_mu);
  auto it = Mappings().find(key);
  if (it == Mappings().end() || --it->second.refs > 0) return;
  ::munmap(it->second.base, it->second.bytes);
  if (it->second.fd >= 0) ::close(it->second.fd);
  Mappings().erase(it);
}

// Unlinks the segments in /dev/shm that no process has open — every rank that was in one has
// exited — so nothing can ever meet there: a process stopped by a signal (SIGTERM from docker stop
// or systemd, Ctrl-C) while its join waited runs no exit handler (Node's default action), so its
// name stayed for good (2026-12-05). Whoever joins a comm next on this machine removes them, its
// own id's included (a job restarted with the same id then meets in a fresh segment). Judged by
// the shared flock every member holds (MapSegment), not by pids, so ranks in other pid namespaces
// (containers sharing /dev/shm) are safe; files this process cannot open (another user's, unless
// it runs as root) are left.
void SweepDeadSegments() {
  DIR* dir = ::opendir("/dev/shm");
  if (dir == nullptr) return;
  constexpr size_t kNameChars = 6 + 32;  // "sparq-" + 16 bytes in hex
  while (const dirent* e = ::readdir(dir)) {
    if (std::strncmp(e->d_name, "sparq-", 6) != 0 || std::strlen(e->d_name) != kNameChars ||
        std::strspn(e->d_name + 6, "0123456789abcdef") != kNameChars - 6)
      continue;
    const std::string name = std::string("/") + e->d_name;
    const int fd = ::shm_open(name.c_str(), O_RDONLY, 0);
    if (fd < 0) continue;
    struct stat st {};
    // Exclusive and not waiting: it fails while any process holds the segment. A joiner that opened
    // the name but has yet to lock it finds the file unlinked once it does, and opens the name again.
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0 && ::fstat(fd, &st) == 0 && st.st_nlink > 0) UnlinkIfStill(FileKey(name, st));
    ::close(fd);  // releases the lock
  }
  ::closedir(dir);
}

// first: what the first rank to join recorded (-1: unknown, the segment not ours or not ready).
Status SizeDiffers(int first, int size) {
  return Status::Error(StatusCode::kArgument,
                       "comm: size must be " + (first > 0 ? std::to_string(first) + " (what the first rank to join said)"
                                                          : std::string("what the first rank to join said")) +
                           ", got " + std::to_string(size),
                       "size");
}

Status SlotBytesDiffer(uint64_t first, uint64_t mine) {
  return Status::Error(StatusCode::kArgument,
                       "comm: id must be the one every rank was given, got one whose maxBytes (" + std::to_string(mine) +
                           ") differs from the first rank's (" + std::to_string(first) + ")",
                       "id");
}

}  // namespace

void Backoff(int iteration, int spins) {
  if (iteration < spins) return;
  if (iteration < 2 * spins) {
    std::this_thread::yield();
    return;
  }
  std::this_thread::sleep_for(std::chrono::microseconds(iteration < 2048 ? 20 : 200));
}

std::vector<uint8_t> NewId(uint64_t slot_bytes) {
  std::vector<uint8_t> id(kIdBytes, 0);
  std::memcpy(id.data(), "SQC1", 4);
  std::random_device rd;
  for (int i = 0; i < 16; i += 4) {
    const uint32_t v = rd();
    std::memcpy(id.data() + 4 + i, &v, 4);
  }
  for (int i = 0; i < 8; ++i) id[20 + i] = uint8_t(slot_bytes >> (8 * i));
  return id;
}

Status ShmComm::Join(const std::vector<uint8_t>& id, int rank, int size, int64_t timeout_ms,
                     std::shared_ptr<std::atomic<bool>> cancel, std::shared_ptr<ShmComm>* out,
                     const std::vector<int>& rank_names) {
  const char* op = "comm";
  uint64_t slot_bytes = 0;
  for (int i = 0; i < 8; ++i) slot_bytes |= uint64_t(id.size() == kIdBytes ? id[20 + i] : 0) << (8 * i);
  const bool tail_zero = id.size() == kIdBytes && id[28] == 0 && id[29] == 0 && id[30] == 0 && id[31] == 0;
  if (id.size() != kIdBytes || std::memcmp(id.data(), "SQC1", 4) != 0 || slot_bytes == 0 || slot_bytes > (uint64_t(1) << 40) ||
      !tail_zero)
    return Status::Error(StatusCode::kArgument, std::string(op) + ": id must be the bytes sparq.comm.create() returned, got " +
                                                    std::to_string(id.size()) + " bytes that are not",
                         "id");
  std::shared_ptr<ShmComm> c(new ShmComm());
  c->rank_ = rank;
  c->size_ = size;
  c->slot_bytes_ = slot_bytes;
  c->timeout_ms_ = timeout_ms;
  if (rank_names.size() == size_t(size)) c->rank_names_ = rank_names;
  c->cancel_ = cancel ? std::move(cancel) : std::make_shared<std::atomic<bool>>(false);
  c->name_ = "/sparq-" + Hex(id.data() + 4, 16);
  SweepDeadSegments();
  const size_t total = kHeaderBytes + size_t(size) * size_t(slot_bytes);
  void* p = nullptr;
  // Another rank of this process mapped the segment for a smaller comm: its header says whether
  // the size or the id's maxBytes differs.
  auto too_small = [&](void* base) {
    const Segment& other = *static_cast<const Segment*>(base);
    if (other.init.load(std::memory_order_acquire) == 2 && other.slot_bytes != slot_bytes) return SlotBytesDiffer(other.slot_bytes, slot_bytes);
    return SizeDiffers(other.init.load(std::memory_order_acquire) == 2 ? other.size : -1, size);
  };
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  Status mapped = MapSegment(c->name_, total, deadline, *c->cancel_, &p, &c->fd_, &c->mapping_key_, too_small);
  if (!mapped.ok()) return mapped;
  c->seg_ = static_cast<Segment*>(p);
  c->mapped_bytes_ = total;
  Segment& s = *c->seg_;

  // The first rank to get here writes the group's size; the others check theirs against it.
  uint32_t fresh = 0;
  if (s.init.compare_exchange_strong(fresh, 1, std::memory_order_acq_rel)) {
    s.magic = kMagic;
    s.size = size;
    s.slot_bytes = slot_bytes;
    s.init.store(2, std::memory_order_release);
  }
  for (int i = 0; s.init.load(std::memory_order_acquire) != 2; ++i) {
    // The rank that created the segment stopped between creating and initializing it.
    if (Clock::now() > deadline)
      return Status::Error(StatusCode::kTimeout, std::string(op) + ": the segment was never initialized (the rank that made it "
                                                     "stopped within microseconds of doing so), waited " +
                                                     std::to_string(timeout_ms) + " ms");
    if (c->cancel_->load(std::memory_order_relaxed))
      return Status::Error(StatusCode::kTimeout, std::string(op) + ": rank " + c->RankName(rank) +
                                                     " closed the comm (its context was closed) while joining");
    Backoff(i);
  }
  // A join refused for a bad size or rank leaves the segment as it was: it must not close (break)
  // the comm its rightful members share, in this process's mapping or any other.
  auto refuse = [&c](Status why) {
    UnmapSegment(c->mapping_key_);
    c->seg_ = nullptr;
    return why;
  };
  if (s.magic != kMagic || s.size != size) return refuse(SizeDiffers(s.magic == kMagic ? s.size : -1, size));
  // Each rank finds slot p at p · its id's maxBytes: ranks given ids that differ there would read
  // each other's rows at the wrong offsets (wrong sums, no error; 2026-12-05).
  if (s.slot_bytes != slot_bytes) return refuse(SlotBytesDiffer(s.slot_bytes, slot_bytes));
  RankState& me = s.ranks[rank];
  uint32_t not_joined = 0;
  if (!me.joined.compare_exchange_strong(not_joined, 1, std::memory_order_acq_rel))
    return refuse(Status::Error(StatusCode::kArgument, std::string(op) + ": rank must be one no other member has joined as, got " +
                                                           c->RankName(rank) + " twice",
                                "rank"));
  me.pid_ns.store(PidNamespace(), std::memory_order_relaxed);
  me.pid.store(int64_t(::getpid()), std::memory_order_release);

  MarkJoining(c->mapping_key_, true);
  Status w = c->WaitAll(Wait::kJoin, 0);
  MarkJoining(c->mapping_key_, false);
  if (!w.ok()) {
    UnlinkIfStill(c->mapping_key_);  // nobody else should meet in it now
    return w;
  }
  if (rank == 0) UnlinkIfStill(c->mapping_key_);  // everyone has it mapped: the name is no longer needed
  *out = std::move(c);
  return Status::Ok();
}

ShmComm::~ShmComm() {
  static_assert(sizeof(Segment) <= 4096, "the header fits its page");
  Close();
  if (seg_) UnmapSegment(mapping_key_);
}

void ShmComm::Close() {
  if (seg_ == nullptr) return;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (!local_broken_.empty()) return;
    local_broken_ = "rank " + RankName(rank_) + " closed the comm";
  }
  (void)Break("rank " + RankName(rank_) + " closed the comm");
}

std::string ShmComm::BrokenReason() const {
  std::lock_guard<std::mutex> lk(mu_);
  if (!local_broken_.empty()) return local_broken_;
  if (seg_ && seg_->broken.load(std::memory_order_acquire) == 2) return std::string(seg_->reason);
  return "";
}

Status ShmComm::Break(const std::string& reason, const char* op) { return Break(reason, op, calls_ + 1); }

Status ShmComm::Break(const std::string& reason, const char* op, uint64_t failed_step) {
  uint32_t zero = 0;
  if (seg_->broken.compare_exchange_strong(zero, 1, std::memory_order_acq_rel)) {
    std::strncpy(seg_->reason, reason.c_str(), sizeof(seg_->reason) - 1);
    seg_->broken_step.store(failed_step, std::memory_order_relaxed);
    seg_->broken.store(2, std::memory_order_release);
  }
  // No one may meet in a broken comm: a join of its id from now on gets a fresh segment, even while
  // this process keeps the old one mapped (until the handle is collected).
  UnlinkIfStill(mapping_key_);
  return Status::Error(StatusCode::kTimeout, std::string(op) + ": " + reason);
}

Status ShmComm::WaitAll(Wait what, uint64_t target) {
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::milliseconds(timeout_ms_);
  auto reached = [&](const RankState& r) {
    switch (what) {
      case Wait::kJoin: return r.joined.load(std::memory_order_acquire) == 1;
      case Wait::kArrive: return r.arrive.load(std::memory_order_acquire) >= target;
      case Wait::kDepart: return r.depart.load(std::memory_order_acquire) >= target;
      case Wait::kVote: return (r.votes.load(std::memory_order_acquire) & 0xffffffffu) >= target;
    }
    return false;
  };
  // The join (and its transport vote) is sq.comm's; every later wait is a call's.
  const bool joining = what == Wait::kJoin || what == Wait::kVote;
  const char* op = joining ? "comm" : "comm.allreduceRmsnorm";
  const uint64_t step = joining ? 0 : target;  // Segment::broken_step
  auto broken = [&] {
    return Status::Error(StatusCode::kTimeout, std::string(op) + ": the comm is broken: " + std::string(seg_->reason));
  };
  for (int i = 0;; ++i) {
    bool all = true;
    for (int p = 0; p < size_ && all; ++p) all = reached(seg_->ranks[p]);
    const bool is_broken = seg_->broken.load(std::memory_order_acquire) == 2;
    // Every counter reached, but a peer gave up on this step (a rank stopped, then resumed, after
    // the others timed out on it): fail it as they did. A break at a later step — a peer that
    // finished this call and closed — leaves it done.
    if (all) return is_broken && seg_->broken_step.load(std::memory_order_relaxed) <= step ? broken() : Status::Ok();
    if (is_broken) return broken();
    if (cancel_->load(std::memory_order_relaxed))
      return Break("rank " + RankName(rank_) + " closed the comm (its context was closed)", op, step);
    if ((i & 255) == 255) {
      std::string missing, gone;
      for (int p = 0; p < size_; ++p) {
        if (reached(seg_->ranks[p])) continue;
        if (RankProcessGone(seg_->ranks[p]))
          gone += (gone.empty() ? "" : ", ") + RankName(p) + " (pid " + std::to_string(seg_->ranks[p].pid.load()) + ")";
        missing += (missing.empty() ? "" : ", ") + RankName(p);
      }
      const std::string call = what == Wait::kJoin   ? "the join"
                               : what == Wait::kVote ? "the join's transport agreement"
                                                     : "call " + std::to_string(target);
      if (!gone.empty()) return Break("rank " + gone + " exited before " + call, op, step);
      if (Clock::now() > deadline) {
        // Alone in the segment at the join: the others may not have come yet — or they formed the
        // comm of this id without this rank (an id's segment goes once its comm forms, so a rank
        // arriving after that meets no one).
        int others = 0;
        for (int p = 0; p < size_; ++p) others += p != rank_ && reached(seg_->ranks[p]) ? 1 : 0;
        const std::string alone = what == Wait::kJoin && others == 0
                                      ? "; no other rank joined this id: if they did join, they formed its comm before this "
                                        "rank came (each id forms one comm, once), or their join was refused (they passed "
                                        "another size, or an id whose maxBytes differs)"
                                      : "";
        const std::string verb = what == Wait::kJoin     ? "join"
                                 : what == Wait::kVote   ? "finish joining (" + call + ")"
                                 : what == Wait::kArrive ? "arrive at " + call
                                                         : "finish " + call;
        return Break("rank " + missing + " did not " + verb + " within " + std::to_string(timeout_ms_) +
                     " ms (rank " + RankName(rank_) + " waited)" + alone,
                     op, step);
      }
    }
    Backoff(i);
  }
}

void ShmComm::Publish(const void* record, size_t bytes) {
  std::memset(seg_->records[rank_], 0, kRecordBytes);
  std::memcpy(seg_->records[rank_], record, bytes < kRecordBytes ? bytes : kRecordBytes);
}

const void* ShmComm::Published(int rank) const { return seg_->records[rank]; }

void ShmComm::ReleasePeers() { seg_->ranks[rank_].released.store(1, std::memory_order_release); }

bool ShmComm::PeersReleased() const {
  for (int p = 0; p < size_; ++p) {
    if (p == rank_) continue;
    const RankState& r = seg_->ranks[p];
    if (r.released.load(std::memory_order_acquire) != 1 && !RankProcessGone(r)) return false;
  }
  return true;
}

bool ShmComm::PeersDoneReading() const {
  const uint64_t arrived = seg_->ranks[rank_].arrive.load(std::memory_order_acquire);
  for (int p = 0; p < size_; ++p) {
    if (p == rank_) continue;
    const RankState& r = seg_->ranks[p];
    if (r.depart.load(std::memory_order_acquire) < arrived && r.released.load(std::memory_order_acquire) != 1 &&
        !RankProcessGone(r))
      return false;
  }
  return true;
}

Status ShmComm::Vote(bool yes, bool* all_yes) {
  *all_yes = false;
  if (votes_ >= uint64_t(kMaxVotes))
    return Status::Error(StatusCode::kBackend, "comm: more than " + std::to_string(kMaxVotes) + " votes on one comm");
  const uint64_t v = ++votes_;
  RankState& me = seg_->ranks[rank_];
  const uint64_t answers = (me.votes.load(std::memory_order_relaxed) >> 32) | (yes ? uint64_t(1) << (v - 1) : 0);
  me.votes.store(answers << 32 | v, std::memory_order_release);
  Status s = WaitAll(Wait::kVote, v);
  if (!s.ok()) return s;
  bool all = true;
  for (int p = 0; p < size_; ++p) all = all && ((seg_->ranks[p].votes.load(std::memory_order_acquire) >> (31 + v)) & 1) != 0;
  *all_yes = all;
  return Status::Ok();
}

Status ShmComm::CheckUsable() {
  if (cancel_->load(std::memory_order_relaxed)) Close();
  const std::string broken = BrokenReason();
  if (!broken.empty())
    return Status::Error(StatusCode::kTimeout, "comm.allreduceRmsnorm: comm must be a usable comm, got one that is broken (" + broken + ")",
                         "comm");
  return Status::Ok();
}

Status ShmComm::Arrive(const void* input, size_t bytes, int64_t tokens, int64_t hidden, std::vector<const void*>* slots) {
  Status usable = CheckUsable();
  if (!usable.ok()) return usable;
  if (bytes > slot_bytes_)
    return Status::Error(StatusCode::kArgument, "comm.allreduceRmsnorm: x must be at most " + std::to_string(slot_bytes_) +
                                                    " bytes (the id's maxBytes), got " + std::to_string(bytes),
                         "x");
  // Pages for this rank's slot before the write, so a full /dev/shm is an error, not a SIGBUS. It
  // fails before this rank arrives: the comm is broken, so the peers fail now, not at their timeout.
  if (input != nullptr && bytes > reserved_bytes_) {
    if (const int e = ReserveBytes(fd_, kHeaderBytes + size_t(rank_) * slot_bytes_, bytes)) {
      const std::string why = "rank " + RankName(rank_) + " found no room in /dev/shm for its x (" + std::to_string(bytes) +
                              " bytes: " + std::strerror(e) + ")";
      (void)Break(why);
      return Status::Error(StatusCode::kOutOfMemory,
                           "comm.allreduceRmsnorm: " + why + "; enlarge /dev/shm (docker run --shm-size) or pass smaller x",
                           "x");
    }
    reserved_bytes_ = bytes;
  }
  const uint64_t call = ++calls_;
  uint8_t* base = reinterpret_cast<uint8_t*>(seg_) + kHeaderBytes;
  if (input != nullptr) std::memcpy(base + size_t(rank_) * slot_bytes_, input, bytes);
  RankState& me = seg_->ranks[rank_];
  me.tokens.store(tokens, std::memory_order_relaxed);
  me.hidden.store(hidden, std::memory_order_relaxed);
  me.arrive.store(call, std::memory_order_release);
  Status s = WaitAll(Wait::kArrive, call);
  if (!s.ok()) return s;
  for (int p = 0; p < size_; ++p) {
    const RankState& r = seg_->ranks[p];
    if (r.tokens.load(std::memory_order_relaxed) != tokens || r.hidden.load(std::memory_order_relaxed) != hidden) {
      (void)Depart();  // keep the counters in step: the next call can still run
      return Status::Error(StatusCode::kShape, "comm.allreduceRmsnorm: x must be [" + std::to_string(r.tokens.load()) + ", " +
                                                   std::to_string(r.hidden.load()) + "] (the shape rank " + RankName(p) +
                                                   " passed), got [" + std::to_string(tokens) + ", " +
                                                   std::to_string(hidden) + "] on rank " + RankName(rank_),
                           "x");
    }
  }
  slots->clear();
  for (int p = 0; p < size_; ++p) slots->push_back(base + size_t(p) * slot_bytes_);
  return Status::Ok();
}

Status ShmComm::Depart() {
  seg_->ranks[rank_].depart.store(calls_, std::memory_order_release);
  return WaitAll(Wait::kDepart, calls_);
}

}  // namespace sparq::comm
