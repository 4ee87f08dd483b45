// LinearAlgebra: the LAPACKE routines compression passes need — Cholesky factorisation and the inverse of a
// symmetric positive-definite matrix — on row-major Float32, with errors instead of traps.
import COpenBLAS

public enum LinearAlgebra {
    /// The upper Cholesky factor U of the inverse of a symmetric positive-definite n × n matrix `a` (row-major):
    /// A⁻¹ = Uᵀ U. This is the form the OBS/SparseGPT update reads row by row.
    ///
    /// - Throws: `ShrinkError(.value)` when `a` is not positive definite (LAPACK's `info` > 0), or the sizes do
    ///   not fit.
    public static func choleskyOfInverse(_ a: [Float], n: Int) throws -> [Float] {
        guard n >= 1, a.count == n * n else {
            throw ShrinkError(.shape, "a \(n) × \(n) matrix needs \(n * n) values, got \(a.count)")
        }
        var m = a
        let size = Int32(n)
        // A = L Lᵀ, then A⁻¹ from L (lower triangle), mirrored, then A⁻¹ = Uᵀ U.
        var info = LAPACKE_spotrf(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "L")), size, &m, size)
        guard info == 0 else { throw notPositiveDefinite(info) }
        info = LAPACKE_spotri(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "L")), size, &m, size)
        guard info == 0 else { throw notPositiveDefinite(info) }
        for i in 0..<n { for j in (i + 1)..<n where j < n { m[i * n + j] = m[j * n + i] } }
        info = LAPACKE_spotrf(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "U")), size, &m, size)
        guard info == 0 else { throw notPositiveDefinite(info) }
        for i in 0..<n { for j in 0..<i { m[i * n + j] = 0 } }
        return m
    }

    /// X (n × columns) solving A X = B for a symmetric positive-definite n × n matrix `a`, row-major (LAPACKE
    /// `sposv`: Cholesky, then two triangular solves).
    ///
    /// - Throws: `ShrinkError(.value)` when `a` is not positive definite; `ShrinkError(.shape)` when sizes do not fit.
    public static func solveSymmetric(_ a: [Float], n: Int, _ b: [Float], columns: Int) throws -> [Float] {
        guard n >= 1, columns >= 1, a.count == n * n, b.count == n * columns else {
            throw ShrinkError(.shape, "solving a \(n) × \(n) system for \(columns) right-hand sides needs \(n * n) and "
                + "\(n * columns) values, got \(a.count) and \(b.count)")
        }
        var m = a, x = b
        let info = LAPACKE_sposv(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "L")), Int32(n), Int32(columns), &m, Int32(n), &x,
                                 Int32(columns))
        guard info == 0 else { throw notPositiveDefinite(info) }
        return x
    }

    /// `solveSymmetric` in double precision (LAPACKE `dposv`), for small ill-conditioned systems such as a
    /// Gaussian process's kernel matrix.
    public static func solveSymmetric(_ a: [Double], n: Int, _ b: [Double], columns: Int) throws -> [Double] {
        guard n >= 1, columns >= 1, a.count == n * n, b.count == n * columns else {
            throw ShrinkError(.shape, "solving a \(n) × \(n) system for \(columns) right-hand sides needs \(n * n) and "
                + "\(n * columns) values, got \(a.count) and \(b.count)")
        }
        var m = a, x = b
        let info = LAPACKE_dposv(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "L")), Int32(n), Int32(columns), &m, Int32(n), &x,
                                 Int32(columns))
        guard info == 0 else {
            throw info < 0 ? ShrinkError(.value, "LAPACK rejected argument \(-info)")
                : ShrinkError(.value, "the matrix is not positive definite (leading minor \(info))")
        }
        return x
    }

    private static func notPositiveDefinite(_ info: Int32) -> ShrinkError {
        info < 0 ? ShrinkError(.value, "LAPACK rejected argument \(-info)")
            : ShrinkError(.value, "the matrix is not positive definite (leading minor \(info)); more calibration "
                + "data or a larger dampening is needed")
    }
}
