// binding/comm_binding.cc: sparq.comm.create() and sq.comm({ id, rank, size }) — ranks in other
// worker_threads or processes (runtime/shm_comm.h) — and comm.allreduceRmsnorm on them (cpu itself;
// cuda and sim through the host transport, runtime/comm_host.h).
#include <cmath>
#include <mutex>
#include <thread>
#include <tuple>

#include "binding/allreduce_args.h"
#include "binding/args.h"
#include "binding/binding_registry.h"
#include "binding/context.h"
#include "binding/errors.h"
#include "binding/object_tags.h"
#include "binding/op_launch.h"
#include "binding/tensor.h"
#include "runtime/comm_device.h"
#include "runtime/comm_host.h"
#include "runtime/comm_nccl.h"
#include "runtime/shm_comm.h"
#include "sparq/comm.h"

namespace sparq::binding {
namespace {

// What a comm handle holds. A shared-memory comm (sparq.comm.create()): the ShmComm, and the
// device transport when every rank agreed on one at join (runtime/comm_device.h; null: rows go
// through host memory, or the cpu backend reduces in shared memory itself). An NCCL comm
// (sparq.comm.createNccl()): the NcclComm (runtime/comm_nccl.h). The transport and the NcclComm
// hold device memory (and an NCCL comm): close() and the context's close hand them to the stream
// to free (after the calls queued before), so they go when the comm does, not when the handle is
// collected.
struct CommState {
  // By the join, on the stream worker (a close may be running on the JS thread meanwhile). False
  // when the comm was closed (or its context) while joining: then this rank leaves at once — its
  // peers fail now rather than wait for it at their first call — and what it joined with is
  // dropped here, on the stream worker.
  bool Install(std::shared_ptr<comm::ShmComm> s, std::shared_ptr<comm::DeviceTransport> t, std::shared_ptr<comm::NcclComm> n) {
    std::lock_guard<std::mutex> lk(mu_);
    if (released_) {
      if (s) s->Close();
      if (n) n->Close();
      return false;
    }
    shm = std::move(s);
    transport_ = n ? (n->hierarchical() ? "nccl-hierarchical" : "nccl") : t ? "device" : "host";
    slot_bytes_ = n ? n->slot_bytes() : shm ? shm->slot_bytes() : 0;
    device_ = std::move(t);
    nccl_ = std::move(n);
    return true;
  }
  std::shared_ptr<comm::DeviceTransport> Device() {
    std::lock_guard<std::mutex> lk(mu_);
    return device_;
  }
  std::shared_ptr<comm::NcclComm> Nccl() {
    std::lock_guard<std::mutex> lk(mu_);
    return nccl_;
  }
  // This rank leaves: the comm is closed for its peers, and what it holds is handed back (to be
  // dropped on the stream).
  // What a collected handle still holds (a comm never closed): not closed here — a call in flight
  // holds its own references and finishes — only handed back, to be dropped off the JS thread.
  std::shared_ptr<void> TakeHeld() {
    std::lock_guard<std::mutex> lk(mu_);
    if (!device_ && !nccl_) return nullptr;
    return TakeLocked(false);
  }
  // The shared-memory comm goes too (its mapping, fd and lock: a service making an id per job kept
  // one of each per closed comm until the handle was collected), after the reason is kept.
  std::shared_ptr<void> CloseAndTake() {
    std::lock_guard<std::mutex> lk(mu_);
    // Whether this close is what broke the comm (no peer had before): then this rank's own calls
    // still queued fail as the caller's doing (kDisposed), not as a peer's timeout. Decided by the
    // first close only: a later one (comm.close() then the context's close(), whose interrupt
    // closes again while a queued call still holds the comm) finds shm and nccl_ already handed
    // back and must not overwrite it.
    if (!released_) broke_it_ = (shm && shm->BrokenReason().empty()) || (nccl_ && nccl_->BrokenReason().empty());
    released_ = true;
    if (shm) {
      shm->Close();
      closed_reason_ = shm->BrokenReason();
    }
    if (nccl_) {
      nccl_->Close();
      closed_reason_ = nccl_->BrokenReason();
    }
    return TakeLocked(true);
  }
  std::string BrokenReason() {
    std::lock_guard<std::mutex> lk(mu_);
    if (shm) return shm->BrokenReason();
    if (nccl_) return nccl_->BrokenReason();
    return closed_reason_.empty() && released_ ? "the comm was closed" : closed_reason_;
  }
  std::string Transport() {
    std::lock_guard<std::mutex> lk(mu_);
    return transport_;
  }
  // This rank left: comm.close(), its context's close(), or its handle collected.
  bool ClosedHere() {
    std::lock_guard<std::mutex> lk(mu_);
    return released_;
  }
  // This rank's close broke a comm that was usable until then.
  bool BrokenByThisClose() {
    std::lock_guard<std::mutex> lk(mu_);
    return released_ && broke_it_;
  }
  uint64_t SlotBytes() {
    std::lock_guard<std::mutex> lk(mu_);
    return slot_bytes_;
  }
  std::shared_ptr<comm::ShmComm> Shm() {
    std::lock_guard<std::mutex> lk(mu_);
    return shm;
  }

 private:
  // The transport and NCCL comm (and, with_shm, the shared-memory comm), moved out in one owner
  // (mu_ held).
  std::shared_ptr<void> TakeLocked(bool with_shm) {
    using Held = std::tuple<std::shared_ptr<comm::DeviceTransport>, std::shared_ptr<comm::NcclComm>, std::shared_ptr<comm::ShmComm>>;
    return std::make_shared<Held>(std::move(device_), std::move(nccl_), with_shm ? std::move(shm) : nullptr);
  }

  std::shared_ptr<comm::ShmComm> shm;  // shared-memory comms
  std::mutex mu_;  // the join installs on the stream worker; close and calls read on the JS thread
  std::shared_ptr<comm::DeviceTransport> device_;
  std::shared_ptr<comm::NcclComm> nccl_;
  std::string transport_ = "host", closed_reason_;
  uint64_t slot_bytes_ = 0;
  bool released_ = false, broke_it_ = false;
};
using CommPtr = std::shared_ptr<CommState>;

// A join whose wait this rank's own close() ended (the cancel flag: its context closed) fails as the
// caller's doing — SparqDisposedError, as a call enqueued before the close does — not as a timeout
// of its peers (api.md "Closing"; until 2026-12-06 it was a SparqTimeoutError).
bool EndedByThisClose(const Status& s, const std::atomic<bool>& cancel) {
  return s.code == StatusCode::kTimeout && cancel.load(std::memory_order_relaxed);
}

Status ClosedWhileJoining(int rank) {
  return Status::Error(StatusCode::kDisposed, "comm: rank " + std::to_string(rank) + "'s context was closed while it joined");
}

CommPtr ParseComm(Napi::Env env, const Napi::Value& v, const std::string& op) {
  if (!v.IsExternal() || !IsNative(v, NativeKind::kComm))
    ThrowArg(env, StatusCode::kArgument, op, "comm", "a comm from sq.comm()", DescribeValue(v));
  return *v.As<Napi::External<CommPtr>>().Data();
}

// cpu runs the comm op itself; a backend with the gathered kernel runs it behind a transport
// (device to device where every rank can, else through host memory).
bool CommRunsOn(const Backend& b) { return b.Has(OpId::kCommAllreduceRmsnorm) || b.Has(OpId::kAllreduceGathered); }

int64_t IntArg(Napi::Env env, const Napi::Value& v, const std::string& op, const std::string& name, int64_t lo, int64_t hi,
               const std::string& expected) {
  const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : std::nan("");
  if (!(d >= double(lo) && d <= double(hi) && std::floor(d) == d)) ThrowArg(env, StatusCode::kArgument, op, name, expected, DescribeValue(v));
  return int64_t(d);
}

// commCreate(slotBytes) → Uint8Array id
Napi::Value CommCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t slot = IntArg(env, info[0], "comm.create", "maxBytes", 1, int64_t(1) << 40,
                              "an integer number of bytes in [1, 2^40] (the largest x a rank may pass)");
  std::vector<uint8_t> id = comm::NewId(uint64_t(slot));
  Napi::Uint8Array out = Napi::Uint8Array::New(env, id.size());
  std::memcpy(out.Data(), id.data(), id.size());
  return out;
}

// commCreateNccl(maxBytes, ncclPath) → Promise<Uint8Array(140)>: loads NCCL and asks it for a unique id, off
// the JS thread (src/ops/comm.ts probes NCCL in a child process first).
class NcclIdWorker : public Napi::AsyncWorker {
 public:
  NcclIdWorker(Napi::Env env, uint64_t max_bytes, std::string nccl_path)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), max_bytes_(max_bytes),
        nccl_path_(std::move(nccl_path)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override { status_ = comm::NewNcclId(max_bytes_, nccl_path_, &id_); }
  void OnOK() override {
    Napi::Env env = Env();
    if (!status_.ok()) {
      deferred_.Reject(MakeError(env, status_).Value());
      return;
    }
    Napi::Uint8Array out = Napi::Uint8Array::New(env, id_.size());
    std::memcpy(out.Data(), id_.data(), id_.size());
    deferred_.Resolve(out);
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  uint64_t max_bytes_;
  std::string nccl_path_;
  Status status_;
  std::vector<uint8_t> id_;
};

Napi::Value CommCreateNccl(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t slot = IntArg(env, info[0], "comm.createNccl", "maxBytes", 1, int64_t(1) << 40,
                              "an integer number of bytes in [1, 2^40] (the largest x a rank may pass)");
  const std::string nccl_path = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
  auto* worker = new NcclIdWorker(env, uint64_t(slot), nccl_path);
  Napi::Promise p = worker->Promise();
  worker->Queue();
  return p;
}

// commJoin(ctx, id, rank, size, timeoutMs, transport, ncclPath, node) → Promise<comm handle>
Napi::Value CommJoin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string op = "comm";
  ContextCore* ctx = ContextWrap::Parse(info[0], op)->core();
  ctx->ThrowIfLost(env);
  // The ranks meet in POSIX shared memory: the cpu backend reduces there itself; a device backend
  // (cuda, sim) exchanges its rows there and runs the comm kernel (runtime/comm_host.h).
  if (!CommRunsOn(ctx->backend()))
    ThrowArg(env, StatusCode::kBackend, op, "backend", "'cpu', 'cuda' or 'sim'",
             "'" + std::string(ctx->backend().name()) + "'");
  const size_t id_bytes = info[1].IsTypedArray() ? info[1].As<Napi::TypedArray>().ElementLength() : 0;
  if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
      (id_bytes != comm::kIdBytes && id_bytes != comm::kNcclIdBytes))
    ThrowArg(env, StatusCode::kArgument, op, "id",
             "the Uint8Array(32) sparq.comm.create() returned or the Uint8Array(140) of sparq.comm.createNccl()",
             DescribeValue(info[1]));
  Napi::TypedArray ta = info[1].As<Napi::TypedArray>();
  const uint8_t* idp = TypedArrayBytes(ta, op, "id");
  std::vector<uint8_t> id(idp, idp + id_bytes);
  const int size = int(IntArg(env, info[3], op, "size", 1, comm::kMaxRanks, "an integer in [1, 8]"));
  const int rank = int(IntArg(env, info[2], op, "rank", 0, size - 1, "an integer in [0, size - 1] = [0, " + std::to_string(size - 1) + "]"));
  const int64_t timeout_ms = IntArg(env, info[4], op, "timeoutMs", 1, int64_t(1) << 31, "an integer number of ms in [1, 2147483648] (about 24.8 days)");
  const std::string transport = info[5].IsString() ? info[5].As<Napi::String>().Utf8Value() : "";
  if (transport != "auto" && transport != "host")
    ThrowArg(env, StatusCode::kArgument, op, "transport", "'auto' or 'host'", DescribeValue(info[5]));
  const bool allow_device = transport == "auto";
  const std::string nccl_path = info[6].IsString() ? info[6].As<Napi::String>().Utf8Value() : "";
  std::string node;
  if (!info[7].IsUndefined()) {
    if (id_bytes != comm::kNcclIdBytes)
      ThrowArg(env, StatusCode::kArgument, op, "node",
               "left out for a comm of sparq.comm.create() (its ranks share one machine by construction)", DescribeValue(info[7]));
    if (info[7].IsString()) node = info[7].As<Napi::String>().Utf8Value();
    if (!info[7].IsString() || node.empty() || node.size() > 1024)
      ThrowArg(env, StatusCode::kArgument, op, "node", "a non-empty string of at most 1024 bytes (the name of this rank's machine)",
               DescribeValue(info[7]));
  }

  auto deferred = std::make_shared<Napi::Promise::Deferred>(env);
  std::shared_ptr<Backend> backend = ctx->backend_ptr();
  // close() or teardown of this context ends the join's and every later call's waits at once
  auto cancel = std::make_shared<std::atomic<bool>>(false);
  auto joined = std::make_shared<CommState>();
  // Owned by `cancel`, which the join and then the comm itself hold: once neither exists, there is
  // nothing left to interrupt and the context forgets it.
  ctx->AddInterrupt(cancel, [weak_cancel = std::weak_ptr<std::atomic<bool>>(cancel), ctx, weak = std::weak_ptr<CommState>(joined)] {
    if (auto c = weak_cancel.lock()) c->store(true);
    if (auto state = weak.lock()) ctx->ReleaseOnStream(state->CloseAndTake());
  });
  ctx->Enqueue(
      env,
      [id, rank, size, timeout_ms, cancel, joined, backend, allow_device, nccl_path, node]() {
        if (comm::IsNcclId(id.data(), id.size())) {
          std::shared_ptr<comm::NcclComm> nccl;
          Status s = comm::NcclComm::Join(backend, id, rank, size, timeout_ms, cancel, nccl_path, node, &nccl);
          if (s.ok() && !joined->Install(nullptr, nullptr, std::move(nccl))) return ClosedWhileJoining(rank);
          return EndedByThisClose(s, *cancel) ? ClosedWhileJoining(rank) : s;
        }
        std::shared_ptr<comm::ShmComm> shm;
        Status s = comm::ShmComm::Join(id, rank, size, timeout_ms, cancel, &shm);
        // Every rank, whatever its backend, takes part in choosing how rows move (cpu ranks say no).
        std::shared_ptr<comm::DeviceTransport> device;
        if (s.ok()) s = comm::DeviceTransport::Agree(backend, shm, allow_device, &device);
        if (s.ok() && !joined->Install(std::move(shm), std::move(device), nullptr)) return ClosedWhileJoining(rank);
        return EndedByThisClose(s, *cancel) ? ClosedWhileJoining(rank) : s;
      },
      [deferred, joined](Napi::Env env, const Status& status) {
        if (!status.ok()) {
          deferred->Reject(MakeError(env, status).Value());
          return;
        }
        // Collected without close(): a device slot's cudaFree (and its wait for the peers) or an
        // NCCL abort must not run on the JS thread.
        auto handle = Napi::External<CommPtr>::New(env, new CommPtr(joined), [](Napi::Env, CommPtr* p) {
          std::shared_ptr<void> held = (*p)->TakeHeld();
          delete p;
          if (held) std::thread([h = std::move(held)]() mutable { h.reset(); }).detach();
        });
        TagNative(env, handle.As<Napi::Object>(), NativeKind::kComm);
        deferred->Resolve(handle);
      });
  return deferred->Promise();
}

// commClose(comm, ctx): this rank leaves; peers still waiting on it fail at once (an NCCL comm's:
// at their timeout). What it holds on the device goes back on ctx's stream, after the calls
// queued so far; a closed context already released it.
Napi::Value CommClose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CommPtr c = ParseComm(env, info[0], "comm.close");
  std::shared_ptr<void> held = c->CloseAndTake();
  if (IsNative(info[1], NativeKind::kContext)) {
    ContextCore* core = ContextWrap::Unwrap(info[1].As<Napi::Object>())->core();
    if (core != nullptr && !core->closed()) core->ReleaseOnStream(std::move(held));
  }
  return env.Undefined();
}

// commCloseAfterQueued(comm, ctx): what a comm collected without close() gets (src/ops/comm.ts):
// this rank leaves only after the calls already queued on ctx's stream, which hold their own
// references and would otherwise fail (and fail their peers) because the JS object went away.
Napi::Value CommCloseAfterQueued(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CommPtr c = ParseComm(env, info[0], "comm.close");
  struct CloseWhenDropped {
    explicit CloseWhenDropped(CommPtr c) : comm(std::move(c)) {}
    CloseWhenDropped(const CloseWhenDropped&) = delete;  // one owner: its destruction is the close
    CloseWhenDropped& operator=(const CloseWhenDropped&) = delete;
    ~CloseWhenDropped() { comm->CloseAndTake(); }  // on the stream worker; what it held goes there too
    CommPtr comm;
  };
  ContextCore* core = IsNative(info[1], NativeKind::kContext) ? ContextWrap::Unwrap(info[1].As<Napi::Object>())->core() : nullptr;
  if (core != nullptr && !core->closed())
    core->ReleaseOnStream(std::make_shared<CloseWhenDropped>(c));
  else
    c->CloseAndTake();  // the context's close closed it already: idempotent
  return env.Undefined();
}

// commBroken(comm) → string ('' while usable)
Napi::Value CommBroken(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), ParseComm(info.Env(), info[0], "comm")->BrokenReason());
}

// commClosed(comm) → true once this rank left (close(), its context's close())
Napi::Value CommClosed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), ParseComm(info.Env(), info[0], "comm")->ClosedHere());
}

// commTransport(comm) → 'host' (rows through the comm's shared memory: every cpu comm, and device
// ranks whose peers cannot all be read device to device) | 'device' (runtime/comm_device.h) |
// 'nccl' | 'nccl-hierarchical' (runtime/comm_nccl.h, runtime/comm_topology.h)
Napi::Value CommTransport(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CommPtr c = ParseComm(env, info[0], "comm");
  return Napi::String::New(env, c->Transport());
}

// commAllreduceRmsnorm(ctx, comm, x, residual, gamma, out?, residualOut?, eps) → [out, residualOut]
Napi::Value CommAllreduceRmsnorm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string op = CommAllreduceRmsnormArgs::kOpName;
  ContextCore* ctx = ContextWrap::Parse(info[0], op)->core();
  ctx->ThrowIfLost(env);
  CommPtr state = ParseComm(env, info[1], op);
  std::shared_ptr<comm::ShmComm> comm = state->Shm();
  std::shared_ptr<comm::DeviceTransport> device = state->Device();
  std::shared_ptr<comm::NcclComm> nccl = state->Nccl();
  // Closed by this rank is the caller's own doing (as a disposed tensor), not a peer's timeout.
  if (state->ClosedHere())
    ThrowArg(env, StatusCode::kDisposed, op, "comm", "an open comm",
             "one this rank closed (comm.close() or its context's close(); join again with sq.comm())");
  const std::string broken = state->BrokenReason();
  if (!broken.empty())
    ThrowArg(env, StatusCode::kTimeout, op, "comm", "a usable comm", "one that is broken (" + broken + ")");
  // A released transport is a closed comm (close() breaks it first, so this is only belt and braces):
  // never fall back to the host transport while the peers move rows another way.
  const std::string transport = state->Transport();
  if ((transport == "device" && !device) || (transport.rfind("nccl", 0) == 0 && !nccl))
    ThrowArg(env, StatusCode::kTimeout, op, "comm", "a usable comm", "one that was closed");
  const DType f16 = DType::kF16;
  TensorWrap* x = ParseTensor(info[2], ctx, op, "x", &f16);
  TensorWrap* residual = ParseTensor(info[3], ctx, op, "residual", &f16);
  TensorWrap* gamma = ParseTensor(info[4], ctx, op, "gamma", &f16);
  TensorWrap* out = ParseOptionalTensor(info[5], ctx, op, "out", &f16);
  TensorWrap* res_out = ParseOptionalTensor(info[6], ctx, op, "residualOut", &f16);
  const Shape shape = x->shape();
  const int64_t hidden = AllreduceHidden(env, op, "x", shape);
  const int64_t tokens = ShapeElements(shape) / hidden;
  const size_t bytes = size_t(tokens) * size_t(hidden) * 2;
  if (bytes > state->SlotBytes())
    ThrowArg(env, StatusCode::kArgument, op, "x",
             "at most " + std::to_string(state->SlotBytes()) + " bytes (the comm's maxBytes, given to sparq.comm.create() or createNccl())",
             ShapeToString(shape) + " f16 (" + std::to_string(bytes) + " bytes)");
  if (residual->shape() != shape) ThrowArg(env, StatusCode::kShape, op, "residual", ShapeToString(shape), ShapeToString(residual->shape()));
  if (gamma->shape() != Shape{hidden})
    ThrowArg(env, StatusCode::kShape, op, "gamma", "[" + std::to_string(hidden) + "]", ShapeToString(gamma->shape()));
  for (auto [t, name] : {std::pair{out, "out"}, std::pair{res_out, "residualOut"}})
    if (t && t->shape() != shape) ThrowArg(env, StatusCode::kShape, op, name, ShapeToString(shape), ShapeToString(t->shape()));
  if (out && (out == x || out == residual || out == gamma || out == res_out))
    ThrowArg(env, StatusCode::kArgument, op, "out", "a tensor distinct from the inputs and residualOut", "one of them");
  if (res_out && (res_out == x || res_out == gamma || (res_out == residual && (residual == x || residual == gamma))))
    ThrowArg(env, StatusCode::kArgument, op, "residualOut", "a tensor distinct from x and gamma (it may be residual)", "one of them");
  const float eps_f = AllreduceEps(env, op, info[7]);

  Napi::Object ctx_object = info[0].As<Napi::Object>();
  auto output = [&](TensorWrap* given, const Napi::Value& v, const char* name, std::shared_ptr<Buffer>* buf) -> Napi::Value {
    if (given) {
      *buf = given->buffer();
      return v;
    }
    *buf = ctx->Allocate(env, bytes, op, name, "an output", shape, DType::kF16);
    return TensorWrap::Create(env, ctx_object, ctx, *buf, DType::kF16, shape);
  };
  std::shared_ptr<Buffer> ob, rb;
  Napi::Value out_object = output(out, info[5], "out", &ob);
  Napi::Value res_object = output(res_out, info[6], "residualOut", &rb);
  std::shared_ptr<Buffer> xb = x->buffer(), resb = residual->buffer(), gb = gamma->buffer();
  std::shared_ptr<Backend> backend = ctx->backend_ptr();
  // An input that failed earlier means this rank skips the call: it leaves the comm, so its peers
  // fail now (not at their timeout) and no later call of this rank pairs with their current one.
  auto skipped = [comm, nccl](const Status& why) {
    const std::string reason = "rank " + std::to_string(nccl ? nccl->rank() : comm->rank()) +
                               " skipped a call (an input of it failed earlier: " + why.message + ")";
    if (nccl) nccl->Abandon(reason);
    else (void)comm->Abandon(reason);
  };
  EnqueueOp(env, ctx, {xb, resb, gb}, {ob, rb},
            [state, backend, comm, device, nccl, xb, resb, gb, ob, rb, tokens, hidden, eps_f](LaunchInfo* launch) {
              Status s = [&] {
              CommAllreduceRmsnormArgs args;
              args.comm = comm ? static_cast<void*>(comm.get()) : static_cast<void*>(nccl.get());
              args.x = static_cast<const uint16_t*>(xb->ptr);
              args.residual = static_cast<const uint16_t*>(resb->ptr);
              args.gamma = static_cast<const uint16_t*>(gb->ptr);
              args.out = static_cast<uint16_t*>(ob->ptr);
              args.residual_out = static_cast<uint16_t*>(rb->ptr);
              args.tokens = tokens;
              args.hidden = hidden;
              args.eps = eps_f;
              if (nccl) return nccl->Allreduce(args, launch);
              if (backend->Has(OpId::kCommAllreduceRmsnorm)) return backend->CommAllreduceRmsnorm(args, launch);
              return device ? device->Allreduce(args, launch) : comm::AllreduceThroughHost(*backend, args, launch);
              }();
              // A call queued before this rank's own close() that had not run yet: the caller's doing,
              // as a call made after it (SparqDisposedError), not a peer's timeout.
              if (s.code == StatusCode::kTimeout && state->BrokenByThisClose())
                s = Status::Error(StatusCode::kDisposed,
                                  "comm.allreduceRmsnorm: this rank closed the comm (comm.close() or its context's close()) "
                                  "before this call, enqueued earlier, could complete",
                                  "comm");
              return s;
            },
            skipped);
  return AllreduceResult(env, out_object, res_object);
}

}  // namespace

void RegisterComm(Napi::Env env, Napi::Object exports) {
  exports.Set("commCreate", Napi::Function::New(env, CommCreate, "commCreate"));
  exports.Set("commJoin", Napi::Function::New(env, CommJoin, "commJoin"));
  exports.Set("commCreateNccl", Napi::Function::New(env, CommCreateNccl, "commCreateNccl"));
  exports.Set("commClose", Napi::Function::New(env, CommClose, "commClose"));
  exports.Set("commCloseAfterQueued", Napi::Function::New(env, CommCloseAfterQueued, "commCloseAfterQueued"));
  exports.Set("commBroken", Napi::Function::New(env, CommBroken, "commBroken"));
  exports.Set("commClosed", Napi::Function::New(env, CommClosed, "commClosed"));
  exports.Set("commTransport", Napi::Function::New(env, CommTransport, "commTransport"));
  exports.Set("commAllreduceRmsnorm", Napi::Function::New(env, CommAllreduceRmsnorm, "commAllreduceRmsnorm"));
}

SPARQ_REGISTER_BINDING(RegisterComm);

}  // namespace sparq::binding
