// QuantizedEdges: the one rule of quantized edges and ReLU fusion, worked out by hand on a graph with every case —
// a fused conv → ReLU, a conv read twice, an add, pass-through pooling and flatten, a conv kept in float, and an
// output linear read by a ReLU — and the integer graph and quantization-aware training following it.
import Datasets
import NeuralNetworks
import Quantization
import Tensors
import Testing

@Suite struct QuantizedEdgesTests {
    /// conv1 → relu1 → pool → conv2 ⇉ (relu2, add) → add → flat → fc (the output) → fc_relu (read by nobody).
    func graph() throws -> Graph {
        var g = SeededGenerator(seed: 3)
        var b = GraphBuilder(inputShape: [2, 6, 6])
        try b.add("conv1", Conv2d(inputChannels: 2, outputChannels: 3, kernelSize: 3, padding: 1, generator: &g))
        try b.add("relu1", ReLU())
        try b.add("pool", MaxPool2d(kernelSize: 2))
        try b.add("conv2", Conv2d(inputChannels: 3, outputChannels: 3, kernelSize: 3, padding: 1, generator: &g))
        try b.add("relu2", ReLU())
        try b.add("add", Add(), inputs: ["relu2", "conv2"])
        try b.add("flat", Flatten())
        try b.add("fc", Linear(inputFeatures: 27, outputFeatures: 4, generator: &g))
        try b.add("fc_relu", ReLU())
        return try Graph(inputShape: [2, 6, 6], nodes: b.nodes, output: "fc")
    }

    @Test func edgesAndFusionByHand() throws {
        let graph = try graph()
        // conv2 has two readers and fc is the output: only conv1 → relu1 fuses, in both engines.
        #expect(graph.fusedActivations == ["conv1": "relu1"])
        let rule = QuantizedEdges(folded: graph)
        #expect(rule.fusedReLU == ["conv1": "relu1"])
        #expect(rule.edges == ["input", "relu1", "conv2", "relu2", "add", "fc", "fc_relu"])
        // Kept in float, conv1 computes in float and requantizes to its own edge; its ReLU then has nothing to fuse into.
        let float = QuantizedEdges(folded: graph, floatLayers: ["conv1"])
        #expect(float.fusedReLU.isEmpty)
        #expect(float.edges == ["input", "conv1", "relu1", "conv2", "relu2", "add", "fc", "fc_relu"])
    }

    @Test func theIntegerGraphAndQATFollowTheRule() throws {
        let graph = try graph()
        var g = SeededGenerator(seed: 4)
        let x = Tensor(shape: [32, 2, 6, 6], scalars: (0..<(32 * 72)).map { _ in g.nextNormal() })
        let data = try Dataset(inputs: x, labels: [Int32](repeating: 0, count: 32), classCount: 4)
        let quantized = try QuantizedGraph(folded: graph, calibration: try calibrate(graph, on: data, samples: 32))
        #expect(quantized.quantizedEdges == QuantizedEdges(folded: graph))
        // The output linear is not clamped by the ReLU that reads it: negative logits stay negative.
        let expected = graph.forward(x, mode: .inference)
        try #require(expected.scalars.contains { $0 < -0.2 })
        let logits = try quantized.forward(x)
        #expect((logits - expected).maxAbsolute() < 0.1 * expected.maxAbsolute())
        #expect(logits.scalars.contains { $0 < -0.1 })
        // Quantization-aware training fake-quantizes exactly the rule's edges.
        let qat = try QATGraph(Model(architecture: "test", graph: graph, normalization: Normalization(mean: 0, std: 1)),
                               weightBits: 8, activationBits: 8)
        #expect(Set(qat.activationNodes.keys) == Set(QuantizedEdges(folded: graph).edges))
    }
}
