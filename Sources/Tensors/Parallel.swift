// Parallel: splits a loop over samples across the engine's threads, with BLAS single-threaded inside, so that two
// thread pools never spin on the same cores. The threads are CKernels' pool (workers that spin briefly between
// jobs, so a batch-1 network can hand each layer to them without a wake-up per layer), Dispatch when that pool is
// in use by another caller.
import CKernels
import Dispatch
import Foundation

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
        perform(iterations: chunks, threads: BLAS.threads) { i in
            withThreads(1) { body(i, (i * count / chunks)..<((i + 1) * count / chunks)) }
        }
    }

    /// Calls `body(0)` … `body(iterations − 1)` concurrently on the calling thread and up to `threads − 1` of the
    /// engine's pooled workers, returning when all have finished. The workers spin for a short while after a job
    /// (`SHRINK_SPIN_US` microseconds, default 200; 0 makes them sleep at once) so that the next layer's split
    /// starts without a wake-up; when the pool is busy — another thread's job, or a call from inside a task — the
    /// iterations run on Dispatch's threads instead. `body` must only write memory no other iteration writes.
    public static func perform(iterations: Int, threads: Int, _ body: (Int) -> Void) {
        guard iterations > 1 else {
            if iterations == 1 { body(0) }
            return
        }
        _ = spinConfigured
        withoutActuallyEscaping(body) { body in
            var task = body
            let ran = withUnsafeMutablePointer(to: &task) { pointer in
                ck_pool_run(Int64(iterations), Int32(clamping: threads), { context, index in
                    guard let context else { return }
                    context.assumingMemoryBound(to: ((Int) -> Void).self).pointee(Int(index))
                }, pointer)
            }
            if ran == 0 {
                nonisolated(unsafe) let run = body
                DispatchQueue.concurrentPerform(iterations: iterations) { run($0) }
            }
        }
    }

    /// Reads `SHRINK_SPIN_US` once, before the pool's first job.
    private static let spinConfigured: Void = {
        if let text = ProcessInfo.processInfo.environment["SHRINK_SPIN_US"], let microseconds = Int64(text) {
            ck_pool_set_spin(microseconds)
        }
    }()

    /// Calls `body` on contiguous, disjoint sub-ranges of `0..<count` — one per thread, each of at least `grain`
    /// items and starting at a multiple of 16 — concurrently when `BLAS.threads` > 1 and there is enough work; for
    /// the elementwise loops of a batch of one (adds, gates, means, matrix-vector products), whose result does not
    /// depend on the split. Inside, `BLAS.threads` reads 1.
    public static func forEachRange(count: Int, grain: Int, _ body: (Range<Int>) -> Void) {
        let parts = max(1, min(BLAS.threads, count / max(grain, 1)))
        guard parts > 1 else {
            body(0..<count)
            return
        }
        perform(iterations: parts, threads: parts) { i in
            let start = i == 0 ? 0 : min(count, (i * count / parts + 15) & ~15)
            let end = i == parts - 1 ? count : min(count, ((i + 1) * count / parts + 15) & ~15)
            if start < end { withThreads(1) { body(start..<end) } }
        }
    }

    /// The number of chunks `forEachChunk` uses for `count` items at the current thread setting.
    public static func chunkCount(count: Int) -> Int {
        max(1, min(BLAS.threads, count / 2))
    }
}
