// native/sim/sim_target.h: the simulator's launch target of the plans (cuda/launch_target.h): each
// Launch is a sim::Launch with the plan's buffers registered, so every global access is
// bounds-checked and the bytes read per buffer are summed over the plan's launches.
#pragma once
#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "cuda/launch_target.h"
#include "sim/sim_launch.h"
#include "sparq/sim.h"

namespace sparq::sim {

class SimTarget {
 public:
  explicit SimTarget(const SimOptions& options) : options_(options) {}
  // What launchers plan grids for: launcher_sms when set (a device whose SMs are partly held by
  // other work: grids larger than what runs at once), else the simulated SMs.
  int sm_count() const { return options_.launcher_sms > 0 ? options_.launcher_sms : options_.sm_count; }

  template <class... P, class... A>
  Status Launch(const std::string& kernel, dim3 grid, dim3 block, size_t dyn_smem_bytes,
                std::initializer_list<BufferNote> buffers, void (*fn)(P...), A&&... args) {
    return Run(options_, kernel, grid, block, dyn_smem_bytes, buffers.begin(), buffers.end(), fn,
               std::forward<A>(args)...);
  }

  // cudaLaunchCooperativeKernel: every CTA of the grid resident at once (this launch's simulated
  // SMs and resident CTAs raised to the grid), so CTAs may wait on each other's flags.
  template <class P>
  Status LaunchCooperative(const std::string& kernel, dim3 grid, dim3 block, const std::vector<BufferNote>& buffers,
                           void (*fn)(P), const P& params) {
    const int ctas = int(grid.x * grid.y * grid.z);
    SimOptions o = options_;
    o.concurrent_ctas = true;
    o.sm_count = std::max(o.sm_count, ctas);
    if (o.max_resident_ctas > 0) o.max_resident_ctas = std::max(o.max_resident_ctas, ctas);
    return Run(o, kernel, grid, block, 0, buffers.data(), buffers.data() + buffers.size(), fn, params);
  }

  Status Zero(void* dst, size_t bytes) {
    std::memset(dst, 0, bytes);
    return Status::Ok();
  }

  void ReportBytes(LaunchInfo* info) const {
    info->bytes_read.clear();
    for (const auto& name : order_) info->bytes_read.emplace_back(name, read_.at(name));
  }

 private:
  template <class... P, class... A>
  Status Run(const SimOptions& options, const std::string& kernel, dim3 grid, dim3 block, size_t dyn_smem_bytes,
             const BufferNote* first, const BufferNote* last, void (*fn)(P...), A&&... args) {
    sim::Launch launch(kernel, options);
    for (const BufferNote* b = first; b != last; ++b)
      if (b->base != nullptr) launch.RegisterBuffer(b->name, b->base, b->bytes);
    Status s = launch.Run(grid, block, dyn_smem_bytes, fn, std::forward<A>(args)...);
    for (const auto& [name, bytes] : launch.BytesRead()) {
      if (!read_.count(name)) order_.push_back(name);
      read_[name] += bytes;
    }
    return s;
  }

  SimOptions options_;
  std::map<std::string, uint64_t> read_;
  std::vector<std::string> order_;
};

}  // namespace sparq::sim
