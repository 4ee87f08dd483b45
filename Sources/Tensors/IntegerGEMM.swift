// IntegerGEMM: the integer engine's u8 × s8 → s32 matrix product, computed two ways that must agree bit for bit:
// natively in CKernels (AVX-512 VNNI, AVX2 or portable C) and through OpenBLAS's sgemm with the integers carried in
// Float32, exact because K is cut into chunks whose partial sums stay below 2^24.

import CKernels

/// Which implementation computes a u8 × s8 product.
public enum IntegerGEMMBackend: String, Sendable, CaseIterable {
    /// `ck_gemm_u8s8`, on the best path the CPU has.
    case native
    /// OpenBLAS sgemm on Float32 copies, K split into exact chunks summed in Int32.
    case openBLAS = "openblas"
}

public enum IntegerGEMM {
    /// The longest K chunk whose Float32 sums are exact: 512 · 255 · 128 = 16,711,680 < 2^24 = 16,777,216.
    public static let exactChunk = 512

    /// C (m × n) = A (m × k, uint8) · Bᵀ with B (n × k, int8, weights stored [out, in]), all row-major and dense.
    /// Every backend returns the same integers.
    public static func u8s8(m: Int, n: Int, k: Int, a: UnsafePointer<UInt8>, b: UnsafePointer<Int8>,
                            c: UnsafeMutablePointer<Int32>, backend: IntegerGEMMBackend = .native) {
        switch backend {
        case .native:
            ck_gemm_u8s8(Int64(m), Int64(n), Int64(k), a, Int64(k), b, Int64(k), c, Int64(n))
        case .openBLAS:
            viaSgemm(m: m, n: n, k: k, a: a, b: b, c: c)
        }
    }

    /// C (m × n) = A (m × k, uint8, row stride `lda`) · Wᵀ for weights packed once, C with row stride `ldc`.
    /// The same integers as `u8s8(m:n:k:a:b:c:backend:)`.
    public static func u8s8(m: Int, a: UnsafePointer<UInt8>, lda: Int, weights: PackedInt8Weights,
                            c: UnsafeMutablePointer<Int32>, ldc: Int, backend: IntegerGEMMBackend = .native) {
        let n = weights.rows, k = weights.depth
        weights.values.withUnsafeBufferPointer { pb in
            switch backend {
            case .native:
                weights.packed.withUnsafeBufferPointer { pp in
                    ck_gemm_u8s8_packed(Int64(m), Int64(n), Int64(k), a, Int64(lda), pb.baseAddress!, Int64(k),
                                        pp.isEmpty ? nil : pp.baseAddress!, c, Int64(ldc))
                }
            case .openBLAS:
                if lda == k && ldc == n {
                    viaSgemm(m: m, n: n, k: k, a: a, b: pb.baseAddress!, c: c)
                } else {
                    var dense = [UInt8](unsafeUninitializedCapacity: m * k) { buffer, count in
                        for i in 0..<m { for p in 0..<k { buffer[i * k + p] = a[i * lda + p] } }
                        count = m * k
                    }
                    var result = [Int32](repeating: 0, count: m * n)
                    dense.withUnsafeMutableBufferPointer { pa in
                        result.withUnsafeMutableBufferPointer { pc in
                            viaSgemm(m: m, n: n, k: k, a: pa.baseAddress!, b: pb.baseAddress!, c: pc.baseAddress!)
                        }
                    }
                    for i in 0..<m { for j in 0..<n { c[i * ldc + j] = result[i * n + j] } }
                }
            }
        }
    }

    /// The OpenBLAS path: for each K chunk, convert to Float32, one sgemm, then add the (exact) result as Int32.
    static func viaSgemm(m: Int, n: Int, k: Int, a: UnsafePointer<UInt8>, b: UnsafePointer<Int8>,
                         c: UnsafeMutablePointer<Int32>) {
        c.update(repeating: 0, count: m * n)
        guard k > 0 else { return }
        let chunk = min(k, exactChunk)
        var fa = [Float](repeating: 0, count: m * chunk), fb = [Float](repeating: 0, count: n * chunk)
        var fc = [Float](repeating: 0, count: m * n)
        var start = 0
        while start < k {
            let width = min(chunk, k - start)
            for i in 0..<m { for p in 0..<width { fa[i * width + p] = Float(a[i * k + start + p]) } }
            for j in 0..<n { for p in 0..<width { fb[j * width + p] = Float(b[j * k + start + p]) } }
            fa.withUnsafeBufferPointer { pa in
                fb.withUnsafeBufferPointer { pb in
                    fc.withUnsafeMutableBufferPointer { pc in
                        BLAS.sgemm(.none, .transposed, m: m, n: n, k: width, a: pa.baseAddress!, lda: width,
                                   b: pb.baseAddress!, ldb: width, c: pc.baseAddress!)
                    }
                }
            }
            for i in 0..<(m * n) { c[i] &+= Int32(fc[i]) }
            start += width
        }
    }
}

/// int8 weights (`rows × depth`, row-major, stored [out][in]) with the panels the native kernel reads, packed once
/// when the weights are built rather than on every call.
public struct PackedInt8Weights: Sendable {
    public let rows: Int, depth: Int
    public let values: [Int8]
    /// `ck_gemm_u8s8_pack`'s layout, or empty when this CPU's kernel takes the weights unpacked.
    public let packed: [Int8]

    public init(values: [Int8], rows: Int) {
        precondition(rows >= 1 && values.count >= rows && values.count % rows == 0, "PackedInt8Weights: \(values.count) values in \(rows) rows")
        let depth = values.count / rows
        self.rows = rows
        self.depth = depth
        self.values = values
        let size = Int(ck_gemm_u8s8_packed_size(Int64(rows), Int64(depth)))
        guard size > 0 else {
            self.packed = []
            return
        }
        var packed = [Int8](repeating: 0, count: size)
        let done = values.withUnsafeBufferPointer { pb in
            packed.withUnsafeMutableBufferPointer { pp in
                ck_gemm_u8s8_pack(Int64(rows), Int64(depth), pb.baseAddress!, Int64(depth), pp.baseAddress!)
            }
        }
        self.packed = done == 1 ? packed : []
    }
}
