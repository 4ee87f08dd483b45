// ChannelSelect: output channel j is input channel `channels[j]` — ShuffleNet's channel split (a contiguous range)
// and channel shuffle (a fixed permutation) as one layer, so every pass handles both by one rule (filter pruning
// maps ids through it, the integer engine copies codes, export writes a Slice or a Gather).
import Tensors

/// `(C, …) → (channels.count, …)`: output channel j is input channel `channels[j]`. Gradient: each output channel's
/// gradient added into the input channel it came from.
public final class ChannelSelect: Layer {
    /// The input channel of each output channel.
    public let channels: [Int]
    private var savedInputShape: [Int] = []

    /// - Throws: `ShrinkError(.value)` for an empty list or a negative channel.
    public init(channels: [Int]) throws {
        guard !channels.isEmpty, channels.allSatisfy({ $0 >= 0 }) else {
            throw ShrinkError(.value, "channel_select needs a non-empty list of channels ≥ 0, got \(channels.prefix(8))")
        }
        self.channels = channels
    }

    /// Channels `range` of the input (a channel split, `torch.chunk` or `split` along dim 1).
    public convenience init(slice range: Range<Int>) throws {
        try self.init(channels: Array(range))
    }

    /// ShuffleNet's channel shuffle of `count` channels in `groups` groups: the (groups, count/groups) view of the
    /// channels transposed, so output channel `k·groups + g` is input channel `g·(count/groups) + k`.
    ///
    /// - Throws: `ShrinkError(.value)` when `groups` does not divide `count`.
    public convenience init(shuffling count: Int, groups: Int) throws {
        guard groups >= 1, count >= 1, count % groups == 0 else {
            throw ShrinkError(.value, "a channel shuffle needs a group count that divides the channels, got \(groups) "
                + "groups of \(count) channels")
        }
        let perGroup = count / groups
        try self.init(channels: (0..<count).map { j in (j % groups) * perGroup + j / groups })
    }

    /// The range this selection takes, when it is one.
    public var contiguousRange: Range<Int>? {
        let first = channels[0]
        return channels.enumerated().allSatisfy({ $0.element == first + $0.offset }) ? first..<(first + channels.count) : nil
    }

    public var kind: String { "channel_select" }
    public var spec: LayerSpec {
        var s = LayerSpec(kind: kind)
        s.channels = channels
        return s
    }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        try expectInputs(inputShapes, count: 1, kind)
        let s = inputShapes[0]
        guard let c = s.first, let largest = channels.max(), largest < c else {
            throw ShrinkError(.shape, "channel_select takes channels up to \(channels.max() ?? 0) of an input with "
                + "\(s.first ?? 0) channels (shape \(s))")
        }
        return [channels.count] + s.dropFirst()
    }

    public func forward(_ inputs: [Tensor], mode: Mode) -> Tensor {
        let x = inputs[0]
        let n = x.shape[0], c = x.shape[1], plane = x.count / max(n * c, 1)
        var y = Tensor(uninitialized: [n, channels.count] + x.shape.dropFirst(2))
        x.withUnsafeBufferPointer { px in
            y.withUnsafeMutableBufferPointer { py in
                for sample in 0..<n {
                    for (j, channel) in channels.enumerated() {
                        let source = px.baseAddress! + (sample * c + channel) * plane
                        (py.baseAddress! + (sample * channels.count + j) * plane).update(from: source, count: plane)
                    }
                }
            }
        }
        if mode == .training { savedInputShape = x.shape }
        return y
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: [Bool]) -> [Tensor?] {
        guard needsInputGradient[0] else { return [nil] }
        var dx = Tensor(zeros: savedInputShape)
        let n = savedInputShape[0], c = savedInputShape[1], plane = dx.count / max(n * c, 1)
        outputGradient.withUnsafeBufferPointer { pdy in
            dx.withUnsafeMutableBufferPointer { pdx in
                for sample in 0..<n {
                    for (j, channel) in channels.enumerated() {
                        let source = pdy.baseAddress! + (sample * channels.count + j) * plane
                        let target = pdx.baseAddress! + (sample * c + channel) * plane
                        for i in 0..<plane { target[i] += source[i] }
                    }
                }
            }
        }
        return [dx]
    }
}
