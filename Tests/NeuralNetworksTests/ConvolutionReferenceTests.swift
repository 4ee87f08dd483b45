// Conv2d agrees with a naive direct convolution, including groups and stride.
import NeuralNetworks
import Tensors
import Testing

/// y[n,o,i,j] = b[o] + Σ_{c,ky,kx} W[o,c,ky,kx] · x[n, g·C/G + c, i·s − p + ky, j·s − p + kx] (zero outside).
func directConvolution(_ x: Tensor, weight: Tensor, bias: Tensor, stride: Int, padding: Int, groups: Int) -> Tensor {
    let n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3]
    let o = weight.shape[0], cg = weight.shape[1], k = weight.shape[2]
    let ho = (h + 2 * padding - k) / stride + 1, wo = (w + 2 * padding - k) / stride + 1
    precondition(cg * groups == c)
    var y = Tensor(zeros: [n, o, ho, wo])
    for s in 0..<n {
        for oc in 0..<o {
            let group = oc / (o / groups)
            for i in 0..<ho {
                for j in 0..<wo {
                    var total = Double(bias.scalars[oc])
                    for ic in 0..<cg {
                        for ky in 0..<k {
                            for kx in 0..<k {
                                let yy = i * stride - padding + ky, xx = j * stride - padding + kx
                                guard yy >= 0, yy < h, xx >= 0, xx < w else { continue }
                                total += Double(weight[oc, ic, ky, kx]) * Double(x[s, group * cg + ic, yy, xx])
                            }
                        }
                    }
                    y[s, oc, i, j] = Float(total)
                }
            }
        }
    }
    return y
}

@Suite struct ConvolutionReferenceTests {
    @Test(arguments: [(1, 0, 1), (2, 1, 1), (1, 1, 2), (3, 2, 4), (2, 1, 8)])
    func matchesDirectConvolution(stride: Int, padding: Int, groups: Int) {
        let x = randomTensor([2, 8, 9, 7], seed: 40)
        let weight = randomTensor([8, 8 / groups, 3, 3], seed: 41), bias = randomTensor([8], seed: 42)
        let conv = Conv2d(weight: weight, bias: bias, stride: stride, padding: padding, groups: groups)
        let expected = directConvolution(x, weight: weight, bias: bias, stride: stride, padding: padding, groups: groups)
        for mode in [Mode.inference, .training] {
            let y = conv.forward([x], mode: mode)
            #expect(y.shape == expected.shape)
            #expect((y - expected).maxAbsolute() < 1e-4)
        }
    }

    @Test func inferenceFollowsEveryChangeOfTheWeights() {
        // Inference keeps the weights packed for its kernel; an edit in place or a new value must reach it.
        let x = randomTensor([1, 3, 8, 8], seed: 46), bias = randomTensor([5], seed: 47)
        let conv = Conv2d(weight: randomTensor([5, 3, 3, 3], seed: 48), bias: bias, stride: 1, padding: 1)
        func expectDirect(_ note: Comment) {
            let expected = directConvolution(x, weight: conv.weight.value, bias: bias, stride: 1, padding: 1, groups: 1)
            #expect((conv.forward([x], mode: .inference) - expected).maxAbsolute() < 1e-4, note)
        }
        expectDirect("first call")
        conv.weight.value.withUnsafeMutableBufferPointer { $0[4] += 3 }
        expectDirect("after an edit in place")
        conv.weight.value = randomTensor([5, 3, 3, 3], seed: 49)
        expectDirect("after a new value")
    }

    @Test func pointwiseConvolutionMatches() {
        let x = randomTensor([3, 4, 5, 5], seed: 43)
        let weight = randomTensor([6, 4, 1, 1], seed: 44), bias = randomTensor([6], seed: 45)
        let y = Conv2d(weight: weight, bias: bias).forward([x], mode: .inference)
        #expect((y - directConvolution(x, weight: weight, bias: bias, stride: 1, padding: 0, groups: 1)).maxAbsolute() < 1e-4)
    }
}
