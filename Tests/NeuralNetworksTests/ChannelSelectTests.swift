// ChannelSelect: ShuffleNet's channel split and shuffle — the permutation PyTorch's view/transpose/view gives,
// exact gradients, bad indices refused, and the spec round trip.
import NeuralNetworks
import Tensors
import Testing

@Suite struct ChannelSelectTests {
    @Test func theShuffleIsPyTorchsViewTransposeView() throws {
        // x.view(g, C/g).t().reshape(C): for C = 6, g = 2 the order is 0, 3, 1, 4, 2, 5.
        #expect(try ChannelSelect(shuffling: 6, groups: 2).channels == [0, 3, 1, 4, 2, 5])
        #expect(try ChannelSelect(shuffling: 6, groups: 3).channels == [0, 2, 4, 1, 3, 5])
        #expect(try ChannelSelect(slice: 2..<5).contiguousRange == 2..<5)
        #expect(try ChannelSelect(shuffling: 6, groups: 2).contiguousRange == nil)
        let x = Tensor(shape: [1, 4, 1, 2], scalars: [0, 1, 10, 11, 20, 21, 30, 31])
        #expect(try ChannelSelect(shuffling: 4, groups: 2).forward([x], mode: .inference).scalars == [0, 1, 20, 21, 10, 11, 30, 31])
        #expect(try ChannelSelect(slice: 1..<3).forward([x], mode: .inference).scalars == [10, 11, 20, 21])
    }

    @Test func gradientsGoBackToTheChannelsTheyCameFrom() throws {
        checkGradients(try ChannelSelect(shuffling: 6, groups: 3), inputs: [randomTensor([2, 6, 2, 3], seed: 1)])
        checkGradients(try ChannelSelect(slice: 1..<4), inputs: [randomTensor([2, 5, 2, 2], seed: 2)])
        // A channel taken twice gets both gradients.
        checkGradients(try ChannelSelect(channels: [1, 1, 0]), inputs: [randomTensor([2, 2, 3], seed: 3)])
    }

    @Test func badSelectionsAreRefused() throws {
        #expect(throws: ShrinkError.self) { try ChannelSelect(channels: []) }
        #expect(throws: ShrinkError.self) { try ChannelSelect(channels: [0, -1]) }
        #expect(throws: ShrinkError.self) { try ChannelSelect(shuffling: 6, groups: 4) }
        #expect(throws: ShrinkError.self) { try ChannelSelect(slice: 0..<5).outputShape(for: [[4, 2, 2]]) }
        var spec = LayerSpec(kind: "channel_select")
        #expect(throws: ShrinkError.self) { try spec.makeLayer(node: "shuffle") { _ in Tensor(zeros: [0]) } }
        spec.channels = [2, 0, 1]
        let layer = try #require(try spec.makeLayer(node: "shuffle") { _ in Tensor(zeros: [0]) } as? ChannelSelect)
        #expect(layer.channels == [2, 0, 1] && layer.spec == spec)
    }
}
