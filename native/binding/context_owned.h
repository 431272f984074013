// binding/context_owned.h: what a tensor and a packed weight share as JS handles of a context's
// memory: registration in its LiveSet (so close() frees them; the set holds the context object
// while any is registered), V8 external-memory accounting, and one wording for use after dispose
// or close.
#pragma once
#include <napi.h>

#include <memory>
#include <string>

#include "binding/context_core.h"

namespace sparq::binding {

class ContextOwnedHandle : public ContextOwned {
 public:
  ~ContextOwnedHandle() override {
    if (attached_) live_->Erase(this);  // destroyed without a finalizer call (teardown)
  }
  ContextCore* context() const { return ctx_; }
  // SparqDisposedError "<op>: <argument> was disposed", or "... belongs to context cpu#3, which
  // was closed" when close() freed it.
  Status DisposedStatus(const std::string& op, const std::string& argument) const;
  // Ok, or that SparqDisposedError — also while a close() of its context is under way.
  Status CheckUsable(const std::string& op, const std::string& argument) const;
  // CheckUsable without the status (for hot argument paths that only build the error on failure).
  bool Usable() const { return attached_ && !ctx_->closed(); }
  void ReleaseOnClose(Napi::Env env, const std::string& label) override;

 protected:
  void Attach(Napi::Env env, Napi::Object ctx_object, ContextCore* ctx, size_t external_bytes);
  // Lets go of the context: unregisters, returns the external memory, drops the context reference.
  // The subclass frees its buffers first (virtual FreeMemory).
  void Detach(Napi::Env env);
  virtual void FreeMemory() = 0;

 private:
  ContextCore* ctx_ = nullptr;  // valid while attached_: the LiveSet holds the context object
  std::shared_ptr<LiveSet> live_;
  std::string closed_label_;
  size_t accounted_bytes_ = 0;
  bool attached_ = false;
};

}  // namespace sparq::binding
