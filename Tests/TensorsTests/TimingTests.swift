// measureCalls: how many calls the protocol makes and how it reports them (no timed assertions: benchmarks are not
// tests), and that the first error of the body stops it at once.
import Tensors
import Testing

@Suite struct TimingTests {
    struct Stop: Error, Equatable {}

    @Test func warmUpCallsThenTheMinimumOfTimedCalls() {
        var calls = 0
        let timing = measureCalls(seconds: 0, warmUpSeconds: 0, warmUpCalls: 3, minimumCalls: 5) { calls += 1 }
        #expect(calls == 8 && timing.calls == 5)
        #expect(timing.median >= 0 && timing.p99 >= timing.median)
    }

    @Test func theMaximumEndsTimingBeforeTheSeconds() {
        var calls = 0
        let timing = measureCalls(seconds: 60, warmUpSeconds: 0, warmUpCalls: 0, minimumCalls: 1, maximumCalls: 7) {
            calls += 1
        }
        #expect(calls == 7 && timing.calls == 7)
    }

    @Test func theFirstErrorStopsTheMeasurement() {
        var calls = 0
        #expect(throws: Stop()) {
            try measureCalls(seconds: 60) {
                calls += 1
                if calls == 2 { throw Stop() }
            }
        }
        #expect(calls == 2)
    }
}
