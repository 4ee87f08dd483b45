// BatchSchedule: the seeded order in which an epoch visits the samples, cut into batches, so the same seed gives the
// same batches on every run and every epoch draws its order from its own random stream.
import Tensors

/// Seeded mini-batches over `count` samples.
///
/// The order of epoch `e` is `SeededGenerator(seed: seed, stream: "shuffle-epoch-\(e)").permutation(count)` (or
/// `0..<count` without shuffling), cut into consecutive batches of `batchSize`; the last batch is smaller when
/// `batchSize` does not divide `count`, and dropped when `dropLast` is set.
public struct BatchSchedule: Sendable {
    /// The number of samples.
    public var count: Int
    /// The samples per batch.
    public var batchSize: Int
    /// The seed every epoch's order derives from.
    public var seed: UInt64
    /// Whether each epoch visits the samples in a seeded random order (otherwise in index order).
    public var shuffle: Bool
    /// Whether a final batch smaller than `batchSize` is left out.
    public var dropLast: Bool

    /// Creates a schedule.
    ///
    /// - Precondition: `count >= 0` and `batchSize >= 1`; callers validate user-supplied batch sizes first.
    public init(count: Int, batchSize: Int, seed: UInt64, shuffle: Bool = true, dropLast: Bool = false) {
        precondition(count >= 0, "BatchSchedule count must not be negative, got \(count)")
        precondition(batchSize >= 1, "BatchSchedule batchSize must be at least 1, got \(batchSize)")
        self.count = count
        self.batchSize = batchSize
        self.seed = seed
        self.shuffle = shuffle
        self.dropLast = dropLast
    }

    /// The number of batches in one epoch.
    public var batchesPerEpoch: Int { dropLast ? count / batchSize : (count + batchSize - 1) / batchSize }

    /// The sample indices of every batch of epoch `epoch`, in order.
    public func batches(epoch: Int) -> [ArraySlice<Int>] {
        let order: [Int]
        if shuffle {
            var generator = SeededGenerator(seed: seed, stream: "shuffle-epoch-\(epoch)")
            order = generator.permutation(count)
        } else {
            order = Array(0..<count)
        }
        return (0..<batchesPerEpoch).map { batch in
            order[(batch * batchSize)..<min((batch + 1) * batchSize, count)]
        }
    }
}
