// sparq/status.h: the one error currency below the binding. Each code maps to one JS error class
// (src/errors.ts, DESIGN.md's table); kernels and backends return a Status, never throw across
// the C ABI and never abort.
#pragma once
#include <string>
#include <utility>

namespace sparq {

enum class StatusCode : int {
  kOk = 0,
  kArgument = 1,     // SparqArgumentError
  kShape = 2,        // SparqShapeError
  kDType = 3,        // SparqDTypeError
  kDisposed = 4,     // SparqDisposedError
  kBackend = 5,      // SparqBackendError
  kOutOfMemory = 6,  // SparqOutOfMemoryError
  kDevice = 7,       // SparqDeviceError (context becomes lost)
  kTimeout = 8,      // SparqTimeoutError (a peer rank did not arrive; the context stays usable)
};

struct Status {
  StatusCode code = StatusCode::kOk;
  std::string argument;  // the argument the error is about, or empty
  std::string message;   // full message: "<op>: <argument> must be <expected>, got <received>"

  bool ok() const { return code == StatusCode::kOk; }
  static Status Ok() { return Status{}; }
  static Status Error(StatusCode c, std::string msg, std::string arg = {}) {
    Status s;
    s.code = c;
    s.message = std::move(msg);
    s.argument = std::move(arg);
    return s;
  }
};

// "ERR_SPARQ_SHAPE" etc.: the `code` property of the JS error.
inline const char* StatusCodeName(StatusCode c) {
  switch (c) {
    case StatusCode::kOk: return "OK";
    case StatusCode::kArgument: return "ERR_SPARQ_ARGUMENT";
    case StatusCode::kShape: return "ERR_SPARQ_SHAPE";
    case StatusCode::kDType: return "ERR_SPARQ_DTYPE";
    case StatusCode::kDisposed: return "ERR_SPARQ_DISPOSED";
    case StatusCode::kBackend: return "ERR_SPARQ_BACKEND";
    case StatusCode::kOutOfMemory: return "ERR_SPARQ_OUT_OF_MEMORY";
    case StatusCode::kDevice: return "ERR_SPARQ_DEVICE";
    case StatusCode::kTimeout: return "ERR_SPARQ_TIMEOUT";
  }
  return "ERR_SPARQ_DEVICE";
}

}  // namespace sparq
