// Metrics: loss, top-1 and top-5 accuracy of a graph on a dataset, in inference mode.
import Datasets
import Tensors

/// Classification metrics over a set of samples. Accuracies are fractions in [0, 1].
public struct Metrics: Sendable, Equatable, Codable {
    public var loss: Double
    public var top1: Double
    public var top5: Double
    public var samples: Int

    public init(loss: Double, top1: Double, top5: Double, samples: Int) {
        self.loss = loss; self.top1 = top1; self.top5 = top5; self.samples = samples
    }
}

/// Counts, for (N, K) logits, how many rows have the label first (top-1) and among the k largest (top-k,
/// k = min(5, K)). A label ties with a larger logit only if strictly smaller values precede it.
public func topKCorrect(logits: Tensor, labels: [Int32], k: Int = 5) -> (top1: Int, topK: Int) {
    let n = logits.shape[0], classes = logits.shape[1], k = min(k, classes)
    precondition(labels.count == n && labels.allSatisfy { $0 >= 0 && Int($0) < classes },
                 "topKCorrect: \(labels.count) labels in 0..<\(classes) needed for \(n) rows")
    var top1 = 0, topK = 0
    logits.withUnsafeBufferPointer { p in
        for row in 0..<n {
            let z = p.baseAddress! + row * classes
            let label = Int(labels[row]), target = z[label]
            var greater = 0, equalBefore = 0
            for j in 0..<classes {
                if z[j] > target { greater += 1 } else if z[j] == target && j < label { equalBefore += 1 }
            }
            let rank = greater + equalBefore
            if rank == 0 { top1 += 1 }
            if rank < k { topK += 1 }
        }
    }
    return (top1, topK)
}

/// The logits (N, K) of `graph` on `inputs` (N, …) in inference mode, computed in batches of `batchSize` with
/// `Graph.infer` (large batches split across `threads`).
public func predict(_ graph: Graph, _ inputs: Tensor, batchSize: Int = 256, threads: Int = BLAS.threads) -> Tensor {
    mapBatches(inputs, batchSize: batchSize, outputShape: graph.outputShape) { graph.infer($0, threads: threads) }
}

/// Runs `body` on consecutive batches of at most `batchSize` rows of `inputs` and stacks the results, each
/// (rows, outputShape…), into one (N, outputShape…) tensor: the batching loop every prediction path shares.
public func mapBatches(_ inputs: Tensor, batchSize: Int, outputShape: [Int], _ body: (Tensor) throws -> Tensor)
    rethrows -> Tensor {
    let n = inputs.shape[0]
    var scalars: [Float] = []
    scalars.reserveCapacity(n * outputShape.reduce(1, *))
    var start = 0
    while start < n {
        let end = min(start + batchSize, n)
        scalars.append(contentsOf: try body(inputs.slice(rows: start..<end)).scalars)
        start = end
    }
    return Tensor(shape: [n] + outputShape, scalars: scalars)
}

/// Cross-entropy loss, top-1 and top-5 accuracy of logits (N, K) against labels [N].
public func metrics(logits: Tensor, labels: [Int32]) -> Metrics {
    let n = labels.count
    guard n > 0 else { return Metrics(loss: 0, top1: 0, top5: 0, samples: 0) }
    let correct = topKCorrect(logits: logits, labels: labels)
    return Metrics(loss: crossEntropy(logits: logits, labels: labels).loss, top1: Double(correct.top1) / Double(n),
                   top5: Double(correct.topK) / Double(n), samples: n)
}

/// Runs `body` on consecutive batches of at most `batchSize` samples of `dataset` (read as `Dataset.batch` reads
/// them, the next one in the background when reading is expensive) and stacks the results into one
/// (N, outputShape…) tensor: only one batch of inputs is in memory at a time.
///
/// - Throws: the dataset's error for a sample it cannot read, or `body`'s.
public func mapBatches(_ dataset: Dataset, batchSize: Int, outputShape: [Int], _ body: (Tensor) throws -> Tensor)
    throws -> Tensor {
    let n = dataset.count, size = max(batchSize, 1)
    var scalars: [Float] = []
    scalars.reserveCapacity(n * outputShape.reduce(1, *))
    let loader = BatchLoader(dataset, batches: stride(from: 0, to: n, by: size).map { Array($0..<min($0 + size, n))[...] })
    while let batch = try loader.next() { scalars.append(contentsOf: try body(batch.inputs).scalars) }
    return Tensor(shape: [n] + outputShape, scalars: scalars)
}

/// The logits (N, K) of `graph` on `dataset`'s samples, a batch at a time (`batchSize`, or by default
/// `graph.inferenceBatchSize()`); see `predict(_:_:batchSize:threads:)`.
public func predict(_ graph: Graph, _ dataset: Dataset, batchSize: Int? = nil, threads: Int = BLAS.threads) throws
    -> Tensor {
    try mapBatches(dataset, batchSize: batchSize ?? graph.inferenceBatchSize(), outputShape: graph.outputShape) {
        graph.infer($0, threads: threads)
    }
}

/// Evaluates `graph` on `dataset` in inference mode with batches of `batchSize` (by default
/// `graph.inferenceBatchSize()`); the loss is cross-entropy.
///
/// - Throws: the dataset's error for a sample it cannot read.
public func evaluate(_ graph: Graph, on dataset: Dataset, batchSize: Int? = nil) throws -> Metrics {
    metrics(logits: try predict(graph, dataset, batchSize: batchSize), labels: dataset.labels)
}

extension Graph {
    /// The activation memory an inference batch is sized for by default.
    public static let inferenceMemory = 256 << 20

    /// The most samples (up to `atMost`) an inference batch can hold while its activations stay near `memory` bytes,
    /// reckoned as four Float32 tensors the size of the largest layer output (input, output and workspace such as a
    /// conv's unfolded patches): 256 for a small network on 28×28 images, a few dozen at 96×96 or 224×224.
    public func inferenceBatchSize(memory: Int = Graph.inferenceMemory, atMost: Int = 256) -> Int {
        let largest = ([inputShape] + outputShapes).map { $0.reduce(1, *) }.max() ?? 1
        return max(1, min(atMost, memory / max(1, 4 * largest * MemoryLayout<Float>.size)))
    }
}
