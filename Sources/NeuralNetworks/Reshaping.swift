// Flatten and Dropout: layers that move or drop values without weights.
import Tensors

/// Flattens every sample to a vector: (N, d1, d2, …) → (N, d1·d2·…), PyTorch's `flatten(1)`.
public final class Flatten: Layer {
    private var savedInputShape: [Int] = []

    public init() {}

    public var kind: String { "flatten" }
    public var spec: LayerSpec { LayerSpec(kind: kind) }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        try expectInputs(inputShapes, count: 1, kind)
        return [inputShapes[0].reduce(1, *)]
    }

    public func forward(_ inputs: [Tensor], mode: Mode) -> Tensor {
        let x = inputs[0]
        if mode == .training { savedInputShape = x.shape }
        return x.reshaped([x.shape[0], x.count / max(x.shape[0], 1)])
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: [Bool]) -> [Tensor?] {
        [needsInputGradient[0] ? outputGradient.reshaped(savedInputShape) : nil]
    }
}

/// Inverted dropout: in training, each element is zeroed with probability p and the rest scaled by 1/(1 − p);
/// in inference it is the identity. The mask comes from the layer's own seeded generator.
///
/// [1] Srivastava et al., "Dropout", 2014.
public final class Dropout: Layer, RandomStateLayer {
    public let probability: Float
    public let seed: UInt64
    private var generator: SeededGenerator
    private var savedMask: [Float] = []

    public init(probability: Float, seed: UInt64) {
        precondition(probability >= 0 && probability < 1, "Dropout probability must be in [0, 1)")
        self.probability = probability
        self.seed = seed
        self.generator = SeededGenerator(seed: seed, stream: "dropout")
    }

    /// The mask generator's position, so a resumed training draws the masks an uninterrupted one would.
    public var randomState: [UInt64] {
        get { generator.words }
        set { generator.words = newValue }
    }

    public var kind: String { "dropout" }
    public var spec: LayerSpec {
        var s = LayerSpec(kind: kind)
        s.probability = probability; s.seed = seed
        return s
    }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        try expectInputs(inputShapes, count: 1, kind)
        return inputShapes[0]
    }

    public func forward(_ inputs: [Tensor], mode: Mode) -> Tensor {
        guard mode == .training, probability > 0 else { return inputs[0] }
        var y = inputs[0]
        let keep = 1 - probability, scale = 1 / keep
        savedMask = [Float](repeating: 0, count: y.count)
        y.withUnsafeMutableBufferPointer { p in
            for i in 0..<p.count {
                let m: Float = generator.nextUniform() < keep ? scale : 0
                savedMask[i] = m
                p[i] *= m
            }
        }
        return y
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: [Bool]) -> [Tensor?] {
        guard needsInputGradient[0] else { return [nil] }
        guard probability > 0 else { return [outputGradient] }
        var dx = outputGradient
        dx.withUnsafeMutableBufferPointer { p in
            for i in 0..<p.count { p[i] *= savedMask[i] }
        }
        return [dx]
    }
}
