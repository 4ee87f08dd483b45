// BatchNorm folding: the folded graph has no BatchNorm after a conv/linear and gives the same inference outputs.
import NeuralNetworks
import Tensors
import Testing

@Suite struct FoldingTests {
    @Test(arguments: [Architecture.resnet8, .mobilenetTiny])
    func foldedGraphMatchesTheOriginalInInference(architecture: Architecture) throws {
        let graph = try architecture.makeGraph(inputShape: [1, 16, 16], classes: 5, seed: 3)
        // Move the running statistics and the affine parameters away from their initial values.
        for step in 0..<3 { _ = graph.forward(randomTensor([8, 1, 16, 16], seed: UInt64(10 + step)) * 2, mode: .training) }
        for (_, p) in graph.parameters where p.isTrainable && p.value.shape.count == 1 {
            p.value = p.value + randomTensor(p.value.shape, seed: 7) * 0.3
        }
        let folded = try graph.foldingBatchNorm()
        #expect(!folded.nodes.contains { $0.layer is BatchNorm })
        #expect(folded.nodes.count < graph.nodes.count)
        let x = randomTensor([4, 1, 16, 16], seed: 5)
        let difference = (folded.forward(x, mode: .inference) - graph.forward(x, mode: .inference)).maxAbsolute()
        #expect(difference < 1e-4)
    }

    @Test func batchNormWithSeveralReadersOrNoFoldableProducerIsKept() throws {
        var g = SeededGenerator(seed: 1)
        var b = GraphBuilder(inputShape: [4])
        try b.add("bn0", BatchNorm(features: 4))                       // reads the graph input: nothing to fold into
        try b.add("fc", Linear(inputFeatures: 4, outputFeatures: 4, generator: &g))
        try b.add("bn", BatchNorm(features: 4))
        try b.add("sum", Add(), inputs: ["bn", "fc"])                  // fc has two readers: bn is kept
        let graph = try b.build()
        let folded = try graph.foldingBatchNorm()
        #expect(folded.nodes.filter { $0.layer is BatchNorm }.count == 2)
    }

    @Test func linearFollowedByBatchNormFolds() throws {
        var g = SeededGenerator(seed: 2)
        var b = GraphBuilder(inputShape: [6])
        try b.add("fc1", Linear(inputFeatures: 6, outputFeatures: 5, bias: false, generator: &g))
        try b.add("bn1", BatchNorm(features: 5))
        try b.add("relu", ReLU())
        try b.add("fc2", Linear(inputFeatures: 5, outputFeatures: 3, generator: &g))
        let graph = try b.build()
        _ = graph.forward(randomTensor([16, 6], seed: 3) * 3, mode: .training)
        let folded = try graph.foldingBatchNorm()
        #expect(folded.nodes.map(\.name) == ["fc1", "relu", "fc2"])
        #expect(folded.node(named: "relu")!.inputs == ["fc1"])
        let x = randomTensor([5, 6], seed: 4)
        #expect((folded.forward(x, mode: .inference) - graph.forward(x, mode: .inference)).maxAbsolute() < 1e-5)
    }
}
