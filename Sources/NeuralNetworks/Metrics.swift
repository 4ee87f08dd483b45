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

/// Evaluates `graph` on `dataset` in inference mode with batches of `batchSize`; the loss is cross-entropy.
public func evaluate(_ graph: Graph, on dataset: Dataset, batchSize: Int = 256) -> Metrics {
    var loss = 0.0, top1 = 0, topK = 0
    var start = 0
    while start < dataset.count {
        let end = min(start + batchSize, dataset.count)
        let (inputs, labels) = dataset.batch(Array(start..<end)[...])
        let logits = graph.forward(inputs, mode: .inference)
        loss += crossEntropy(logits: logits, labels: labels).loss * Double(end - start)
        let correct = topKCorrect(logits: logits, labels: labels)
        top1 += correct.top1
        topK += correct.topK
        start = end
    }
    let n = Double(max(dataset.count, 1))
    return Metrics(loss: loss / n, top1: Double(top1) / n, top5: Double(topK) / n, samples: dataset.count)
}
