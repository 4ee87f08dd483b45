// Filter pruning through the mobile families' activations: those that keep 0 at 0 pass channels through; the
// channels a sigmoid-like one would carry into a conv as a non-zero constant are kept; a gate couples its channels.
import NeuralNetworks
import Pruning
import Tensors
import Testing

@Suite struct ActivationCouplingTests {
    func graph(_ activation: any Layer, gate: Bool = false) throws -> Graph {
        var g = SeededGenerator(seed: 3)
        var b = GraphBuilder(inputShape: [1, 6, 6])
        let first = try b.add("conv1", Conv2d(inputChannels: 1, outputChannels: 4, kernelSize: 3, padding: 1, generator: &g))
        let act = try b.add("act", activation)
        if gate {
            try b.add("squeeze", GlobalMean(), inputs: [act])
            try b.add("excite", Multiply(), inputs: [first, "squeeze"])
        }
        try b.add("conv2", Conv2d(inputChannels: 4, outputChannels: 4, kernelSize: 3, padding: 1, generator: &g))
        try b.add("pool", GlobalAvgPool())
        try b.add("fc", Linear(inputFeatures: 4, outputFeatures: 2, generator: &g))
        return try b.build()
    }

    @Test(arguments: [PointwiseFunction.silu, .hardSwish, .gelu, .geluTanh, .leakyReLU])
    func zeroKeepingActivationsPassChannelsThrough(_ function: PointwiseFunction) throws {
        let groups = try ChannelGroups(try graph(try PointwiseActivation(function)))
        #expect(groups.removableGroups.filter { $0.layer == ["conv1"] }.count == 4)
    }

    @Test func channelsAnActivationMovesOffZeroIntoAConvAreKept() throws {
        // conv1 → sigmoid → conv2: a silenced conv1 channel would reach conv2 as σ(0) = 0.5, so conv1 keeps them all.
        let graph = try graph(try PointwiseActivation(.sigmoid))
        let plan = try FilterPruningPlan(graph, removing: 0.5, score: .magnitude, data: nil, seed: 0)
        #expect(plan.groups.removableGroups.map(\.layer) == [[String]](repeating: ["conv2"], count: 4))
        let pruned = try plan.apply(to: graph)
        #expect((pruned.node(named: "conv1")!.layer as! Conv2d).outputChannels == 4)
        #expect((pruned.node(named: "conv2")!.layer as! Conv2d).outputChannels == 2)
        let x = randomTensor(2)
        let masked = try plan.masking(graph).forward(x, mode: .inference)
        #expect((pruned.forward(x, mode: .inference) - masked).maxAbsolute() < 1e-5 * max(1, masked.maxAbsolute()))
    }

    @Test func aGateTimesTheChannelsItScalesKeepsThemRemovable() throws {
        // conv1 × mean(relu(conv1)): the product of a silenced channel is 0 whatever the gate.
        let graph = try graph(ReLU(), gate: true)
        let plan = try FilterPruningPlan(graph, removing: 0.5, score: .magnitude, data: nil, seed: 0)
        #expect(plan.groups.removableGroups.filter { $0.layer == ["conv1"] }.count == 4)
        let pruned = try plan.apply(to: graph)
        #expect((pruned.node(named: "conv1")!.layer as! Conv2d).outputChannels == 2)
        let x = randomTensor(2)
        let masked = try plan.masking(graph).forward(x, mode: .inference)
        #expect((pruned.forward(x, mode: .inference) - masked).maxAbsolute() < 1e-5 * max(1, masked.maxAbsolute()))
    }

    func randomTensor(_ count: Int) -> Tensor {
        var g = SeededGenerator(seed: 11)
        return Tensor(shape: [count, 1, 6, 6], scalars: (0..<(count * 36)).map { _ in g.nextNormal() })
    }
}

/// A ShuffleNetV2 unit on 8 channels: split in halves, the second through a 1×1 conv, joined again, shuffled.
func shuffleUnitGraph() throws -> Graph {
    var g = SeededGenerator(seed: 5)
    var b = GraphBuilder(inputShape: [1, 6, 6])
    try b.add("stem", Conv2d(inputChannels: 1, outputChannels: 8, kernelSize: 3, padding: 1, generator: &g))
    try b.add("stem_relu", ReLU())
    let left = try b.add("left", try ChannelSelect(slice: 0..<4))
    try b.add("right", try ChannelSelect(slice: 4..<8), inputs: ["stem_relu"])
    try b.add("branch", Conv2d(inputChannels: 4, outputChannels: 4, kernelSize: 1, generator: &g))
    let branch = try b.add("branch_relu", ReLU())
    try b.add("cat", Concat(), inputs: [left, branch])
    try b.add("shuffle", try ChannelSelect(shuffling: 8, groups: 2))
    try b.add("head", Conv2d(inputChannels: 8, outputChannels: 6, kernelSize: 3, padding: 1, generator: &g))
    try b.add("head_relu", ReLU())
    try b.add("pool", GlobalAvgPool())
    try b.add("fc", Linear(inputFeatures: 6, outputFeatures: 3, generator: &g))
    return try b.build()
}

@Suite struct ChannelSelectPruningTests {
    @Test func splitsAndShufflesFollowTheKeptChannels() throws {
        let graph = try shuffleUnitGraph()
        let plan = try FilterPruningPlan(graph, removing: 0.5, score: .magnitude, data: nil, seed: 0)
        let pruned = try plan.apply(to: graph)
        #expect((pruned.node(named: "stem")!.layer as! Conv2d).outputChannels == 4)
        #expect((pruned.node(named: "branch")!.layer as! Conv2d).outputChannels == 2)
        // The head reads what is left of the split's first half and the branch's two kept channels, shuffled.
        let left = pruned.node(named: "left")!.layer as! ChannelSelect
        let right = pruned.node(named: "right")!.layer as! ChannelSelect
        #expect(left.channels.count + right.channels.count == 4)
        #expect((pruned.node(named: "head")!.layer as! Conv2d).inputChannels == left.channels.count + 2)
        var g = SeededGenerator(seed: 12)
        let x = Tensor(shape: [3, 1, 6, 6], scalars: (0..<108).map { _ in g.nextNormal() })
        let masked = try plan.masking(graph).forward(x, mode: .inference)
        #expect((pruned.forward(x, mode: .inference) - masked).maxAbsolute() < 1e-5 * max(1, masked.maxAbsolute()))
    }
}
