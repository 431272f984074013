#include "binding/context_owned.h"

namespace sparq::binding {

void ContextOwnedHandle::Attach(Napi::Env env, Napi::Object ctx_object, ContextCore* ctx, size_t external_bytes) {
  ctx_ = ctx;
  live_ = ctx->live();
  live_->Insert(this, ctx_object);
  accounted_bytes_ = external_bytes;
  attached_ = true;
  Napi::MemoryManagement::AdjustExternalMemory(env, static_cast<int64_t>(accounted_bytes_));
}

void ContextOwnedHandle::Detach(Napi::Env env) {
  if (!attached_) return;
  attached_ = false;
  FreeMemory();
  // env is null-ish only at teardown; AdjustExternalMemory is still valid inside finalizers.
  Napi::MemoryManagement::AdjustExternalMemory(env, -static_cast<int64_t>(accounted_bytes_));
  accounted_bytes_ = 0;
  // Last: the set may let go of the context object here.
  live_->Erase(this);
  live_.reset();
}

void ContextOwnedHandle::ReleaseOnClose(Napi::Env env, const std::string& label) {
  closed_label_ = label;
  Detach(env);
}

Status ContextOwnedHandle::CheckUsable(const std::string& op, const std::string& argument) const {
  if (!attached_) return DisposedStatus(op, argument);
  if (ctx_->closed())  // attached: the context object is held, so ctx_ is alive
    return Status::Error(StatusCode::kDisposed,
                         op + ": " + argument + " belongs to context " + ctx_->label() + ", which was closed", argument);
  return Status::Ok();
}

Status ContextOwnedHandle::DisposedStatus(const std::string& op, const std::string& argument) const {
  if (!closed_label_.empty())
    return Status::Error(StatusCode::kDisposed,
                         op + ": " + argument + " belongs to context " + closed_label_ + ", which was closed", argument);
  return Status::Error(StatusCode::kDisposed, op + ": " + argument + " was disposed", argument);
}

}  // namespace sparq::binding
