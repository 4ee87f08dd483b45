// QuantizedGraph: whole networks (folded, calibrated) run on the integer engine track the float network, agree
// across GEMM backends, and refuse what has no integer form.
import Datasets
import NeuralNetworks
import Quantization
import Tensors
import Testing

private func inputs(_ count: Int, shape: [Int], seed: UInt64) -> Tensor {
    var g = SeededGenerator(seed: seed)
    let size = shape.reduce(1, *)
    return Tensor(shape: [count] + shape, scalars: (0..<(count * size)).map { _ in g.nextNormal() })
}

@Suite struct QuantizedGraphTests {
    @Test(arguments: [Architecture.fmnistCNN, .lenet5, .resnet8, .mobilenetTiny, .mlp])
    func integerGraphTracksTheFloatGraph(architecture: Architecture) throws {
        let graph = try architecture.makeGraph(inputShape: [1, 16, 16], classes: 6, seed: 4)
        for step in 0..<2 { _ = graph.forward(inputs(16, shape: [1, 16, 16], seed: UInt64(20 + step)), mode: .training) }
        let folded = try graph.foldingBatchNorm()
        let calibrationData = try Dataset(inputs: inputs(64, shape: [1, 16, 16], seed: 1),
                                          labels: [Int32](repeating: 0, count: 64), classCount: 6)
        let calibration = try calibrate(folded, on: calibrationData, samples: 64, kind: .minmax)
        let quantized = try QuantizedGraph(folded: folded, calibration: calibration)
        let x = inputs(8, shape: [1, 16, 16], seed: 2)
        let expected = graph.forward(x, mode: .inference)
        let native = try quantized.forward(x, backend: .native)
        let viaOpenBLAS = try quantized.forward(x, backend: .openBLAS)
        #expect(native == viaOpenBLAS)
        #expect(native.shape == expected.shape)
        // The integer logits stay within a few percent of the float logits' spread.
        let spread = expected.maxAbsolute()
        let worst = (native - expected).maxAbsolute()
        #expect(worst < 0.1 * spread, "\(architecture): worst \(worst), spread \(spread)")
    }

    @Test func concatAndAveragePoolingRunOnCodes() throws {
        var g = SeededGenerator(seed: 9)
        var b = GraphBuilder(inputShape: [2, 8, 8])
        try b.add("left", Conv2d(inputChannels: 2, outputChannels: 3, kernelSize: 3, padding: 1, generator: &g),
                  inputs: ["input"])
        try b.add("right", Conv2d(inputChannels: 2, outputChannels: 2, kernelSize: 1, generator: &g), inputs: ["input"])
        try b.add("cat", Concat(), inputs: ["left", "right"])
        try b.add("avg", AvgPool2d(kernelSize: 3, stride: 2, padding: 1))
        try b.add("flat", Flatten())
        try b.add("fc", Linear(inputFeatures: 5 * 4 * 4, outputFeatures: 4, generator: &g))
        let graph = try b.build()
        let data = try Dataset(inputs: inputs(32, shape: [2, 8, 8], seed: 3), labels: [Int32](repeating: 0, count: 32),
                               classCount: 4)
        let quantized = try QuantizedGraph(folded: graph, calibration: try calibrate(graph, on: data, samples: 32))
        #expect(quantized.floatComputedNodes.isEmpty)
        let x = inputs(4, shape: [2, 8, 8], seed: 5)
        let expected = graph.forward(x, mode: .inference)
        #expect((try quantized.forward(x) - expected).maxAbsolute() < 0.1 * expected.maxAbsolute())
    }

    @Test func unfoldedBatchNormIsRefused() throws {
        let graph = try Architecture.resnet8.makeGraph(inputShape: [1, 8, 8], classes: 3)
        let data = try Dataset(inputs: inputs(4, shape: [1, 8, 8], seed: 6), labels: [0, 1, 2, 0], classCount: 3)
        #expect(throws: ShrinkError.self) {
            _ = try QuantizedGraph(folded: graph, calibration: try calibrate(graph, on: data, samples: 4))
        }
    }
}

@Suite struct MobileIntegerEngineTests {
    /// Trained-ish BatchNorm statistics, folded, calibrated on 64 samples: the integer graph of `architecture`.
    func integerGraph(_ architecture: Architecture) throws -> (Graph, QuantizedGraph) {
        let graph = try architecture.makeGraph(inputShape: [1, 16, 16], classes: 6, seed: 4)
        for step in 0..<2 { _ = graph.forward(inputs(16, shape: [1, 16, 16], seed: UInt64(30 + step)), mode: .training) }
        let folded = try graph.foldingBatchNorm()
        let data = try Dataset(inputs: inputs(64, shape: [1, 16, 16], seed: 7), labels: [Int32](repeating: 0, count: 64),
                               classCount: 6)
        return (graph, try QuantizedGraph(folded: folded, calibration: try calibrate(folded, on: data, samples: 64)))
    }

    @Test(arguments: [Architecture.mobilenetV3, .efficientnet])
    func squeezeExcitationNetworksRunWithoutFloatNodes(architecture: Architecture) throws {
        let (graph, quantized) = try integerGraph(architecture)
        #expect(quantized.floatComputedNodes.isEmpty, "\(quantized.floatComputedNodes)")
        let x = inputs(8, shape: [1, 16, 16], seed: 2)
        let expected = graph.forward(x, mode: .inference)
        let native = try quantized.forward(x, backend: .native)
        #expect(native == (try quantized.forward(x, backend: .openBLAS)))
        let worst = (native - expected).maxAbsolute(), spread = expected.maxAbsolute()
        #expect(worst < 0.15 * spread, "\(architecture): worst \(worst), spread \(spread)")
        // One thread and two give the same bytes.
        #expect(native == (try Parallel.withThreads(1) { try quantized.forward(x) }))
    }

    @Test(arguments: PointwiseFunction.allCases)
    func activationTablesGiveTheNearestCode(function: PointwiseFunction) throws {
        var b = GraphBuilder(inputShape: [2, 5, 5])
        try b.add("act", try PointwiseActivation(function))
        let graph = try b.build()
        let x = inputs(4, shape: [2, 5, 5], seed: 5) * 3
        // Calibrated on the very inputs, so nothing is clamped: the table's code is f of the input code, rounded.
        let data = try Dataset(inputs: x, labels: [Int32](repeating: 0, count: 4), classCount: 2)
        let quantized = try QuantizedGraph(folded: graph, calibration: try calibrate(graph, on: data, samples: 4))
        #expect(quantized.floatComputedNodes.isEmpty)
        let input = quantized.edges[Graph.inputName]!, output = quantized.edges["act"]!
        let seen = dequantize(try quantize(x, with: input))
        let layer = try PointwiseActivation(function)
        let y = try quantized.forward(x)
        let worst = zip(y.scalars, seen.scalars.map(layer.value)).map { abs($0 - $1) }.max() ?? 0
        #expect(worst <= 0.5 * output.scales[0] * 1.001, "\(function): \(worst) against a step of \(output.scales[0])")
    }

    @Test func gatesMultiplyCodesPerChannel() throws {
        var b = GraphBuilder(inputShape: [3, 4, 4])
        var g = SeededGenerator(seed: 2)
        try b.add("conv", Conv2d(inputChannels: 3, outputChannels: 3, kernelSize: 3, padding: 1, generator: &g))
        try b.add("pool", GlobalMean())
        try b.add("gate", try PointwiseActivation(.sigmoid))
        try b.add("scale", Multiply(), inputs: ["conv", "gate"])
        let graph = try b.build()
        let x = inputs(6, shape: [3, 4, 4], seed: 8)
        let data = try Dataset(inputs: x, labels: [Int32](repeating: 0, count: 6), classCount: 2)
        let quantized = try QuantizedGraph(folded: graph, calibration: try calibrate(graph, on: data, samples: 6))
        #expect(quantized.floatComputedNodes.isEmpty)
        let edges = quantized.edges
        let values = graph.forward(x, mode: .inference, keeping: ["conv"])
        // Errors: half a step of the product, plus each factor's half step times the other factor's size.
        let (sa, sg, sy) = (edges["conv"]!.scales[0], edges["gate"]!.scales[0], edges["scale"]!.scales[0])
        let tolerance = sy + sa + values["conv"]!.maxAbsolute() * sg
        let worst = (try quantized.forward(x) - graph.forward(x, mode: .inference)).maxAbsolute()
        #expect(worst <= tolerance, "worst \(worst), tolerance \(tolerance)")
    }
}

@Suite struct ChannelSelectIntegerTests {
    @Test func splitsShufflesAndConcatsRunOnCodes() throws {
        var g = SeededGenerator(seed: 5)
        var b = GraphBuilder(inputShape: [1, 6, 6])
        try b.add("stem", Conv2d(inputChannels: 1, outputChannels: 8, kernelSize: 3, padding: 1, generator: &g))
        try b.add("stem_relu", ReLU())
        let left = try b.add("left", try ChannelSelect(slice: 0..<4))
        try b.add("right", try ChannelSelect(slice: 4..<8), inputs: ["stem_relu"])
        let branch = try b.add("branch", Conv2d(inputChannels: 4, outputChannels: 4, kernelSize: 1, generator: &g))
        try b.add("cat", Concat(), inputs: [left, branch])
        try b.add("shuffle", try ChannelSelect(shuffling: 8, groups: 2))
        try b.add("pool", GlobalAvgPool())
        let graph = try b.build()
        let x = inputs(6, shape: [1, 6, 6], seed: 9)
        let data = try Dataset(inputs: x, labels: [Int32](repeating: 0, count: 6), classCount: 8)
        let quantized = try QuantizedGraph(folded: graph, calibration: try calibrate(graph, on: data, samples: 6))
        #expect(quantized.floatComputedNodes.isEmpty)
        let expected = graph.forward(x, mode: .inference)
        let worst = (try quantized.forward(x) - expected).maxAbsolute()
        // Within a few steps of the concat's edge.
        #expect(worst < 3 * quantized.edges["cat"]!.scales[0], "worst \(worst)")
    }
}
