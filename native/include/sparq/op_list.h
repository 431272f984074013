// sparq/op_list.h: the list of ops every backend layer is generated from — the one place an op is
// registered below the binding (docs/adding-an-op.md). One line per op:
//
//   X(Name, ArgsType, CPU, SIM, CUDA)
//
//   Name      the entry point: Backend::Name(const ArgsType&, LaunchInfo*), OpId::kName, and the
//             per-backend functions cpu_ops::Name / sim::Name / cuda_ops::Name the backends call
//   ArgsType  the op's args struct (its header below; it carries kOpName and the kMax* limits, and
//             may carry kUnsupportedHint: what to do instead where a backend lacks the op)
//   CPU/SIM/CUDA  1 when that backend implements the op (then it must define the function above),
//             0 when not: Backend's default answers with a kBackend "not supported on backend" status
//
// The OpId values (list order) cross the C ABI: appending keeps older ids; reordering is an ABI
// change (bump SPARQ_CUDA_ABI_VERSION). The library reports its list and the addon compares names.
#pragma once
#include <cstdint>
#include <type_traits>

#include "sparq/allreduce.h"
#include "sparq/comm.h"
#include "sparq/dense.h"
#include "sparq/int8.h"
#include "sparq/sim_ops.h"
#include "sparq/sparse.h"
#include "sparq/w4a16.h"

#define SPARQ_OPS(X)                                  \
  X(DenseMatmul, DenseMatmulArgs, 1, 1, 1)           \
  X(W4A16Matmul, W4A16MatmulArgs, 1, 1, 1)           \
  X(FragmentDump, FragmentDumpArgs, 0, 1, 1)         \
  X(SparseMatmul, SparseMatmulArgs, 1, 1, 1)         \
  X(Int8Matmul, Int8MatmulArgs, 1, 1, 1)             \
  X(AllreduceRmsnorm, AllreduceRmsnormArgs, 1, 1, 1)     \
  X(CommAllreduceRmsnorm, CommAllreduceRmsnormArgs, 1, 0, 0)   \
  X(W4A16MatmulInt8, W4A16MatmulInt8Args, 1, 0, 0)   \
  X(AllreduceGathered, AllreduceGatheredArgs, 0, 1, 1)

// SPARQ_IF(flag, code): `code` when flag is 1, nothing when 0 (for the CPU/SIM/CUDA columns).
#define SPARQ_IF(flag, ...) SPARQ_IF_##flag(__VA_ARGS__)
#define SPARQ_IF_1(...) __VA_ARGS__
#define SPARQ_IF_0(...)

namespace sparq {

enum class OpId : int32_t {
#define SPARQ_OP_ID(Name, Args, C, S, G) k##Name,
  SPARQ_OPS(SPARQ_OP_ID)
#undef SPARQ_OP_ID
  kCount
};

inline const char* OpName(OpId op) {
  switch (op) {
#define SPARQ_OP_NAME(Name, Args, C, S, G) \
  case OpId::k##Name: return Args::kOpName;
    SPARQ_OPS(SPARQ_OP_NAME)
#undef SPARQ_OP_NAME
    case OpId::kCount: break;
  }
  return "?";
}

// Args::kUnsupportedHint where the args struct has one, else "".
template <typename Args, typename = void>
struct UnsupportedHintOf {
  static constexpr const char* value = "";
};
template <typename Args>
struct UnsupportedHintOf<Args, std::void_t<decltype(Args::kUnsupportedHint)>> {
  static constexpr const char* value = Args::kUnsupportedHint;
};

// What a backend without `op` adds to its "not supported" status ("" for most ops).
inline const char* OpUnsupportedHint(OpId op) {
  switch (op) {
#define SPARQ_OP_HINT(Name, Args, C, S, G) \
  case OpId::k##Name: return UnsupportedHintOf<Args>::value;
    SPARQ_OPS(SPARQ_OP_HINT)
#undef SPARQ_OP_HINT
    case OpId::kCount: break;
  }
  return "";
}

}  // namespace sparq
