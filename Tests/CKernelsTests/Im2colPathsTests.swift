// im2col and col2im on every CK_VECTOR_* path the CPU has: the columns equal a reference unfolding written out here
// element by element, and the folded image has the portable loop's bits (the same additions in the same order),
// over strides 1 and 2, kernels 1 to 7, paddings 0 to 3, rows narrower than a vector, one to four vectors wide and
// wider (which the AVX-512 row kernel leaves to the general loop), and a destination holding values (−0 among them)
// before the fold.
import CKernels
import Tensors
import Testing

@Suite struct Im2colPathsTests {
    /// The unfolding by its definition: row (c, ky, kx), column (oy, ox) holds x[c, oy·s − p + ky, ox·s − p + kx], 0 in
    /// the padding.
    private func reference(_ x: [Float], c: Int, h: Int, w: Int, k: Int, s: Int, p: Int) -> [Float] {
        let ho = (h + 2 * p - k) / s + 1, wo = (w + 2 * p - k) / s + 1
        var out = [Float](repeating: 0, count: c * k * k * ho * wo)
        for ch in 0..<c { for ky in 0..<k { for kx in 0..<k { for oy in 0..<ho { for ox in 0..<wo {
            let y = oy * s - p + ky, xx = ox * s - p + kx
            guard y >= 0, y < h, xx >= 0, xx < w else { continue }
            out[(((ch * k + ky) * k + kx) * ho + oy) * wo + ox] = x[(ch * h + y) * w + xx]
        } } } } }
        return out
    }

    @Test(arguments: [
        // (channels, height, width, kernel, stride, padding)
        (1, 28, 28, 3, 1, 1),    // fmnist-cnn's conv1: rows of 28, two vectors
        (3, 14, 14, 3, 1, 1),    // rows narrower than a vector
        (2, 9, 5, 5, 1, 2),      // padding as wide as the kernel's reach
        (2, 6, 7, 7, 1, 3),      // a 7×7 kernel wider than the image
        (1, 5, 40, 3, 1, 0),     // three vectors, no padding
        (2, 4, 64, 1, 1, 0),     // four whole vectors, a 1×1 kernel
        (1, 3, 70, 3, 1, 1),     // wider than the row kernel takes
        (2, 11, 13, 3, 2, 1),    // strided
        (1, 8, 8, 4, 2, 2),      // an even kernel, strided
    ])
    func everyPathUnfoldsAndFoldsAlike(c: Int, h: Int, w: Int, k: Int, s: Int, p: Int) {
        var g = SeededGenerator(seed: UInt64(c * 1000 + h * 31 + w + k))
        let x = (0..<(c * h * w)).map { _ in g.nextNormal() }
        let ho = (h + 2 * p - k) / s + 1, wo = (w + 2 * p - k) / s + 1
        let rows = c * k * k, count = rows * ho * wo
        let expected = reference(x, c: c, h: h, w: w, k: k, s: s, p: p)
        let columns = (0..<count).map { _ in g.nextNormal() }
        // The destination of the fold holds values, a −0 among them, that each path must add to (or leave) alike.
        var start = (0..<(c * h * w)).map { _ in g.nextNormal() }
        start[0] = -0.0
        var portableFold = start
        columns.withUnsafeBufferPointer { pc in
            portableFold.withUnsafeMutableBufferPointer { pf in
                _ = ck_col2im_with(Int32(CK_VECTOR_PORTABLE), pc.baseAddress!, Int64(c), Int64(h), Int64(w), Int64(k),
                                   Int64(s), Int64(p), pf.baseAddress!)
            }
        }
        for path in [CK_VECTOR_PORTABLE, CK_VECTOR_AVX2, CK_VECTOR_AVX512] {
            // Sentinels past the end catch a store that runs beyond the columns.
            var unfolded = [Float](repeating: .nan, count: count + 16)
            let ran = x.withUnsafeBufferPointer { px in
                unfolded.withUnsafeMutableBufferPointer { pu in
                    ck_im2col_with(Int32(path), px.baseAddress!, Int64(c), Int64(h), Int64(w), Int64(k), Int64(s),
                                   Int64(p), pu.baseAddress!)
                }
            }
            guard ran != 0 else { continue }
            #expect(Array(unfolded[..<count]).map(\.bitPattern) == expected.map(\.bitPattern), "im2col path \(path)")
            #expect(unfolded[count...].allSatisfy { $0.isNaN }, "im2col path \(path) wrote past the columns")
            var folded = start
            columns.withUnsafeBufferPointer { pc in
                folded.withUnsafeMutableBufferPointer { pf in
                    _ = ck_col2im_with(Int32(path), pc.baseAddress!, Int64(c), Int64(h), Int64(w), Int64(k), Int64(s),
                                       Int64(p), pf.baseAddress!)
                }
            }
            #expect(folded.map(\.bitPattern) == portableFold.map(\.bitPattern), "col2im path \(path)")
        }
        // The portable fold is the adjoint of the reference unfolding: ⟨unfold(x), c⟩ = ⟨x, fold(c)⟩.
        let lhs = zip(expected, columns).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        let rhs = zip(x, zip(portableFold, start)).reduce(0.0) { $0 + Double($1.0) * (Double($1.1.0) - Double($1.1.1)) }
        #expect(abs(lhs - rhs) < 1e-3 * max(1, abs(lhs)))
    }
}
