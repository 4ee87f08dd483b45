// TestSupport: expected-error checks and the fixed data sets the observer tests share.
import Datasets
import Quantization
import Tensors
import Testing

/// Expects `body` to throw a `ShrinkError` of `kind` whose message contains every string of `fragments`.
func expectShrinkError(
    _ kind: ShrinkError.Kind, containing fragments: [String] = [],
    sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
) {
    let error = #expect(throws: ShrinkError.self, sourceLocation: sourceLocation) { try body() }
    guard let error else { return }
    #expect(error.kind == kind, "message: \(error.message)", sourceLocation: sourceLocation)
    for fragment in fragments {
        #expect(error.message.contains(fragment),
                "\(error.message.debugDescription) lacks \(fragment.debugDescription)", sourceLocation: sourceLocation)
    }
}

/// 10 000 evenly spaced values `−1 + 2i/9999` (uniform on [−1, 1], both ends included) followed by one outlier, 100.
let uniformWithOutlier = Tensor(shape: [10_001], scalars: (0..<10_000).map { -1 + 2 * Float($0) / 9_999 } + [100])

/// 10 000 seeded standard-normal values followed by one outlier, 100: a bell-shaped distribution for entropy.
let normalWithOutlier: Tensor = {
    var generator = SeededGenerator(seed: 7)
    return Tensor(shape: [10_001], scalars: (0..<10_000).map { _ in generator.nextNormal() } + [100])
}()

/// A (2, 3, 1, 2) NCHW-like tensor whose element (n, c, 0, w) is `(c + 1) · (w == 0 ? −1 : 2) · (n + 1)`, so channel
/// c along axis 1 spans `[−2(c+1), 4(c+1)]` and along axis 0 sample n spans `[−3(n+1), 6(n+1)]`.
let fourDimensional: Tensor = {
    var tensor = Tensor(zeros: [2, 3, 1, 2])
    for n in 0..<2 {
        for c in 0..<3 {
            tensor[n, c, 0, 0] = -Float(c + 1) * Float(n + 1)
            tensor[n, c, 0, 1] = 2 * Float(c + 1) * Float(n + 1)
        }
    }
    return tensor
}()

/// `count` seeded 1×12×12 images of 4 classes, each with a class-dependent bright band a network learns quickly.
func bandedImages(_ count: Int, seed: UInt64) throws -> Dataset {
    var g = SeededGenerator(seed: seed)
    var x: [Float] = [], y: [Int32] = []
    for i in 0..<count {
        let label = i % 4
        for p in 0..<144 { x.append(g.nextNormal() * 0.3 + (p % 4 == label ? 1 : 0)) }
        y.append(Int32(label))
    }
    return try Dataset(inputs: Tensor(shape: [count, 1, 12, 12], scalars: x), labels: y, classCount: 4)
}
