// ReLU and ReLU6: elementwise clamps; backward passes the gradient where the input was inside the range.
import CKernels
import Tensors

/// `y = min(max(x, 0), cap)`; cap = +∞ is ReLU, cap = 6 is ReLU6 (MobileNet). Any shape.
/// Gradient: `dy` where `0 < x < cap`, else 0 (the kink itself gets 0, as PyTorch does).
public final class ClampedReLU: Layer {
    /// The upper clamp; `.infinity` for plain ReLU.
    public let cap: Float
    private var savedInput = Tensor(zeros: [0])

    public init(cap: Float = .infinity) { self.cap = cap }

    public var kind: String { cap.isInfinite ? "relu" : "relu6" }
    public var spec: LayerSpec { LayerSpec(kind: kind) }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        try expectInputs(inputShapes, count: 1, kind)
        return inputShapes[0]
    }

    public func forward(_ inputs: [Tensor], mode: Mode) -> Tensor {
        let x = inputs[0]
        var y = Tensor(uninitialized: x.shape)
        let cap = cap, n = x.shape.first ?? 1, row = x.count / max(n, 1)
        x.withUnsafeBufferPointer { px in
            y.withUnsafeMutableBufferPointer { py in
                nonisolated(unsafe) let (px, py) = (px, py)
                Parallel.forEachChunk(count: n) { _, samples in
                    let start = samples.lowerBound * row
                    ck_clamp(px.baseAddress! + start, py.baseAddress! + start, Int64(samples.count * row), cap)
                }
            }
        }
        if mode == .training { savedInput = x }
        return y
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: [Bool]) -> [Tensor?] {
        guard needsInputGradient[0] else { return [nil] }
        // y = min(max(x, 0), cap)  ⇒  dx = dy where 0 < x < cap, else 0 (a select the compiler vectorises)
        var dx = Tensor(uninitialized: outputGradient.shape)
        let cap = cap, n = outputGradient.shape.first ?? 1, row = outputGradient.count / max(n, 1)
        savedInput.withUnsafeBufferPointer { px in
            outputGradient.withUnsafeBufferPointer { pdy in
                dx.withUnsafeMutableBufferPointer { pdx in
                    nonisolated(unsafe) let (px, pdy, pdx) = (px, pdy, pdx)
                    Parallel.forEachChunk(count: n) { _, samples in
                        let start = samples.lowerBound * row
                        ck_clamp_gradient(px.baseAddress! + start, pdy.baseAddress! + start, pdx.baseAddress! + start,
                                          Int64(samples.count * row), cap)
                    }
                }
            }
        }
        return [dx]
    }
}

/// ReLU, `y = max(x, 0)`.
public func ReLU() -> ClampedReLU { ClampedReLU() }
/// ReLU6, `y = min(max(x, 0), 6)` [1]. [1] Sandler et al., "MobileNetV2", 2018.
public func ReLU6() -> ClampedReLU { ClampedReLU(cap: 6) }

/// An activation a producer applies to its own output in place during inference, on data still in cache: ReLU or
/// ReLU6 as a clamp, or a pointwise function (SiLU, hard-swish, …). Each element gets the same bits as from the
/// activation's own layer.
public enum FusedActivation: Sendable, Equatable {
    /// `y = min(max(y, 0), cap)`; cap = +∞ is ReLU.
    case clamp(cap: Float)
    /// A `PointwiseActivation` with its α and β.
    case pointwise(PointwiseFunction, alpha: Float, beta: Float)

    /// The fused form of an activation layer, if it has one.
    public init?(_ layer: any Layer) {
        if let relu = layer as? ClampedReLU {
            self = .clamp(cap: relu.cap)
        } else if let activation = layer as? PointwiseActivation {
            self = .pointwise(activation.function, alpha: activation.alpha, beta: activation.beta)
        } else {
            return nil
        }
    }

    /// Applies the activation to `count` floats at `values`, in place.
    @inline(__always)
    public func apply(_ values: UnsafeMutablePointer<Float>, count: Int) {
        guard count > 0 else { return }
        switch self {
        case .clamp(let cap): ck_clamp(values, values, Int64(count), cap)
        case .pointwise(let function, let alpha, let beta):
            PointwiseActivation.apply(function, alpha: alpha, beta: beta, UnsafePointer(values), values, count: count)
        }
    }
}

/// A layer that can apply a following activation itself during inference, on data still in cache; the graph
/// fuses `conv → activation` and `linear → activation` pairs this way when the activation is the producer's only
/// reader.
public protocol ActivationFusing: Layer {
    /// Inference forward followed by `activation` applied to the output.
    func forward(_ inputs: [Tensor], fusing activation: FusedActivation) -> Tensor
}

extension ActivationFusing {
    /// Inference forward followed by `y = min(max(y, 0), cap)`.
    public func forward(_ inputs: [Tensor], clampingAt cap: Float) -> Tensor {
        forward(inputs, fusing: .clamp(cap: cap))
    }
}

/// Clamps `count` floats at `values` to [0, cap] in place.
@inline(__always)
func clamp(_ values: UnsafeMutablePointer<Float>, count: Int, cap: Float) {
    ck_clamp(values, values, Int64(count), cap)
}
