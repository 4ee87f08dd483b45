// Layer: the protocol every node's operation implements, and LayerSpec, its serialisable description.
import Tensors

/// Whether a forward pass trains (batch statistics, dropout, saved activations) or infers.
public enum Mode: Sendable { case training, inference }

/// One operation of a graph: forward, backward and a cost function.
///
/// Shapes passed to `outputShape` and `macs` are per sample (no batch dimension). `forward` receives batched
/// tensors (N, …) and saves what `backward` needs; `backward` receives ∂loss/∂output, *adds* into its parameters'
/// gradients, and returns ∂loss/∂input for each input whose flag in `needsInputGradient` is true (nil otherwise).
public protocol Layer: AnyObject {
    /// The kind name used in the model file and by `shrink info` ("conv2d", "linear", …).
    var kind: String { get }
    /// The layer's tensors by PyTorch name ("weight", "bias", "running_mean", …), trainable ones first.
    var parameters: [(name: String, parameter: Parameter)] { get }
    /// The serialisable description (kind and hyper-parameters; no weights).
    var spec: LayerSpec { get }
    /// The per-sample output shape for these per-sample input shapes, or an error naming what was expected.
    func outputShape(for inputShapes: [[Int]]) throws -> [Int]
    /// Multiply-accumulates per sample.
    func macs(for inputShapes: [[Int]]) -> Int
    /// Computes the output of a batch.
    func forward(_ inputs: [Tensor], mode: Mode) -> Tensor
    /// Back-propagates `outputGradient` through the last `forward(mode: .training)`.
    func backward(_ outputGradient: Tensor, needsInputGradient: [Bool]) -> [Tensor?]
}

extension Layer {
    public var parameters: [(name: String, parameter: Parameter)] { [] }
    public func macs(for inputShapes: [[Int]]) -> Int { 0 }
}

/// The serialisable description of a layer: its kind and hyper-parameters. Unused fields are nil.
public struct LayerSpec: Codable, Equatable, Sendable {
    public var kind: String
    public var inputFeatures: Int?
    public var outputFeatures: Int?
    public var inputChannels: Int?
    public var outputChannels: Int?
    public var kernelSize: Int?
    public var stride: Int?
    public var padding: Int?
    public var groups: Int?
    public var bias: Bool?
    public var features: Int?
    public var epsilon: Float?
    public var momentum: Float?
    public var probability: Float?
    public var seed: UInt64?
    /// Bits of a quantizer (`quantize_dequantize`).
    public var bits: Int?
    /// A pointwise activation's parameters: hard-sigmoid's slope and offset, leaky ReLU's negative slope.
    public var alpha: Float?
    public var beta: Float?
    /// Max pooling that rounds its output length up.
    public var ceilMode: Bool?
    /// The input channel of each output channel (`channel_select`).
    public var channels: [Int]?

    public init(kind: String) { self.kind = kind }

    enum CodingKeys: String, CodingKey {
        case kind, stride, padding, groups, bias, features, epsilon, momentum, probability, seed, bits, alpha, beta, channels
        case ceilMode = "ceil_mode"
        case inputFeatures = "input_features", outputFeatures = "output_features"
        case inputChannels = "input_channels", outputChannels = "output_channels"
        case kernelSize = "kernel_size"
    }
}

/// Checks a layer's input count and throws a shape error naming the layer kind.
func expectInputs(_ shapes: [[Int]], count: Int, _ kind: String) throws {
    guard shapes.count == count else {
        throw ShrinkError(.shape, "\(kind) takes \(count) input(s), got \(shapes.count)")
    }
}
