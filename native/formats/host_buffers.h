// native/formats/host_buffers.h: big host buffers that fault in as 2 MiB pages.
//
// Preparing a weight (copying the caller's array, encoding or quantizing it, the parts uploaded to
// the backend) fills several fresh buffers of the weight's size. Fresh 4 KiB pages cost a fault
// each, and on a VM a fault is expensive: measured on the 2-core CI VM (2026-12-04), zero-filling a
// fresh 66 MiB std::vector took ~205 ms on 4 KiB pages and ~12 ms once its range was offered to
// transparent huge pages first — for a 14336×4096 sparse.encode the faults were about half the
// call. The advice is only advice: with THP "never" (or no THP) nothing changes but the speed.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include <sys/mman.h>

namespace sparq::formats {

inline constexpr size_t kHugePageBytes = size_t(2) << 20;
inline constexpr size_t kHugeBufferMinBytes = 2 * kHugePageBytes;  // smaller buffers gain too little

// Offers the whole 2 MiB pages inside [p, p + bytes) to transparent huge pages (MADV_HUGEPAGE).
// Call before the range is first touched: pages already faulted in stay as they are.
inline void AdviseHugePages(void* p, size_t bytes) {
  if (p == nullptr || bytes < kHugeBufferMinBytes) return;
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + kHugePageBytes - 1) & ~(kHugePageBytes - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(p) + bytes) & ~(kHugePageBytes - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);  // failure changes nothing
}

// Gives an empty vector room for `count` elements on advised pages, before anything is written:
// the assign/insert that follows then faults in 2 MiB at a time. Throws std::bad_alloc as reserve does.
template <typename T>
void ReserveOnHugePages(std::vector<T>& v, size_t count) {
  v.reserve(count);
  AdviseHugePages(v.data(), v.capacity() * sizeof(T));
}

}  // namespace sparq::formats
