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

    @Option(help: "Fine-tuning epochs.")
    var epochs: Int = 1

    @Option(help: "Fine-tuning learning rate (SGD with Nesterov momentum, cosine decay).")
    var lr: Float = 0.01

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
        guard lr > 0 && lr.isFinite else { throw ValidationError("--lr must be positive, got \(lr)") }
        guard batchSize >= 1 && batchSize <= 65_536 else {
            throw ValidationError("--batch-size must be in 1…65536, got \(batchSize)")
        }
    }

    struct Output: Encodable {
        var out: String, weight_bits: Int, activation_bits: Int, epochs: Int
        var float_test_accuracy: Double, fake_quantized_test_accuracy: Double, integer_test_accuracy: Double
        var agreement: Double, test_samples: Int
        var float_bytes: Int, quantized_bytes: Int
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
            training.learningRate = lr
            training.batchSize = batchSize
            training.warmupEpochs = 0
            training.seed = seed
            let floatAccuracy = evaluate(float.graph, on: test).top1
            let qat = try quantizationAwareTraining(float, train: train, weightBits: weightBits,
                                                    activationBits: activationBits, training: training)
            let fake = try qat.predict(test.inputs)
            let integerGraph = try qat.converted()
            let folded = Model(architecture: float.architecture, graph: qat.folded, normalization: float.normalization,
                               provenance: float.provenance + [ProvenanceStep(pass: "qat", settings: [
                                   "weight_bits": "\(weightBits)", "activation_bits": "\(activationBits)",
                                   "epochs": "\(epochs)", "lr": "\(lr)", "seed": "\(seed)",
                               ])])
            let quantized = QuantizedModel(float: folded, graph: integerGraph)
            let logits = try quantized.predict(test.inputs)
            try quantized.save(to: out)
            func predictions(_ t: Tensor) -> [Int] {
                let k = t.shape[1]
                return (0..<t.shape[0]).map { i in
                    var best = 0
                    for j in 1..<k where t.scalars[i * k + j] > t.scalars[i * k + best] { best = j }
                    return best
                }
            }
            let agree = zip(predictions(fake), predictions(logits)).filter { $0 == $1 }.count
            let output = Output(out: out, weight_bits: weightBits, activation_bits: activationBits, epochs: epochs,
                                float_test_accuracy: floatAccuracy,
                                fake_quantized_test_accuracy: Shrink.metrics(logits: fake, labels: test.labels).top1,
                                integer_test_accuracy: Shrink.metrics(logits: logits, labels: test.labels).top1,
                                agreement: Double(agree) / Double(max(test.count, 1)), test_samples: test.count,
                                float_bytes: floatFile.count, quantized_bytes: try readFile(out).count)
            if runtime.json {
                print(try jsonString(output))
            } else {
                print(String(format: "w%da%d QAT: integer test accuracy %.2f%% (fake-quantized %.2f%%, float %.2f%%), "
                             + "predictions agree on %.2f%%; %@ → %@ bytes; saved %@", weightBits, activationBits,
                             100 * output.integer_test_accuracy, 100 * output.fake_quantized_test_accuracy,
                             100 * floatAccuracy, 100 * output.agreement, groupedThousands(output.float_bytes),
                             groupedThousands(output.quantized_bytes), out))
            }
        }
    }
}
