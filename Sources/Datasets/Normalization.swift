// Normalization: one scalar mean and standard deviation fitted on training inputs and applied to every split, so the
// test set is scaled with the training statistics. Deliberately left out: per-channel statistics.
import Tensors

/// Scalar normalisation `x' = (x − mean) / std`.
///
/// `fit` takes the population statistics of the training inputs, accumulated in Double:
/// `mean = Σx / n`, `std = √(Σ(x − mean)² / n)`; a constant input (`std == 0`) gets `std = 1`, an empty one is the
/// identity.
public struct Normalization: Sendable, Equatable, Codable {
    /// Subtracted from every element.
    public var mean: Float
    /// Every centred element is divided by it; never 0.
    public var std: Float

    /// Creates a normalisation from its two statistics.
    public init(mean: Float, std: Float) {
        self.mean = mean
        self.std = std
    }

    /// `mean = 0, std = 1`: leaves tensors unchanged.
    public static let identity = Normalization(mean: 0, std: 1)

    /// The mean and population standard deviation of every element of `inputs` (two passes, Double accumulation).
    public static func fit(_ inputs: Tensor) -> Normalization {
        guard inputs.count > 0 else { return .identity }
        return inputs.withUnsafeBufferPointer { values in
            var sum = 0.0
            for value in values { sum += Double(value) }
            let mean = sum / Double(values.count)
            var squares = 0.0
            for value in values {
                let centred = Double(value) - mean
                squares += centred * centred
            }
            let std = Float((squares / Double(values.count)).squareRoot())
            return Normalization(mean: Float(mean), std: std > 0 && std.isFinite ? std : 1)
        }
    }

    /// Replaces every element `x` of `tensor` with `(x − mean) / std`.
    public func apply(to tensor: inout Tensor) {
        let mean = mean, std = std
        tensor.withUnsafeMutableBufferPointer { values in
            for index in values.indices { values[index] = (values[index] - mean) / std }
        }
    }
}
