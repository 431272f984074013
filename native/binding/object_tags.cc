#include "binding/object_tags.h"

namespace sparq::binding {
namespace {

// Random 128-bit values, one per class (comm_binding.cc's kCommTag is the comm handle's).
constexpr napi_type_tag kTags[] = {
    {0x1d9b6c52'7e30a4f1ULL, 0x8c2e5d17'43b9f06aULL},  // kContext
    {0x6a41f3c8'2d95b7e0ULL, 0xb7d20c94'5e1a6f38ULL},  // kTensor
    {0x93e7a05d'c4182b6fULL, 0x2f5c8e71'a06d9b43ULL},  // kWeight
};

const napi_type_tag& TagOf(NativeKind kind) { return kTags[static_cast<int>(kind)]; }

}  // namespace

void TagNative(Napi::Env env, const Napi::Object& object, NativeKind kind) {
  NAPI_THROW_IF_FAILED_VOID(env, napi_type_tag_object(env, object, &TagOf(kind)));
}

bool IsNative(const Napi::Value& v, NativeKind kind) {
  if (!v.IsObject()) return false;
  bool tagged = false;
  return napi_check_object_type_tag(v.Env(), v, &TagOf(kind), &tagged) == napi_ok && tagged;
}

}  // namespace sparq::binding
