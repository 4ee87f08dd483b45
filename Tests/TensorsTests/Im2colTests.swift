// im2col by hand on a small image, and col2im as its exact adjoint: ⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩.
import Tensors
import Testing

@Suite struct Im2colTests {
    @Test func unfoldsA3x3ImageWithPadding() {
        // x = [[1,2,3],[4,5,6],[7,8,9]], k = 2, s = 1, p = 0 → columns (4, 4)
        let g = ConvolutionGeometry(channels: 1, height: 3, width: 3, kernelHeight: 2, kernelWidth: 2, stride: 1, padding: 0)
        let x: [Float] = [1, 2, 3, 4, 5, 6, 7, 8, 9]
        var cols = [Float](repeating: -1, count: g.columnRows * g.columnCount)
        x.withUnsafeBufferPointer { px in cols.withUnsafeMutableBufferPointer { im2col(px.baseAddress!, g, $0.baseAddress!) } }
        #expect(cols == [1, 2, 4, 5, 2, 3, 5, 6, 4, 5, 7, 8, 5, 6, 8, 9])
        // k = 3, p = 1, s = 2 → 2×2 outputs; the top-left tap sees padding except at output (1, 1).
        let padded = ConvolutionGeometry(channels: 1, height: 3, width: 3, kernelHeight: 3, kernelWidth: 3, stride: 2, padding: 1)
        var cols2 = [Float](repeating: -1, count: padded.columnRows * padded.columnCount)
        x.withUnsafeBufferPointer { px in cols2.withUnsafeMutableBufferPointer { im2col(px.baseAddress!, padded, $0.baseAddress!) } }
        #expect(Array(cols2[0..<4]) == [0, 0, 0, 5])
        #expect(Array(cols2[16..<20]) == [1, 3, 7, 9])  // the centre tap
    }

    @Test(arguments: [(1, 0), (1, 1), (2, 1), (3, 2)])
    func col2imIsTheAdjointOfIm2col(stride: Int, padding: Int) {
        let g = ConvolutionGeometry(channels: 2, height: 7, width: 6, kernelHeight: 3, kernelWidth: 3,
                                    stride: stride, padding: padding)
        var gen = SeededGenerator(seed: 9)
        let x = (0..<(2 * 7 * 6)).map { _ in gen.nextUniform() - 0.5 }
        let c = (0..<(g.columnRows * g.columnCount)).map { _ in gen.nextUniform() - 0.5 }
        var cols = [Float](repeating: 0, count: c.count), folded = [Float](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { px in cols.withUnsafeMutableBufferPointer { im2col(px.baseAddress!, g, $0.baseAddress!) } }
        c.withUnsafeBufferPointer { pc in folded.withUnsafeMutableBufferPointer { col2im(pc.baseAddress!, g, $0.baseAddress!) } }
        let lhs = zip(cols, c).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        let rhs = zip(x, folded).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        #expect(abs(lhs - rhs) < 1e-4)
    }
}
