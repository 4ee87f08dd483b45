// The search loop: propose (strategy), check the hardware constraints (MACs, parameters, bytes, measured latency),
// estimate (estimator), record (journal) — until the trials or the CPU-second budget run out. Any strategy runs with
// any estimator. The result is a Pareto front over accuracy and cost, from which the best candidate is retrained
// fully.
import Datasets
import Foundation
import NeuralNetworks
import Tensors

/// Hardware constraints on candidates; nil means unconstrained.
public struct SearchConstraints: Sendable, Equatable {
    public var maxMACs: Int?
    public var maxParameters: Int?
    public var maxLatencyMs: Double?

    public init(maxMACs: Int? = nil, maxParameters: Int? = nil, maxLatencyMs: Double? = nil) {
        self.maxMACs = maxMACs
        self.maxParameters = maxParameters
        self.maxLatencyMs = maxLatencyMs
    }
}

/// What a candidate costs to run.
public struct CandidateCost: Sendable, Equatable {
    public var macs: Int
    public var parameters: Int
    public var bytes: Int
    /// Median batch-1 latency on this machine, when measured.
    public var latencyMs: Double?
}

/// Settings of a search.
public struct SearchSettings: Sendable {
    /// Trials in total (over all workers).
    public var trials = 20
    /// CPU seconds the whole search may spend (all workers' recorded time); nil for no limit.
    public var budgetSeconds: Double?
    public var constraints = SearchConstraints()
    public var seed: UInt64 = 0

    public init() {}
}

/// The seed a candidate trains with: the search seed and the candidate, nothing else.
public func trainingSeed(_ seed: UInt64, _ candidate: Candidate) -> UInt64 {
    var g = SeededGenerator(seed: seed, stream: "nas-train-\(candidate)")
    return g.next()
}

/// The process's CPU time (user + system), in seconds.
public func processCPUSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

/// Measures the cost of candidates (cached), and whether they satisfy constraints.
public final class CostMeter {
    public let space: SearchSpace
    public let inputShape: [Int]
    public let classes: Int
    public let constraints: SearchConstraints
    private var cache = [Candidate: CandidateCost]()

    public init(space: SearchSpace, inputShape: [Int], classes: Int, constraints: SearchConstraints) {
        self.space = space
        self.inputShape = inputShape
        self.classes = classes
        self.constraints = constraints
    }

    /// MACs, parameters and float bytes from the cost model; latency (median of timed batch-1 calls, one thread)
    /// only when a latency constraint asks for it and the other constraints hold.
    public func cost(_ candidate: Candidate) throws -> CandidateCost {
        if let cached = cache[candidate] { return cached }
        let graph = try space.graph(for: candidate, inputShape: inputShape, classes: classes, seed: 0)
        let report = graph.cost()
        var cost = CandidateCost(macs: report.macs, parameters: report.parameters, bytes: report.bytes)
        if constraints.maxLatencyMs != nil && withinStaticLimits(cost) {
            cost.latencyMs = measureLatency(graph, inputShape: inputShape)
        }
        cache[candidate] = cost
        return cost
    }

    private func withinStaticLimits(_ c: CandidateCost) -> Bool {
        (constraints.maxMACs.map { c.macs <= $0 } ?? true) && (constraints.maxParameters.map { c.parameters <= $0 } ?? true)
    }

    public func isFeasible(_ candidate: Candidate) -> Bool {
        guard let c = try? cost(candidate), withinStaticLimits(c) else { return false }
        if let limit = constraints.maxLatencyMs { return (c.latencyMs ?? .infinity) <= limit }
        return true
    }
}

/// Median latency in milliseconds of batch-1 inference on one thread, by `measureCalls`: 3 warm-up calls, then
/// timed calls for 0.2 s (at least 5, at most 1000) — shorter than `shrink bench`'s protocol, as a search measures
/// every candidate.
public func measureLatency(_ graph: Graph, inputShape: [Int]) -> Double {
    let x = Tensor(shape: [1] + inputShape, repeating: 0.5)
    return Parallel.withThreads(1) {
        measureCalls(seconds: 0.2, warmUpSeconds: 0, warmUpCalls: 3, minimumCalls: 5, maximumCalls: 1000) {
            _ = graph.forward(x, mode: .inference)
        }.median * 1000
    }
}

/// Runs this worker's share of a search (trial indices worker, worker + N, …), resuming from the journal, and
/// returns every trial recorded by any worker. `log` receives one line per trial.
///
/// - Throws: errors of the strategy (no feasible candidate), the estimator and the journal.
public func runSearch(space: SearchSpace, strategy: any SearchStrategy, estimator: any PerformanceEstimator,
                      train: Dataset, validation: Dataset, settings: SearchSettings, journal: Journal,
                      log: (String) -> Void = { _ in }) throws -> [Trial] {
    try journal.repair()
    let meter = CostMeter(space: space, inputShape: train.sampleShape, classes: train.classCount,
                          constraints: settings.constraints)
    // Fail early, with a clear message, when nothing satisfies the constraints.
    var probe = SeededGenerator(seed: settings.seed, stream: "feasibility")
    _ = try randomFeasible(space, &probe, feasible: meter.isFeasible)
    for index in stride(from: journal.worker, to: settings.trials, by: journal.workers) {
        let all = try journal.trials(of: space)
        if all.contains(where: { $0.index == index }) { continue }
        if let budget = settings.budgetSeconds {
            let spent = try journal.timings().reduce(0) { $0 + $1.cpuSeconds }
            if spent >= budget {
                log("budget of \(budget) CPU seconds spent (\(String(format: "%.1f", spent))); stopping before trial \(index)")
                break
            }
        }
        let history = all.filter { $0.index < index }
        let cpu = processCPUSeconds(), wall = Date()
        let candidate = try strategy.propose(index: index, history: history, space: space, seed: settings.seed,
                                             feasible: meter.isFeasible)
        let cost = try meter.cost(candidate)
        let seed = trainingSeed(settings.seed, candidate)
        var trial: Trial
        if let earlier = all.first(where: { $0.candidate == candidate }) {
            trial = earlier
            trial.index = index
            trial.epochs = 0
            trial.trainSamples = 0
            trial.reused = true
        } else {
            let context = EstimationContext(space: space, train: train, validation: validation,
                                            bestSoFar: history.map(\.accuracy).max(), feasible: meter.isFeasible)
            let estimate = try estimator.estimate(candidate, context: context, seed: seed)
            trial = Trial(index: index, candidate: candidate, architecture: space.describe(candidate),
                          accuracy: estimate.accuracy, macs: cost.macs, parameters: cost.parameters, bytes: cost.bytes,
                          latencyMs: cost.latencyMs, epochs: estimate.epochs, trainSamples: estimate.trainSamples,
                          seed: seed, curve: estimate.curve, stopped: estimate.stopped, reused: nil,
                          worker: journal.worker)
        }
        trial.worker = journal.worker
        let timing = TrialTiming(index: index, cpuSeconds: processCPUSeconds() - cpu,
                                 wallSeconds: Date().timeIntervalSince(wall))
        try journal.append(trial, timing: timing)
        log(String(format: "trial %d: %@ — %.2f%%, %@ MACs%@ (%.1f CPU s)", index, trial.architecture,
                   100 * trial.accuracy, formatted(trial.macs), trial.stopped == true ? ", stopped early" : "",
                   timing.cpuSeconds))
    }
    return try journal.trials(of: space)
}

func formatted(_ n: Int) -> String {
    let digits = String(abs(n))
    var out = ""
    for (i, ch) in digits.reversed().enumerated() {
        if i > 0 && i % 3 == 0 { out.append(",") }
        out.append(ch)
    }
    return (n < 0 ? "-" : "") + String(out.reversed())
}

/// The trials no other trial beats on accuracy at no more MACs (and, where measured, no more latency), sorted by
/// MACs. Reused trials count once.
public func paretoFront(_ trials: [Trial]) -> [Trial] {
    var unique = [Candidate: Trial]()
    for t in trials where unique[t.candidate] == nil { unique[t.candidate] = t }
    let all = Array(unique.values)
    func dominates(_ a: Trial, _ b: Trial) -> Bool {
        let latencyOK = (a.latencyMs ?? 0) <= (b.latencyMs ?? 0)
        let noWorse = a.accuracy >= b.accuracy && a.macs <= b.macs && latencyOK
        let better = a.accuracy > b.accuracy || a.macs < b.macs || (a.latencyMs ?? 0) < (b.latencyMs ?? 0)
        return noWorse && better
    }
    return all.filter { t in !all.contains { dominates($0, t) } }
        .sorted { ($0.macs, -$0.accuracy, $0.index) < ($1.macs, -$1.accuracy, $1.index) }
}

/// The best trial by estimate (ties: fewer MACs, then the earlier trial).
public func bestTrial(_ trials: [Trial]) -> Trial? {
    trials.min { (-$0.accuracy, $0.macs, $0.index) < (-$1.accuracy, $1.macs, $1.index) }
}
