// ChannelLayout: how a row-major tensor's elements group into channels along one axis, shared by quantize/dequantize
// and every observer, plus the per-channel minimum/maximum scan that rejects NaN and infinities.
import Tensors

/// A row-major tensor seen as `(outer, channels, inner)` around a channel axis: element `(o, c, i)` sits at flat
/// index `(o · channels + c) · inner + i`, so each channel is `outer` contiguous runs of `inner` elements.
/// Per-tensor (`axis == nil`) is one channel holding one run of every element.
struct ChannelLayout: Equatable {
    /// The product of the extents before the axis.
    let outer: Int
    /// The extent of the axis (1 when per-tensor).
    let channels: Int
    /// The product of the extents after the axis (all elements when per-tensor).
    let inner: Int

    /// - Throws: `ShrinkError(.shape)` when `axis` is negative or not below the rank of `shape`.
    init(shape: [Int], axis: Int?) throws {
        guard let axis else {
            (outer, channels, inner) = (1, 1, shape.reduce(1, *))
            return
        }
        guard axis >= 0, axis < shape.count else {
            throw ShrinkError(.shape, "channel axis \(axis) is out of range for a tensor of shape \(shape)")
        }
        outer = shape[..<axis].reduce(1, *)
        channels = shape[axis]
        inner = shape[(axis + 1)...].reduce(1, *)
    }

    /// Calls `body(channel, start)` for every contiguous run of `inner` elements, in memory order.
    @inline(__always)
    func forEachRun(_ body: (_ channel: Int, _ start: Int) throws -> Void) rethrows {
        guard inner > 0 else { return }
        for outerIndex in 0..<outer {
            for channel in 0..<channels { try body(channel, (outerIndex * channels + channel) * inner) }
        }
    }
}

/// Per-channel minimum and maximum of `tensor` along `axis` (`+∞`/`−∞` for a channel without elements).
///
/// - Throws: `ShrinkError(.shape)` for a bad axis; `ShrinkError(.value)` naming `context`, the flat index and the
///   value when an element is NaN or infinite (NaN activations during calibration must stop it, not poison it).
func channelExtrema(of tensor: Tensor, axis: Int?, context: String) throws
    -> (minimums: [Float], maximums: [Float]) {
    let layout = try ChannelLayout(shape: tensor.shape, axis: axis)
    var minimums = [Float](repeating: .infinity, count: layout.channels)
    var maximums = [Float](repeating: -.infinity, count: layout.channels)
    try tensor.withUnsafeBufferPointer { values in
        try layout.forEachRun { channel, start in
            var low = minimums[channel], high = maximums[channel]
            for index in start..<(start + layout.inner) {
                let value = values[index]
                guard value.isFinite else {
                    throw ShrinkError(.value, "\(context): element \(index) of the tensor of shape \(tensor.shape) "
                        + "is \(value); expected finite values")
                }
                low = min(low, value)
                high = max(high, value)
            }
            minimums[channel] = low
            maximums[channel] = high
        }
    }
    return (minimums, maximums)
}
