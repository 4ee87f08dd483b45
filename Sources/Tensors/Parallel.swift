// Parallel: splits a loop over samples across the engine's threads, with BLAS single-threaded inside, so that two
// thread pools never spin on the same cores.
import Dispatch

public enum Parallel {
    /// Calls `body` on contiguous, disjoint sub-ranges of `0..<count`, concurrently when `BLAS.threads` > 1 and
    /// there are at least two items per thread; chunk `i` of `chunks` always gets the same range, so results that
    /// depend on the chunking are still fixed for a given thread count. Inside, `BLAS.threads` reads 1.
    /// `body(chunkIndex, range)` must only write memory no other chunk writes.
    public static func forEachChunk(count: Int, _ body: (Int, Range<Int>) -> Void) {
        let threads = BLAS.threads
        let chunks = chunkCount(count: count)
        guard chunks > 1 else {
            body(0, 0..<count)
            return
        }
        BLAS.threads = 1
        defer { BLAS.threads = threads }
        withoutActuallyEscaping(body) { body in
            nonisolated(unsafe) let run = body
            DispatchQueue.concurrentPerform(iterations: chunks) { i in
                run(i, (i * count / chunks)..<((i + 1) * count / chunks))
            }
        }
    }

    /// The number of chunks `forEachChunk` uses for `count` items at the current thread setting.
    public static func chunkCount(count: Int) -> Int {
        max(1, min(BLAS.threads, count / 2))
    }
}
