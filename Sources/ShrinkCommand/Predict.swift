// `shrink predict`: a model's top classes, by name, for image files or for the first samples of a data spec.
import ArgumentParser
import Foundation
import Shrink

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a model's most probable classes (by name when its training data named them) for image files "
            + "or for samples of a data spec.",
        discussion: """
            Image files (JPEG or PNG) are resized to the model's input size and read as grey or RGB as the model \
            takes them. With --data, the samples of a split are classified and their true classes printed beside. \
            Examples: shrink predict model.safetensors photos/cat.jpg photos/dog.png; \
            shrink predict model.safetensors --data photos --limit 10
            """)

    @Argument(help: "The model file (.safetensors).")
    var model: String

    @Argument(help: "Image files to classify.")
    var images: [String] = []

    @Option(help: "Classify the samples of this data spec instead of image files (see shrink train --help).")
    var data: String?

    @OptionGroup var flags: DataFlags

    @Option(help: "Split of --data to classify.")
    var split: SplitKind = .test

    @Option(help: "Classify the first N samples of --data only.")
    var limit: Int = 20

    @Option(help: "Classes to print per input, most probable first.")
    var top: Int = 1

    @Option(help: "Inputs per forward pass (default: as many as keep activations near 256 MiB, at most 256).")
    var batchSize: Int?

    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        guard images.isEmpty != (data == nil) else {
            throw ValidationError("give image files or --data, not both and not neither")
        }
        if let data { try flags.check(data) } else if !flags.isEmpty {
            throw ValidationError("--image-size, --channels, --skip-corrupt and --augment apply to --data; image files "
                + "are read at the model's input size")
        }
        guard top >= 1 else { throw ValidationError("--top must be at least 1, got \(top)") }
        guard limit >= 1 else { throw ValidationError("--limit must be at least 1, got \(limit)") }
        if let batchSize, batchSize < 1 { throw ValidationError("--batch-size must be at least 1, got \(batchSize)") }
    }

    func run() throws {
        try reporting {
            runtime.apply()
            let loaded = try ShrinkModel.load(from: model)
            let predictions: [Prediction]
            if let data {
                let loadedData = try flags.load(data)
                let dataset = (split == .test ? loadedData.test : loadedData.train).prefix(limit)
                predictions = try loaded.predict(on: dataset, top: top, batchSize: batchSize)
            } else {
                predictions = try loaded.predict(imageFiles: images, top: top, batchSize: batchSize)
            }
            if runtime.json {
                print(try jsonString(predictions))
                return
            }
            for prediction in predictions {
                let ranked = prediction.classes.map { String(format: "%@ %.1f%%", $0.name, 100 * $0.probability) }
                let truth = prediction.label.map { "  (true: \($0))" } ?? ""
                print("\(prediction.input): \(ranked.joined(separator: ", "))\(truth)")
            }
        }
    }
}
