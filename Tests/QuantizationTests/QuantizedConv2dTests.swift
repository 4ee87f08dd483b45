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
}
