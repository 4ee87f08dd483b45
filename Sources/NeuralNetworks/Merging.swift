// Add and Concat: the layers with several inputs (residual connections, multi-branch blocks).
import Tensors

/// Elementwise sum of two or more inputs of the same shape (a residual connection). Gradient: `dy` to each input.
public final class Add: Layer {
    public init() {}

    public var kind: String { "add" }
    public var spec: LayerSpec { LayerSpec(kind: kind) }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        guard inputShapes.count >= 2 else { throw ShrinkError(.shape, "add takes two or more inputs, got \(inputShapes.count)") }
        guard inputShapes.allSatisfy({ $0 == inputShapes[0] }) else {
            throw ShrinkError(.shape, "add needs inputs of one shape, got \(inputShapes.map { "\($0)" }.joined(separator: ", "))")
        }
        return inputShapes[0]
    }

    public func forward(_ inputs: [Tensor], mode: Mode) -> Tensor {
        // One pass writing a new tensor (not a copy of the first input, then one pass per input), in blocks across
        // threads; each element sums its inputs in order, so the bits are those of `((a + b) + c)…`.
        var y = Tensor(uninitialized: inputs[0].shape)
        let count = y.count
        y.withUnsafeMutableBufferPointer { py in
            nonisolated(unsafe) let (py, inputs) = (py, inputs)
            Parallel.forEachRange(count: count, grain: 1 << 15) { range in
                inputs[0].withUnsafeBufferPointer { first in
                    for i in range { py[i] = first[i] }
                }
                for other in inputs.dropFirst() {
                    other.withUnsafeBufferPointer { po in
                        for i in range { py[i] += po[i] }
                    }
                }
            }
        }
        return y
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: [Bool]) -> [Tensor?] {
        needsInputGradient.map { $0 ? outputGradient : nil }
    }
}

/// Concatenation along the channel axis (axis 1 of the batched tensors): (N, C1, …) ⊕ (N, C2, …) → (N, C1+C2, …).
/// All other dimensions must agree. Gradient: the matching channel slice to each input.
public final class Concat: Layer {
    private var savedChannels: [Int] = []

    public init() {}

    public var kind: String { "concat" }
    public var spec: LayerSpec { LayerSpec(kind: kind) }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        guard inputShapes.count >= 2 else {
            throw ShrinkError(.shape, "concat takes two or more inputs, got \(inputShapes.count)")
        }
        let rest = inputShapes[0].dropFirst()
        guard inputShapes.allSatisfy({ !$0.isEmpty && $0.dropFirst() == rest }) else {
            throw ShrinkError(.shape, "concat needs inputs that differ only in channels, got \(inputShapes.map { "\($0)" }.joined(separator: ", "))")
        }
        return [inputShapes.reduce(0) { $0 + $1[0] }] + rest
    }

    public func forward(_ inputs: [Tensor], mode: Mode) -> Tensor {
        let n = inputs[0].shape[0]
        let inner = inputs[0].shape.dropFirst(2).reduce(1, *)
        let channels = inputs.map { $0.shape[1] }
        let total = channels.reduce(0, +)
        var shape = inputs[0].shape
        shape[1] = total
        var y = Tensor(uninitialized: shape)
        y.withUnsafeMutableBufferPointer { py in
            var offset = 0
            for (input, c) in zip(inputs, channels) {
                input.withUnsafeBufferPointer { px in
                    for sample in 0..<n {
                        (py.baseAddress! + (sample * total + offset) * inner)
                            .update(from: px.baseAddress! + sample * c * inner, count: c * inner)
                    }
                }
                offset += c
            }
        }
        if mode == .training { savedChannels = channels }
        return y
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: [Bool]) -> [Tensor?] {
        let n = outputGradient.shape[0], total = outputGradient.shape[1]
        let inner = outputGradient.shape.dropFirst(2).reduce(1, *)
        var offset = 0
        var result: [Tensor?] = []
        for (c, wanted) in zip(savedChannels, needsInputGradient) {
            defer { offset += c }
            guard wanted else { result.append(nil); continue }
            var shape = outputGradient.shape
            shape[1] = c
            var dx = Tensor(zeros: shape)
            outputGradient.withUnsafeBufferPointer { pdy in
                dx.withUnsafeMutableBufferPointer { pdx in
                    for sample in 0..<n {
                        (pdx.baseAddress! + sample * c * inner)
                            .update(from: pdy.baseAddress! + (sample * total + offset) * inner, count: c * inner)
                    }
                }
            }
            result.append(dx)
        }
        return result
    }
}
