// Parameter: a trainable (or buffered) tensor with its gradient and an optional pruning mask.
import Tensors

/// A named tensor a layer owns: a weight, a bias, or a buffer such as BatchNorm's running mean.
///
/// The gradient has the value's shape; `backward` *adds* into it and the optimizer zeroes it. When `mask` is set
/// (pruning), optimizers multiply gradients and values by it so pruned weights stay zero through fine-tuning.
public final class Parameter: CustomStringConvertible {
    /// The current value.
    public var value: Tensor { didSet { version &+= 1 } }
    /// Counts changes of `value` (assignments and in-place edits through the property): layers that keep a form of
    /// it prepared for inference (packed convolution weights) rebuild that form when it moves.
    public private(set) var version = 0
    /// ∂loss/∂value accumulated since the last `zeroGradient()`; empty for buffers.
    public var gradient: Tensor
    /// Whether optimizers update it (false for running statistics).
    public let isTrainable: Bool
    /// 1 where the weight is kept, 0 where it is pruned; nil when the parameter is dense.
    public var mask: Tensor?

    public init(_ value: Tensor, trainable: Bool = true) {
        self.value = value
        self.isTrainable = trainable
        self.gradient = trainable ? Tensor(zeros: value.shape) : Tensor(zeros: [0])
    }

    /// Sets the gradient to zero.
    public func zeroGradient() {
        if isTrainable { gradient.zero() }
    }

    public var description: String {
        "Parameter\(value.shape)\(isTrainable ? "" : " (buffer)")\(mask == nil ? "" : " masked")"
    }
}
