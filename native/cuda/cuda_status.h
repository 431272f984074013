// native/cuda/cuda_status.h: a cudaError_t as a sparq::Status (kOutOfMemory for allocations, else
// kDevice, which marks the context lost), with the non-sticky error cleared.
#pragma once
#include <cuda_runtime_api.h>

#include <string>

#include "sparq/status.h"

namespace sparq::cuda {

inline Status CudaStatus(cudaError_t e, const std::string& what) {
  if (e == cudaSuccess) return Status::Ok();
  cudaGetLastError();  // clear a non-sticky error so the context stays usable
  const StatusCode code = e == cudaErrorMemoryAllocation ? StatusCode::kOutOfMemory : StatusCode::kDevice;
  return Status::Error(code, what + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
}

}  // namespace sparq::cuda
