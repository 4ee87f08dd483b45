// SparseMatrix: a weight matrix in compressed sparse row form (CSR), for the sparse kernel that pruned linear layers
// run at inference. Built from a dense [rows, columns] tensor, keeping the nonzeros row by row.
import CKernels

/// A `rows × columns` Float32 matrix in CSR form.
public struct SparseMatrix: Sendable, Equatable {
    public let rows: Int, columns: Int
    /// `rows + 1` offsets into `columnIndex`/`values`: row r's nonzeros are `rowStart[r] ..< rowStart[r + 1]`.
    public let rowStart: [Int32]
    public let columnIndex: [Int32]
    public let values: [Float]

    /// The nonzeros of a dense [rows, columns] tensor.
    public init(dense: Tensor) {
        precondition(dense.rank == 2, "SparseMatrix needs a matrix, got \(dense.shape)")
        let (rows, columns) = (dense.shape[0], dense.shape[1])
        var starts: [Int32] = [0], indices: [Int32] = [], values: [Float] = []
        dense.withUnsafeBufferPointer { p in
            for r in 0..<rows {
                for c in 0..<columns where p[r * columns + c] != 0 {
                    indices.append(Int32(c))
                    values.append(p[r * columns + c])
                }
                starts.append(Int32(indices.count))
            }
        }
        self.rows = rows
        self.columns = columns
        rowStart = starts
        columnIndex = indices
        self.values = values
    }

    /// The fraction of entries stored.
    public var density: Double { rows * columns == 0 ? 0 : Double(values.count) / Double(rows * columns) }

    /// y (n × rows, row-major) += x (n × columns, row-major) · selfᵀ.
    public func multiplyTransposed(_ x: UnsafePointer<Float>, samples n: Int, into y: UnsafeMutablePointer<Float>) {
        rowStart.withUnsafeBufferPointer { ps in
            columnIndex.withUnsafeBufferPointer { pc in
                values.withUnsafeBufferPointer { pv in
                    ck_spmm_csr(Int64(rows), Int64(columns), ps.baseAddress!, pc.baseAddress, pv.baseAddress, Int64(n),
                                x, Int64(columns), y, Int64(rows))
                }
            }
        }
    }
}
