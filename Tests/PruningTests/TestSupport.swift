// TestSupport: the seeded image sets, built-in models and expected-error check the pruning tests share.
import Datasets
import NeuralNetworks
import Pruning
import Tensors
import Testing

/// `count` seeded images of `shape` in `classes` classes, each with a class-dependent bright band.
func images(_ count: Int, shape: [Int], classes: Int, seed: UInt64) throws -> Dataset {
    var g = SeededGenerator(seed: seed)
    let size = shape.reduce(1, *)
    var scalars = [Float](), labels = [Int32]()
    for i in 0..<count {
        let label = i % classes
        // A class-dependent bright band, so that a network can learn it quickly.
        for p in 0..<size { scalars.append(g.nextNormal() * 0.3 + (p % classes == label ? 1 : 0)) }
        labels.append(Int32(label))
    }
    return try Dataset(inputs: Tensor(shape: [count] + shape, scalars: scalars), labels: labels, classCount: classes)
}

/// A built-in architecture on `shape` inputs (seed 3), with identity normalisation.
func model(_ architecture: Architecture, shape: [Int] = [1, 12, 12], classes: Int = 4) throws -> Model {
    Model(architecture: architecture.rawValue,
          graph: try architecture.makeGraph(inputShape: shape, classes: classes, seed: 3),
          normalization: Normalization(mean: 0, std: 1))
}

/// Expects `body` to throw a `ShrinkError` whose message contains every fragment.
func expectError(_ fragments: [String], sourceLocation: SourceLocation = #_sourceLocation,
                 _ body: () throws -> Void) {
    let error = #expect(throws: ShrinkError.self, sourceLocation: sourceLocation) { try body() }
    for fragment in fragments {
        #expect(error?.message.contains(fragment) == true, "\(error?.message ?? "") lacks \(fragment)",
                sourceLocation: sourceLocation)
    }
}
