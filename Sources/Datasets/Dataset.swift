// Dataset: labelled samples as one input tensor plus integer labels, checked once when built so training never
// meets a bad label or a NaN; and DataSplit, the train/test pair a data spec resolves to.
import Tensors

/// A labelled set of samples.
///
/// `inputs` is Float32 (N, D) for feature vectors or (N, C, H, W) for images; 28×28 grey images are (N, 1, 28, 28).
/// `labels[i]` is the class of sample `i`, in `0..<classCount`.
public struct Dataset: Sendable {
    /// The samples, first dimension N.
    public var inputs: Tensor
    /// The class of each sample, N of them.
    public var labels: [Int32]
    /// The number of classes: the largest label over train and test plus one, or the count given.
    public var classCount: Int

    /// The number of samples N.
    public var count: Int { labels.count }
    /// The shape of one sample: (D) or (C, H, W).
    public var sampleShape: [Int] { Array(inputs.shape.dropFirst()) }

    /// Creates a dataset after checking it.
    ///
    /// - Throws: `ShrinkError.shape` when `inputs` is not rank 2 or 4 or its first dimension is not `labels.count`;
    ///   `ShrinkError.value` for a label outside `0..<classCount` (naming the first such index and value), a
    ///   non-positive `classCount`, or a NaN or infinite input (naming the first such element and its sample).
    public init(inputs: Tensor, labels: [Int32], classCount: Int) throws {
        guard inputs.rank == 2 || inputs.rank == 4 else {
            throw ShrinkError(.shape, "dataset inputs have shape \(inputs.shape); expected rank 2 (N, D) "
                + "or rank 4 (N, C, H, W)")
        }
        guard inputs.shape[0] == labels.count else {
            throw ShrinkError(.shape, "dataset inputs hold \(inputs.shape[0]) samples (shape \(inputs.shape)) but there "
                + "are \(labels.count) labels")
        }
        guard classCount > 0 else {
            throw ShrinkError(.value, "dataset class count is \(classCount); expected at least 1")
        }
        if let index = labels.firstIndex(where: { $0 < 0 || Int($0) >= classCount }) {
            throw ShrinkError(.value, "label \(index) is \(labels[index]); expected a class in 0..<\(classCount)")
        }
        if let element = inputs.firstNonFiniteIndex() {
            let sampleSize = max(inputs.count / max(labels.count, 1), 1)
            throw ShrinkError(.value, "input element \(element) (sample \(element / sampleSize)) is "
                + "\(inputs.scalars[element]); expected finite values")
        }
        self.init(unchecked: inputs, labels: labels, classCount: classCount)
    }

    /// A dataset whose invariants the caller has already established.
    private init(unchecked inputs: Tensor, labels: [Int32], classCount: Int) {
        self.inputs = inputs
        self.labels = labels
        self.classCount = classCount
    }

    /// The first `n` samples (all of them when `n >= count`, none when `n <= 0`), keeping `classCount`.
    public func prefix(_ n: Int) -> Dataset {
        let kept = min(max(n, 0), count)
        if kept == count { return self }
        return Dataset(unchecked: inputs.slice(rows: 0..<kept), labels: Array(labels[0..<kept]), classCount: classCount)
    }

    /// The samples in `range` (clamped to `0..<count`), keeping `classCount`: a held-out part of a split.
    public func rows(_ range: Range<Int>) -> Dataset {
        let lower = min(max(range.lowerBound, 0), count), upper = min(max(range.upperBound, lower), count)
        return Dataset(unchecked: inputs.slice(rows: lower..<upper), labels: Array(labels[lower..<upper]),
                       classCount: classCount)
    }

    /// The samples at `indices`, in that order: inputs (B, …) and their labels.
    ///
    /// - Precondition: every index is in `0..<count` (indices come from a `BatchSchedule`, not from user input).
    public func batch(_ indices: ArraySlice<Int>) -> (inputs: Tensor, labels: [Int32]) {
        precondition(indices.allSatisfy { $0 >= 0 && $0 < count }, "batch index out of range 0..<\(count)")
        return (inputs.gather(rows: indices), indices.map { labels[$0] })
    }
}

extension Dataset: CustomStringConvertible {
    /// `Dataset(60000 × [1, 28, 28], 10 classes)`.
    public var description: String { "Dataset(\(count) × \(sampleShape), \(classCount) classes)" }
}

/// A training set and a test set from one source.
public struct DataSplit: Sendable {
    /// The samples to train on.
    public var train: Dataset
    /// The held-out samples to measure accuracy on.
    public var test: Dataset
    /// Where the data came from: `"fashion-mnist"`, or the file or directory name.
    public var name: String

    /// Creates a split.
    public init(train: Dataset, test: Dataset, name: String) {
        self.train = train
        self.test = test
        self.name = name
    }
}
