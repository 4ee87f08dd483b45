// Allocator: the process-wide allocation policy inference wants. glibc hands blocks of 128 KiB and more back to the
// system on free and maps them again on the next malloc, so a model whose buffers are that large pays page faults
// on every call; keeping freed memory avoids it (what `shrink` does at start).
import CKernels

public enum Allocator {
    /// Keeps freed memory in the process (glibc: no mmap for large blocks, no trimming); no effect elsewhere.
    public static func keepFreedMemory() {
        ck_keep_freed_memory()
    }
}
