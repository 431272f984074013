#include "binding/object_tags.h"

#include <cstdint>

namespace sparq::binding {
namespace {

// One tag per class and per loaded copy of the addon: the address of this library's own static
// enters each tag, so a second copy of sparq.node in the process (two sparq versions in one
// dependency tree) refuses the first copy's objects, whose layout it cannot know — instanceof
// against each copy's own constructor did that before the tags (2026-12-05 review). Within one
// copy the tag is the same in every worker_thread (objects never cross isolates anyway).
struct Tags {
  napi_type_tag of[4];
};

const Tags& TagsOfThisCopy() {
  static const Tags tags = [] {
    const uint64_t copy = uint64_t(reinterpret_cast<uintptr_t>(&tags));
    // Random 64-bit values, one per class.
    const uint64_t kinds[4] = {0x1d9b6c527e30a4f1ULL, 0x6a41f3c82d95b7e0ULL, 0x93e7a05dc4182b6fULL, 0x73717063'6f6d6d31ULL};
    Tags t{};
    for (int i = 0; i < 4; ++i) t.of[i] = {kinds[i], 0x8c2e5d1743b9f06aULL ^ copy};
    return t;
  }();
  return tags;
}

const napi_type_tag& TagOf(NativeKind kind) { return TagsOfThisCopy().of[static_cast<int>(kind)]; }

}  // namespace

void TagNative(Napi::Env env, const Napi::Object& object, NativeKind kind) {
  NAPI_THROW_IF_FAILED_VOID(env, napi_type_tag_object(env, object, &TagOf(kind)));
}

void RequireReceiver(const Napi::CallbackInfo& info, NativeKind kind) {
  if (!IsNative(info.This(), kind)) throw Napi::TypeError::New(info.Env(), "Illegal invocation");
}

bool IsNative(const Napi::Value& v, NativeKind kind) {
  if (!v.IsObject() && !v.IsExternal()) return false;
  bool tagged = false;
  return napi_check_object_type_tag(v.Env(), v, &TagOf(kind), &tagged) == napi_ok && tagged;
}

}  // namespace sparq::binding
