// Binarized layers: the packed XNOR-popcount path gives what the float layers compute on the same binarized
// arithmetic (sign(x) with zero padding, α · sign(W)), exactly for integer α; the weights round-trip through the
// file at one bit each; Sign's hard-tanh STE and QuantizeDequantize by hand; frozen BatchNorm.
import Datasets
import Foundation
import NeuralNetworks
import Tensors
import Testing

@Suite struct BinarizedLayerTests {
    func signs(_ t: Tensor) -> Tensor { Tensor(shape: t.shape, scalars: t.scalars.map { $0 >= 0 ? 1 : -1 }) }

    func random(_ shape: [Int], _ g: inout SeededGenerator) -> Tensor {
        Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in Float(g.nextInt(below: 2001)) / 1000 - 1 })
    }

    @Test(arguments: [(3, 8, 3, 1, 1, 9), (32, 16, 3, 1, 1, 14), (70, 5, 3, 2, 1, 9), (4, 6, 5, 1, 2, 7), (2, 3, 3, 1, 0, 6)])
    func binaryConvolutionEqualsTheFloatReference(c: Int, o: Int, k: Int, stride: Int, pad: Int, size: Int) throws {
        var g = SeededGenerator(seed: UInt64(c * 31 + o))
        let x = random([2, c, size, size], &g)
        // ±1 weights (α = 1): every output is an exact integer, so the two paths must agree bit for bit.
        let unit = signs(random([o, c, k, k], &g))
        let binary = try BinaryConv2d(weight: unit, bias: nil, stride: stride, padding: pad)
        let reference = Conv2d(weight: unit, bias: nil, stride: stride, padding: pad)
        let expected = reference.forward([signs(x)], mode: .inference)
        #expect(binary.forward([x], mode: .inference).scalars == expected.scalars)
        #expect(binary.alphas.allSatisfy { $0 == 1 })
        // General weights: α · sign(W) per channel, plus a bias; float rounding is the only difference.
        let weight = random([o, c, k, k], &g), bias = random([o], &g)
        let scaled = try BinaryConv2d(weight: weight, bias: bias, stride: stride, padding: pad)
        let floatReference = Conv2d(weight: try binarized(weight), bias: bias, stride: stride, padding: pad)
        let want = floatReference.forward([signs(x)], mode: .inference).scalars
        let got = scaled.forward([x], mode: .inference).scalars
        #expect(zip(want, got).allSatisfy { abs($0 - $1) <= 1e-4 * max(1, abs($0)) })
        // Training mode runs the float reference arithmetic and passes input gradients.
        let t = scaled.forward([signs(x)], mode: .training)
        #expect(zip(t.scalars, want).allSatisfy { abs($0 - $1) <= 1e-4 * max(1, abs($1)) })
        #expect(scaled.backward(Tensor(shape: t.shape, repeating: 1), needsInputGradient: [true])[0]?.shape == x.shape)
    }

    @Test func paddingCountsAsZeroNotAsPlusOne() throws {
        // One channel of +1s, 3×3 +1 weights, padding 1: a corner sees 4 real inputs (sum 4), an edge 6, the
        // centre 9 — padding taps contribute nothing.
        let x = Tensor(shape: [1, 1, 3, 3], repeating: 1)
        let layer = try BinaryConv2d(weight: Tensor(shape: [1, 1, 3, 3], repeating: 1), bias: nil, stride: 1, padding: 1)
        #expect(layer.forward([x], mode: .inference).scalars == [4, 6, 4, 6, 9, 6, 4, 6, 4])
    }

    @Test func binaryLinearEqualsTheFloatReference() throws {
        var g = SeededGenerator(seed: 5)
        for (n, i, o) in [(1, 3136, 128), (7, 65, 10), (3, 1, 4)] {
            let x = random([n, i], &g), weight = random([o, i], &g), bias = random([o], &g)
            let layer = try BinaryLinear(weight: weight, bias: bias)
            let want = Linear(weight: try binarized(weight), bias: bias).forward([signs(x)], mode: .inference).scalars
            let got = layer.forward([x], mode: .inference).scalars
            #expect(zip(want, got).allSatisfy { abs($0 - $1) <= 1e-4 * max(1, abs($0)) }, "\(n)×\(i)→\(o)")
        }
    }

    @Test func weightsRoundTripAtOneBitEach() throws {
        var g = SeededGenerator(seed: 9)
        let nodes = [
            Node(name: "sign1", layer: Sign(), inputs: ["input"]),
            Node(name: "conv", layer: try BinaryConv2d(weight: random([8, 3, 3, 3], &g), bias: random([8], &g), stride: 1,
                                                   padding: 1), inputs: ["sign1"]),
            Node(name: "flatten", layer: Flatten(), inputs: ["conv"]),
            Node(name: "qdq", layer: QuantizeDequantize(bits: 8, scale: 0.05, zeroPoint: 128), inputs: ["flatten"]),
            Node(name: "fc", layer: try BinaryLinear(weight: random([4, 8 * 5 * 5], &g), bias: nil), inputs: ["qdq"]),
        ]
        let model = Model(architecture: "test", graph: try Graph(inputShape: [3, 5, 5], nodes: nodes),
                          normalization: Normalization(mean: 0, std: 1))
        let container = try model.safeTensors()
        // 8·27 = 216 bits → 27 bytes, 4·200 bits → 100 bytes, as U8 with the α per channel beside them.
        #expect(container.tensors["conv.weight"]?.dtype == "U8" && container.tensors["conv.weight"]?.bytes.count == 27)
        #expect(container.tensors["fc.weight"]?.bytes.count == 100 && container.tensors["fc.weight_scale"] != nil)
        #expect(IntegerWeightTensor.storedBits(in: container)["conv.weight"]?.bits == 1)
        let loaded = try Model.load(SafeTensorsFile.decode(try container.encoded(), file: "m"), file: "m")
        #expect(loaded.graph.nodes.map(\.layer.kind) == ["sign", "binary_conv2d", "flatten", "quantize_dequantize", "binary_linear"])
        let x = random([3, 3, 5, 5], &g)
        #expect(loaded.graph.forward(x, mode: .inference).scalars == model.graph.forward(x, mode: .inference).scalars)
        #expect((loaded.graph.node(named: "conv")!.layer as! BinaryConv2d).alphas
                == (model.graph.node(named: "conv")!.layer as! BinaryConv2d).alphas)
    }

    @Test func nonFiniteWeightsThrowInsteadOfTrapping() {
        var weight = Tensor(shape: [2, 1, 3, 3], repeating: 0.5)
        weight.scalars[4] = .nan
        #expect(throws: ShrinkError(.value, "binary_conv2d: weight element 4 is nan; binarization needs finite weights")) {
            try BinaryConv2d(weight: weight, bias: nil)
        }
        #expect(throws: ShrinkError(.value, "binary_linear: weight element 1 is inf; binarization needs finite weights")) {
            try BinaryLinear(weight: Tensor(shape: [1, 2], scalars: [1, .infinity]), bias: nil)
        }
    }

    @Test func signUsesTheHardTanhStraightThroughEstimator() {
        let sign = Sign()
        let x = Tensor(shape: [1, 5], scalars: [-2, -0.5, 0, 0.7, 1.5])
        #expect(sign.forward([x], mode: .training).scalars == [-1, -1, 1, 1, 1])
        let dx = sign.backward(Tensor(shape: [1, 5], scalars: [1, 2, 3, 4, 5]), needsInputGradient: [true])[0]
        #expect(dx?.scalars == [0, 2, 3, 4, 0])
    }

    @Test func quantizeDequantizeByHand() {
        // S = 0.5, Z = 2, 3 bits: codes 0…7 ↔ values −1 … 2.5.
        let layer = QuantizeDequantize(bits: 3, scale: 0.5, zeroPoint: 2)
        let x = Tensor(shape: [1, 5], scalars: [-3, -0.26, 0.25, 1.1, 9])
        #expect(layer.forward([x], mode: .training).scalars == [-1, -0.5, 0, 1, 2.5])
        #expect(layer.backward(Tensor(shape: [1, 5], repeating: 1), needsInputGradient: [true])[0]?.scalars == [0, 1, 1, 1, 0])
    }

    @Test func frozenBatchNormUsesRunningStatistics() {
        let norm = BatchNorm(features: 2)
        norm.runningMean.value = Tensor(shape: [2], scalars: [1, -1])
        norm.runningVariance.value = Tensor(shape: [2], scalars: [4, 1])
        norm.frozen = true
        let x = Tensor(shape: [2, 2], scalars: [3, 0, 5, 2])
        let y = norm.forward([x], mode: .training).scalars
        let expected: [Float] = [2 / (4 + 1e-5 as Float).squareRoot(), 1 / (1 + 1e-5 as Float).squareRoot(),
                                 4 / (4 + 1e-5 as Float).squareRoot(), 3 / (1 + 1e-5 as Float).squareRoot()]
        #expect(zip(y, expected).allSatisfy { abs($0 - $1) < 1e-5 })
        #expect(norm.runningMean.value.scalars == [1, -1])   // unchanged
        // dx = γ/σ · dy (the statistics are constants).
        let dx = norm.backward(Tensor(shape: [2, 2], repeating: 1), needsInputGradient: [true])[0]!.scalars
        #expect(abs(dx[0] - 1 / (4 + 1e-5 as Float).squareRoot()) < 1e-6 && abs(dx[1] - 1 / (1 + 1e-5 as Float).squareRoot()) < 1e-6)
    }
}
