// Prediction: a model's top classes, by name, for image files or for the samples of a data spec — what `shrink predict`
// prints. Image files are decoded and resized to the model's input as an image folder's are.
import Datasets
import Foundation
import NeuralNetworks
import Tensors

/// The top classes a model gives one input.
public struct Prediction: Codable, Sendable, Equatable {
    /// One class and its softmax probability.
    public struct Ranked: Codable, Sendable, Equatable {
        public var index: Int
        public var name: String
        public var probability: Double
    }

    /// The image file, or `sample N` of a dataset.
    public var input: String
    /// The most probable classes, most probable first.
    public var classes: [Ranked]
    /// The true class of a dataset sample, when known.
    public var label: String?
}

extension ShrinkModel {
    /// The `top` most probable classes of each image file (JPEG or PNG, resized to the model's input size, read as
    /// grey or RGB as the model takes them).
    ///
    /// - Throws: `ShrinkError` naming a file that cannot be read or decoded, or when the model does not take images.
    public func predict(imageFiles paths: [String], top: Int = 1, batchSize: Int? = nil) throws -> [Prediction] {
        guard inputShape.count == 3, [1, 3].contains(inputShape[0]) else {
            throw ShrinkError(.value, "\(origin) takes inputs of shape \(inputShape); image files need a model of grey "
                + "or RGB images (1 or 3, H, W)")
        }
        let samples = ImageFileSamples(paths: paths, sampleShape: inputShape, sizeGiven: false, channelsGiven: false)
        let dataset = try Dataset(source: samples, labels: [Int32](repeating: 0, count: paths.count),
                                  classCount: classCount)
        return try predict(dataset, names: paths, labels: nil, top: top, batchSize: batchSize)
    }

    /// The `top` most probable classes of each sample of raw `dataset`, with its true class.
    public func predict(on dataset: Dataset, top: Int = 1, batchSize: Int? = nil) throws -> [Prediction] {
        try predict(dataset, names: (0..<dataset.count).map { "sample \($0)" }, labels: dataset.labels, top: top,
                    batchSize: batchSize)
    }

    private func predict(_ dataset: Dataset, names: [String], labels: [Int32]?, top: Int, batchSize: Int?) throws
        -> [Prediction] {
        guard top >= 1 else { throw ShrinkError(.value, "top must be at least 1, got \(top)") }
        let logits = try predict(try prepare(dataset), batchSize: batchSize)
        let classes = classCount, keep = min(top, classes)
        func name(_ index: Int) -> String { float.className(index) }
        return logits.withUnsafeBufferPointer { values in
            names.indices.map { i in
                let row = values[(i * classes)..<((i + 1) * classes)]
                let largest = row.max() ?? 0
                let exps = row.map { Double(Foundation.exp($0 - largest)) }
                let total = exps.reduce(0, +)
                let order = exps.indices.sorted { (exps[$0], -$0) > (exps[$1], -$1) }.prefix(keep)
                return Prediction(input: names[i],
                                  classes: order.map { .init(index: $0, name: name($0), probability: exps[$0] / total) },
                                  label: labels.map { name(Int($0[i])) })
            }
        }
    }
}
