// BatchLoader: the batches of one epoch read in order, each read on a background thread while the one before it is
// used, when reading costs more than a copy (decoding image files, reading an array file, augmenting) — so decoding
// overlaps training. The batches are the same with or without the background thread.
import Dispatch
import Tensors

/// Reads `batches` of `dataset` in order; with an `epoch`, training batches (`Dataset.batch(_:epoch:seed:)`).
public final class BatchLoader {
    /// One batch, read.
    public struct Batch {
        public var inputs: Tensor
        public var labels: [Int32]
        public var indices: ArraySlice<Int>
    }

    private let dataset: Dataset
    private let batches: [ArraySlice<Int>]
    private let epoch: Int?
    private let seed: UInt64
    private let ahead: Bool
    private var position = 0
    private var pending: Pending?
    private static let queue = DispatchQueue(label: "shrink.batch-loader")

    /// A batch being read in the background.
    private final class Pending: @unchecked Sendable {
        var result: Result<(Tensor, [Int32]), Error>?
        let done = DispatchSemaphore(value: 0)
    }

    /// - Parameters:
    ///   - epoch: training batches of this epoch (augmented when the dataset has augmentation), or nil for plain ones.
    ///   - readAhead: read the next batch in the background; nil: when the dataset's reads are expensive or it
    ///     augments.
    public init(_ dataset: Dataset, batches: [ArraySlice<Int>], epoch: Int? = nil, seed: UInt64 = 0,
                readAhead: Bool? = nil) {
        self.dataset = dataset
        self.batches = batches
        self.epoch = epoch
        self.seed = seed
        self.ahead = readAhead ?? (dataset.source.readsAreExpensive || (epoch != nil && dataset.augmentation != nil))
    }

    deinit {
        // A batch still being read must finish before the loader (and the dataset it reads) goes.
        if let pending { pending.done.wait() }
    }

    /// The next batch, or nil after the last.
    ///
    /// - Throws: the dataset's error for a sample it cannot read.
    public func next() throws -> Batch? {
        guard position < batches.count else { return nil }
        let indices = batches[position]
        let read: (Tensor, [Int32])
        if let pending {
            pending.done.wait()
            self.pending = nil
            guard let result = pending.result else { throw ShrinkError(.io, "a batch read in the background was lost") }
            read = try result.get()
        } else {
            read = try Self.read(dataset, indices, epoch: epoch, seed: seed)
        }
        position += 1
        if ahead && position < batches.count { start(batches[position]) }
        return Batch(inputs: read.0, labels: read.1, indices: indices)
    }

    private func start(_ indices: ArraySlice<Int>) {
        let pending = Pending()
        self.pending = pending
        let dataset = dataset, epoch = epoch, seed = seed
        Self.queue.async {
            pending.result = Result { try Self.read(dataset, indices, epoch: epoch, seed: seed) }
            pending.done.signal()
        }
    }

    private static func read(_ dataset: Dataset, _ indices: ArraySlice<Int>, epoch: Int?, seed: UInt64) throws
        -> (Tensor, [Int32]) {
        if let epoch { return try dataset.batch(indices, epoch: epoch, seed: seed) }
        return try dataset.batch(indices)
    }
}
