// GEMM: the builtin packed kernel agrees with OpenBLAS for every transpose, edge sizes, alpha/beta and thread
// splits, and its result does not depend on the thread count; B packed once gives ck_sgemm's bits, over any band of
// columns.
import CKernels
import Tensors
import Testing

private func values(_ count: Int, seed: UInt64) -> [Float] {
    var g = SeededGenerator(seed: seed)
    return (0..<count).map { _ in g.nextUniform() * 2 - 1 }
}

/// Runs GEMM.sgemm with the given backend and thread count on row-major operands stored as the flags say.
private func product(_ backend: GEMMBackend, threads: Int, _ ta: Bool, _ tb: Bool, m: Int, n: Int, k: Int,
                     alpha: Float, beta: Float, seed: UInt64) -> [Float] {
    let a = values(m * k, seed: seed), b = values(k * n, seed: seed + 1)
    var c = values(m * n, seed: seed + 2)
    // Per call and per thread: concurrent tests never see this backend or thread count.
    Parallel.withThreads(threads) {
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    GEMM.sgemm(ta ? .transposed : .none, tb ? .transposed : .none, m: m, n: n, k: k, alpha: alpha,
                               a: pa.baseAddress!, b: pb.baseAddress!, beta: beta, c: pc.baseAddress!, backend: backend)
                }
            }
        }
    }
    return c
}

@Suite(.serialized) struct GEMMTests {
    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func builtinMatchesOpenBLAS(transposeA: Bool, transposeB: Bool) {
        // Sizes straddle the 14 × 32 tile, the 384-deep K block and the 112-row M block.
        for (m, n, k) in [(1, 1, 1), (13, 31, 5), (14, 32, 384), (29, 65, 385), (113, 40, 9), (3, 200, 800)] {
            for (alpha, beta) in [(Float(1), Float(0)), (1, 1), (0.5, -2)] {
                let ours = product(.builtin, threads: 1, transposeA, transposeB, m: m, n: n, k: k, alpha: alpha,
                                   beta: beta, seed: UInt64(m * n + k))
                let reference = product(.openBLAS, threads: 1, transposeA, transposeB, m: m, n: n, k: k, alpha: alpha,
                                        beta: beta, seed: UInt64(m * n + k))
                let worst = zip(ours, reference).map { abs($0 - $1) }.max() ?? 0
                #expect(worst < 1e-4 * Float(max(k, 1)).squareRoot(), "m \(m) n \(n) k \(k) α \(alpha) β \(beta)")
            }
        }
    }

    @Test func resultDoesNotDependOnTheThreadCount() {
        for (m, n, k) in [(300, 64, 200), (20, 700, 300)] {
            let one = product(.builtin, threads: 1, false, true, m: m, n: n, k: k, alpha: 1, beta: 0, seed: 9)
            let two = product(.builtin, threads: 2, false, true, m: m, n: n, k: k, alpha: 1, beta: 0, seed: 9)
            #expect(one == two)
        }
    }

    @Test func betaZeroIgnoresNaNInTheOutput() {
        var c = [Float](repeating: .nan, count: 4)
        let a: [Float] = [1, 2], b: [Float] = [3, 4]
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    GEMM.sgemm(.none, .none, m: 2, n: 2, k: 1, a: pa.baseAddress!, b: pb.baseAddress!, c: pc.baseAddress!,
                               backend: .builtin)
                }
            }
        }
        #expect(c == [3, 4, 6, 8])
    }
    /// `ck_sgemm_packed` on B packed once (either layout) gives `ck_sgemm`'s bits, for the whole product and for
    /// bands of columns that start on a panel of 32 (beta applied to the band only); a band that does not is refused.
    @Test func packedBGivesTheSameBits() {
        for (m, n, k) in [(1, 1, 1), (8, 1000, 576), (3, 2100, 400), (15, 33, 7)] {
            for transposeB in [true, false] {
                let a = values(m * k, seed: 1), b = values(k * n, seed: 2), start = values(m * n, seed: 3)
                var expected = start
                ck_sgemm(0, transposeB ? 1 : 0, Int64(m), Int64(n), Int64(k), 1, a, Int64(k), b,
                         Int64(transposeB ? k : n), 0.5, &expected, Int64(n))
                var packed = [Float](repeating: .nan, count: Int(ck_sgemm_packed_b_size(Int64(n), Int64(k))))
                ck_sgemm_pack_b(transposeB ? 1 : 0, Int64(n), Int64(k), b, Int64(transposeB ? k : n), &packed)
                var whole = start
                #expect(ck_sgemm_packed(0, Int64(m), Int64(n), Int64(k), a, Int64(k), packed, 0.5, &whole, Int64(n), 0,
                                        Int64(n)) == 1)
                #expect(whole.map(\.bitPattern) == expected.map(\.bitPattern), "\(m)×\(n)×\(k) transposeB \(transposeB)")
                var banded = start
                let cuts = [0, min(n, 32), min(n, 2048), n]
                for (from, to) in zip(cuts, cuts.dropFirst()) where from < to {
                    #expect(ck_sgemm_packed(0, Int64(m), Int64(n), Int64(k), a, Int64(k), packed, 0.5, &banded,
                                            Int64(n), Int64(from), Int64(to)) == 1)
                }
                #expect(banded.map(\.bitPattern) == expected.map(\.bitPattern), "\(m)×\(n)×\(k): bands")
                if n > 33 {
                    var untouched = start
                    #expect(ck_sgemm_packed(0, Int64(m), Int64(n), Int64(k), a, Int64(k), packed, 0.5, &untouched,
                                            Int64(n), 1, Int64(n)) == 0)
                    #expect(untouched == start)
                }
            }
        }
    }
}
