// Tests of BatchSchedule: determinism per seed and epoch, coverage of every index, batch sizes and dropLast.
import Datasets
import Testing
import Tensors

@Test func sameSeedAndEpochGiveTheSameBatches() {
    let first = BatchSchedule(count: 100, batchSize: 8, seed: 42).batches(epoch: 3)
    let second = BatchSchedule(count: 100, batchSize: 8, seed: 42).batches(epoch: 3)
    #expect(first.map(Array.init) == second.map(Array.init))
}

@Test func differentEpochsAndSeedsGiveDifferentOrders() {
    let schedule = BatchSchedule(count: 100, batchSize: 8, seed: 42)
    let epoch0 = schedule.batches(epoch: 0).flatMap { $0 }
    #expect(epoch0 != schedule.batches(epoch: 1).flatMap { $0 })
    #expect(epoch0 != BatchSchedule(count: 100, batchSize: 8, seed: 43).batches(epoch: 0).flatMap { $0 })
}

@Test func orderIsThePermutationOfTheEpochStream() {
    var generator = SeededGenerator(seed: 7, stream: "shuffle-epoch-2")
    let expected = generator.permutation(10)
    #expect(BatchSchedule(count: 10, batchSize: 3, seed: 7).batches(epoch: 2).flatMap { $0 } == expected)
}

@Test func everyIndexAppearsExactlyOnce() {
    let batches = BatchSchedule(count: 103, batchSize: 10, seed: 1).batches(epoch: 5)
    #expect(batches.flatMap { $0 }.sorted() == Array(0..<103))
}

@Test func theLastBatchIsSmallerOrDropped() {
    let kept = BatchSchedule(count: 10, batchSize: 4, seed: 1).batches(epoch: 0)
    #expect(kept.map(\.count) == [4, 4, 2])
    let dropped = BatchSchedule(count: 10, batchSize: 4, seed: 1, dropLast: true)
    #expect(dropped.batches(epoch: 0).map(\.count) == [4, 4])
    #expect(dropped.batchesPerEpoch == 2)
    #expect(BatchSchedule(count: 0, batchSize: 4, seed: 1).batches(epoch: 0).isEmpty)
    #expect(BatchSchedule(count: 3, batchSize: 4, seed: 1, dropLast: true).batches(epoch: 0).isEmpty)
}

@Test func withoutShufflingBatchesFollowIndexOrder() {
    let batches = BatchSchedule(count: 5, batchSize: 2, seed: 9, shuffle: false).batches(epoch: 4)
    #expect(batches.map(Array.init) == [[0, 1], [2, 3], [4]])
}
