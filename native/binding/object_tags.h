// binding/object_tags.h: which native class made an object, known without running JavaScript.
// `instanceof` walks the prototype chain, so a Proxy placed there runs its getPrototypeOf trap — user
// code in the middle of an op's argument checks, free to dispose an argument already checked (a
// crash when the op then used it, 2026-12-05) — and it accepts objects that only inherit from a
// class's prototype, whose Unwrap then fails with a plain Error. A type tag is set on each object
// the addon makes (Create / open) and read from the object itself: no trap runs, and only an
// object the addon made passes.
#pragma once
#include <napi.h>

namespace sparq::binding {

enum class NativeKind { kContext, kTensor, kWeight, kComm };

// Once per object (a comm handle is an External), right after the addon constructs it.
void TagNative(Napi::Env env, const Napi::Object& object, NativeKind kind);
// True when v is an object the addon made as `kind` (never true for a Proxy of one, or an object
// inheriting from one).
bool IsNative(const Napi::Value& v, NativeKind kind);
// First thing in every native accessor: V8 checks a method's receiver ("Illegal invocation"), not an
// accessor's, and ObjectWrap's Unwrap takes any wrapped object, so a getter borrowed onto another
// sparq object read it as its own class (a SIGSEGV, 2026-12-06). Throws that TypeError unless
// info.This() is an object the addon made as `kind`.
void RequireReceiver(const Napi::CallbackInfo& info, NativeKind kind);

}  // namespace sparq::binding
