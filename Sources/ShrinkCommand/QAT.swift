// `shrink qat`: quantization-aware training of a float model, then conversion to the integer engine.
import ArgumentParser
import Foundation
import Shrink

struct QAT: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qat",
        abstract: "Quantization-aware training: fine-tune a float model under simulated quantization, then convert it to the integer engine.",
        discussion: """
            BatchNorm is folded first. Every forward fake-quantizes the conv and linear weights per output channel \
            (symmetric, --weight-bits) while the optimizer updates float master weights (straight-through \
            estimator), and the activations on the edges the integer engine quantizes (unsigned, per tensor, \
            --activation-bits) through moving-average observers that freeze after half of the steps. The trained \
            graph converts to the integer engine; the command reports the fake-quantized and the integer model's \
            test accuracy and how often their predictions agree, and saves the integer model.

            With --binary, every conv and linear layer between the first and the last is binarized instead: \
            weights α·sign(W) with α the mean |W| of each output channel, inputs sign(x) with the hard-tanh \
            straight-through estimator; the first and last layers keep 8-bit weights and 8-bit inputs. ReLUs \
            on the way into a binarized layer are removed and BatchNorms inserted after binarized layers and the \
            layers feeding them; their statistics freeze after 90% of the steps. Training uses Adam without \
            weight decay (--lr defaults to 0.001). The saved model runs the binarized layers on the \
            XNOR-popcount kernel and stores their weights at one bit each.
            """)

    @Argument(help: "The float model file (.safetensors).")
    var model: String

    @Option(help: "Data spec: fashion-mnist, a directory of IDX files, or an .npz file.")
    var data: String

    @Option(help: "Output model file (.safetensors, integer engine); written atomically.")
    var out: String

    @Option(help: "Weight bits, 2…8 (symmetric, per output channel).")
    var weightBits: Int = 8

    @Option(help: "Activation bits, 2…8 (unsigned, per tensor).")
    var activationBits: Int = 8

    @Flag(help: "Learned step sizes (LSQ): when the observers freeze, the activation scales and per-channel weight scales become trainable.")
    var learnableScales = false

    @Flag(help: "Ternary weights {−α, 0, +α} per channel (TWN: Δ = 0.7·mean|W|), stored and run as 2-bit codes; replaces --weight-bits.")
    var ternary = false

    @Flag(help: "Binarize the layers between the first and the last (XNOR-popcount inference); the first and last stay at 8 bits.")
    var binary = false

    @Option(help: "Fine-tuning epochs.")
    var epochs: Int = 1

    @Option(help: "Fine-tuning learning rate (default 0.01, SGD with Nesterov momentum; with --binary 0.001, Adam), cosine decay.")
    var lr: Float?

    @Option(help: "Samples per step.")
    var batchSize: Int = 128

    @Option(help: "Seed of the shuffling.")
    var seed: UInt64 = 0

    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        guard (2...8).contains(weightBits) else { throw ValidationError("--weight-bits must be in 2…8, got \(weightBits)") }
        guard (2...8).contains(activationBits) else {
            throw ValidationError("--activation-bits must be in 2…8, got \(activationBits)")
        }
        guard epochs >= 1 && epochs <= 10_000 else { throw ValidationError("--epochs must be in 1…10000, got \(epochs)") }
        if let lr, !(lr > 0 && lr.isFinite) { throw ValidationError("--lr must be positive, got \(lr)") }
        if binary && (learnableScales || ternary) {
            throw ValidationError("--binary trains its own scales (α = mean |W|); --learnable-scales and --ternary apply to uniform QAT")
        }
        if ternary && weightBits != 8 {
            throw ValidationError("--ternary sets the weights to {−α, 0, +α} (2-bit codes); drop --weight-bits")
        }
        if binary && (weightBits != 8 || activationBits != 8) {
            throw ValidationError("--binary sets the bits itself (1 inside, 8 for the first and last layers); drop --weight-bits and --activation-bits")
        }
        guard batchSize >= 1 && batchSize <= 65_536 else {
            throw ValidationError("--batch-size must be in 1…65536, got \(batchSize)")
        }
    }

    struct Output: Encodable {
        var out: String, weight_bits: Int, weights: String, activation_bits: Int, learnable_scales: Bool, epochs: Int
        var float_test_accuracy: Double, fake_quantized_test_accuracy: Double, integer_test_accuracy: Double
        var agreement: Double, test_samples: Int
        var float_bytes: Int, quantized_bytes: Int
    }

    struct BinaryOutput: Encodable {
        var out: String, epochs: Int, binary_layers: [String], eight_bit_layers: [String]
        var float_test_accuracy: Double, trained_test_accuracy: Double, binarized_test_accuracy: Double
        var agreement: Double, test_samples: Int
        var float_bytes: Int, binarized_bytes: Int
    }

    func run() throws {
        try reporting {
            runtime.apply()
            try checkWritable(out)
            let (float, floatFile) = try loadFloatModel(model, advice: "train the float model it came from")
            let split = try DataSource.load(data)
            let train = try float.prepare(split.train), test = try float.prepare(split.test)
            var training = TrainingConfiguration()
            training.epochs = epochs
            training.learningRate = lr ?? (binary ? 0.001 : 0.01)
            training.batchSize = batchSize
            training.warmupEpochs = 0
            training.seed = seed
            if binary {
                training.optimizer = .adam
                training.weightDecay = 0
            }
            let floatAccuracy = evaluate(float.graph, on: test).top1
            if binary { return try runBinary(float, floatFile: floatFile, train: train, test: test, training: training,
                                             floatAccuracy: floatAccuracy) }
            let qat = try quantizationAwareTraining(float, train: train, weightBits: weightBits,
                                                    activationBits: activationBits, training: training,
                                                    learnableScales: learnableScales, ternary: ternary)
            let fake = try qat.predict(test.inputs)
            let integerGraph = try qat.converted()
            let folded = Model(architecture: float.architecture, graph: qat.folded, normalization: float.normalization,
                               provenance: float.provenance + [ProvenanceStep(pass: "qat", settings: [
                                   "weights": qat.weightQuantizer.name, "activation_bits": "\(activationBits)",
                                   "learnable_scales": "\(learnableScales)",
                                   "epochs": "\(epochs)", "lr": "\(training.effectiveLearningRate)", "seed": "\(seed)",
                               ])])
            let quantized = QuantizedModel(float: folded, graph: integerGraph)
            let logits = try quantized.predict(test.inputs)
            try quantized.save(to: out)
            let output = Output(out: out, weight_bits: qat.weightQuantizer.bits, weights: qat.weightQuantizer.name,
                                activation_bits: activationBits, learnable_scales: learnableScales, epochs: epochs,
                                float_test_accuracy: floatAccuracy,
                                fake_quantized_test_accuracy: Shrink.metrics(logits: fake, labels: test.labels).top1,
                                integer_test_accuracy: Shrink.metrics(logits: logits, labels: test.labels).top1,
                                agreement: agreement(fake, logits), test_samples: test.count,
                                float_bytes: floatFile.count, quantized_bytes: try readFile(out).count)
            if runtime.json {
                print(try jsonString(output))
            } else {
                let label = (ternary ? "ternary-a\(activationBits)" : "w\(weightBits)a\(activationBits)")
                    + (learnableScales ? " LSQ" : "")
                print(String(format: "%@ QAT: integer test accuracy %.2f%% (fake-quantized %.2f%%, float %.2f%%), "
                             + "predictions agree on %.2f%%; %@ → %@ bytes; saved %@", label,
                             100 * output.integer_test_accuracy, 100 * output.fake_quantized_test_accuracy,
                             100 * floatAccuracy, 100 * output.agreement, groupedThousands(output.float_bytes),
                             groupedThousands(output.quantized_bytes), out))
            }
        }
    }

    private func runBinary(_ float: Model, floatFile: [UInt8], train: Dataset, test: Dataset,
                           training: TrainingConfiguration, floatAccuracy: Double) throws {
        let trained = try binarizedTraining(float, train: train, training: training)
        let fake = try trained.predict(test.inputs)
        let converted = try trained.converted(settings: [
            "epochs": "\(epochs)", "lr": "\(training.effectiveLearningRate)", "optimizer": "adam", "seed": "\(seed)",
            "binary_layers": trained.binaryLayers.joined(separator: ","),
        ])
        let logits = Shrink.predict(converted.model.graph, test.inputs, batchSize: 256)
        try converted.save(to: out)
        let output = BinaryOutput(out: out, epochs: epochs, binary_layers: trained.binaryLayers,
                                  eight_bit_layers: trained.eightBitLayers, float_test_accuracy: floatAccuracy,
                                  trained_test_accuracy: Shrink.metrics(logits: fake, labels: test.labels).top1,
                                  binarized_test_accuracy: Shrink.metrics(logits: logits, labels: test.labels).top1,
                                  agreement: agreement(fake, logits), test_samples: test.count,
                                  float_bytes: floatFile.count, binarized_bytes: try readFile(out).count)
        if runtime.json {
            print(try jsonString(output))
        } else {
            print(String(format: "binarized (%@; 8-bit %@): test accuracy %.2f%% (trained graph %.2f%%, float %.2f%%), "
                         + "predictions agree on %.2f%%; %@ → %@ bytes; saved %@",
                         trained.binaryLayers.joined(separator: ", "), trained.eightBitLayers.joined(separator: ", "),
                         100 * output.binarized_test_accuracy, 100 * output.trained_test_accuracy, 100 * floatAccuracy,
                         100 * output.agreement, groupedThousands(output.float_bytes),
                         groupedThousands(output.binarized_bytes), out))
        }
    }
}

/// The share of rows of two (N, classes) logit tensors whose arg-max class is the same.
func agreement(_ a: Tensor, _ b: Tensor) -> Double {
    let same = zip(a.argmaxRows(), b.argmaxRows()).filter { $0 == $1 }.count
    return Double(same) / Double(max(a.shape[0], 1))
}
