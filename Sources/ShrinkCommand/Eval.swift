// `shrink eval`: EvaluatePass — top-1, top-5 and loss of a model file on a split of a data spec.
import ArgumentParser
import Foundation
import Shrink

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a model file on the test split of a data spec (accuracy as a fraction 0–1 in JSON).")

    @Argument(help: "The model file (.safetensors).")
    var model: String

    @OptionGroup var data: DataOptions

    @Option(help: "Evaluate on the first N samples only.")
    var limit: Int?

    @Option(help: "Samples per forward pass (default: as many as keep activations near 256 MiB, at most 256).")
    var batchSize: Int?

    @Option(help: "Split to evaluate.")
    var split: SplitKind = EvaluatePass().split

    @Option(help: "Also write the logits of every evaluated sample, (N, classes) float32, to this .npy file.")
    var saveLogits: String?

    @OptionGroup var runtime: RuntimeOptions

    var pass: EvaluatePass {
        var p = EvaluatePass()
        p.split = split
        p.limit = limit
        p.batchSize = batchSize
        return p
    }

    func validate() throws { try validating(pass) }

    func run() throws {
        try reporting {
            runtime.apply()
            let loaded = try ShrinkModel.load(from: model)
            if let saveLogits { try checkWritable(saveLogits) }
            let (logits, metrics) = try pass.logits(of: loaded, data: try data.load())
            if let saveLogits {
                try AtomicFile.write(NPY.encode(NPYArray(float32: logits.scalars, shape: logits.shape)), to: saveLogits)
            }
            if runtime.json {
                print(try jsonString(EvaluatePass.Details(metrics)))
            } else {
                print(String(format: "%@ on %@ (%@, %d samples): accuracy %.2f%%, top-5 %.2f%%, loss %.4f",
                             model, data.data, split.rawValue, metrics.samples, 100 * metrics.top1, 100 * metrics.top5,
                             metrics.loss))
            }
        }
    }
}
