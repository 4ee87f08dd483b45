// The direct depthwise kernel: forward and backward against the definition (sums in double), and every instruction
// path (AVX-512, AVX2, portable) bit-identical with the others, over kernel sizes, strides, paddings, channel
// multipliers, planes that are not square and small planes of many channels.
import CKernels
import Tensors
import Testing

private struct Case: CustomStringConvertible, Sendable {
    let channels, multiplier, height, width, kernel, stride, pad: Int
    var outHeight: Int { (height + 2 * pad - kernel) / stride + 1 }
    var outWidth: Int { (width + 2 * pad - kernel) / stride + 1 }
    var outChannels: Int { channels * multiplier }
    var description: String { "C\(channels)×\(multiplier) \(height)×\(width) k\(kernel) s\(stride) p\(pad)" }
}

private let cases = [
    Case(channels: 3, multiplier: 1, height: 7, width: 7, kernel: 3, stride: 1, pad: 1),
    Case(channels: 2, multiplier: 1, height: 9, width: 6, kernel: 5, stride: 2, pad: 2),
    Case(channels: 4, multiplier: 2, height: 5, width: 8, kernel: 3, stride: 2, pad: 1),
    Case(channels: 1, multiplier: 3, height: 6, width: 5, kernel: 5, stride: 1, pad: 0),
    Case(channels: 2, multiplier: 1, height: 11, width: 4, kernel: 3, stride: 3, pad: 2),
    Case(channels: 5, multiplier: 1, height: 2, width: 3, kernel: 1, stride: 1, pad: 0),
    Case(channels: 2, multiplier: 1, height: 19, width: 37, kernel: 3, stride: 1, pad: 1),  // rows of 3 vectors
    Case(channels: 3, multiplier: 1, height: 23, width: 45, kernel: 5, stride: 2, pad: 2),  // stride 2 over 2 vectors
    Case(channels: 2, multiplier: 2, height: 14, width: 34, kernel: 3, stride: 2, pad: 1),  // 17 outputs a row
    Case(channels: 1, multiplier: 1, height: 8, width: 70, kernel: 5, stride: 1, pad: 2),
    Case(channels: 2, multiplier: 1, height: 33, width: 32, kernel: 3, stride: 2, pad: 0),  // no padding, even width
    // Small planes with 16 channels or more take channel lanes on AVX-512 (the channels past the last whole 16 the
    // phase planes).
    Case(channels: 40, multiplier: 1, height: 7, width: 7, kernel: 3, stride: 1, pad: 1),  // two blocks and 8 more
    Case(channels: 32, multiplier: 1, height: 14, width: 14, kernel: 3, stride: 2, pad: 1),
    Case(channels: 16, multiplier: 1, height: 9, width: 11, kernel: 5, stride: 1, pad: 2),
    Case(channels: 17, multiplier: 1, height: 6, width: 5, kernel: 3, stride: 3, pad: 2),
]

private func values(_ count: Int, seed: UInt64) -> [Float] {
    var g = SeededGenerator(seed: seed)
    return (0..<count).map { _ in g.nextUniform() * 2 - 1 }
}

@Suite struct DepthwiseKernelTests {
    @Test(arguments: cases)
    fileprivate func forwardAndBackwardFollowTheDefinition(_ c: Case) {
        let x = values(c.channels * c.height * c.width, seed: 1)
        let k = values(c.outChannels * c.kernel * c.kernel, seed: 2)
        let bias = values(c.outChannels, seed: 3)
        let dy = values(c.outChannels * c.outHeight * c.outWidth, seed: 4)
        // The definition, in double.
        var y = [Double](repeating: 0, count: dy.count)
        var dk = [Double](repeating: 0, count: k.count), dx = [Double](repeating: 0, count: x.count)
        for o in 0..<c.outChannels {
            let input = o / c.multiplier
            for r in 0..<c.outHeight {
                for col in 0..<c.outWidth {
                    let out = (o * c.outHeight + r) * c.outWidth + col
                    var total = Double(bias[o])
                    for kh in 0..<c.kernel {
                        for kw in 0..<c.kernel {
                            let ih = r * c.stride - c.pad + kh, iw = col * c.stride - c.pad + kw
                            guard ih >= 0, ih < c.height, iw >= 0, iw < c.width else { continue }
                            let xi = (input * c.height + ih) * c.width + iw, ki = (o * c.kernel + kh) * c.kernel + kw
                            total += Double(k[ki]) * Double(x[xi])
                            dk[ki] += Double(dy[out]) * Double(x[xi])
                            dx[xi] += Double(dy[out]) * Double(k[ki])
                        }
                    }
                    y[out] = total
                }
            }
        }
        var paths: [(y: [Float], dk: [Float], dx: [Float])] = []
        for path in [0, 1, 2] {
            var fy = [Float](repeating: .nan, count: y.count)
            var fdk = [Float](repeating: 0, count: k.count), fdx = [Float](repeating: 0, count: x.count)
            let ran = ck_depthwise_forward_with(Int32(path), x, Int64(c.outChannels), Int64(c.multiplier),
                                                Int64(c.height), Int64(c.width), k, Int64(c.kernel), Int64(c.stride),
                                                Int64(c.pad), bias, &fy, Int64(c.outHeight), Int64(c.outWidth))
            let ranBackward = ck_depthwise_backward_with(Int32(path), x, dy, Int64(c.outChannels), Int64(c.multiplier),
                                                         Int64(c.height), Int64(c.width), k, Int64(c.kernel),
                                                         Int64(c.stride), Int64(c.pad), &fdk, &fdx, Int64(c.outHeight),
                                                         Int64(c.outWidth))
            #expect(ran == ranBackward)
            guard ran == 1 else {
                #expect(path != 0, "the portable path always runs")
                continue
            }
            paths.append((fy, fdk, fdx))
        }
        #expect(!paths.isEmpty)
        for (name, got, want) in [("y", paths[0].y, y), ("dk", paths[0].dk, dk), ("dx", paths[0].dx, dx)] {
            let worst = zip(got, want).map { abs(Double($0) - $1) }.max() ?? 0
            #expect(worst < 1e-5, "\(c) \(name): worst difference \(worst)")
        }
        for other in paths.dropFirst() {
            #expect(other.y.map(\.bitPattern) == paths[0].y.map(\.bitPattern) && other.dk == paths[0].dk
                    && other.dx == paths[0].dx, "\(c): paths differ")
        }
    }

    @Test func withoutAnInputGradientOnlyTheKernelGradientIsWritten() {
        let c = cases[1]
        let x = values(c.channels * c.height * c.width, seed: 5), k = values(c.outChannels * 25, seed: 6)
        let dy = values(c.outChannels * c.outHeight * c.outWidth, seed: 7)
        var withInput = [Float](repeating: 0, count: k.count), withoutInput = withInput
        var dx = [Float](repeating: 0, count: x.count)
        ck_depthwise_backward(x, dy, Int64(c.outChannels), 1, Int64(c.height), Int64(c.width), k, 5, 2, 2, &withInput,
                              &dx, Int64(c.outHeight), Int64(c.outWidth))
        ck_depthwise_backward(x, dy, Int64(c.outChannels), 1, Int64(c.height), Int64(c.width), k, 5, 2, 2,
                              &withoutInput, nil, Int64(c.outHeight), Int64(c.outWidth))
        #expect(withInput == withoutInput)
        #expect(dx.contains { $0 != 0 })
    }
}
