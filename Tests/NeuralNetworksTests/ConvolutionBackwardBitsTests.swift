// Conv2d's training pass gives the bits of the computation written out here: per sample, im2col, then the GEMMs
// dW += dy · colᵀ and dcol = Wᵀ · dy folded back by col2im, the bias gradient each channel's plane summed in order.
// The layer keeps its input instead of the columns and unfolds each sample again, takes the weight gradient as its
// transpose where that fills the GEMM's tiles better (fmnist-cnn's conv1: 32 × 9), and sums several channels' bias
// gradients at once; none of that may move a bit, at one thread or two (whose samples split into chunks, each
// chunk's weight gradient summed apart and added in chunk order).
import Testing
@testable import NeuralNetworks
import Tensors

@Suite struct ConvolutionBackwardBitsTests {
    private func random(_ shape: [Int], _ g: inout SeededGenerator) -> Tensor {
        Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in g.nextNormal() })
    }

    @Test(arguments: [
        // (input channels, output channels, kernel, stride, padding, groups, height, width, batch)
        (1, 32, 3, 1, 1, 1, 28, 28, 5),    // fmnist-cnn's conv1: the weight gradient taken transposed
        (32, 64, 3, 1, 1, 1, 14, 14, 4),   // its conv2
        (8, 12, 5, 2, 2, 2, 11, 13, 3),    // grouped, strided, 5×5
        (16, 24, 1, 1, 0, 1, 9, 9, 2),     // 1×1 read in place
        (3, 10, 7, 1, 3, 1, 40, 20, 2),    // a depth (3·49) over one KC slice of the GEMM
    ])
    func backwardGivesTheBitsOfThePerSampleProducts(c: Int, o: Int, k: Int, stride: Int, pad: Int, groups: Int,
                                                   h: Int, w: Int, n: Int) {
        var g = SeededGenerator(seed: UInt64(c * 7 + o + k * 3 + h))
        let x = random([n, c, h, w], &g)
        let weight = random([o, c / groups, k, k], &g), bias = random([o], &g)
        let priorWeightGradient = random([o, c / groups, k, k], &g), priorBiasGradient = random([o], &g)
        let geometry = ConvolutionGeometry(channels: c / groups, height: h, width: w, kernelHeight: k, kernelWidth: k,
                                           stride: stride, padding: pad)
        let (ho, wo) = (geometry.outputHeight, geometry.outputWidth)
        let dy = random([n, o, ho, wo], &g)

        // The reference, one sample and group at a time; with several chunks of samples (two threads), chunk 0
        // adds into the prior gradient and every other chunk into zeros, added to it in chunk order afterwards.
        let og = o / groups, kRows = geometry.columnRows, cols = geometry.columnCount
        let inPlane = (c / groups) * h * w
        func reference(chunks: Int) -> (dW: [Float], dB: [Float], dx: [Float]) {
            var dW = priorWeightGradient.scalars, dB = priorBiasGradient.scalars
            var partials = [[Float]](repeating: [Float](repeating: 0, count: dW.count), count: chunks - 1)
            var dx = [Float](repeating: 0, count: x.count)
            var col = [Float](repeating: 0, count: kRows * cols), dCol = col
            x.withUnsafeBufferPointer { px in
                dy.withUnsafeBufferPointer { pdy in
                    weight.withUnsafeBufferPointer { pw in
                        for chunk in 0..<chunks {
                            for sample in (chunk * n / chunks)..<((chunk + 1) * n / chunks) {
                                for group in 0..<groups {
                                    let input = px.baseAddress! + (sample * groups + group) * inPlane
                                    let gradOut = pdy.baseAddress! + (sample * o + group * og) * cols
                                    col.withUnsafeMutableBufferPointer { im2col(input, geometry, $0.baseAddress!) }
                                    func addProduct(_ into: UnsafeMutablePointer<Float>) {
                                        col.withUnsafeBufferPointer { pc in
                                            GEMM.sgemm(.none, .transposed, m: og, n: kRows, k: cols, a: gradOut,
                                                       b: pc.baseAddress!, beta: 1, c: into + group * og * kRows)
                                        }
                                    }
                                    if chunk == 0 {
                                        dW.withUnsafeMutableBufferPointer { addProduct($0.baseAddress!) }
                                    } else {
                                        partials[chunk - 1].withUnsafeMutableBufferPointer { addProduct($0.baseAddress!) }
                                    }
                                    dCol.withUnsafeMutableBufferPointer { pdc in
                                        GEMM.sgemm(.transposed, .none, m: kRows, n: cols, k: og,
                                                   a: pw.baseAddress! + group * og * kRows, b: gradOut, c: pdc.baseAddress!)
                                        dx.withUnsafeMutableBufferPointer {
                                            col2im(pdc.baseAddress!, geometry,
                                                   $0.baseAddress! + (sample * groups + group) * inPlane)
                                        }
                                    }
                                }
                            }
                        }
                        for sample in 0..<n {
                            for channel in 0..<o {
                                var total: Float = 0
                                for j in 0..<cols { total += pdy[(sample * o + channel) * cols + j] }
                                dB[channel] += total
                            }
                        }
                    }
                }
            }
            for part in partials { for i in dW.indices { dW[i] += part[i] } }
            return (dW, dB, dx)
        }

        for threads in [1, 2] {
            let conv = Conv2d(weight: weight, bias: bias, stride: stride, padding: pad, groups: groups)
            conv.weight.gradient = priorWeightGradient
            conv.bias!.gradient = priorBiasGradient
            let (y, inputGradient) = Parallel.withThreads(threads) { () -> (Tensor, Tensor?) in
                let y = conv.forward([x], mode: .training)
                return (y, conv.backward(dy, needsInputGradient: [true])[0])
            }
            #expect(y.shape == [n, o, ho, wo])
            let chunks = threads == 1 ? 1 : max(1, min(threads, n / 2))
            let (dW, dB, dx) = reference(chunks: chunks)
            #expect(conv.weight.gradient.scalars.map(\.bitPattern) == dW.map(\.bitPattern), "dW, \(threads) threads")
            #expect(conv.bias!.gradient.scalars.map(\.bitPattern) == dB.map(\.bitPattern), "db, \(threads) threads")
            #expect(inputGradient?.scalars.map(\.bitPattern) == dx.map(\.bitPattern), "dx, \(threads) threads")
        }
    }
}
