#include "core/process.h"

#include <malloc.h>

namespace orbit {

void ConfigureAllocatorForLargeBuffers() {
  // Buffers up to 256 MiB come from the heap (not mmap), and the heap is trimmed only when more
  // than 1 GiB at its top is free.
  mallopt(M_MMAP_THRESHOLD, 256 * 1024 * 1024);
  mallopt(M_TRIM_THRESHOLD, 1024 * 1024 * 1024);
}

}  // namespace orbit
