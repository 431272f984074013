// cpu/allreduce_cpu.h: the cpu allreduceRmsnorm rows, shared by the Group op (every rank's output
// in one context) and the comm op (this rank's output from every rank's shared-memory slot).
#pragma once
#include <cstdint>

#include "sparq/cpu_ops.h"
#include "sparq/status.h"

namespace sparq::cpu {

struct AllreduceRows {
  const char* op = "";                      // names errors
  const uint16_t* const* x = nullptr;       // [x_ranks] rows [tokens][hidden], summed in this order
  int x_ranks = 0;
  const uint16_t* const* residual = nullptr;  // [out_ranks]
  uint16_t* const* out = nullptr;             // [out_ranks]
  uint16_t* const* residual_out = nullptr;    // [out_ranks]; may equal residual (in place)
  int out_ranks = 0;
  const uint16_t* gamma = nullptr;          // [hidden]
  int64_t tokens = 0, hidden = 0;
  float eps = 0.0f;
};

// sparq/allreduce.h's contract for out_ranks outputs from x_ranks inputs, rows across the pool.
Status AllreduceRmsnormRows(const AllreduceRows& rows, const Exec& exec);
// Algorithm::kUnfused: the all-reduce (fp16(s) to a buffer per output rank), then RMSNorm as a
// second pass — the benchmark's baseline (out_ranks == x_ranks).
Status AllreduceThenRmsnorm(const AllreduceRows& rows, const Exec& exec);

}  // namespace sparq::cpu
