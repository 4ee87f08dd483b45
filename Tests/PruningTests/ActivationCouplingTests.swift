// Filter pruning through the mobile families' activations: those that keep 0 at 0 pass channels through; sigmoid-like
// ones and squeeze-excitation gates are refused with the node and the reason.
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

    @Test func sigmoidAndGatesAreRefusedByName() throws {
        let sigmoid = #expect(throws: ShrinkError.self) { try ChannelGroups(try graph(try PointwiseActivation(.sigmoid))) }
        #expect(sigmoid?.message.contains("node 'act' (sigmoid)") == true && sigmoid?.message.contains("maps 0 to 0.5") == true)
        let gate = #expect(throws: ShrinkError.self) { try ChannelGroups(try graph(ReLU(), gate: true)) }
        #expect(gate?.message.contains("node 'squeeze'") == true || gate?.message.contains("node 'excite'") == true)
    }
}
