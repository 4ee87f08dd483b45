// Binary GEMM: the packed XNOR-popcount product equals the float product of the same ±1 matrices on every path,
// including k not a multiple of 64 or of 512 and row/column counts off the 4 × 4 blocks.
import CKernels
import Tensors
import Testing

@Suite struct BinaryGEMMTests {
    // Rows under 16 words with 8 or more columns take the broadcast path (columns in lanes, 32 at a time then 8).
    @Test(arguments: [(1, 1, 1), (4, 4, 64), (5, 7, 65), (9, 6, 513), (16, 12, 1000), (3, 33, 2048),
                      (64, 196, 288), (5, 8, 1), (3, 45, 960), (2, 71, 130)])
    func packedProductEqualsTheFloatProduct(m: Int, n: Int, k: Int) {
        var g = SeededGenerator(seed: UInt64(m * 100 + n + k))
        // Values of either sign, zeros included (0 counts as +1, like sign ≥ 0).
        let a = (0..<(m * k)).map { _ in Float(g.nextInt(below: 3)) - 1 }
        let b = (0..<(n * k)).map { _ in Float(g.nextInt(below: 3)) - 1 }
        func sign(_ v: Float) -> Int32 { v >= 0 ? 1 : -1 }
        var expected = [Int32](repeating: 0, count: m * n)
        for i in 0..<m { for j in 0..<n { for p in 0..<k { expected[i * n + j] += sign(a[i * k + p]) * sign(b[j * k + p]) } } }
        let pa = a.withUnsafeBufferPointer { BinaryGEMM.pack($0.baseAddress!, rows: m, columns: k) }
        let pb = b.withUnsafeBufferPointer { BinaryGEMM.pack($0.baseAddress!, rows: n, columns: k) }
        #expect(pa.count == m * ((k + 63) / 64))
        #expect(BinaryGEMM.multiply(m: m, n: n, k: k, a: pa, b: pb) == expected)
        for vectorized in [Int32(0), 1] {
            var c = [Int32](repeating: 99, count: m * n)
            let ran = ck_gemm_binary_with(vectorized, Int64(m), Int64(n), Int64(k), pa, pb, &c)
            if ran == 0 { continue }
            #expect(c == expected, "vectorized \(vectorized)")
        }
    }

    @Test func packingByHand() {
        // +1, −1, +1 (0 counts as +1), −1 → bits 1, 0, 1, 0 → 0b0101 = 5; padding bits stay 0.
        let x: [Float] = [2, -1, 0, -0.5]
        #expect(x.withUnsafeBufferPointer { BinaryGEMM.pack($0.baseAddress!, rows: 1, columns: 4) } == [5])
    }
}
