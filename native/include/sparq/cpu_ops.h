// sparq/cpu_ops.h: the cpu backend's op entries, one per op of sparq/op_list.h with CPU = 1, each
// defined beside its kernels (native/cpu/<op>_cpu.cc):
//   Status cpu_ops::Name(const Args& args, const cpu::Exec& exec, LaunchInfo* info);
// Pointers are host pointers; every element of the output is written.
#pragma once
#include "sparq/cpu.h"
#include "sparq/op_list.h"

namespace sparq::cpu {
// What a cpu op runs with: the context's SIMD path and its thread pool.
struct Exec {
  Isa isa;
  ThreadPool* pool;
};
}  // namespace sparq::cpu

namespace sparq::cpu_ops {
#define SPARQ_CPU_OP_DECL(Name, Args, C, S, G) \
  SPARQ_IF(C, Status Name(const Args& args, const cpu::Exec& exec, LaunchInfo* info);)
SPARQ_OPS(SPARQ_CPU_OP_DECL)
#undef SPARQ_CPU_OP_DECL
}  // namespace sparq::cpu_ops
