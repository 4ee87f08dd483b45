// u8 × s8 GEMM: the VNNI, AVX2 and portable paths and the OpenBLAS float path give bit-identical int32 results,
// including K not a multiple of the vector width, K > 2^10, edge tiles and the extreme values 255 × −128.
import CKernels
import Tensors
import Testing

private func operands(m: Int, n: Int, k: Int, seed: UInt64) -> ([UInt8], [Int8]) {
    var g = SeededGenerator(seed: seed)
    let a = (0..<(m * k)).map { _ in UInt8(g.nextInt(below: 256)) }
    let b = (0..<(n * k)).map { _ in Int8(truncatingIfNeeded: g.nextInt(below: 256)) }
    return (a, b)
}

private func reference(m: Int, n: Int, k: Int, _ a: [UInt8], _ b: [Int8]) -> [Int32] {
    var c = [Int32](repeating: 0, count: m * n)
    for i in 0..<m { for j in 0..<n { for p in 0..<k { c[i * n + j] += Int32(a[i * k + p]) * Int32(b[j * k + p]) } } }
    return c
}

@Suite struct IntegerGEMMTests {
    static let shapes = [(1, 1, 1), (1, 512, 512), (14, 32, 4), (15, 33, 7), (29, 70, 1025), (3, 5, 2049), (64, 10, 3136)]

    @Test(arguments: shapes)
    func everyPathGivesTheSameIntegers(m: Int, n: Int, k: Int) {
        let (a, b) = operands(m: m, n: n, k: k, seed: UInt64(m * 1000 + n + k))
        let expected = reference(m: m, n: n, k: k, a, b)
        for path in [CK_GEMM_U8S8_SCALAR, CK_GEMM_U8S8_AVX2, CK_GEMM_U8S8_VNNI] {
            var c = [Int32](repeating: -7, count: m * n)
            let ran = ck_gemm_u8s8_with(Int32(path), Int64(m), Int64(n), Int64(k), a, Int64(k), b, Int64(k), &c, Int64(n))
            if ran == 0 { continue }  // this CPU lacks the path
            #expect(c == expected, "path \(path), m \(m) n \(n) k \(k)")
        }
        for backend in IntegerGEMMBackend.allCases {
            var c = [Int32](repeating: -7, count: m * n)
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    c.withUnsafeMutableBufferPointer { pc in
                        IntegerGEMM.u8s8(m: m, n: n, k: k, a: pa.baseAddress!, b: pb.baseAddress!, c: pc.baseAddress!,
                                         backend: backend)
                    }
                }
            }
            #expect(c == expected, "backend \(backend), m \(m) n \(n) k \(k)")
        }
    }

    @Test func extremeValuesStayExact() {
        // 255 · (−128) · 3000 = −97,920,000: beyond 2^24, so the float path must chunk K to stay exact.
        let m = 2, n = 3, k = 3000
        let a = [UInt8](repeating: 255, count: m * k), b = [Int8](repeating: -128, count: n * k)
        for backend in IntegerGEMMBackend.allCases {
            var c = [Int32](repeating: 0, count: m * n)
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    c.withUnsafeMutableBufferPointer { pc in
                        IntegerGEMM.u8s8(m: m, n: n, k: k, a: pa.baseAddress!, b: pb.baseAddress!, c: pc.baseAddress!,
                                         backend: backend)
                    }
                }
            }
            #expect(c.allSatisfy { $0 == -97_920_000 }, "backend \(backend)")
        }
    }
}
