// QuantizedConv2d: on channels-last codes, tracks the float convolution (padding with the zero point, groups,
// stride, fused ReLU), and every GEMM backend gives the same bytes.
import NeuralNetworks
import Quantization
import Tensors
import Testing

/// NCHW codes → channels-last, written out index by index (independent of the engine's kernels).
private func channelsLast(_ codes: [UInt8], shape: [Int]) -> [UInt8] {
    let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
    var out = codes
    for s in 0..<n { for ch in 0..<c { for y in 0..<h { for x in 0..<w {
        out[((s * h + y) * w + x) * c + ch] = codes[((s * c + ch) * h + y) * w + x]
    } } } }
    return out
}

/// Channels-last codes → NCHW for an NCHW `shape`.
private func channelsFirst(_ codes: [UInt8], shape: [Int]) -> [UInt8] {
    let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
    var out = codes
    for s in 0..<n { for ch in 0..<c { for y in 0..<h { for x in 0..<w {
        out[((s * c + ch) * h + y) * w + x] = codes[((s * h + y) * w + x) * c + ch]
    } } } }
    return out
}

@Suite struct QuantizedConv2dTests {
    @Test(arguments: [(1, 1, 1, false), (2, 1, 2, true), (1, 0, 4, true), (1, 1, 4, false)])
    func tracksTheFloatConvolution(stride: Int, padding: Int, groups: Int, relu: Bool) throws {
        var g = SeededGenerator(seed: UInt64(stride * 10 + groups))
        let conv = Conv2d(inputChannels: 4, outputChannels: 8, kernelSize: 3, stride: stride, padding: padding,
                          groups: groups, generator: &g)
        // Inputs in [−1, 1): the input zero point is mid-range, so padding with code 0 instead of Z would show.
        let x = Tensor(shape: [3, 4, 7, 6], scalars: (0..<(3 * 4 * 42)).map { _ in g.nextUniform() * 2 - 1 })
        var expected = conv.forward([x], mode: .inference)
        if relu { expected = ReLU().forward([expected], mode: .inference) }
        let input = try QuantizationParameters.compute(minimum: -1, maximum: 1, bits: 8, signed: false, symmetric: false)
        let output = try QuantizationParameters.compute(minimum: expected.scalars.min()!, maximum: expected.scalars.max()!,
                                                        bits: 8, signed: false, symmetric: false)
        let q = try QuantizedConv2d(conv, input: input, output: output, clampCap: relu ? .infinity : nil)
        let codes = channelsLast(try quantize(x, with: input).uint8Values, shape: x.shape)
        let native = q.forward(codes, batch: 3, height: 7, width: 6, backend: .native)
        let viaOpenBLAS = q.forward(codes, batch: 3, height: 7, width: 6, backend: .openBLAS)
        #expect(native == viaOpenBLAS)
        let size = q.outputSize(height: 7, width: 6)
        #expect([size.height, size.width] == Array(expected.shape.suffix(2)))
        let planes = channelsFirst(native, shape: expected.shape)
        let result = dequantize(try QuantizedTensor(shape: expected.shape, values: planes.map(Int32.init),
                                                    parameters: output))
        let worst = (result - expected).maxAbsolute()
        #expect(worst < 3 * output.scales[0], "worst error \(worst), S_y \(output.scales[0])")
    }

    /// The direct depthwise kernel gives, channel by channel, the bytes of a one-channel convolution of that channel
    /// (which runs im2row and the GEMM), with the same weights, bias, parameters and fused ReLU6.
    @Test(arguments: [(3, 1, 1), (3, 2, 1), (5, 1, 2), (5, 2, 2)])
    func depthwiseMatchesOneConvolutionPerChannel(kernel: Int, step: Int, padding: Int) throws {
        var g = SeededGenerator(seed: UInt64(kernel * 10 + step))
        let channels = 20, (h, w) = (9, 8)
        let conv = Conv2d(inputChannels: channels, outputChannels: channels, kernelSize: kernel, stride: step,
                          padding: padding, groups: channels, generator: &g)
        conv.bias!.value = Tensor(shape: [channels], scalars: (0..<channels).map { _ in g.nextUniform() - 0.5 })
        let x = Tensor(shape: [2, channels, h, w], scalars: (0..<(2 * channels * h * w)).map { _ in g.nextUniform() * 2 - 1 })
        let input = try QuantizationParameters.compute(minimum: -1, maximum: 1, bits: 8, signed: false, symmetric: false)
        let output = try QuantizationParameters.compute(minimum: -1.5, maximum: 2.5, bits: 8, signed: false, symmetric: false)
        let q = try QuantizedConv2d(conv, input: input, output: output, clampCap: 6)
        let codes = channelsLast(try quantize(x, with: input).uint8Values, shape: x.shape)
        let direct = q.forward(codes, batch: 2, height: h, width: w)
        let (ho, wo) = q.outputSize(height: h, width: w)
        let k2 = kernel * kernel
        for c in 0..<channels {
            let single = Conv2d(weight: Tensor(shape: [1, 1, kernel, kernel],
                                               scalars: Array(conv.weight.value.scalars[(c * k2)..<((c + 1) * k2)])),
                                bias: Tensor(shape: [1], scalars: [conv.bias!.value.scalars[c]]), stride: step,
                                padding: padding)
            let one = try QuantizedConv2d(single, input: input, output: output, clampCap: 6)
            let plane = stride(from: c, to: codes.count, by: channels).map { codes[$0] }
            let expected = one.forward(plane, batch: 2, height: h, width: w)
            let got = stride(from: c, to: direct.count, by: channels).map { direct[$0] }
            #expect(got == expected, "channel \(c)")
            #expect(got.count == 2 * ho * wo)
        }
    }
}
