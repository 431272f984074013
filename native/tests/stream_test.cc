// native/tests/stream_test.cc: the context stream (native/runtime/stream.h) — tasks run in the order
// they were enqueued; Drain() lets the worker finish the queue and exit while staying joinable
// (Exited(), then StopAndJoin() returns at once), which is what environment teardown relies on to
// leave no worker of a collected context running (binding/addon_data.h); StopAndJoin() lets the
// running task finish and drops the rest; a closing stream takes no new task; a task enqueued
// while the worker spins after its last task, or sleeps past that, or just between the two, runs.
// Tasks (runtime/task.h) hold a closure in place or on the heap, move, run and destroy it exactly
// once; the queue's ring keeps order across its growth (with wrapped slots) and its shrink.
#include <atomic>
#include <chrono>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "runtime/stream.h"
#include "runtime/task.h"
#include "sim_test_util.h"

using sparq_test::Check;

namespace {

// Polls `done` for up to 10 s (a loaded CI box can keep the worker off its core for a while).
template <typename Fn>
bool WaitFor(Fn done) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

void DrainRunsEverythingInOrderThenExits() {
  sparq::Stream stream;
  std::mutex mu;
  std::vector<int> order;
  std::atomic<bool> gate{false};
  // The first task holds the worker until the rest are queued, so Drain() meets a full queue.
  stream.Enqueue([&] { WaitFor([&] { return gate.load(); }); });
  for (int i = 0; i < 100; ++i)
    stream.Enqueue([&, i] {
      std::lock_guard<std::mutex> lock(mu);
      order.push_back(i);
    });
  stream.Drain();
  Check(!stream.Enqueue([] {}), "drain: a draining stream takes no new task");
  Check(!stream.Exited(), "drain: the worker has not exited while a task runs");
  gate = true;
  Check(WaitFor([&] { return stream.Exited(); }), "drain: the worker exits once the queue is empty");
  stream.StopAndJoin();  // the worker is done: joins at once
  bool in_order = order.size() == 100;
  for (int i = 0; in_order && i < 100; ++i) in_order = order[i] == i;
  Check(in_order, "drain: every queued task ran, in enqueue order", "%zu ran", order.size());
}

void StopAndJoinDropsTheQueue() {
  sparq::Stream stream;
  std::atomic<bool> running{false}, gate{false};
  std::atomic<int> ran{0};
  stream.Enqueue([&] {
    running = true;
    WaitFor([&] { return gate.load(); });
    ++ran;
  });
  for (int i = 0; i < 10; ++i) stream.Enqueue([&] { ++ran; });
  WaitFor([&] { return running.load(); });
  std::thread opener([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    gate = true;
  });
  stream.StopAndJoin();  // waits for the running task, drops the 10 behind it
  opener.join();
  Check(ran.load() == 1, "stop: the running task finishes, the queued ones are dropped", "%d ran", ran.load());
  Check(stream.Exited(), "stop: the worker has exited after StopAndJoin");
}

// The worker spins ~100 µs for the next task, then sleeps; Enqueue notifies only a sleeping worker.
// Gaps around that window (0–400 µs, seeded) put enqueues before, inside and after the worker's
// switch from spinning to sleeping: a lost wake-up leaves a task unrun and the wait times out.
void TasksRunAcrossTheSpinAndSleepHandoff() {
  sparq::Stream stream;
  std::atomic<int> ran{0};
  std::atomic<bool> in_order{true};
  std::mt19937 rng(20261203);
  std::uniform_int_distribution<int> gap_us(0, 400);
  constexpr int kTasks = 3000;
  for (int i = 0; i < kTasks; ++i) {
    stream.Enqueue([&, i] {
      if (ran.load() != i) in_order = false;
      ++ran;
    });
    if (i % 7 == 0) {
      // Wait for the worker to catch up first, so the next enqueue meets it spinning or asleep. A
      // task left unrun (a lost wake-up) ends the loop: the check below then reports it at once.
      if (!WaitFor([&] { return ran.load() == i + 1; })) break;
      std::this_thread::sleep_for(std::chrono::microseconds(gap_us(rng)));
    }
  }
  Check(WaitFor([&] { return ran.load() == kTasks; }), "handoff: every task enqueued around the spin window ran",
        "%d of %d ran", ran.load(), kTasks);
  Check(in_order.load(), "handoff: in enqueue order");
  // Long idle (the worker certainly asleep), then one task.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  stream.Enqueue([&] { ++ran; });
  Check(WaitFor([&] { return ran.load() == kTasks + 1; }), "handoff: a task enqueued to a sleeping worker runs");
  stream.Drain();
  Check(WaitFor([&] { return stream.Exited(); }), "handoff: the worker exits on drain");
  stream.StopAndJoin();
}

// Counts live copies of itself: a closure destroyed twice or never shows in `live`.
struct Tracked {
  std::atomic<int>* live;
  explicit Tracked(std::atomic<int>* l) : live(l) { ++*live; }
  Tracked(const Tracked& o) : live(o.live) { ++*live; }
  Tracked(Tracked&& o) noexcept : live(o.live) { ++*live; }
  ~Tracked() { --*live; }
};

void TasksKeepRunAndDestroyTheirClosureOnce() {
  std::atomic<int> live{0};
  int ran = 0;
  {
    Tracked t(&live);
    sparq::Task small;
    {
      auto closure = [t, &ran] { ++ran; };
      static_assert(sparq::Task::FitsInline<decltype(closure)>(), "a small closure is kept in place");
      small = sparq::Task(std::move(closure));
    }
    struct Big {
      char pad[sparq::Task::kInlineBytes + 8];
    } big{};
    big.pad[3] = 7;
    sparq::Task large([t, big, &ran] { ran += big.pad[3]; });
    Check(live.load() == 3, "task: each task holds one copy of its closure", "%d live", live.load());
    sparq::Task moved_small(std::move(small)), moved_large(std::move(large));
    Check(!small && !large && moved_small && moved_large, "task: a move leaves the source empty");
    Check(live.load() == 3, "task: a move neither copies nor drops the closure", "%d live", live.load());
    moved_small();
    moved_large();
    Check(ran == 8, "task: the moved tasks run their closures (in place and on the heap)", "ran = %d", ran);
    sparq::Task assigned;
    assigned = std::move(moved_small);
    assigned();
    Check(ran == 9 && live.load() == 3, "task: move-assigned, it runs the same closure", "ran = %d, %d live", ran, live.load());
    assigned = std::move(moved_large);  // drops the small closure, takes the large one
    Check(live.load() == 2, "task: assigning over a task destroys its closure", "%d live", live.load());
    assigned.Reset();
    Check(!assigned && live.load() == 1, "task: Reset destroys the closure now", "%d live", live.load());
  }
  Check(live.load() == 0, "task: every closure destroyed exactly once", "%d live", live.load());
}

// Tasks queued behind a held worker, enough to grow the ring while its slots wrap (the first
// batch moved its head), then enough to pass the size it keeps once drained: order holds, every
// closure is released, and the stream still runs tasks after the ring shrank.
void TheRingKeepsOrderAcrossGrowthAndShrink() {
  sparq::Stream stream;
  std::atomic<int> ran{0}, live{0};
  std::atomic<bool> in_order{true};
  int next = 0;
  auto batch = [&](int count) {
    std::atomic<bool> gate{false};
    stream.Enqueue([&] { WaitFor([&] { return gate.load(); }); });
    for (int i = 0; i < count; ++i, ++next) {
      Tracked t(&live);
      stream.Enqueue([&, i = next, t] {
        if (ran.load() != i) in_order = false;
        ++ran;
      });
    }
    gate = true;
    return WaitFor([&] { return ran.load() == next; });
  };
  Check(batch(40), "ring: a first batch runs", "%d of %d ran", ran.load(), next);
  Check(batch(300), "ring: a batch that grows the ring from a wrapped head runs", "%d of %d ran", ran.load(), next);
  Check(batch(9000), "ring: a batch past the kept size runs", "%d of %d ran", ran.load(), next);
  Check(batch(100), "ring: tasks run after the ring shrank", "%d of %d ran", ran.load(), next);
  Check(in_order.load(), "ring: every task in enqueue order");
  Check(WaitFor([&] { return live.load() == 0; }), "ring: every task's closure released after it ran", "%d live",
        live.load());
  stream.Drain();
  stream.StopAndJoin();
}

void IdleStreamDrainsAtOnce() {
  sparq::Stream stream;
  stream.Drain();
  Check(WaitFor([&] { return stream.Exited(); }), "idle drain: an empty stream's worker exits");
  stream.StopAndJoin();
}

}  // namespace

int main() {
  TasksKeepRunAndDestroyTheirClosureOnce();
  TheRingKeepsOrderAcrossGrowthAndShrink();
  DrainRunsEverythingInOrderThenExits();
  StopAndJoinDropsTheQueue();
  IdleStreamDrainsAtOnce();
  TasksRunAcrossTheSpinAndSleepHandoff();
  return sparq_test::Summary();
}
