// Conv2d's inference path (the implicit-GEMM kernel where the CPU takes it: every non-depthwise conv with AVX-512,
// an ungrouped k×k conv of one image with AVX2 and FMA on OpenBLAS) agrees with its training forward (im2col and
// sgemm, the path backward is built on) within float rounding of the sums, for grouped, 1×1 (in place and strided),
// k×k and strided convs, small planes (whose output channels go on the vector lanes), batches of one and three,
// with and without bias; and a fused activation is the layer then the activation, bit for bit (ReLU, ReLU6 and
// hard-swish applied in the kernel, others after it).
import Testing
@testable import NeuralNetworks
import Tensors

@Suite struct ConvolutionPathsTests {
    private func random(_ shape: [Int], _ g: inout SeededGenerator) -> Tensor {
        Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in g.nextNormal() })
    }

    @Test(arguments: [
        // (input channels, output channels, kernel, stride, padding, groups, height, width, batch, bias)
        (32, 32, 3, 1, 1, 2, 17, 19, 1, true),    // grouped 3×3, group width 16
        (24, 48, 3, 2, 1, 3, 21, 20, 3, true),    // grouped, strided, a batch of three
        (40, 70, 1, 1, 0, 1, 13, 11, 1, true),    // 1×1 read in place, 143 pixels
        (300, 24, 1, 1, 0, 1, 7, 7, 3, false),    // 1×1 over more than one block of input channels
        (16, 32, 1, 2, 0, 1, 15, 15, 1, true),    // strided 1×1
        (3, 16, 3, 2, 1, 1, 33, 31, 1, true),     // a stem
        (8, 13, 5, 1, 2, 1, 12, 40, 3, true),     // 5×5, rows wider than a tile
        (12, 12, 3, 1, 1, 4, 9, 9, 1, false),     // groups of three channels
        (96, 48, 1, 1, 0, 1, 7, 7, 2, true),      // a 7×7 plane: output channels on the lanes (with AVX-512)
        (64, 64, 3, 1, 1, 4, 7, 7, 1, true),      // grouped at 7×7, group width 16: channels on the lanes
    ])
    func inferenceAgreesWithTheTrainingForward(c: Int, o: Int, k: Int, stride: Int, pad: Int, groups: Int, h: Int,
                                               w: Int, n: Int, bias: Bool) {
        var g = SeededGenerator(seed: UInt64(c * 31 + o * 7 + k + groups))
        let x = random([n, c, h, w], &g)
        let conv = Conv2d(weight: random([o, c / groups, k, k], &g), bias: bias ? random([o], &g) : nil, stride: stride,
                          padding: pad, groups: groups)
        let inferred = conv.forward([x], mode: .inference)
        let trained = conv.forward([x], mode: .training)
        #expect(inferred.shape == trained.shape)
        // Each output is a sum of (c / groups)·k² products of normal values: compare relative to that scale.
        let scale = Float((c / groups) * k * k).squareRoot()
        let worst = zip(inferred.scalars, trained.scalars).map { abs($0 - $1) / max(1, scale) }.max() ?? .infinity
        #expect(worst <= 1e-5, "largest difference \(worst) (relative to the sums' scale \(scale))")
        #expect(!inferred.scalars.contains { !$0.isFinite })

        // ReLU6, ReLU and hard-swish (in the kernel's registers) and SiLU (applied after it).
        for activation in [FusedActivation.clamp(cap: 6), .clamp(cap: .infinity), .pointwise(.hardSwish, alpha: 0, beta: 0),
                           .pointwise(.silu, alpha: 0, beta: 0)] {
            let fused = conv.forward([x], fusing: activation)
            var separate = inferred
            separate.withUnsafeMutableBufferPointer { activation.apply($0.baseAddress!, count: $0.count) }
            #expect(fused.scalars.map(\.bitPattern) == separate.scalars.map(\.bitPattern), "\(activation)")
        }
    }
    /// A linear layer's inference on a batch (the builtin GEMM on weights packed once, where the CPU takes it) gives
    /// the training forward's bits, and follows the weights when they change.
    @Test func linearInferenceOnPackedWeightsMatchesTheTrainingForward() {
        var g = SeededGenerator(seed: 11)
        let layer = Linear(weight: random([1000, 576], &g), bias: random([1000], &g))
        for n in [2, 8] {
            let x = random([n, 576], &g)
            let inferred = layer.forward([x], mode: .inference), trained = layer.forward([x], mode: .training)
            #expect(inferred.scalars.map(\.bitPattern) == trained.scalars.map(\.bitPattern), "batch \(n)")
            let fused = layer.forward([x], fusing: .clamp(cap: 6))
            var separate = inferred
            separate.withUnsafeMutableBufferPointer { FusedActivation.clamp(cap: 6).apply($0.baseAddress!, count: $0.count) }
            #expect(fused.scalars.map(\.bitPattern) == separate.scalars.map(\.bitPattern), "batch \(n), fused")
        }
        let x = random([4, 576], &g)
        _ = layer.forward([x], mode: .inference)
        layer.weight.value = random([1000, 576], &g)
        let after = layer.forward([x], mode: .inference), trained = layer.forward([x], mode: .training)
        #expect(after.scalars.map(\.bitPattern) == trained.scalars.map(\.bitPattern), "after the weights changed")
    }
}
