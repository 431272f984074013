// native/cuda/fragment_dump.cu: nvcc launcher of the fragment-layout dump (device check only).
#include <cuda_runtime.h>

#include <cstring>

#include "cuda/cuda_ops.h"
#include "cuda/nvcc_target.cuh"
#include "kernels/fragment_dump.cuh"

namespace {

// The same bytes as sparq::sim::FragmentDumpInputs (kept here: libsparq_cuda does not link the simulator).
void DumpInputs(uint16_t* a16, uint16_t* bk, uint16_t* a_identity, int8_t* a8, int8_t* b8) {
  auto f16 = [](int v) {  // small non-negative integers are exact in f16: 2^e * (1 + m/1024)
    if (v == 0) return uint16_t(0);
    int e = 0;
    while ((v >> (e + 1)) != 0) ++e;
    const int mant = (v << (10 - e)) & 0x3ff;
    return uint16_t(((e + 15) << 10) | mant);
  };
  for (int r = 0; r < 16; ++r)
    for (int c = 0; c < 16; ++c) {
      a16[r * 16 + c] = f16(r * 16 + c);
      a_identity[r * 16 + c] = f16(r == c ? 1 : 0);
    }
  for (int k = 0; k < 16; ++k)
    for (int n = 0; n < 8; ++n) bk[k * 8 + n] = f16(k * 8 + n);
  for (int r = 0; r < 16; ++r)
    for (int k = 0; k < 32; ++k) a8[r * 32 + k] = int8_t(r == k ? 1 : 0);
  for (int n = 0; n < 8; ++n)
    for (int k = 0; k < 32; ++k) b8[n * 32 + k] = int8_t((k * 8 + n) % 127);
}

struct DeviceBuffer {
  void* ptr = nullptr;
  ~DeviceBuffer() {
    if (ptr) cudaFree(ptr);
  }
};

}  // namespace

// Uploads the fixed inputs, runs the kernel on `stream`, waits, and copies the dump to host memory
// `out`. Returns the first failing cudaError_t value (0 = ok).
static int sparq_cuda_fragment_dump(sparq::sim::FragmentDumpData* out, cudaStream_t stream) {
  uint16_t a16[256], bk[128], a_identity[256];
  int8_t a8[512], b8[256];
  DumpInputs(a16, bk, a_identity, a8, b8);
  // one allocation: inputs (16-byte aligned offsets) then the dump
  constexpr size_t kA16 = 0, kBk = 512, kAid = 768, kA8 = 1280, kB8 = 1792, kOut = 2048;
  const size_t bytes = kOut + sizeof(sparq::sim::FragmentDumpData);
  unsigned char host[kOut];
  std::memcpy(host + kA16, a16, sizeof a16);
  std::memcpy(host + kBk, bk, sizeof bk);
  std::memcpy(host + kAid, a_identity, sizeof a_identity);
  std::memcpy(host + kA8, a8, sizeof a8);
  std::memcpy(host + kB8, b8, sizeof b8);
  DeviceBuffer buf;
  cudaError_t e = cudaMalloc(&buf.ptr, bytes);
  if (e != cudaSuccess) return int(e);
  auto* d = static_cast<unsigned char*>(buf.ptr);
  if ((e = cudaMemcpyAsync(d, host, kOut, cudaMemcpyHostToDevice, stream)) != cudaSuccess) return int(e);
  if ((e = cudaMemsetAsync(d + kOut, 0xFF, sizeof(sparq::sim::FragmentDumpData), stream)) != cudaSuccess) return int(e);
  auto* o = reinterpret_cast<sparq::sim::FragmentDumpData*>(d + kOut);
  const sparq::FragmentDumpParams p{reinterpret_cast<const uint16_t*>(d + kA16), reinterpret_cast<const uint16_t*>(d + kBk),
                                    reinterpret_cast<const uint16_t*>(d + kAid), reinterpret_cast<const int8_t*>(d + kA8),
                                    reinterpret_cast<const int8_t*>(d + kB8), &o->ldmatrix_x4[0][0],
                                    &o->ldmatrix_x2_trans[0][0], &o->mma_f16[0][0], &o->mma_s8[0][0]};
  sparq::fragment_dump_kernel<<<1, sparq::kDumpThreads, 0, stream>>>(p);
  if ((e = cudaGetLastError()) != cudaSuccess) return int(e);
  if ((e = cudaMemcpyAsync(out, o, sizeof *out, cudaMemcpyDeviceToHost, stream)) != cudaSuccess) return int(e);
  return int(cudaStreamSynchronize(stream));
}

namespace sparq::cuda_ops {

Status FragmentDump(const FragmentDumpArgs& args, cuda::Exec& exec, LaunchInfo* info) {
  (void)info;
  return cuda::CudaStatus(cudaError_t(sparq_cuda_fragment_dump(args.out, exec.stream)), "fragmentDump");
}

}  // namespace sparq::cuda_ops
