// `shrink eval`: top-1, top-5 and loss of a model file on the test split of a data spec.
import ArgumentParser
import Foundation
import Shrink

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a model file on the test split of a data spec (accuracy as a fraction 0–1 in JSON).")

    @Argument(help: "The model file (.safetensors).")
    var model: String

    @Option(help: "Data spec: fashion-mnist, a directory of IDX files, or an .npz file.")
    var data: String

    @Option(help: "Evaluate on the first N test samples only.")
    var limit: Int?

    @Option(help: "Samples per forward pass.")
    var batchSize: Int = 256

    @Option(help: "Split to evaluate: test or train.")
    var split: String = "test"

    @Option(help: "Also write the logits of every evaluated sample, (N, classes) float32, to this .npy file.")
    var saveLogits: String?

    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        guard batchSize >= 1 && batchSize <= 1 << 20 else {
            throw ValidationError("--batch-size must be in 1…1048576, got \(batchSize)")
        }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
        guard ["test", "train"].contains(split) else { throw ValidationError("--split must be test or train") }
    }

    struct Output: Encodable {
        var accuracy: Double, top5: Double, loss: Double, samples: Int
    }

    func run() throws {
        try reporting {
            runtime.apply()
            let loaded = try LoadedModel(path: model)
            let source = try DataSource.load(data)
            var dataset = split == "test" ? source.test : source.train
            if let limit { dataset = dataset.prefix(limit) }
            if let saveLogits { try checkWritable(saveLogits) }
            let prepared = try loaded.float.prepare(dataset)
            let logits = try loaded.predict(prepared.inputs, batchSize: batchSize)
            let metrics = Shrink.metrics(logits: logits, labels: prepared.labels)
            if let saveLogits {
                try AtomicFile.write(NPY.encode(NPYArray(float32: logits.scalars, shape: logits.shape)), to: saveLogits)
            }
            if runtime.json {
                print(try jsonString(Output(accuracy: metrics.top1, top5: metrics.top5, loss: metrics.loss,
                                            samples: metrics.samples)))
            } else {
                print(String(format: "%@ on %@ (%@, %d samples): accuracy %.2f%%, top-5 %.2f%%, loss %.4f",
                             model, data, split, metrics.samples, 100 * metrics.top1, 100 * metrics.top5, metrics.loss))
            }
        }
    }
}
