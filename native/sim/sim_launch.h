// native/sim/sim_launch.h: how a sim launcher (native/sim/<op>_sim.cc) or a test runs a kernel.
//
//   sim::Launch launch("dense_tc_gemm<...>", options);
//   launch.RegisterBuffer("w", w, n * k * 2);            // bounds-checked and traffic-counted
//   Status s = launch.Run(grid, block, 0, &kernel, args...);
//   launch.BytesRead();                                  // {{"w", bytes}, ...}
//
// Run returns kDevice with the simulator's located message when a check fails; the process and
// the other launches go on. Several Launch objects may run at once from different host threads
// (one per all-reduce rank): all state is owned by the Launch.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "sim/sim_device.h"
#include "sparq/sim.h"
#include "sparq/status.h"

namespace sparq::sim {

struct LaunchState;  // sim_internal.h

class Launch {
 public:
  Launch(std::string kernel_name, const SimOptions& options);
  ~Launch();
  Launch(const Launch&) = delete;
  Launch& operator=(const Launch&) = delete;

  // A global buffer the kernel may read or write. Once any buffer is registered, every global
  // access through the prims must fall inside one (else a located kDevice failure).
  void RegisterBuffer(const std::string& name, const void* base, size_t bytes);

  template <class... P, class... A>
  Status Run(dim3 grid, dim3 block, size_t dyn_smem_bytes, void (*kernel)(P...), A&&... args) {
    static_assert(sizeof...(P) == sizeof...(A), "kernel argument count");
    auto bound = std::make_tuple(static_cast<P>(std::forward<A>(args))...);
    return RunBody(grid, block, dyn_smem_bytes, [kernel, bound] { std::apply(kernel, bound); });
  }

  // Bytes read per registered buffer (cp.async + g_load + ld.global.nc + acquire loads), in
  // registration order; valid after Run.
  std::vector<std::pair<std::string, uint64_t>> BytesRead() const;

 private:
  Status RunBody(dim3 grid, dim3 block, size_t dyn_smem_bytes, std::function<void()> body);
  std::unique_ptr<LaunchState> state_;
};

}  // namespace sparq::sim
