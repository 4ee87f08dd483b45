// Dataset: labelled samples read a batch at a time from a SampleSource (a tensor, uint8 bytes, an array file, image
// files), with the normalisation and — for training batches — the augmentation applied as each batch is read; and
// DataSplit, the train/test pair a data spec resolves to. Labels are checked once when a dataset is built, so training
// never meets a bad label; a tensor's NaNs are refused then too.
import Tensors

/// A labelled set of samples.
///
/// Samples are (D) feature vectors or (C, H, W) images; 28×28 grey images are (1, 28, 28). `labels[i]` is the class
/// of sample `i`, in `0..<classCount`. The samples stay where `source` keeps them — in memory as Float32 or as bytes,
/// in a file, or as image files — and become Float32 a batch at a time (`batch(_:)`), normalised by `normalization`
/// when it is set. `inputs` is all of them as one tensor, for sets small enough to hold that way.
public struct Dataset: Sendable {
    /// Where the samples are read from.
    public private(set) var source: any SampleSource
    /// The rows of `source` this dataset covers (a prefix or a held-out part of a split shares the source).
    public private(set) var window: Range<Int>
    /// The class of each sample, `count` of them.
    public private(set) var labels: [Int32]
    /// The number of classes: the largest label over train and test plus one, or the count given.
    public var classCount: Int
    /// The name of each class, when the data names them (image folders, lists with class names).
    public var classNames: [String]?
    /// Applied to every sample read, after any augmentation; nil leaves samples as the source gives them.
    public var normalization: Normalization?
    /// Applied to training batches only (`batch(_:epoch:seed:)`); never to evaluation, calibration or teachers.
    public var augmentation: Augmentation?
    /// Where the samples came from, for errors: "PATH (train split)" for loaded data; nil for data made in code.
    public var origin: String?

    /// The number of samples N.
    public var count: Int { labels.count }
    /// The shape of one sample: (D) or (C, H, W).
    public var sampleShape: [Int] { source.sampleShape }
    /// The bytes the samples take as Float32.
    public var floatBytes: Int { count * sampleShape.reduce(1, *) * MemoryLayout<Float>.size }

    /// Creates a dataset of samples held in a tensor, after checking it.
    ///
    /// - Throws: `ShrinkError.shape` when `inputs` is not rank 2 or 4 or its first dimension is not `labels.count`;
    ///   `ShrinkError.value` for a label outside `0..<classCount` (naming the first such index and value), a
    ///   non-positive `classCount`, or a NaN or infinite input (naming the first such element and its sample).
    public init(inputs: Tensor, labels: [Int32], classCount: Int, classNames: [String]? = nil) throws {
        guard inputs.rank == 2 || inputs.rank == 4 else {
            throw ShrinkError(.shape, "dataset inputs have shape \(inputs.shape); expected rank 2 (N, D) "
                + "or rank 4 (N, C, H, W)")
        }
        guard inputs.shape[0] == labels.count else {
            throw ShrinkError(.shape, "dataset inputs hold \(inputs.shape[0]) samples (shape \(inputs.shape)) but there "
                + "are \(labels.count) labels")
        }
        try self.init(source: TensorSamples(inputs), labels: labels, classCount: classCount, classNames: classNames)
    }

    /// Creates a dataset over every sample of `source`, after checking the labels.
    ///
    /// - Throws: `ShrinkError.shape` when `source` does not hold `labels.count` samples of rank 1 or 3;
    ///   `ShrinkError.value` for a label outside `0..<classCount`, a non-positive `classCount`, or `classNames` whose
    ///   count is not `classCount`.
    public init(source: any SampleSource, labels: [Int32], classCount: Int, classNames: [String]? = nil) throws {
        guard source.sampleShape.count == 1 || source.sampleShape.count == 3 else {
            throw ShrinkError(.shape, "dataset samples have shape \(source.sampleShape); expected (D) or (C, H, W)")
        }
        guard source.count == labels.count else {
            throw ShrinkError(.shape, "the data holds \(source.count) samples but there are \(labels.count) labels")
        }
        guard classCount > 0 else {
            throw ShrinkError(.value, "dataset class count is \(classCount); expected at least 1")
        }
        if let index = labels.firstIndex(where: { $0 < 0 || Int($0) >= classCount }) {
            throw ShrinkError(.value, "label \(index) is \(labels[index]); expected a class in 0..<\(classCount)")
        }
        if let classNames, classNames.count != classCount {
            throw ShrinkError(.value, "\(classNames.count) class names for \(classCount) classes")
        }
        if let inputs = source.tensor, let element = inputs.firstNonFiniteIndex() {
            let sampleSize = max(inputs.count / max(labels.count, 1), 1)
            throw ShrinkError(.value, "input element \(element) (sample \(element / sampleSize)) is "
                + "\(inputs.scalars[element]); expected finite values")
        }
        self.source = source
        self.window = 0..<source.count
        self.labels = labels
        self.classCount = classCount
        self.classNames = classNames
    }

    /// The first `n` samples (all of them when `n >= count`, none when `n <= 0`), keeping the rest of the settings.
    public func prefix(_ n: Int) -> Dataset { rows(0..<max(n, 0)) }

    /// The samples in `range` (clamped to `0..<count`): a held-out part of a split.
    public func rows(_ range: Range<Int>) -> Dataset {
        let lower = min(max(range.lowerBound, 0), count), upper = min(max(range.upperBound, lower), count)
        if lower == 0 && upper == count { return self }
        var copy = self
        copy.window = (window.lowerBound + lower)..<(window.lowerBound + upper)
        copy.labels = Array(labels[lower..<upper])
        return copy
    }

    /// The same samples read at `shape` when the source can produce it (image files given no size take the size of
    /// the model they meet); otherwise the dataset unchanged, for the caller's shape check to report.
    public func conformed(to shape: [Int]) -> Dataset {
        guard shape != sampleShape, let resized = source.conformed(to: shape) else { return self }
        var copy = self
        copy.source = resized
        return copy
    }

    /// The most bytes of Float32 samples `normalized(_:)` converts at once and holds; a larger dataset stays where it
    /// is and is normalised a batch at a time as it is read.
    public static let inMemoryBytes = 256 << 20

    /// The dataset with `normalization` applied to what it reads (replacing any before), after any augmentation of
    /// training batches (so padding is black whatever the source). Converted and held as one tensor at once when it
    /// is not augmented and its samples take at most `inMemoryBytes` as Float32 (the same values either way).
    ///
    /// - Throws: `ShrinkError` when the normalisation does not fit the samples, or the source's error for a sample
    ///   it cannot read.
    public func normalized(_ normalization: Normalization, holdingUpTo inMemoryBytes: Int = Dataset.inMemoryBytes)
        throws -> Dataset {
        try normalization.check(sampleShape: sampleShape)
        var data = self
        data.normalization = normalization
        guard data.floatBytes <= inMemoryBytes, augmentation == nil else { return data }
        var held = try Dataset(source: TensorSamples(try data.inputs), labels: labels, classCount: classCount,
                               classNames: classNames)
        held.origin = origin
        return held
    }

    /// The samples at `indices` (in `0..<count`), in that order, normalised: inputs (B, …) and their labels. No
    /// augmentation.
    ///
    /// - Throws: the source's error for a sample it cannot read (an image file that does not decode, naming it).
    public func batch(_ indices: some Collection<Int>) throws -> (inputs: Tensor, labels: [Int32]) {
        try read(indices, augmentation: nil)
    }

    /// A training batch: like `batch(_:)` with `augmentation` applied, each sample's random choices drawn from its own
    /// stream of `seed` for `epoch` and its index, so a batch is the same whatever the thread count or batch order.
    public func batch(_ indices: some Collection<Int>, epoch: Int, seed: UInt64) throws -> (inputs: Tensor, labels: [Int32]) {
        try read(indices, augmentation: augmentation.map { ($0, epoch, seed) })
    }

    /// The samples `range` (clamped), normalised, as one tensor.
    public func inputs(_ range: Range<Int>) throws -> Tensor {
        let lower = min(max(range.lowerBound, 0), count), upper = min(max(range.upperBound, lower), count)
        return try batch(lower..<upper).inputs
    }

    /// Every sample, normalised, as one tensor (N, …) — for sets small enough to hold as Float32 (`floatBytes`); use
    /// batches for the others. A source that holds a tensor gives it without a copy when nothing is to be applied.
    ///
    /// - Throws: the source's error for a sample it cannot read.
    public var inputs: Tensor {
        get throws {
            if normalization == nil, window == 0..<source.count, let tensor = source.tensor { return tensor }
            return try batch(0..<count).inputs
        }
    }

    private func read(_ indices: some Collection<Int>, augmentation: (Augmentation, Int, UInt64)?) throws
        -> (inputs: Tensor, labels: [Int32]) {
        let positions = Array(indices)
        if let bad = positions.first(where: { $0 < 0 || $0 >= count }) {
            throw ShrinkError(.value, "sample index \(bad) is outside 0..<\(count)")
        }
        let shape = sampleShape, size = shape.reduce(1, *)
        var batch = Tensor(uninitialized: [positions.count] + shape)
        let source = self.source, offset = window.lowerBound
        var failure: (Int, Error)?
        batch.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            func readRange(_ range: Range<Int>) -> (Int, Error)? {
                for k in range {
                    let index = positions[k]
                    do {
                        if let (augment, epoch, seed) = augmentation {
                            var generator = SeededGenerator(seed: seed, stream: "augment-\(epoch)-\(offset + index)")
                            try augment.apply(to: try source.planes(offset + index), shape: shape,
                                              generator: &generator, into: base + k * size)
                        } else {
                            try source.read(offset + index, into: base + k * size)
                        }
                    } catch { return (k, error) }
                }
                return nil
            }
            if source.readsAreExpensive || augmentation != nil {
                let chunks = Parallel.chunkCount(count: positions.count)
                var failures = [(Int, Error)?](repeating: nil, count: chunks)
                failures.withUnsafeMutableBufferPointer { slots in
                    nonisolated(unsafe) let slots = slots
                    Parallel.forEachChunk(count: positions.count) { chunk, range in slots[chunk] = readRange(range) }
                }
                failure = failures.compactMap { $0 }.first
            } else {
                failure = readRange(0..<positions.count)
            }
        }
        if let (_, error) = failure { throw error }
        if let normalization { try normalization.apply(to: &batch) }
        return (batch, positions.map { labels[$0] })
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
    /// What loading noticed and a user should hear: files skipped, sizes chosen.
    public var notes: [String] = []

    /// Creates a split.
    public init(train: Dataset, test: Dataset, name: String) {
        self.train = train
        self.test = test
        self.name = name
    }

    /// The class names of the data, when it names its classes.
    public var classNames: [String]? { train.classNames }

    /// Both splits read at `shape` where their sources can produce it (see `Dataset.conformed(to:)`).
    public func conformed(to shape: [Int]) -> DataSplit {
        var copy = self
        copy.train = train.conformed(to: shape)
        copy.test = test.conformed(to: shape)
        return copy
    }
}
