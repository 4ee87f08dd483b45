// sgemm/sgemv wrappers against naive loops, for every transpose combination and leading dimensions.
import Tensors
import Testing

private func values(_ count: Int, seed: UInt64) -> [Float] {
    var g = SeededGenerator(seed: seed)
    return (0..<count).map { _ in g.nextUniform() * 2 - 1 }
}

@Suite struct BLASTests {
    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func sgemmMatchesNaiveProduct(transposeA: Bool, transposeB: Bool) {
        let m = 5, n = 7, k = 3
        let a = Tensor(shape: transposeA ? [k, m] : [m, k], scalars: values(m * k, seed: 1))
        let b = Tensor(shape: transposeB ? [n, k] : [k, n], scalars: values(k * n, seed: 2))
        let c = Tensor.matmul(a, b, transposeA: transposeA, transposeB: transposeB)
        for i in 0..<m {
            for j in 0..<n {
                var total: Float = 0
                for p in 0..<k {
                    total += (transposeA ? a[p, i] : a[i, p]) * (transposeB ? b[j, p] : b[p, j])
                }
                #expect(abs(c[i, j] - total) < 1e-5)
            }
        }
    }

    @Test func sgemmAccumulatesWithBetaAndSgemvMatches() {
        let a = values(6, seed: 3), x = values(3, seed: 4)
        var y: [Float] = [1, 1]
        a.withUnsafeBufferPointer { pa in
            x.withUnsafeBufferPointer { px in
                y.withUnsafeMutableBufferPointer { py in
                    BLAS.sgemv(.none, rows: 2, columns: 3, a: pa.baseAddress!, x: px.baseAddress!, beta: 1, y: py.baseAddress!)
                }
            }
        }
        for r in 0..<2 {
            let expected = 1 + (0..<3).reduce(Float(0)) { $0 + a[r * 3 + $1] * x[$1] }
            #expect(abs(y[r] - expected) < 1e-5)
        }
    }

    @Test func threadCountsArePerThreadInsideWithThreads() {
        // The process-wide setting is left alone (tests run concurrently); the per-thread one wins where it is set.
        let global = BLAS.threads
        Parallel.withThreads(3) {
            #expect(BLAS.threads == 3)
            Parallel.withThreads(1) { #expect(BLAS.threads == 1) }
            #expect(BLAS.threads == 3)
            // Inside a chunk of a parallel loop the engine runs single-threaded.
            nonisolated(unsafe) var inside = [Int](repeating: 0, count: Parallel.chunkCount(count: 12))
            inside.withUnsafeMutableBufferPointer { p in
                nonisolated(unsafe) let p = p
                Parallel.forEachChunk(count: 12) { chunk, _ in p[chunk] = BLAS.threads }
            }
            #expect(inside.count == 3 && inside.allSatisfy { $0 == 1 })
        }
        #expect(BLAS.threads == global && Parallel.threadOverride == nil)
        #expect(BLAS.processors >= 1)
    }
}
