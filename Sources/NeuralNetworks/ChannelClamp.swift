// ChannelClamp: a ReLU with an upper clamp of its own per channel, `y = min(max(x, 0), cap[c])`. Cross-layer
// equalization makes it: scaling channel c of a ReLU6's input by 1/s[c] (and the next layer's weights by s[c]) keeps
// the network's function only when the clamp moves with the channel, to 6/s[c].
import Tensors

/// `y = min(max(x, 0), caps[c])` on channel c (axis 1 of (N, C, …)); a cap may be +∞.
/// Gradient: `dy` where `0 < x < caps[c]`, else 0, as `ClampedReLU`.
public final class ChannelClamp: Layer {
    /// The upper clamp of each channel, [C] (a buffer, not trained).
    public let caps: Parameter
    private var savedInput = Tensor(zeros: [0])

    /// - Throws: `ShrinkError(.value)` for no channels, or a cap that is NaN or negative.
    public init(caps: Tensor) throws {
        guard caps.count >= 1, caps.scalars.allSatisfy({ !$0.isNaN && $0 >= 0 }) else {
            throw ShrinkError(.value, "a channel clamp needs at least one cap, each ≥ 0 (or +∞)")
        }
        self.caps = Parameter(Tensor(shape: [caps.count], scalars: caps.scalars), trainable: false)
    }

    public var channels: Int { caps.value.count }
    public var kind: String { "channel_clamp" }
    public var parameters: [(name: String, parameter: Parameter)] { [("cap", caps)] }
    public var spec: LayerSpec {
        var s = LayerSpec(kind: kind)
        s.features = channels
        return s
    }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        try expectInputs(inputShapes, count: 1, kind)
        guard inputShapes[0].first == channels else {
            throw ShrinkError(.shape, "channel_clamp has \(channels) caps but its input has shape \(inputShapes[0]); "
                + "expected \(channels) channels first")
        }
        return inputShapes[0]
    }

    public func forward(_ inputs: [Tensor], mode: Mode) -> Tensor {
        let x = inputs[0]
        var y = Tensor(uninitialized: x.shape)
        let c = channels, plane = max(x.count / max(x.shape[0] * c, 1), 1), caps = caps.value.scalars
        x.withUnsafeBufferPointer { px in
            y.withUnsafeMutableBufferPointer { py in
                for start in stride(from: 0, to: x.count, by: plane) {
                    let cap = caps[(start / plane) % c]
                    for i in start..<(start + plane) { py[i] = min(max(px[i], 0), cap) }
                }
            }
        }
        if mode == .training { savedInput = x }
        return y
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: [Bool]) -> [Tensor?] {
        guard needsInputGradient[0] else { return [nil] }
        var dx = Tensor(uninitialized: outputGradient.shape)
        let count = dx.count, c = channels, plane = max(count / max(dx.shape[0] * c, 1), 1), caps = caps.value.scalars
        savedInput.withUnsafeBufferPointer { px in
            outputGradient.withUnsafeBufferPointer { pdy in
                dx.withUnsafeMutableBufferPointer { pdx in
                    for start in stride(from: 0, to: count, by: plane) {
                        let cap = caps[(start / plane) % c]
                        for i in start..<(start + plane) { pdx[i] = px[i] > 0 && px[i] < cap ? pdy[i] : 0 }
                    }
                }
            }
        }
        return [dx]
    }
}
