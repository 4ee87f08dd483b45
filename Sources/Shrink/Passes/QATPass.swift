// QATPass: quantization-aware training of a float model, then its conversion to the integer engine — or, with
// `binary`, binarized training and its conversion to the XNOR-popcount engine — with the provenance of the run.
import Datasets
import Foundation
import NeuralNetworks
import Quantization
import Tensors

/// Quantization-aware training (uniform 2–8-bit, ternary, LSQ scales) or binarized training of a float model.
///
/// BatchNorm is folded first. Every forward fake-quantizes the conv and linear weights per output channel while
/// the optimizer updates float master weights (straight-through estimator), and the activations on the edges the
/// integer engine quantizes through moving-average observers that freeze after half of the steps. The trained graph
/// converts to the integer engine. With `binary`, the layers between the first and the last are binarized instead
/// (first and last at 8 bits); training then uses Adam without weight decay (learning rate 0.001 by default).
public struct QATPass: RecipePass {
    public static let name = "qat"
    public var weightBits = 8
    public var activationBits = 8
    /// Learned step sizes (LSQ) once the observers freeze.
    public var learnableScales = false
    /// Ternary weights {−α, 0, +α} (TWN), stored as 2-bit codes; replaces `weightBits`.
    public var ternary = false
    /// Binarize the layers between the first and the last.
    public var binary = false
    public var epochs = 1
    /// Fine-tuning learning rate; nil: 0.01 (SGD with Nesterov momentum), with `binary` 0.001 (Adam).
    public var learningRate: Float?
    public var batchSize = 128
    public var seed: UInt64 = 0

    public init() {}

    public static let optionKeys = ["weight_bits", "activation_bits", "learnable_scales", "ternary", "binary", "epochs",
                                    "lr", "batch_size", "seed"]

    public init(options: inout PassOptions) throws {
        weightBits = try options.int("weight_bits") ?? weightBits
        activationBits = try options.int("activation_bits") ?? activationBits
        learnableScales = try options.bool("learnable_scales") ?? learnableScales
        ternary = try options.bool("ternary") ?? ternary
        binary = try options.bool("binary") ?? binary
        epochs = try options.int("epochs") ?? epochs
        learningRate = try options.float("lr")
        batchSize = try options.int("batch_size") ?? batchSize
        seed = try options.uint64("seed") ?? seed
    }

    public func fast() -> QATPass {
        var copy = self
        copy.epochs = min(epochs, 1)
        return copy
    }

    public func validate() throws {
        try check(weightBits, in: 2...8, "weight_bits")
        try check(activationBits, in: 2...8, "activation_bits")
        try check(epochs, in: 1...10_000, "epochs")
        if let learningRate { try checkPositive(learningRate, "lr") }
        try check(batchSize, in: 1...65_536, "batch_size")
        if binary && (learnableScales || ternary) {
            throw ShrinkError(.value, "binary trains its own scales (α = mean |W|); learnable_scales and ternary apply "
                + "to uniform QAT")
        }
        if ternary && weightBits != 8 {
            throw ShrinkError(.value, "ternary sets the weights to {−α, 0, +α} (2-bit codes); drop weight_bits")
        }
        if binary && (weightBits != 8 || activationBits != 8) {
            throw ShrinkError(.value, "binary sets the bits itself (1 inside, 8 for the first and last layers); drop "
                + "weight_bits and activation_bits")
        }
    }

    /// The fine-tuning's configuration.
    public var training: TrainingConfiguration {
        var c = TrainingConfiguration()
        c.epochs = epochs
        c.learningRate = learningRate ?? (binary ? 0.001 : 0.01)
        c.batchSize = batchSize
        c.warmupEpochs = 0
        c.seed = seed
        if binary {
            c.optimizer = .adam
            c.weightDecay = 0
        }
        return c
    }

    /// The `shrink qat --json` document.
    public struct Details: Encodable, Sendable {
        public var weight_bits: Int, weights: String, activation_bits: Int, learnable_scales: Bool, epochs: Int
        public var float_test_accuracy: Double, fake_quantized_test_accuracy: Double, integer_test_accuracy: Double
        public var agreement: Double, test_samples: Int
        public var float_bytes: Int, quantized_bytes: Int
    }

    /// The `shrink qat --binary --json` document.
    public struct BinaryDetails: Encodable, Sendable {
        public var epochs: Int, binary_layers: [String], eight_bit_layers: [String]
        public var float_test_accuracy: Double, trained_test_accuracy: Double, binarized_test_accuracy: Double
        public var agreement: Double, test_samples: Int
        public var float_bytes: Int, binarized_bytes: Int
    }

    public func run(_ model: ShrinkModel?, data: DataSplit?, progress: @escaping ProgressHandler) throws -> PassResult {
        try validate()
        let input = try required(model), split = try required(data)
        let float = try input.floatModel(advice: "train the float model it came from")
        let train = try float.prepare(split.train), test = try float.prepare(split.test)
        let training = self.training
        let floatTest = try evaluate(float.graph, on: test), floatAccuracy = floatTest.top1
        progress(PassProgress(pass: Self.name, message: binary ? "binarized training, \(epochs) epochs"
            : "quantization-aware training, \(epochs) epochs"))
        if binary {
            let trained = try binarizedTraining(float, train: train, training: training)
            let fake = try trained.predict(test.inputs)
            let settings = [
                "epochs": "\(epochs)", "lr": "\(training.effectiveLearningRate)", "optimizer": "adam", "seed": "\(seed)",
                "binary_layers": trained.binaryLayers.joined(separator: ","),
            ]
            let result = try ShrinkModel(try trained.converted(settings: settings))
            let logits = try result.predict(test.inputs)
            let details = BinaryDetails(
                epochs: epochs, binary_layers: trained.binaryLayers, eight_bit_layers: trained.eightBitLayers,
                float_test_accuracy: floatAccuracy, trained_test_accuracy: metrics(logits: fake, labels: test.labels).top1,
                binarized_test_accuracy: metrics(logits: logits, labels: test.labels).top1,
                agreement: agreement(fake, logits), test_samples: test.count, float_bytes: input.bytes.count,
                binarized_bytes: result.bytes.count)
            return PassResult(model: result, report: PassReport(
                pass: Self.name, settings: result.provenance.last?.settings ?? settings,
                before: ModelFigures(input.cost, test: floatTest),
                after: ModelFigures(result.cost, test: metrics(logits: logits, labels: test.labels)), details: details))
        }
        let qat = try quantizationAwareTraining(float, train: train, weightBits: weightBits,
                                                activationBits: activationBits, training: training,
                                                learnableScales: learnableScales, ternary: ternary)
        let fake = try qat.predict(test.inputs)
        let settings = [
            "weights": qat.weightQuantizer.name, "activation_bits": "\(activationBits)",
            "learnable_scales": "\(learnableScales)", "epochs": "\(epochs)",
            "lr": "\(training.effectiveLearningRate)", "seed": "\(seed)",
        ]
        let folded = float.with(graph: qat.folded,
                                provenance: float.provenance + [ProvenanceStep(pass: Self.name, settings: settings)])
        let result = try ShrinkModel(QuantizedModel(float: folded, graph: try qat.converted()))
        let logits = try result.predict(test.inputs)
        let details = Details(
            weight_bits: qat.weightQuantizer.bits, weights: qat.weightQuantizer.name, activation_bits: activationBits,
            learnable_scales: learnableScales, epochs: epochs, float_test_accuracy: floatAccuracy,
            fake_quantized_test_accuracy: metrics(logits: fake, labels: test.labels).top1,
            integer_test_accuracy: metrics(logits: logits, labels: test.labels).top1, agreement: agreement(fake, logits),
            test_samples: test.count, float_bytes: input.bytes.count, quantized_bytes: result.bytes.count)
        return PassResult(model: result, report: PassReport(
            pass: Self.name, settings: settings, before: ModelFigures(input.cost, test: floatTest),
            after: ModelFigures(result.cost, test: metrics(logits: logits, labels: test.labels)), details: details))
    }
}
