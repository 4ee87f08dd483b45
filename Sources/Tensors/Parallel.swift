// Parallel: splits a loop over samples across the engine's threads, with BLAS single-threaded inside, so that two
// thread pools never spin on the same cores.
import COpenBLAS
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
        OpenBLASPool.enterSingleThreaded()
        defer { OpenBLASPool.leave() }
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

/// OpenBLAS's own pool, made single-threaded while chunks run: OpenBLAS has no per-call thread count, and its workers
/// spinning beside the chunks' threads on the same cores made a multi-threaded run slower than a single-threaded
/// one. The first of overlapping `forEachChunk` calls saves the setting, the last restores it.
private enum OpenBLASPool {
    nonisolated(unsafe) static var lock = pthread_mutex_t()
    nonisolated(unsafe) static var depth = 0
    nonisolated(unsafe) static var saved: Int32 = 1
    static let initialized: Bool = {
        pthread_mutex_init(&lock, nil)
        return true
    }()

    static func enterSingleThreaded() {
        _ = initialized
        pthread_mutex_lock(&lock)
        if depth == 0 {
            saved = openblas_get_num_threads()
            if saved != 1 { openblas_set_num_threads(1) }
        }
        depth += 1
        pthread_mutex_unlock(&lock)
    }

    static func leave() {
        pthread_mutex_lock(&lock)
        depth -= 1
        if depth == 0, saved != 1 { openblas_set_num_threads(saved) }
        pthread_mutex_unlock(&lock)
    }
}
