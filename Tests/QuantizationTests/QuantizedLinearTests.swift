// QuantizedLinear: its dequantized output tracks the float layer within the quantization error, every GEMM backend
// gives the same bytes, and a fused ReLU clamps at the output zero point.
import NeuralNetworks
import Quantization
import Tensors
import Testing

@Suite struct QuantizedLinearTests {
    private func setup(relu: Bool) throws -> (Linear, QuantizedLinear, Tensor, [UInt8], QuantizationParameters) {
        var g = SeededGenerator(seed: 3)
        let linear = Linear(inputFeatures: 300, outputFeatures: 20, generator: &g)
        linear.bias!.value = Tensor(shape: [20], scalars: (0..<20).map { _ in g.nextUniform() - 0.5 })
        let x = Tensor(shape: [8, 300], scalars: (0..<2400).map { _ in g.nextUniform() * 2 })   // inputs in [0, 2)
        var y = linear.forward([x], mode: .inference)
        if relu { y = ReLU().forward([y], mode: .inference) }
        let input = try QuantizationParameters.compute(minimum: 0, maximum: 2, bits: 8, signed: false, symmetric: false)
        let output = try QuantizationParameters.compute(minimum: y.scalars.min()!, maximum: y.scalars.max()!, bits: 8,
                                                        signed: false, symmetric: false)
        let q = try QuantizedLinear(linear, input: input, output: output, clampCap: relu ? .infinity : nil)
        return (linear, q, y, try quantize(x, with: input).uint8Values, output)
    }

    @Test(arguments: [false, true])
    func tracksTheFloatLayerAndBackendsAgree(relu: Bool) throws {
        let (_, q, expected, codes, output) = try setup(relu: relu)
        let native = q.forward(codes, batch: 8, backend: .native)
        let viaOpenBLAS = q.forward(codes, batch: 8, backend: .openBLAS)
        #expect(native == viaOpenBLAS)
        let result = dequantize(try QuantizedTensor(shape: [8, 20], values: native.map(Int32.init), parameters: output))
        // Error budget: output rounding (S_y/2) plus input and weight rounding accumulated over 300 terms.
        let worst = (result - expected).maxAbsolute()
        #expect(worst < 4 * output.scales[0], "worst error \(worst), S_y \(output.scales[0])")
        if relu { #expect(native.allSatisfy { Int32($0) >= output.zeroPoints[0] }) }
    }
}
