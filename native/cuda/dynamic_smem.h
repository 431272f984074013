// native/cuda/dynamic_smem.h: the opt-in above 48 KB of dynamic shared memory, once per kernel and
// device (dynamic_smem.cc says why not per launch).
#pragma once
#include <cstddef>
#include <string>

#include "sparq/status.h"

namespace sparq::cuda {

// Makes `fn` (a __global__ function) launchable with `bytes` of dynamic shared memory on the
// current device. The first call for a (function, device) raises the limit to the most that
// function can take there (the device's opt-in limit less its static shared memory); later calls
// only check. Thread-safe. A size past that limit is kBackend (the context stays usable).
Status RaiseDynamicSmemLimit(const void* fn, size_t bytes, const std::string& kernel);

}  // namespace sparq::cuda
