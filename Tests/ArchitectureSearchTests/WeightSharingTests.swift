// Weight sharing: the supernet's store keys block weights by operation, slices narrower candidates from the
// leading channels and grows where a wider one asks; the estimator trains once and then estimates deterministically.
@testable import ArchitectureSearch
import Datasets
import NeuralNetworks
import Tensors
import Testing

@Suite struct WeightSharingTests {
    let space = try! SearchSpace.parse(tinySpaceYAML, file: "tiny.yaml")

    @Test func keysBlocksByOperationAndSlicesLeadingChannels() throws {
        let conv = Candidate([0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1]), separable = Candidate([1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1])
        #expect(SharedWeights.key("block1_conv.weight", candidate: conv, space: space, shape: [8, 4, 3, 3]) == "block1/conv3x3/conv.weight")
        #expect(SharedWeights.key("block1_dw_conv.weight", candidate: separable, space: space, shape: [4, 1, 3, 3])
                == "block1/dwsep3x3/dw_conv.weight")
        // BatchNorm is kept per width.
        #expect(SharedWeights.key("block1_bn.weight", candidate: conv, space: space, shape: [8]) == "block1/conv3x3/bn.weight@8")
        #expect(SharedWeights.key("classifier.weight", candidate: conv, space: space, shape: [3, 8]) == "classifier.weight")
        // Corner and paste on a 2×3 inside a 3×4.
        var whole = Tensor(shape: [3, 4], scalars: (0..<12).map(Float.init))
        #expect(corner(of: whole, shape: [2, 3]).scalars == [0, 1, 2, 4, 5, 6])
        paste(Tensor(shape: [2, 3], repeating: -1), into: &whole)
        #expect(whole.scalars == [-1, -1, -1, 3, -1, -1, -1, 7, 8, 9, 10, 11])
        // A narrow candidate (width multiplier 0.5) loads the corner of what a wide one stored.
        let store = SharedWeights()
        let wide = try space.graph(for: conv, inputShape: [1, 8, 8], classes: 3, seed: 1)
        store.load(wide, candidate: conv, space: space)
        var narrowChoice = conv
        narrowChoice.choices[10] = 0
        let narrow = try space.graph(for: narrowChoice, inputShape: [1, 8, 8], classes: 3, seed: 2)
        store.load(narrow, candidate: narrowChoice, space: space)
        let w = (wide.node(named: "block1_conv")!.layer as! Conv2d).weight.value
        let n = (narrow.node(named: "block1_conv")!.layer as! Conv2d).weight.value
        #expect(n.shape[0] < w.shape[0] && n == corner(of: w, shape: n.shape))
    }

    @Test func trainsTheSupernetOnceAndEstimatesDeterministically() throws {
        let data = try stripes(150, seed: 7)
        let context = EstimationContext(space: space, train: data.rows(0..<120), validation: data.rows(120..<150))
        let estimator = WeightSharing(epochs: 20, batchSize: 16, seed: 3)
        var g = SeededGenerator(seed: 5)
        var estimates: [Double] = []
        for _ in 0..<6 {
            let c = space.randomCandidate(&g)
            let a = try estimator.estimate(c, context: context, seed: 1)
            let b = try estimator.estimate(c, context: context, seed: 1)
            #expect(a.accuracy == b.accuracy && a.trainSamples == 120 && (0...1).contains(a.accuracy))   // 10 steps of 16, capped at the 120 samples
            estimates.append(a.accuracy)
        }
        #expect(estimator.supernetSamples == 20 * 120)
        #expect(estimates.max()! > 0.5, "\(estimates)")
    }
}
