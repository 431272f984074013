// runtime/task.h: the stream's unit of work, a move-only void() callable that keeps its closure
// inside itself (up to kInlineBytes; larger ones go to the heap).
//
// Why not std::function: an op's closure (buffers, backend, arguments) is far past std::function's
// 16-byte small buffer, so every op paid a heap allocation per wrapping layer (the op's launch, the
// context's bookkeeping, the stream's slot) — made on the JS thread, freed on the stream worker.
// glibc frees another thread's chunk under that arena's lock, so the two threads took turns on the
// main arena's mutex for every op (futex wakes in the JS thread's profile; docs/decisions.md
// "Per-op cost on the JS thread"). A Task sits in the stream's ring and is never allocated.
#pragma once
#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace sparq {

class Task {
 public:
  // Room for an op's closure (its inputs and outputs, arguments, the context's bookkeeping around
  // it): every op's fits but a group's all-reduce (~560 bytes: per-rank pointers), which takes the
  // heap. binding/op_launch.h fails the build when another op's does not fit.
  static constexpr size_t kInlineBytes = 448;

  Task() noexcept = default;

  template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, Task>>>
  Task(F&& f) {  // NOLINT(google-explicit-constructor): lambdas convert where a Task is taken
    using Fn = std::decay_t<F>;
    if constexpr (FitsInline<Fn>()) {
      ::new (static_cast<void*>(buf_)) Fn(std::forward<F>(f));
      ops_ = &kInlineOps<Fn>;
    } else {
      ::new (static_cast<void*>(buf_)) Fn*(new Fn(std::forward<F>(f)));
      ops_ = &kHeapOps<Fn>;
    }
  }

  Task(Task&& other) noexcept { TakeFrom(other); }
  Task& operator=(Task&& other) noexcept {
    if (this != &other) {
      Reset();
      TakeFrom(other);
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() { Reset(); }

  explicit operator bool() const noexcept { return ops_ != nullptr; }
  void operator()() { ops_->invoke(buf_); }
  // Destroys the closure (and what it captured) now.
  void Reset() noexcept {
    if (ops_ != nullptr) {
      ops_->destroy(buf_);
      ops_ = nullptr;
    }
  }
  // Whether a closure of type F is kept inline (tests check the op closures are).
  template <class F>
  static constexpr bool FitsInline() {
    return sizeof(F) <= kInlineBytes && alignof(F) <= kAlign && std::is_nothrow_move_constructible_v<F>;
  }

 private:
  static constexpr size_t kAlign = alignof(std::max_align_t);
  struct Ops {
    void (*invoke)(void* buf);
    void (*relocate)(void* from, void* to) noexcept;  // move-construct at `to`, destroy `from`
    void (*destroy)(void* buf) noexcept;
  };
  template <class Fn>
  static constexpr Ops kInlineOps{
      [](void* b) { (*static_cast<Fn*>(b))(); },
      [](void* from, void* to) noexcept {
        Fn* f = static_cast<Fn*>(from);
        ::new (to) Fn(std::move(*f));
        f->~Fn();
      },
      [](void* b) noexcept { static_cast<Fn*>(b)->~Fn(); }};
  template <class Fn>
  static constexpr Ops kHeapOps{
      [](void* b) { (**static_cast<Fn**>(b))(); },
      [](void* from, void* to) noexcept { ::new (to) Fn*(*static_cast<Fn**>(from)); },
      [](void* b) noexcept { delete *static_cast<Fn**>(b); }};

  void TakeFrom(Task& other) noexcept {
    if (other.ops_ != nullptr) {
      other.ops_->relocate(other.buf_, buf_);
      ops_ = other.ops_;
      other.ops_ = nullptr;
    }
  }

  alignas(kAlign) unsigned char buf_[kInlineBytes];
  const Ops* ops_ = nullptr;
};

}  // namespace sparq
