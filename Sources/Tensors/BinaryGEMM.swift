// BinaryGEMM: the product of ±1 matrices that binarized layers run on — signs packed 64 per word and an
// XNOR-popcount kernel (CKernels `ck_gemm_binary`), counting one bit as one multiply-add.
import CKernels

/// ±1 matrices packed 64 values per word, and their product.
public enum BinaryGEMM {
    /// The signs of a `rows × columns` row-major matrix (≥ 0 → +1, < 0 → −1), packed ⌈columns/64⌉ words a row.
    public static func pack(_ x: UnsafePointer<Float>, rows: Int, columns: Int) -> [UInt64] {
        let words = (columns + 63) / 64
        var packed = [UInt64](repeating: 0, count: rows * words)
        packed.withUnsafeMutableBufferPointer { p in
            ck_pack_signs(x, Int64(rows), Int64(columns), Int64(columns), p.baseAddress!)
        }
        return packed
    }

    /// C (m × n) = A · Bᵀ for ±1 matrices A (m × k) and B (n × k) packed by `pack`; exact integers in −k…k.
    public static func multiply(m: Int, n: Int, k: Int, a: [UInt64], b: [UInt64]) -> [Int32] {
        let words = (k + 63) / 64
        precondition(a.count == m * words && b.count == n * words, "BinaryGEMM: operands do not fit \(m), \(n), \(k)")
        var c = [Int32](repeating: 0, count: m * n)
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    ck_gemm_binary(Int64(m), Int64(n), Int64(k), pa.baseAddress!, pb.baseAddress!, pc.baseAddress!)
                }
            }
        }
        return c
    }
}
