// The seeded generator: same seed → same numbers (on every run: golden values), unbiased ranges, permutations.
import Tensors
import Testing

@Suite struct RandomTests {
    @Test func sameSeedGivesTheSameSequenceOnEveryRun() {
        var a = SeededGenerator(seed: 42), b = SeededGenerator(seed: 42)
        let first = (0..<5).map { _ in a.next() }
        #expect(first == (0..<5).map { _ in b.next() })
        // Golden values: a change here breaks reproducibility of every saved experiment.
        var g = SeededGenerator(seed: 0)
        #expect(g.next() == 11_091_344_671_253_066_420)  // xoshiro256** over SplitMix64(0), checked in Python
    }

    @Test func streamsAreIndependent() {
        var a = SeededGenerator(seed: 1, stream: "init"), b = SeededGenerator(seed: 1, stream: "shuffle")
        #expect(a.next() != b.next())
    }

    @Test func uniformAndNormalHaveTheRightMoments() {
        var g = SeededGenerator(seed: 3)
        let u = (0..<20_000).map { _ in Double(g.nextUniform()) }
        #expect(u.allSatisfy { $0 >= 0 && $0 < 1 })
        #expect(abs(u.reduce(0, +) / 20_000 - 0.5) < 0.01)
        let n = (0..<20_000).map { _ in Double(g.nextNormal()) }
        let mean = n.reduce(0, +) / 20_000
        let variance = n.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 20_000
        #expect(abs(mean) < 0.03 && abs(variance - 1) < 0.05)
    }

    @Test func permutationVisitsEveryIndexOnce() {
        var g = SeededGenerator(seed: 5)
        let p = g.permutation(1000)
        #expect(p.sorted() == Array(0..<1000))
        #expect(p != Array(0..<1000))
        #expect(g.permutation(0).isEmpty && g.permutation(1) == [0])
        for bound in [1, 2, 7, 1000] { #expect((0..<100).allSatisfy { _ in g.nextInt(below: bound) < bound }) }
    }
}
