// Search strategies: which candidate to evaluate next. Every strategy here is a pure function of the trial index, the
// trials before it and the seed — its state (a population, a controller, a surrogate) is rebuilt from the journal
// at each proposal. That makes a search resumable after a kill (the same history gives the same proposal) and lets
// several workers share one journal directory, each proposing from what all of them have finished.
import Foundation
import NeuralNetworks
import Tensors

/// Chooses candidates.
public protocol SearchStrategy: Sendable {
    /// The name the CLI and the journal use.
    var name: String { get }
    /// The candidate for trial `index`, given `history` (the finished trials with smaller indices, in index order).
    /// Only candidates for which `feasible` holds may be returned.
    ///
    /// - Throws: `ShrinkError(.value)` when no feasible candidate turns up.
    func propose(index: Int, history: [Trial], space: SearchSpace, seed: UInt64,
                 feasible: (Candidate) -> Bool) throws -> Candidate
}

/// The strategies the CLI names.
public enum StrategyKind: String, CaseIterable, Sendable, NamedChoice {
    public static let choiceName = "strategy"
    case random, evolution, reinforce, bayesian, darts
}

/// How many random draws a strategy makes before it gives up on finding a feasible candidate.
let feasibilityAttempts = 20_000

/// A feasible uniformly random candidate, or an error saying how small the space gets.
func randomFeasible(_ space: SearchSpace, _ g: inout SeededGenerator, feasible: (Candidate) -> Bool,
                    avoiding seen: Set<Candidate> = []) throws -> Candidate {
    var fallback: Candidate?
    for _ in 0..<feasibilityAttempts {
        let c = space.randomCandidate(&g)
        guard feasible(c) else { continue }
        if !seen.contains(c) { return c }
        fallback = fallback ?? c
    }
    if let fallback { return fallback }  // every feasible candidate drawn was seen: the space is nearly exhausted
    throw ShrinkError(.value, "no candidate of space '\(space.name)' satisfies the constraints in \(feasibilityAttempts) "
        + "random draws; loosen --max-macs / --max-params / --max-latency-ms or use a smaller space")
}

/// Random search: independent uniform draws (skipping candidates already evaluated while others remain).
public struct RandomSearch: SearchStrategy {
    public init() {}
    public var name: String { "random" }

    public func propose(index: Int, history: [Trial], space: SearchSpace, seed: UInt64,
                        feasible: (Candidate) -> Bool) throws -> Candidate {
        var g = SeededGenerator(seed: seed, stream: "random-\(index)")
        return try randomFeasible(space, &g, feasible: feasible, avoiding: Set(history.map(\.candidate)))
    }
}

/// Regularized (aging) evolution [1]: the first `population` trials are random; afterwards the population is the
/// last `population` trials (the oldest dies), a tournament of `sampleSize` picks the parent with the best estimate,
/// and the child changes one decision of it to another option.
/// [1] Real et al., "Regularized Evolution for Image Classifier Architecture Search", AAAI 2019.
public struct RegularizedEvolution: SearchStrategy {
    public var population: Int
    public var sampleSize: Int

    public init(population: Int = 10, sampleSize: Int = 3) {
        self.population = max(2, population)
        self.sampleSize = max(1, min(sampleSize, self.population))
    }

    public var name: String { "evolution" }

    public func propose(index: Int, history: [Trial], space: SearchSpace, seed: UInt64,
                        feasible: (Candidate) -> Bool) throws -> Candidate {
        var g = SeededGenerator(seed: seed, stream: "evolution-\(index)")
        guard history.count >= population else {
            return try randomFeasible(space, &g, feasible: feasible, avoiding: Set(history.map(\.candidate)))
        }
        let alive = Array(history.suffix(population))
        var best: Trial?
        for _ in 0..<sampleSize {
            let t = alive[g.nextInt(below: alive.count)]
            if best == nil || t.accuracy > best!.accuracy { best = t }
        }
        let parent = best!.candidate
        let seen = Set(history.map(\.candidate))
        let mutable = space.decisions.enumerated().filter { $0.element.options.count > 1 }.map(\.offset)
        guard !mutable.isEmpty else { return parent }
        var fallback: Candidate?
        for _ in 0..<1000 {
            var child = parent
            let d = mutable[g.nextInt(below: mutable.count)]
            let options = space.decisions[d].options.count
            child.choices[d] = (child.choices[d] + 1 + g.nextInt(below: options - 1)) % options
            guard feasible(child) else { continue }
            if !seen.contains(child) { return child }
            fallback = fallback ?? child
        }
        return try fallback ?? randomFeasible(space, &g, feasible: feasible, avoiding: seen)
    }

    /// The parent the proposal for `index` mutated (nil while the population fills), for weight inheritance.
    public func parent(index: Int, history: [Trial], seed: UInt64) -> Trial? {
        guard history.count >= population else { return nil }
        var g = SeededGenerator(seed: seed, stream: "evolution-\(index)")
        let alive = Array(history.suffix(population))
        var best: Trial?
        for _ in 0..<sampleSize {
            let t = alive[g.nextInt(below: alive.count)]
            if best == nil || t.accuracy > best!.accuracy { best = t }
        }
        return best
    }
}

/// REINFORCE over the categorical decisions [1][2]: a controller with one softmax per decision (independent logits
/// in place of Zoph & Le's LSTM, which a budget of tens of trials cannot train), updated after each trial by
/// `θ += η · (R − b) · ∇ log p(choice)` with the estimate as the reward R and a moving-average baseline
/// `b ← 0.9 b + 0.1 R`. The proposal samples from the controller after replaying the history.
/// [1] Williams, "Simple statistical gradient-following algorithms", 1992. [2] Zoph & Le, "Neural Architecture Search
/// with Reinforcement Learning", ICLR 2017.
public struct Reinforce: SearchStrategy {
    public var learningRate: Double
    public var baselineDecay: Double

    public init(learningRate: Double = 8, baselineDecay: Double = 0.9) {
        self.learningRate = learningRate
        self.baselineDecay = baselineDecay
    }

    public var name: String { "reinforce" }

    /// The controller's probabilities per decision after learning from `history`.
    public func probabilities(after history: [Trial], space: SearchSpace) -> [[Double]] {
        var logits = space.decisions.map { [Double](repeating: 0, count: $0.options.count) }
        var baseline: Double?
        for trial in history where trial.candidate.choices.count == logits.count {
            let reward = trial.accuracy
            let advantage = reward - (baseline ?? reward)
            for (d, choice) in trial.candidate.choices.enumerated() {
                let p = softmax(logits[d])
                for o in logits[d].indices { logits[d][o] += learningRate * advantage * ((o == choice ? 1 : 0) - p[o]) }
            }
            baseline = baseline.map { baselineDecay * $0 + (1 - baselineDecay) * reward } ?? reward
        }
        return logits.map(softmax)
    }

    public func propose(index: Int, history: [Trial], space: SearchSpace, seed: UInt64,
                        feasible: (Candidate) -> Bool) throws -> Candidate {
        var g = SeededGenerator(seed: seed, stream: "reinforce-\(index)")
        let p = probabilities(after: history, space: space)
        let seen = Set(history.map(\.candidate))
        var fallback: Candidate?
        for _ in 0..<feasibilityAttempts {
            let c = Candidate(p.map { sample($0, &g) })
            guard feasible(c) else { continue }
            if !seen.contains(c) { return c }
            fallback = fallback ?? c
            if fallback != nil && g.nextInt(below: 50) == 0 { break }  // the controller has converged on seen ones
        }
        return try fallback ?? randomFeasible(space, &g, feasible: feasible, avoiding: seen)
    }
}

func softmax(_ x: [Double]) -> [Double] {
    let m = x.max() ?? 0
    let e = x.map { Foundation.exp($0 - m) }
    let total = e.reduce(0, +)
    return e.map { $0 / total }
}

func sample(_ p: [Double], _ g: inout SeededGenerator) -> Int {
    let u = Double(g.nextUniform())
    var total = 0.0
    for (i, q) in p.enumerated() {
        total += q
        if u < total { return i }
    }
    return p.count - 1
}

/// Bayesian optimisation: a Gaussian-process surrogate of the estimate over the one-hot encoding of the candidates
/// (squared-exponential kernel, the targets standardised, a small noise term), solved by LAPACKE's Cholesky
/// (`dposv`), and expected improvement [1] maximised over a pool of random feasible candidates.
/// The first `initial` trials are random.
/// [1] Jones, Schonlau & Welch, "Efficient Global Optimization of Expensive Black-Box Functions", 1998.
public struct BayesianOptimization: SearchStrategy {
    public var initial: Int
    public var pool: Int
    public var lengthScale: Double?
    public var noise: Double
    public var exploration: Double

    public init(initial: Int = 5, pool: Int = 500, lengthScale: Double? = nil, noise: Double = 1e-4,
                exploration: Double = 0.01) {
        self.initial = max(2, initial)
        self.pool = max(1, pool)
        self.lengthScale = lengthScale
        self.noise = noise
        self.exploration = exploration
    }

    public var name: String { "bayesian" }

    /// Posterior mean and standard deviation (in the targets' units) at `points`, from `trials`.
    public func posterior(_ trials: [Trial], at points: [Candidate], space: SearchSpace) throws -> [(mean: Double, sd: Double)] {
        let x = trials.map { space.encode($0.candidate) }, y = trials.map(\.accuracy)
        let n = x.count
        let mean = y.reduce(0, +) / Double(n)
        let variance = y.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(max(n - 1, 1))
        let scale = variance > 1e-12 ? variance.squareRoot() : 1
        let z = y.map { ($0 - mean) / scale }
        // ℓ² defaults to half the number of decisions that vary: one differing decision gives exp(−2/D).
        let ell = lengthScale ?? max(1, (Double(space.decisions.filter { $0.options.count > 1 }.count) / 2).squareRoot())
        func kernel(_ a: [Double], _ b: [Double]) -> Double {
            // The squared-exponential kernel of one-hot encodings: ‖x − y‖² is twice the number d of differing
            // decisions, so k = exp(−‖x − y‖² / (2ℓ²)) = exp(−d / ℓ²), positive definite.
            let d = zip(a, b).reduce(0) { $0 + ($1.0 != $1.1 ? 0.5 : 0) }
            return Foundation.exp(-d / (ell * ell))
        }
        var gram = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n { gram[i * n + j] = kernel(x[i], x[j]) } }
        let q = points.map { space.encode($0) }
        // Right-hand sides: z, then k(X, x*) for every point, solved together.
        var rhs = [Double](repeating: 0, count: n * (1 + q.count))
        for i in 0..<n {
            rhs[i * (1 + q.count)] = z[i]
            for (j, point) in q.enumerated() { rhs[i * (1 + q.count) + 1 + j] = kernel(x[i], point) }
        }
        // Double-precision Cholesky (dposv); should the Gram matrix still not factor, the noise term grows tenfold
        // until it does.
        var jitter = noise, solved: [Double]?
        while solved == nil {
            var k = gram
            for i in 0..<n { k[i * n + i] += jitter }
            solved = try? LinearAlgebra.solveSymmetric(k, n: n, rhs, columns: 1 + q.count)
            if solved == nil {
                jitter *= 10
                guard jitter <= 1 else {
                    throw ShrinkError(.value, "the Gaussian-process kernel matrix of \(n) trials does not factor")
                }
            }
        }
        let solution = solved!
        return q.enumerated().map { j, _ in
            var mu = 0.0, reduction = 0.0
            for i in 0..<n {
                let ks = rhs[i * (1 + q.count) + 1 + j]
                mu += ks * solution[i * (1 + q.count)]
                reduction += ks * solution[i * (1 + q.count) + 1 + j]
            }
            let sd = max(1 + jitter - reduction, 1e-12).squareRoot()
            return (mean + scale * mu, scale * sd)
        }
    }

    public func propose(index: Int, history: [Trial], space: SearchSpace, seed: UInt64,
                        feasible: (Candidate) -> Bool) throws -> Candidate {
        var g = SeededGenerator(seed: seed, stream: "bayesian-\(index)")
        let seen = Set(history.map(\.candidate))
        guard history.count >= initial else {
            return try randomFeasible(space, &g, feasible: feasible, avoiding: seen)
        }
        var candidates: [Candidate] = [], drawn = Set<Candidate>()
        for _ in 0..<(pool * 20) where candidates.count < pool {
            let c = space.randomCandidate(&g)
            if feasible(c) && !seen.contains(c) && drawn.insert(c).inserted { candidates.append(c) }
        }
        guard !candidates.isEmpty else { return try randomFeasible(space, &g, feasible: feasible, avoiding: seen) }
        let best = history.map(\.accuracy).max() ?? 0
        let posterior = try posterior(history, at: candidates, space: space)
        var choice = 0, bestEI = -Double.infinity
        for (i, p) in posterior.enumerated() {
            let improvement = p.mean - best - exploration
            let u = improvement / p.sd
            let ei = improvement * normalCDF(u) + p.sd * normalPDF(u)
            if ei > bestEI { bestEI = ei; choice = i }
        }
        return candidates[choice]
    }
}

func normalPDF(_ x: Double) -> Double { Foundation.exp(-x * x / 2) / (2 * Double.pi).squareRoot() }
func normalCDF(_ x: Double) -> Double { 0.5 * Foundation.erfc(-x / 2.squareRoot()) }
