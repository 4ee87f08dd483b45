// GEMM: the matrix product every layer calls. It picks Shrink's own packed AVX-512 kernel (CKernels) where the CPU
// has AVX-512, OpenBLAS (single-threaded) otherwise, and splits large products across the engine's threads.
import CKernels
import Dispatch
import Foundation

/// Which implementation `GEMM.sgemm` runs.
public enum GEMMBackend: String, Sendable, CaseIterable {
    /// `ck_sgemm`: packed panels and a 14 × 32 AVX-512 micro-kernel (portable C where AVX-512 is missing).
    case builtin
    /// `cblas_sgemm` from the system OpenBLAS.
    case openBLAS = "openblas"
}

/// The engine's matrix product, `C = alpha · op(A) · op(B) + beta · C` (row-major).
///
/// OpenBLAS 0.3.21 on this project's machines is pinned to its AVX2 (Haswell) kernels, which reach half of what the
/// AVX-512 units do; `ck_sgemm` uses them. The default backend is `.builtin` where AVX-512F is present, `.openBLAS`
/// elsewhere; the environment variable `SHRINK_GEMM=builtin|openblas` overrides it.
public enum GEMM {
    /// The backend `sgemm` uses.
    nonisolated(unsafe) public static var backend: GEMMBackend = {
        if let name = ProcessInfo.processInfo.environment["SHRINK_GEMM"], let choice = GEMMBackend(rawValue: name) {
            return choice
        }
        return ck_sgemm_uses_avx512() != 0 ? .builtin : .openBLAS
    }()

    /// Whether the builtin backend runs AVX-512 code on this CPU.
    public static var builtinUsesAVX512: Bool { ck_sgemm_uses_avx512() != 0 }

    /// The share of the builtin kernel's 14 × 32 tiles a `rows` × `columns` product fills (1 for a product of whole
    /// tiles); 1 whatever the shape on OpenBLAS, whose tiles are its own. A caller that may compute C or Cᵀ takes
    /// the orientation that fills more.
    public static func tileFill(rows: Int, columns: Int) -> Double {
        guard backend == .builtin, rows > 0, columns > 0 else { return 1 }
        let paddedRows = (rows + 13) / 14 * 14, paddedColumns = (columns + 31) / 32 * 32
        return Double(rows * columns) / Double(paddedRows * paddedColumns)
    }

    /// Products smaller than this many multiply-adds run on one thread.
    public static let parallelThreshold = 1 << 19

    /// `C = alpha · op(A) · op(B) + beta · C`; op(A) is m × k, op(B) k × n. With `BLAS.threads` > 1, a large
    /// product is split into row (or column) bands computed concurrently, by either backend (OpenBLAS on one thread
    /// a band); with the builtin kernel each element's sum runs in the same order either way, so the result does not
    /// depend on the thread count. `backend` picks the implementation for this call (default: `GEMM.backend`).
    @inlinable
    public static func sgemm(
        _ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int? = nil,
        b: UnsafePointer<Float>, ldb: Int? = nil,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int? = nil, backend chosen: GEMMBackend? = nil
    ) {
        let lda = lda ?? (transA == .none ? k : m)
        let ldb = ldb ?? (transB == .none ? n : k)
        let ldc = ldc ?? n
        banded(transA == .transposed, transB == .transposed, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc,
               builtin: (chosen ?? backend) == .builtin)
    }

    /// One band of C on the calling thread, by either backend (OpenBLAS runs single-threaded).
    @usableFromInline
    static func kernel(_ builtin: Bool, _ ta: Bool, _ tb: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                       _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int, _ beta: Float,
                       _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
        if builtin {
            ck_sgemm(ta ? 1 : 0, tb ? 1 : 0, Int64(m), Int64(n), Int64(k), alpha, a, Int64(lda), b, Int64(ldb), beta,
                     c, Int64(ldc))
        } else {
            BLAS.sgemm(ta ? .transposed : .none, tb ? .transposed : .none, m: m, n: n, k: k, alpha: alpha, a: a,
                       lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        }
    }

    @usableFromInline
    static func banded(_ ta: Bool, _ tb: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                       _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                       _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int, builtin: Bool) {
        let threads = BLAS.threads
        guard threads > 1, m * n * k >= parallelThreshold else {
            kernel(builtin, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
            return
        }
        // Split the longer side of C into bands aligned to the micro-kernel's tile (14 rows or 32 columns).
        let splitRows = m >= n
        let extent = splitRows ? m : n, unit = splitRows ? 14 : 32
        let units = (extent + unit - 1) / unit
        let parts = min(threads, units)
        nonisolated(unsafe) let (pa, pb, pc) = (a, b, c)
        Parallel.perform(iterations: parts, threads: threads) { part in
            let start = min(extent, units * part / parts * unit), end = min(extent, units * (part + 1) / parts * unit)
            guard end > start else { return }
            if splitRows {
                // Rows start…end of op(A) and C.
                let aBand = ta ? pa + start : pa + start * lda
                kernel(builtin, ta, tb, end - start, n, k, alpha, aBand, lda, pb, ldb, beta, pc + start * ldc, ldc)
            } else {
                // Columns start…end of op(B) and C.
                let bBand = tb ? pb + start * ldb : pb + start
                kernel(builtin, ta, tb, m, end - start, k, alpha, pa, lda, bBand, ldb, beta, pc + start, ldc)
            }
        }
    }
}
