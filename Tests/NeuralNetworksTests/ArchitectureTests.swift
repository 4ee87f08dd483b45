// Built-in architectures: exact costs, shape adaptation, forward/backward on every one, graph validation.
import NeuralNetworks
import Tensors
import Testing

@Suite struct ArchitectureTests {
    @Test func fmnistCNNHasTheDocumentedCost() throws {
        let cost = try Architecture.fmnistCNN.makeGraph(inputShape: [1, 28, 28], classes: 10).cost()
        #expect(cost.parameters == 421_642)
        #expect(cost.macs == 4_241_152)
        #expect(cost.bytes == 421_642 * 4)
    }

    @Test func mlpAdaptsToFeatureDataAndSmallStudentIsUnderATenth() throws {
        let mlp = try Architecture.mlp.makeGraph(inputShape: [40], classes: 3)
        #expect(mlp.cost().parameters == 40 * 256 + 256 + 256 * 128 + 128 + 128 * 3 + 3)
        #expect(try Architecture.mlp.makeGraph(inputShape: [1, 28, 28], classes: 10).cost().parameters == 235_146)
        let small = try Architecture.fmnistSmall.makeGraph(inputShape: [1, 28, 28], classes: 10).cost().parameters
        #expect(small == 26_698 && small * 10 <= 421_642)
    }

    @Test func imageArchitecturesRejectFeatureData() {
        #expect(throws: ShrinkError.self) { try Architecture.fmnistCNN.makeGraph(inputShape: [40], classes: 10) }
        #expect(throws: ShrinkError.self) { try Architecture(named: "vgg99") }
        #expect(throws: ShrinkError.self) { try Architecture.lenet5.makeGraph(inputShape: [1, 4, 4], classes: 10) }
    }

    @Test(arguments: Architecture.allCases)
    func everyArchitectureRunsForwardAndBackward(architecture: Architecture) throws {
        let graph = try architecture.makeGraph(inputShape: [1, 28, 28], classes: 10, seed: 1)
        let x = randomTensor([2, 1, 28, 28], seed: 2)
        let y = graph.forward(x, mode: .training)
        #expect(y.shape == [2, 10])
        graph.zeroGradients()
        try graph.backward(seeds: [graph.outputName: crossEntropy(logits: y, labels: [1, 7]).gradient])
        #expect(graph.trainableParameters.allSatisfy { $0.gradient.firstNonFiniteIndex() == nil })
        #expect(graph.trainableParameters.contains { $0.gradient.maxAbsolute() > 0 })
        #expect(graph.forward(x, mode: .inference).shape == [2, 10])
    }

    @Test func resnet8HasResidualAddsAndMobileNetHasDepthwiseConvs() throws {
        let resnet = try Architecture.resnet8.makeGraph(inputShape: [1, 28, 28], classes: 10)
        #expect(resnet.nodes.filter { $0.layer is Add }.count == 3)
        let mobile = try Architecture.mobilenetTiny.makeGraph(inputShape: [3, 32, 32], classes: 5)
        let depthwise = mobile.nodes.compactMap { $0.layer as? Conv2d }.filter { $0.groups == $0.inputChannels && $0.groups > 1 }
        #expect(depthwise.count == 4)
    }

    @Test func mobileFamiliesHaveTheDocumentedCostAndSqueezeExcitation() throws {
        let v3 = try Architecture.mobilenetV3.makeGraph(inputShape: [1, 28, 28], classes: 10)
        #expect(v3.cost().parameters == 166_658 && v3.cost().macs == 3_598_016)
        let efficient = try Architecture.efficientnet.makeGraph(inputShape: [1, 28, 28], classes: 10)
        #expect(efficient.cost().parameters == 130_722 && efficient.cost().macs == 5_829_040)
        for (graph, blocks, gate) in [(v3, 4, PointwiseFunction.hardSigmoid), (efficient, 6, .sigmoid)] {
            func shape(_ name: String) -> [Int] { graph.outputShapes[graph.nodes.firstIndex { $0.name == name }!] }
            let scales = graph.nodes.filter { $0.layer is Multiply }
            #expect(scales.count == blocks)
            for scale in scales {
                // features × gate(fc2(relu(fc1(mean(features))))), the gate one value per channel.
                let gateNode = graph.node(named: scale.inputs[1])!
                #expect((gateNode.layer as? PointwiseActivation)?.function == gate)
                let fc2 = graph.node(named: gateNode.inputs[0])!.layer as! Conv2d
                #expect(fc2.kernelSize == 1 && fc2.outputChannels == shape(scale.inputs[0])[0])
                #expect(shape(scale.inputs[1]) == [fc2.outputChannels, 1, 1])
            }
        }
        #expect(v3.nodes.contains { ($0.layer as? PointwiseActivation)?.function == .hardSwish })
        #expect(efficient.nodes.contains { ($0.layer as? PointwiseActivation)?.function == .silu })
    }

    @Test func sameSeedSameWeightsDifferentSeedDifferentWeights() throws {
        let a = try Architecture.lenet5.makeGraph(inputShape: [1, 28, 28], classes: 10, seed: 7)
        let b = try Architecture.lenet5.makeGraph(inputShape: [1, 28, 28], classes: 10, seed: 7)
        let c = try Architecture.lenet5.makeGraph(inputShape: [1, 28, 28], classes: 10, seed: 8)
        #expect(a.parameters.map(\.parameter.value) == b.parameters.map(\.parameter.value))
        #expect(a.parameters.map(\.parameter.value) != c.parameters.map(\.parameter.value))
    }

    @Test func graphRejectsCyclesUnknownInputsAndDuplicates() {
        let cycle = [Node(name: "a", layer: ReLU(), inputs: ["b"]), Node(name: "b", layer: ReLU(), inputs: ["a"])]
        #expect(throws: ShrinkError.self) { try Graph(inputShape: [3], nodes: cycle) }
        #expect(throws: ShrinkError.self) {
            try Graph(inputShape: [3], nodes: [Node(name: "a", layer: ReLU(), inputs: ["nope"])])
        }
        #expect(throws: ShrinkError.self) {
            try Graph(inputShape: [3], nodes: [Node(name: "a", layer: ReLU(), inputs: ["input"]),
                                               Node(name: "a", layer: ReLU(), inputs: ["input"])])
        }
        #expect(throws: ShrinkError.self) {
            try Graph(inputShape: [3], nodes: [Node(name: "a", layer: Add(), inputs: ["input"])])
        }
    }

    @Test func graphSortsNodesTopologically() throws {
        let nodes = [Node(name: "b", layer: ReLU(), inputs: ["a"]), Node(name: "a", layer: ReLU(), inputs: ["input"])]
        let graph = try Graph(inputShape: [3], nodes: nodes, output: "b")
        #expect(graph.nodes.map(\.name) == ["a", "b"])
    }

    @Test func weightedLayersAreTheConvAndLinearNodesInOrder() throws {
        let resnet = try Architecture.resnet8.makeGraph(inputShape: [1, 28, 28], classes: 10)
        let layers = resnet.weightedLayers
        #expect(layers.map(\.node) == resnet.nodes.filter { $0.layer is Conv2d || $0.layer is Linear }.map(\.name))
        #expect(layers.first?.node == "conv1" && layers.first?.bias == nil && layers.last?.node == "fc")
        #expect(layers.last?.bias != nil && layers.last?.weight.value.shape == [10, 64])
        #expect(resnet.weightedLayer(named: "fc")?.weight === layers.last?.weight)
        #expect(resnet.weightedLayer(named: "bn1") == nil && resnet.weightedLayer(named: "nope") == nil)
        // Binarized layers hold fixed codes: they are not weighted layers.
        let binary = try Graph(inputShape: [3], nodes: [
            Node(name: "b", layer: try BinaryLinear(weight: Tensor(shape: [2, 3], repeating: 1), bias: nil), inputs: ["input"]),
        ])
        #expect(binary.weightedLayers.isEmpty)
    }

    @Test func unknownNamesThrowInsteadOfTrapping() throws {
        var builder = GraphBuilder(inputShape: [3])
        try builder.add("relu", ReLU())
        #expect(try builder.shape(of: "relu") == [3] && builder.currentShape == [3])
        #expect(throws: ShrinkError(.unknownName, "the graph being built has no node named 'fc' (so far: input, relu)")) {
            try builder.shape(of: "fc")
        }
        let graph = try builder.build()
        _ = graph.forward(Tensor(shape: [2, 3], repeating: 1), mode: .training)
        #expect(throws: ShrinkError(.unknownName, "backward: a gradient is seeded at 'fc', which is no node of the graph")) {
            try graph.backward(seeds: ["fc": Tensor(shape: [2, 3], repeating: 1)])
        }
        #expect(throws: ShrinkError.self) { try graph.backward(seeds: ["relu": Tensor(shape: [2, 4], repeating: 1)]) }
    }
}

@Suite struct InferenceFusionTests {
    /// Fused conv/linear → ReLU gives exactly what the unfused layers give (asking to keep every node's value
    /// turns fusion off).
    @Test(arguments: Architecture.allCases)
    func fusedInferenceMatchesUnfused(architecture: Architecture) throws {
        let graph = try architecture.makeGraph(inputShape: [1, 16, 16], classes: 5, seed: 2)
        let x = randomTensor([3, 1, 16, 16], seed: 3)
        let fused = graph.forward(x, mode: .inference)
        let unfused = graph.forward(x, mode: .inference, keeping: Set(graph.nodes.map(\.name)))
        #expect(fused == unfused[graph.outputName]!)
        for node in graph.nodes where node.layer is ClampedReLU {
            #expect(unfused[node.name]!.scalars.allSatisfy { $0 >= 0 })
        }
    }
}
