// Parallel: splits a loop over samples across the engine's threads, with BLAS single-threaded inside, so that two
// thread pools never spin on the same cores.
import Dispatch

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The per-thread thread count (`Parallel.threadOverride`), stored as pointer bits under one pthread key.
private let threadOverrideKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key, nil)
    return key
}()

public enum Parallel {
    /// The calling thread's own thread count, when it has one; `BLAS.threads` reads it before the process-wide
    /// setting. Per thread, so concurrent callers (tests, servers) never see each other's setting.
    public static var threadOverride: Int? {
        get {
            let bits = Int(bitPattern: pthread_getspecific(threadOverrideKey))
            return bits == 0 ? nil : bits
        }
        set { pthread_setspecific(threadOverrideKey, newValue.map { UnsafeRawPointer(bitPattern: max(1, $0)) } ?? nil) }
    }

    /// Runs `body` with `BLAS.threads` reading `threads` on the calling thread (and `forEachChunk` splitting into
    /// that many chunks), without touching the process-wide setting.
    public static func withThreads<T>(_ threads: Int, _ body: () throws -> T) rethrows -> T {
        let saved = threadOverride
        threadOverride = max(1, threads)
        defer { threadOverride = saved }
        return try body()
    }

    /// Calls `body` on contiguous, disjoint sub-ranges of `0..<count`, concurrently when `BLAS.threads` > 1 and
    /// there are at least two items per thread; chunk `i` of `chunks` always gets the same range, so results that
    /// depend on the chunking are still fixed for a given thread count. Inside, `BLAS.threads` reads 1 on the worker
    /// threads (a per-thread setting: nothing process-wide changes, so concurrent callers are not disturbed).
    /// `body(chunkIndex, range)` must only write memory no other chunk writes.
    public static func forEachChunk(count: Int, _ body: (Int, Range<Int>) -> Void) {
        let chunks = chunkCount(count: count)
        guard chunks > 1 else {
            body(0, 0..<count)
            return
        }
        withoutActuallyEscaping(body) { body in
            nonisolated(unsafe) let run = body
            DispatchQueue.concurrentPerform(iterations: chunks) { i in
                withThreads(1) { run(i, (i * count / chunks)..<((i + 1) * count / chunks)) }
            }
        }
    }

    /// The number of chunks `forEachChunk` uses for `count` items at the current thread setting.
    public static func chunkCount(count: Int) -> Int {
        max(1, min(BLAS.threads, count / 2))
    }
}
