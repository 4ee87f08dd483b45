// Allocator tuning for executables that train: glibc returns large freed blocks to the kernel by default, and the
// next step's fresh pages then cost a page-clearing pass. Programs opt in; the library never calls this itself.
#include "CKernels.h"
#if defined(__GLIBC__)
#include <malloc.h>
#endif

void ck_keep_freed_memory(void) {
#if defined(__GLIBC__)
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}
