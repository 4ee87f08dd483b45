// Squeeze-excitation's pieces: the global mean over H and W that keeps the 4-D layout (so a 1×1 conv can read it),
// and the elementwise product of a feature map with a gate of the same shape or one value per channel.
import Tensors

/// `(C, H, W) → (C, 1, 1)`: the mean of each channel's plane (`GlobalAveragePool`, or `ReduceMean` over H and W with
/// the dimensions kept). Gradient: the output gradient spread evenly over the plane.
public final class GlobalMean: Layer {
    private var savedInputShape: [Int] = []

    public init() {}

    public var kind: String { "global_mean" }
    public var spec: LayerSpec { LayerSpec(kind: kind) }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        try expectInputs(inputShapes, count: 1, kind)
        guard inputShapes[0].count == 3 else {
            throw ShrinkError(.shape, "global_mean expects input (C, H, W), got \(inputShapes[0])")
        }
        return [inputShapes[0][0], 1, 1]
    }

    /// One addition per input element.
    public func macs(for inputShapes: [[Int]]) -> Int { inputShapes.first?.reduce(1, *) ?? 0 }

    public func forward(_ inputs: [Tensor], mode: Mode) -> Tensor {
        if mode == .training { savedInputShape = inputs[0].shape }
        return planeMeans(inputs[0], shape: [inputs[0].shape[0], inputs[0].shape[1], 1, 1])
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: [Bool]) -> [Tensor?] {
        guard needsInputGradient[0] else { return [nil] }
        return [spreadOverPlanes(outputGradient, inputShape: savedInputShape)]
    }
}

/// `y = a · b` elementwise, where `b` has `a`'s shape (SiLU written as `x · sigmoid(x)`) or one value per channel,
/// `(C, 1, 1)` against `(C, H, W)` (a squeeze-excitation gate). Gradient: `∂a = dy · b`, `∂b = dy · a` (summed over
/// the plane for a per-channel gate).
public final class Multiply: Layer {
    private var saved: [Tensor] = []

    public init() {}

    public var kind: String { "mul" }
    public var spec: LayerSpec { LayerSpec(kind: kind) }

    /// Whether the per-sample shape `b` is one value per channel of `a`.
    public static func isChannelGate(_ a: [Int], _ b: [Int]) -> Bool {
        a.count == 3 && b == [a[0], 1, 1] && a != b
    }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        try expectInputs(inputShapes, count: 2, kind)
        let a = inputShapes[0], b = inputShapes[1]
        guard a == b || Self.isChannelGate(a, b) else {
            throw ShrinkError(.shape, "mul multiplies inputs of one shape, or a (C, H, W) map by a (C, 1, 1) gate; got "
                + "\(a) and \(b)")
        }
        return a
    }

    public func macs(for inputShapes: [[Int]]) -> Int { inputShapes.first?.reduce(1, *) ?? 0 }

    public func forward(_ inputs: [Tensor], mode: Mode) -> Tensor {
        let a = inputs[0], b = inputs[1]
        var y = Tensor(uninitialized: a.shape)
        let repeatCount = a.count / max(b.count, 1)
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                y.withUnsafeMutableBufferPointer { py in
                    nonisolated(unsafe) let (pa, pb, py) = (pa, pb, py)
                    // Blocks across threads (a batch of one too); every product is computed alike.
                    if repeatCount == 1 {
                        Parallel.forEachRange(count: pa.count, grain: 1 << 15) { range in
                            for i in range { py[i] = pa[i] * pb[i] }
                        }
                    } else {
                        Parallel.forEachRange(count: pb.count, grain: max(1, (1 << 15) / repeatCount)) { gates in
                            for g in gates {
                                let gate = pb[g], start = g * repeatCount
                                for j in start..<(start + repeatCount) { py[j] = pa[j] * gate }
                            }
                        }
                    }
                }
            }
        }
        if mode == .training { saved = [a, b] }
        return y
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: [Bool]) -> [Tensor?] {
        let a = saved[0], b = saved[1]
        let repeatCount = a.count / max(b.count, 1)
        var da: Tensor?, db: Tensor?
        if needsInputGradient[0] {
            var g = Tensor(uninitialized: a.shape)
            outputGradient.withUnsafeBufferPointer { pdy in
                b.withUnsafeBufferPointer { pb in
                    g.withUnsafeMutableBufferPointer { pg in
                        for i in 0..<pg.count { pg[i] = pdy[i] * pb[i / repeatCount] }
                    }
                }
            }
            da = g
        }
        if needsInputGradient[1] {
            var g = Tensor(zeros: b.shape)
            outputGradient.withUnsafeBufferPointer { pdy in
                a.withUnsafeBufferPointer { pa in
                    g.withUnsafeMutableBufferPointer { pg in
                        for i in 0..<pdy.count { pg[i / repeatCount] += pdy[i] * pa[i] }
                    }
                }
            }
            db = g
        }
        return [da, db]
    }
}
