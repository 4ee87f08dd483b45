// Timing: the one latency protocol of `shrink bench` and the architecture search — warm up, then time single calls
// and report the median and the 99th percentile. It measures; it asserts nothing (benchmarks are not tests).

/// What `measureCalls` measured: seconds per call.
public struct Timing: Sendable, Equatable, CustomStringConvertible {
    /// The median time of one call, in seconds (the upper median for an even count: sorted `times[calls / 2]`).
    public var median: Double
    /// The 99th percentile, in seconds: sorted `times[⌈0.99 · calls⌉ − 1]`.
    public var p99: Double
    /// How many calls were timed (the warm-up not counted).
    public var calls: Int

    public init(median: Double, p99: Double, calls: Int) {
        self.median = median
        self.p99 = p99
        self.calls = calls
    }

    public var description: String {
        "median \(median * 1e3) ms, p99 \(p99 * 1e3) ms over \(calls) calls"
    }
}

/// Times single calls of `body` on a monotonic clock (`ContinuousClock`).
///
/// First a warm-up: calls until at least `warmUpCalls` were made and `warmUpSeconds` have passed (caches, page faults,
/// lazily packed weights, OpenBLAS's threads). Then timed calls, one at a time, until at least `minimumCalls` were
/// made and either `seconds` have passed or `maximumCalls` were made. The defaults are `shrink bench`'s protocol
/// (warm-up ≥ 0.2 s and 3 calls, then until `seconds` and ≥ 20 calls).
///
/// - Throws: the first error of `body`, at once (nothing more is called or timed).
/// - Precondition: `minimumCalls ≥ 1` and `maximumCalls ≥ minimumCalls`.
public func measureCalls(seconds: Double, warmUpSeconds: Double = 0.2, warmUpCalls: Int = 3, minimumCalls: Int = 20,
                         maximumCalls: Int = .max, _ body: () throws -> Void) rethrows -> Timing {
    precondition(minimumCalls >= 1 && maximumCalls >= minimumCalls,
                 "measureCalls: minimumCalls \(minimumCalls) must be ≥ 1 and ≤ maximumCalls \(maximumCalls)")
    let clock = ContinuousClock()
    func elapsed(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }
    let warmStart = clock.now
    var warmedUp = 0
    while warmedUp < warmUpCalls || elapsed(clock.now - warmStart) < warmUpSeconds {
        try body()
        warmedUp += 1
    }
    var times: [Double] = []
    let start = clock.now
    while times.count < minimumCalls || (elapsed(clock.now - start) < seconds && times.count < maximumCalls) {
        let t0 = clock.now
        try body()
        times.append(elapsed(clock.now - t0))
    }
    times.sort()
    let p99 = times[min(times.count - 1, Int((Double(times.count) * 0.99).rounded(.up)) - 1)]
    return Timing(median: times[times.count / 2], p99: p99, calls: times.count)
}
