// The pointwise activations of the mobile families: values worked out by hand, exact backward against finite
// differences away from the kinks, the file spec round trip, and bad parameters refused.
import Foundation
import NeuralNetworks
import Tensors
import Testing

@Suite struct PointwiseActivationTests {
    func values(_ function: PointwiseFunction, _ xs: [Float], alpha: Float? = nil, beta: Float? = nil) throws -> [Float] {
        let layer = try PointwiseActivation(function, alpha: alpha, beta: beta)
        return layer.forward([Tensor(shape: [1, xs.count], scalars: xs)], mode: .inference).scalars
    }

    func expectClose(_ a: [Float], _ b: [Float], _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(a.count == b.count, sourceLocation: sourceLocation)
        for (x, y) in zip(a, b) {
            #expect(abs(x - y) <= 1e-6 * max(1, abs(y)), "\(what): \(a) against \(b)", sourceLocation: sourceLocation)
        }
    }

    @Test func valuesWorkedOutByHand() throws {
        expectClose(try values(.sigmoid, [0, 2, -2]), [0.5, 0.880797078, 0.119202922], "sigmoid")
        expectClose(try values(.hardSigmoid, [1, -4, 4, 0]), [0.666666667, 0, 1, 0.5], "hardsigmoid")
        expectClose(try values(.hardSigmoid, [1], alpha: 0.2, beta: 0.5), [0.7], "hardsigmoid α 0.2")
        expectClose(try values(.silu, [1, -1, 0]), [0.731058579, -0.268941421, 0], "silu")
        expectClose(try values(.hardSwish, [1, -1, -4, 4, 3]), [0.666666667, -0.333333333, 0, 4, 3], "hardswish")
        expectClose(try values(.gelu, [1, -1, 0]), [0.841344746, -0.158655254, 0], "gelu")
        expectClose(try values(.geluTanh, [1, -1]), [0.841191990, -0.158808010], "gelu_tanh")
        expectClose(try values(.leakyReLU, [-2, 3]), [-0.02, 3], "leaky_relu")
        expectClose(try values(.leakyReLU, [-2], alpha: 0.2), [-0.4], "leaky_relu α 0.2")
    }

    @Test(arguments: PointwiseFunction.allCases)
    func backwardMatchesFiniteDifferences(_ function: PointwiseFunction) throws {
        // Inputs in (−2.5, 2.5), kept off 0 (leaky ReLU's kink); the hard forms' kinks at ±3 are outside.
        var x = randomTensor([3, 2, 2, 2], seed: 5)
        for i in 0..<x.count {
            let v = x.scalars[i] * 2.5
            x.scalars[i] = abs(v) < 0.05 ? 0.1 : v
        }
        checkGradients(try PointwiseActivation(function), inputs: [x], h: 1e-3, tolerance: 1e-2)
    }

    @Test func theBackwardAtTheKinksFollowsPyTorch() throws {
        let hardSwish = try PointwiseActivation(.hardSwish)
        _ = hardSwish.forward([Tensor(shape: [1, 4], scalars: [-3, 3, -4, 4])], mode: .training)
        #expect(hardSwish.backward(Tensor(shape: [1, 4], scalars: [1, 1, 1, 1]), needsInputGradient: [true])[0]?.scalars
            == [-0.5, 1.5, 0, 1])
        let leaky = try PointwiseActivation(.leakyReLU)
        _ = leaky.forward([Tensor(shape: [1, 1], scalars: [0])], mode: .training)
        #expect(leaky.backward(Tensor(shape: [1, 1], scalars: [1]), needsInputGradient: [true])[0]?.scalars == [0.01])
    }

    @Test(arguments: PointwiseFunction.allCases)
    func theSpecRebuildsTheSameLayer(_ function: PointwiseFunction) throws {
        let layer = try PointwiseActivation(function, alpha: function == .leakyReLU ? 0.3 : nil)
        let rebuilt = try layer.spec.makeLayer(node: "act") { _ in Tensor(zeros: [0]) }
        let x = randomTensor([2, 5], seed: 3)
        #expect(rebuilt.kind == function.rawValue)
        #expect(rebuilt.forward([x], mode: .inference) == layer.forward([x], mode: .inference))
        #expect(layer.macs(for: [[5]]) == 5)
        #expect(try layer.outputShape(for: [[3, 4, 4]]) == [3, 4, 4])
    }

    @Test func badParametersAreRefused() throws {
        #expect(throws: ShrinkError.self) { try PointwiseActivation(.hardSigmoid, alpha: 0) }
        #expect(throws: ShrinkError.self) { try PointwiseActivation(.leakyReLU, alpha: .nan) }
        var spec = LayerSpec(kind: "hardsigmoid")
        spec.alpha = -1
        let refused = #expect(throws: ShrinkError.self) { try spec.makeLayer(node: "gate") { _ in Tensor(zeros: [0]) } }
        #expect(refused?.message.contains("node 'gate'") == true)
    }
}

@Suite struct GatingTests {
    @Test func theGlobalMeanKeepsTheLayoutAndMatchesTheFlatteningPool() throws {
        let x = randomTensor([2, 3, 4, 5], seed: 4)
        let mean = GlobalMean(), pool = GlobalAvgPool()
        #expect(try mean.outputShape(for: [[3, 4, 5]]) == [3, 1, 1])
        let y = mean.forward([x], mode: .inference)
        #expect(y.shape == [2, 3, 1, 1] && y.scalars == pool.forward([x], mode: .inference).scalars)
        checkGradients(GlobalMean(), inputs: [x], h: 1e-3, tolerance: 1e-2)
        #expect(throws: ShrinkError.self) { try mean.outputShape(for: [[12]]) }
    }

    @Test(arguments: PointwiseFunction.allCases)
    func inferenceFusesTheActivationIntoItsProducerWithTheSameBits(_ function: PointwiseFunction) throws {
        var b = GraphBuilder(inputShape: [2, 5, 5])
        try b.add("conv", Conv2d(weight: randomTensor([4, 2, 3, 3], seed: 1), bias: randomTensor([4], seed: 2),
                                 stride: 1, padding: 1))
        try b.add("act", try PointwiseActivation(function))
        try b.add("dw", Conv2d(weight: randomTensor([4, 1, 3, 3], seed: 3), bias: nil, stride: 2, padding: 1, groups: 4))
        try b.add("act2", try PointwiseActivation(function))
        try b.add("flatten", Flatten())
        try b.add("fc", Linear(weight: randomTensor([3, 36], seed: 4), bias: nil))
        try b.add("act3", try PointwiseActivation(function))
        let graph = try b.build()
        let x = randomTensor([3, 2, 5, 5], seed: 5)
        let fused = graph.forward(x, mode: .inference)
        // Keeping the producers' own values turns the fusion off: every layer runs by itself.
        let apart = graph.forward(x, mode: .inference, keeping: ["conv", "dw", "fc"])
        #expect(fused.scalars.map(\.bitPattern) == apart["act3"]!.scalars.map(\.bitPattern))
        #expect(graph.fusedActivations.isEmpty)  // the integer engine's list holds only ReLU/ReLU6
        let unfusedConv = apart["conv"]!.scalars, layer = try PointwiseActivation(function)
        #expect(layer.forward([apart["conv"]!], mode: .inference).scalars.map(\.bitPattern)
            == unfusedConv.map { layer.value($0).bitPattern })
    }

    @Test func aChannelGateScalesEachPlane() throws {
        let map = Tensor(shape: [1, 2, 1, 2], scalars: [1, 2, 3, 4]), gate = Tensor(shape: [1, 2, 1, 1], scalars: [10, -1])
        #expect(Multiply().forward([map, gate], mode: .inference).scalars == [10, 20, -3, -4])
        #expect(try Multiply().outputShape(for: [[2, 1, 2], [2, 1, 1]]) == [2, 1, 2])
        #expect(throws: ShrinkError.self) { try Multiply().outputShape(for: [[2, 1, 2], [3, 1, 1]]) }
        #expect(throws: ShrinkError.self) { try Multiply().outputShape(for: [[2, 1, 1], [2, 1, 2]]) }
        checkGradients(Multiply(), inputs: [randomTensor([2, 3, 2, 2], seed: 1), randomTensor([2, 3, 1, 1], seed: 2)],
                       h: 1e-3, tolerance: 1e-2)
        checkGradients(Multiply(), inputs: [randomTensor([2, 3, 2, 2], seed: 1), randomTensor([2, 3, 2, 2], seed: 2)],
                       h: 1e-3, tolerance: 1e-2)
    }

    @Test func aSqueezeExcitationBlockTrainsAndRoundTripsThroughItsSpec() throws {
        var g = SeededGenerator(seed: 1)
        var b = GraphBuilder(inputShape: [1, 6, 6])
        try b.add("conv", Conv2d(inputChannels: 1, outputChannels: 4, kernelSize: 3, padding: 1, generator: &g))
        let features = try b.add("act", try PointwiseActivation(.hardSwish))
        try b.add("squeeze", GlobalMean())
        try b.add("reduce", Conv2d(inputChannels: 4, outputChannels: 2, kernelSize: 1, generator: &g))
        try b.add("reduce_act", ReLU())
        try b.add("expand", Conv2d(inputChannels: 2, outputChannels: 4, kernelSize: 1, generator: &g))
        let gate = try b.add("gate", try PointwiseActivation(.hardSigmoid))
        try b.add("excite", Multiply(), inputs: [features, gate])
        try b.add("pool", GlobalAvgPool())
        try b.add("fc", Linear(inputFeatures: 4, outputFeatures: 2, generator: &g))
        let graph = try b.build()
        #expect(graph.outputShape == [2])
        let rebuilt = try Graph(inputShape: [1, 6, 6], nodes: graph.nodes.map { node in
            Node(name: node.name, layer: try node.layer.spec.makeLayer(node: node.name) { name in
                node.layer.parameters.first { $0.name == name }?.parameter.value ?? Tensor(zeros: [0])
            }, inputs: node.inputs)
        })
        let x = randomTensor([3, 1, 6, 6], seed: 8)
        #expect(rebuilt.forward(x, mode: .inference) == graph.forward(x, mode: .inference))
        // Gradients reach the first conv through both the map and the gate.
        let logits = graph.forward(x, mode: .training)
        for p in graph.parameters { p.parameter.zeroGradient() }
        _ = try graph.backward(seeds: [graph.outputName: Tensor(shape: logits.shape, repeating: 1)])
        let first = try #require(graph.parameters.first { $0.name == "conv.weight" })
        #expect(first.parameter.gradient.scalars.contains { $0 != 0 })
    }
}

@Suite struct CeilModePoolingTests {
    @Test func ceilModeKeepsTheWindowsThatRunPastTheEdge() throws {
        // 5 × 5, window 2, stride 2: floor gives 2 × 2, ceil 3 × 3 (the last row and column see one cell each).
        let x = Tensor(shape: [1, 1, 5, 5], scalars: (0..<25).map(Float.init))
        #expect(try MaxPool2d(kernelSize: 2).outputShape(for: [[1, 5, 5]]) == [1, 2, 2])
        let pool = MaxPool2d(kernelSize: 2, ceilMode: true)
        #expect(try pool.outputShape(for: [[1, 5, 5]]) == [1, 3, 3])
        #expect(pool.forward([x], mode: .inference).scalars == [6, 8, 9, 16, 18, 19, 21, 23, 24])
        // A last window that would start in the right padding is dropped: 5 cells, window 2, stride 2, pad 1 (⌈5/2⌉ + 1 = 4 → 3).
        #expect(pooledSize(5, kernel: 2, stride: 2, padding: 1, ceilMode: true) == 3)
        #expect(pooledSize(6, kernel: 3, stride: 2, padding: 0, ceilMode: true) == 3)   // SqueezeNet's 3/2 on even sizes
        // Distinct values 0.01 apart, so that no finite-difference step moves a window's maximum.
        let distinct = Tensor(shape: [2, 2, 6, 6], scalars: (0..<144).map { Float($0 * 37 % 144) * 0.01 })
        checkGradients(MaxPool2d(kernelSize: 3, stride: 2, ceilMode: true), inputs: [distinct], h: 1e-3, tolerance: 1e-2)
        let rebuilt = try pool.spec.makeLayer(node: "pool") { _ in Tensor(zeros: [0]) }
        #expect(rebuilt.forward([x], mode: .inference) == pool.forward([x], mode: .inference))
        var average = AvgPool2d(kernelSize: 2).spec
        average.ceilMode = true
        #expect(throws: ShrinkError.self) { try average.makeLayer(node: "avg") { _ in Tensor(zeros: [0]) } }
    }
}
