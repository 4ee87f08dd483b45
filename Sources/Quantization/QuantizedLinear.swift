// QuantizedLinear: the integer engine's fully connected layer — uint8 activations × int8 weights (per-channel
// symmetric) → int32 → requantized uint8, with the bias and a following ReLU folded in (see QuantizedWeights).
import NeuralNetworks
import Tensors

/// An integer fully connected layer: `IntegerGEMM.u8s8` then `QuantizedWeights` requantization.
public struct QuantizedLinear: Sendable {
    public let weights: QuantizedWeights
    /// The weight as a model file stores it.
    public let weight: IntegerWeightTensor
    public var inputFeatures: Int { weights.depth }
    public var outputFeatures: Int { weights.channels }

    /// A float `Linear` with integer weights (`weight`, e.g. from `WeightScheme.quantize` or a model file) for
    /// per-tensor uint8 `input` and `output` parameters, optionally with a following ReLU (`clampCap: .infinity`) or
    /// ReLU6 (`6`) fused in.
    public init(_ linear: Linear, weight: IntegerWeightTensor, input: QuantizationParameters,
                output: QuantizationParameters, clampCap: Float? = nil) throws {
        guard weight.shape == linear.weight.value.shape else {
            throw ShrinkError(.shape, "integer weight of shape \(weight.shape) for a linear layer of weight shape "
                + "\(linear.weight.value.shape)")
        }
        self.weight = weight
        weights = try QuantizedWeights(weight, channels: 0..<linear.outputFeatures, bias: linear.bias?.value,
                                       input: input, output: output, clampCap: clampCap)
    }

    /// `init(_:weight:…)` with the weights quantized by `scheme` (8-bit per-channel min/max by default).
    public init(_ linear: Linear, input: QuantizationParameters, output: QuantizationParameters,
                clampCap: Float? = nil, scheme: WeightScheme? = nil) throws {
        try self.init(linear, weight: try (scheme ?? WeightScheme()).quantize(linear.weight.value), input: input,
                      output: output, clampCap: clampCap)
    }

    private init(weights: QuantizedWeights, weight: IntegerWeightTensor) {
        self.weights = weights
        self.weight = weight
    }

    /// This layer for inputs whose features arrive in another order (column `p` holds float input `order[p]`),
    /// such as a channels-last feature map flattened.
    public func readingInputs(in order: [Int]) -> QuantizedLinear {
        QuantizedLinear(weights: weights.readingColumns(in: order), weight: weight)
    }

    /// Runs a batch: `x` holds N rows of `inputFeatures` codes; returns N rows of `outputFeatures` codes.
    /// Every GEMM backend gives the same bytes.
    public func forward(_ x: [UInt8], batch n: Int, backend: IntegerGEMMBackend = .native) -> [UInt8] {
        precondition(x.count == n * inputFeatures, "QuantizedLinear: \(x.count) codes for \(n) × \(inputFeatures)")
        return [UInt8](unsafeUninitializedCapacity: n * outputFeatures) { py, initialized in
            x.withUnsafeBufferPointer { px in
                weights.apply(px.baseAddress!, rows: n, lda: inputFeatures, into: py.baseAddress!, ldo: outputFeatures,
                              backend: backend)
            }
            initialized = n * outputFeatures
        }
    }
}
