// BLAS: thin Swift wrappers over OpenBLAS's cblas_sgemm/cblas_sgemv and the engine's thread count.
// Only this module touches COpenBLAS; everything above calls these wrappers. OpenBLAS itself always runs on one
// thread: the engine splits work across its own threads (`Parallel`, `GEMM`), so two pools never spin on the same
// cores and a product's bits never depend on what another caller set.
import COpenBLAS

/// Whether a matrix operand is used as stored or transposed.
public enum Transpose: Sendable {
    case none, transposed
    @usableFromInline var cblas: CBLAS_TRANSPOSE { self == .none ? CblasNoTrans : CblasTrans }
}

/// Namespace for the BLAS routines Shrink uses. All matrices are row-major.
public enum BLAS {
    /// `C = alpha · op(A) · op(B) + beta · C` with op(A) (m × k), op(B) (k × n), C (m × n), all row-major.
    ///
    /// `lda`, `ldb`, `ldc` are the row strides of A, B, C as stored (defaults: dense).
    @inlinable
    public static func sgemm(
        _ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int? = nil,
        b: UnsafePointer<Float>, ldb: Int? = nil,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int? = nil
    ) {
        let lda = lda ?? (transA == .none ? k : m)
        let ldb = ldb ?? (transB == .none ? n : k)
        pinOpenBLAS()
        cblas_sgemm(CblasRowMajor, transA.cblas, transB.cblas, Int32(m), Int32(n), Int32(k),
                    alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc ?? n))
    }

    /// `y = alpha · op(A) · x + beta · y`, A stored row-major (rows × columns).
    @inlinable
    public static func sgemv(
        _ trans: Transpose, rows: Int, columns: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, x: UnsafePointer<Float>, beta: Float = 0, y: UnsafeMutablePointer<Float>
    ) {
        pinOpenBLAS()
        cblas_sgemv(CblasRowMajor, trans.cblas, Int32(rows), Int32(columns), alpha, a, Int32(columns),
                    x, 1, beta, y, 1)
    }

    /// The engine's process-wide thread count, from OpenBLAS's setting at start-up (`OPENBLAS_NUM_THREADS`, else
    /// the cores), before OpenBLAS is set to one thread.
    nonisolated(unsafe) static var configuredThreads: Int = {
        let threads = Int(openblas_get_num_threads())
        openblas_set_num_threads(1)
        return max(1, threads)
    }()

    /// OpenBLAS on one thread from its first call on (the first read of `configuredThreads` does it).
    @usableFromInline
    static func pinOpenBLAS() { _ = configuredThreads }

    /// The number of threads the engine uses: the process-wide setting, unless the calling thread has its own
    /// (`Parallel.withThreads`, and 1 inside `Parallel.forEachChunk`). Setting it changes the process-wide value.
    /// OpenBLAS itself stays on one thread whatever this says.
    public static var threads: Int {
        get { Parallel.threadOverride ?? configuredThreads }
        set { configuredThreads = max(1, newValue) }
    }

    /// The number of processors OpenBLAS sees.
    public static var processors: Int { Int(openblas_get_num_procs()) }
}

extension Tensor {
    /// The matrix product of two rank-2 tensors, `op(a) · op(b)`.
    public static func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
        precondition(a.rank == 2 && b.rank == 2, "matmul needs rank-2 tensors, got \(a.shape) and \(b.shape)")
        let m = transposeA ? a.shape[1] : a.shape[0]
        let k = transposeA ? a.shape[0] : a.shape[1]
        let kb = transposeB ? b.shape[1] : b.shape[0]
        let n = transposeB ? b.shape[0] : b.shape[1]
        precondition(k == kb, "matmul inner dimensions differ: \(a.shape) · \(b.shape)")
        var c = Tensor(zeros: [m, n])
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    BLAS.sgemm(transposeA ? .transposed : .none, transposeB ? .transposed : .none,
                               m: m, n: n, k: k, a: pa.baseAddress!, lda: a.shape[1],
                               b: pb.baseAddress!, ldb: b.shape[1], c: pc.baseAddress!)
                }
            }
        }
        return c
    }
}
