// runtime/comm_host.h: comm.allreduceRmsnorm on backends whose comm kernel runs on a device (cuda,
// sim): the transport through host memory. This rank's x comes to the host, the ranks exchange
// their rows in the comm's shared memory (runtime/shm_comm.h, the same segment cpu ranks use), the
// gathered rows go to the backend's AllreduceGathered op (sparq/comm.h), which copies them to the
// device and runs the comm kernel. One transport for every device backend, so the simulator runs
// exactly the code a GPU rank runs; peer-to-peer transports (CUDA IPC, NCCL) can replace the host
// hop later without touching the kernel.
#pragma once
#include "runtime/backend.h"
#include "sparq/comm.h"

namespace sparq::comm {

// a.comm is a comm::ShmComm*. Runs on the context's stream worker; bounded by the comm's timeout.
Status AllreduceThroughHost(Backend& backend, const CommAllreduceRmsnormArgs& a, LaunchInfo* info);

}  // namespace sparq::comm
