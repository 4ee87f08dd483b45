// `shrink qat`: QATPass — quantization-aware training of a float model, then conversion to the integer engine (or
// binarized training and conversion to the XNOR-popcount engine).
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

    @OptionGroup var data: DataOptions

    @Option(help: "Output model file (.safetensors, integer engine); written atomically.")
    var out: String

    @Option(help: "Weight bits, 2…8 (symmetric, per output channel).")
    var weightBits: Int = QATPass().weightBits

    @Option(help: "Activation bits, 2…8 (unsigned, per tensor).")
    var activationBits: Int = QATPass().activationBits

    @Flag(help: "Learned step sizes (LSQ): when the observers freeze, the activation scales and per-channel weight scales become trainable.")
    var learnableScales = false

    @Flag(help: "Ternary weights {−α, 0, +α} per channel (TWN: Δ = 0.7·mean|W|), stored and run as 2-bit codes; replaces --weight-bits.")
    var ternary = false

    @Flag(help: "Binarize the layers between the first and the last (XNOR-popcount inference); the first and last stay at 8 bits.")
    var binary = false

    @Option(help: "Fine-tuning epochs.")
    var epochs: Int = QATPass().epochs

    @Option(help: "Fine-tuning learning rate (default 0.01, SGD with Nesterov momentum; with --binary 0.001, Adam), cosine decay.")
    var lr: Float?

    @Option(help: "Samples per step.")
    var batchSize: Int = QATPass().batchSize

    @Option(help: "Seed of the shuffling.")
    var seed: UInt64 = QATPass().seed

    @OptionGroup var runtime: RuntimeOptions

    var pass: QATPass {
        var p = QATPass()
        p.weightBits = weightBits
        p.activationBits = activationBits
        p.learnableScales = learnableScales
        p.ternary = ternary
        p.binary = binary
        p.epochs = epochs
        p.learningRate = lr
        p.batchSize = batchSize
        p.seed = seed
        return p
    }

    func validate() throws { try validating(pass) }

    func run() throws {
        try reporting {
            runtime.apply()
            try checkWritable(out)
            let result = try pass.run(try ShrinkModel.load(from: model), data: try data.load(),
                                      progress: ProgressPrinter("qat").handler)
            try result.model.save(to: out)
            if let b = result.report.details(as: QATPass.BinaryDetails.self) {
                try emit(result.report, out: out, json: runtime.json, line: String(
                    format: "binarized (%@; 8-bit %@): test accuracy %.2f%% (trained graph %.2f%%, float %.2f%%), "
                        + "predictions agree on %.2f%%; %@ → %@ bytes; saved %@",
                    b.binary_layers.joined(separator: ", "), b.eight_bit_layers.joined(separator: ", "),
                    100 * b.binarized_test_accuracy, 100 * b.trained_test_accuracy, 100 * b.float_test_accuracy,
                    100 * b.agreement, groupedThousands(b.float_bytes), groupedThousands(b.binarized_bytes), out))
                return
            }
            let d = try details(of: result.report, as: QATPass.Details.self)
            let label = (ternary ? "ternary-a\(activationBits)" : "w\(weightBits)a\(activationBits)")
                + (learnableScales ? " LSQ" : "")
            try emit(result.report, out: out, json: runtime.json, line: String(
                format: "%@ QAT: integer test accuracy %.2f%% (fake-quantized %.2f%%, float %.2f%%), predictions agree "
                    + "on %.2f%%; %@ → %@ bytes; saved %@", label, 100 * d.integer_test_accuracy,
                100 * d.fake_quantized_test_accuracy, 100 * d.float_test_accuracy, 100 * d.agreement,
                groupedThousands(d.float_bytes), groupedThousands(d.quantized_bytes), out))
        }
    }
}
