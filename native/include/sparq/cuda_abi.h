// sparq/cuda_abi.h: the versioned C ABI between the addon (sparq.node, no CUDA link) and the CUDA
// library (libsparq_cuda.so, static cudart, no direct libcuda link). The addon dlopens the library
// only after ProbeCudaDriver found a driver and a device, calls sparq_cuda_get_api(SPARQ_CUDA_ABI_VERSION)
// and refuses a table whose abi_version or struct_bytes differ, or whose op list (op_names) is
// not its own. Plain C types only across it; ops go through one entry, run_op, with the op's args
// struct (sparq/op_list.h; layouts pinned by SPARQ_ASSERT_ABI_LAYOUT) passed by pointer as is.
#pragma once
#include <stddef.h>
#include <stdint.h>

#define SPARQ_CUDA_ABI_VERSION 5u

#ifdef __cplusplus
extern "C" {
#endif

typedef struct SparqCudaError {
  int32_t code;        // sparq::StatusCode value (0 = ok)
  char message[512];
} SparqCudaError;

typedef struct SparqCudaDeviceInfo {
  char name[256];
  int32_t sm_major, sm_minor, sm_count;
  uint64_t memory_bytes;
  int32_t driver_version, runtime_version;
} SparqCudaDeviceInfo;

typedef struct SparqCudaLaunchInfo {
  char kernel[64];
  char config[256];
  int32_t grid[3];
  int32_t block_threads;
  int32_t smem_bytes;
} SparqCudaLaunchInfo;

typedef struct SparqCudaApi {
  uint32_t abi_version;
  uint32_t struct_bytes;
  int32_t (*device_info)(int32_t device, SparqCudaDeviceInfo* out, SparqCudaError* err);
  int32_t (*context_create)(int32_t device, void** ctx, SparqCudaError* err);
  void (*context_destroy)(void* ctx);
  int32_t (*alloc)(void* ctx, size_t bytes, void** ptr, SparqCudaError* err);
  void (*free)(void* ctx, void* ptr);
  // Host memory is pageable; both copies are complete (host side) when they return.
  int32_t (*copy_to_device)(void* ctx, void* dst, const void* src, size_t bytes, SparqCudaError* err);
  int32_t (*copy_to_host)(void* ctx, void* dst, const void* src, size_t bytes, SparqCudaError* err);
  int32_t (*fill)(void* ctx, void* dst, size_t bytes, uint8_t value, SparqCudaError* err);
  int32_t (*copy_on_device)(void* ctx, void* dst, const void* src, size_t bytes, SparqCudaError* err);
  int32_t (*synchronize)(void* ctx, SparqCudaError* err);
  // Milliseconds from the context's creation event to an event recorded now on the stream.
  int32_t (*stream_time_ms)(void* ctx, double* ms, SparqCudaError* err);
  // Runs op `op_id` (sparq::OpId) with its args struct (args_bytes = sizeof it, checked) enqueued on
  // the context's stream. An op the library lacks answers with a kBackend error.
  int32_t (*run_op)(void* ctx, int32_t op_id, const void* args, size_t args_bytes, SparqCudaLaunchInfo* info,
                    SparqCudaError* err);
  // 1 when cuBLAS was found (out = its path), 0 when not (out = why, and what dense.matmul uses instead).
  int32_t (*cublas_status)(void* ctx, char* out, size_t out_bytes);
  // The op list the library was built with: op_names[i] is sparq::OpId i's kOpName.
  int32_t op_count;
  const char* const* op_names;
  // The comm's device transport (runtime/comm_device.h). peer_slot_alloc: `bytes` of plain
  // cudaMalloc memory (IPC cannot export stream-ordered pool memory) and its cudaIpcMemHandle_t
  // (64 bytes into ipc_handle); peer_slot_open maps a slot another process exported
  // (cudaIpcOpenMemHandle, peer access enabled lazily); the frees undo them.
  int32_t (*peer_slot_alloc)(void* ctx, size_t bytes, void** ptr, uint8_t* ipc_handle, SparqCudaError* err);
  void (*peer_slot_free)(void* ctx, void* ptr);
  int32_t (*peer_slot_open)(void* ctx, const uint8_t* ipc_handle, void** ptr, SparqCudaError* err);
  void (*peer_slot_close)(void* ctx, void* ptr);
  // The comm's NCCL transport (runtime/comm_nccl.h): the context's cudaStream_t, with its device
  // made current on the calling thread (NCCL calls use the current device); and whether the stream
  // has finished everything enqueued (cudaStreamQuery: *idle 1 done, 0 not yet; never waits).
  int32_t (*nccl_stream)(void* ctx, void** stream, SparqCudaError* err);
  int32_t (*stream_idle)(void* ctx, int32_t* idle, SparqCudaError* err);
  // Lets this context's device read `peer_device`'s memory directly (cudaDeviceEnablePeerAccess),
  // for a peer slot of another device in this process: without it cudaMemcpyPeer-style copies are
  // staged through host memory. Returns 1 when direct access is on (or peer_device is this
  // device), 0 when the pair cannot (the copies still work, staged); never fails.
  int32_t (*peer_access_enable)(void* ctx, int32_t peer_device);
} SparqCudaApi;

// Returns null when the library cannot serve `abi_version`.
typedef const SparqCudaApi* (*SparqCudaGetApiFn)(uint32_t abi_version);
__attribute__((visibility("default"))) const SparqCudaApi* sparq_cuda_get_api(uint32_t abi_version);

#ifdef __cplusplus
}
#endif
