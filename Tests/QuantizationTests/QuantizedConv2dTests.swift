// QuantizedConv2d: tracks the float convolution (padding with the zero point, groups, stride, fused ReLU), and every
// GEMM backend gives the same bytes.
import NeuralNetworks
import Quantization
import Tensors
import Testing

@Suite struct QuantizedConv2dTests {
    @Test(arguments: [(1, 1, 1, false), (2, 1, 2, true), (1, 0, 4, true)])
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
        let codes = try quantize(x, with: input).uint8Values
        let native = q.forward(codes, batch: 3, height: 7, width: 6, backend: .native)
        let viaOpenBLAS = q.forward(codes, batch: 3, height: 7, width: 6, backend: .openBLAS)
        #expect(native.codes == viaOpenBLAS.codes)
        #expect([native.outputHeight, native.outputWidth] == Array(expected.shape.suffix(2)))
        let result = dequantize(try QuantizedTensor(shape: expected.shape, values: native.codes.map(Int32.init),
                                                    parameters: output))
        let worst = (result - expected).maxAbsolute()
        #expect(worst < 3 * output.scales[0], "worst error \(worst), S_y \(output.scales[0])")
    }
}
