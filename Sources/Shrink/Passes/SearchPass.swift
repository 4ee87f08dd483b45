// SearchPass: neural architecture search over a declared space with any strategy and estimator, a resumable journal
// that several workers can share, and the best architecture retrained on the whole training split.
import ArchitectureSearch
import Datasets
import Foundation
import NeuralNetworks
import Reports
import Tensors

/// Neural architecture search; the input model is ignored (pass nil). The model out is the best architecture
/// retrained for `finalEpochs` on the whole training split.
///
/// The training split is divided: its last `validationSamples` measure every candidate, the rest train them; the
/// test split only measures the retrained best. Every trial is appended to the journal in `journal` (a directory):
/// a search killed at any point and run again with the same settings continues where it stopped and ends with the
/// same journal. With `worker` I of `workers` N, N processes share one journal directory, each evaluating trials
/// I, I+N, …; workers skip the retraining, which a run with `merge` does from all journals.
public struct SearchPass: RecipePass {
    public static let name = "search"
    /// The search space: mobile-cnn, mlp, or a YAML/JSON file.
    public var space = "mobile-cnn"
    public var strategy = StrategyKind.random
    public var estimator = EstimatorKind.lowFidelity
    /// Trials in total (over all workers).
    public var trials = 20
    /// CPU seconds the search may spend in total (all workers).
    public var budgetSeconds: Double?
    public var maxMacs: Int?
    public var maxParams: Int?
    /// Measured batch-1 latency limit (ms, 1 thread, median): not deterministic.
    public var maxLatencyMs: Double?
    public var seed: UInt64 = 0
    /// Training epochs per estimate (nil: full 3, low-fidelity 1, curve 3, weight sharing 3).
    public var epochs: Int?
    /// Share of the training part that estimates train on (nil: low-fidelity and curve 0.2, weight sharing 1).
    public var subset: Double?
    /// Low-fidelity: widths scaled by this factor while estimating.
    public var widthFactor = 1.0
    /// Samples at the end of the training split that measure candidates.
    public var validationSamples = 10_000
    /// Epochs of the final training of the best architecture (0: none, and no model out).
    public var finalEpochs = 5
    /// Evolution: population (nil: a quarter of `trials`, within 2…20) and tournament size.
    public var population: Int?
    public var sampleSize = 3
    /// Weight sharing: SGD steps each candidate takes alone from its inherited weights.
    public var finetuneSteps = 10
    /// DARTS: epochs of the bilevel search, and the share of the training part the supernet trains on.
    public var dartsEpochs = 2
    public var dartsSubset = 0.2
    /// This process's share: worker I of N.
    public var worker = 0
    public var workers = 1
    /// Only merge the journals: build the front and retrain the best.
    public var merge = false
    /// The journal directory.
    public var journal: String

    public init(journal: String) { self.journal = journal }

    /// The recipe runner sets `journal` (the step's own directory); `worker` and `merge` are for the command line.
    public static let optionKeys = ["space", "strategy", "estimator", "trials", "budget_seconds", "max_macs",
                                    "max_params", "max_latency_ms", "seed", "epochs", "subset", "width_factor",
                                    "validation_samples", "final_epochs", "population", "sample_size",
                                    "finetune_steps", "darts_epochs", "darts_subset"]

    public init(options: inout PassOptions) throws {
        journal = options.string("journal") ?? "journal"
        space = options.string("space") ?? space
        strategy = try options.choice("strategy", StrategyKind.self) ?? strategy
        estimator = try options.choice("estimator", EstimatorKind.self) ?? estimator
        trials = try options.int("trials") ?? trials
        budgetSeconds = try options.double("budget_seconds")
        maxMacs = try options.int("max_macs")
        maxParams = try options.int("max_params")
        maxLatencyMs = try options.double("max_latency_ms")
        seed = try options.uint64("seed") ?? seed
        epochs = try options.int("epochs")
        subset = try options.double("subset")
        widthFactor = try options.double("width_factor") ?? widthFactor
        validationSamples = try options.int("validation_samples") ?? validationSamples
        finalEpochs = try options.int("final_epochs") ?? finalEpochs
        population = try options.int("population")
        sampleSize = try options.int("sample_size") ?? sampleSize
        finetuneSteps = try options.int("finetune_steps") ?? finetuneSteps
        dartsEpochs = try options.int("darts_epochs") ?? dartsEpochs
        dartsSubset = try options.double("darts_subset") ?? dartsSubset
    }

    /// Trials at 2, final epochs, estimate epochs and DARTS epochs at 1, a given population at 2, validation
    /// samples at 100 (a small data set has fewer than the default 10,000).
    public func fast() -> SearchPass {
        var copy = self
        copy.trials = min(trials, 2)
        copy.finalEpochs = min(finalEpochs, 1)
        copy.epochs = epochs.map { min($0, 1) }
        copy.dartsEpochs = min(dartsEpochs, 1)
        copy.population = population.map { min($0, 2) }
        copy.sampleSize = min(sampleSize, copy.population ?? sampleSize)
        copy.validationSamples = min(validationSamples, 100)
        return copy
    }

    public func validate() throws {
        try check(trials, in: 1...100_000, "trials")
        if let budgetSeconds, !(budgetSeconds > 0) { throw ShrinkError(.value, "budget_seconds must be positive") }
        if let maxMacs, maxMacs < 1 { throw ShrinkError(.value, "max_macs must be at least 1") }
        if let maxParams, maxParams < 1 { throw ShrinkError(.value, "max_params must be at least 1") }
        if let maxLatencyMs, !(maxLatencyMs > 0) { throw ShrinkError(.value, "max_latency_ms must be positive") }
        if let epochs { try check(epochs, in: 1...10_000, "epochs") }
        if let subset, !(subset > 0 && subset <= 1) { throw ShrinkError(.value, "subset must be in (0, 1], got \(subset)") }
        guard widthFactor > 0 && widthFactor <= 8 else { throw ShrinkError(.value, "width_factor must be in (0, 8]") }
        guard validationSamples >= 1 else { throw ShrinkError(.value, "validation_samples must be at least 1") }
        try check(finalEpochs, in: 0...10_000, "final_epochs")
        guard sampleSize >= 1 else { throw ShrinkError(.value, "sample_size must be at least 1") }
        if let population, population < 2 || sampleSize > population {
            throw ShrinkError(.value, "population must be at least 2 and sample_size at most the population")
        }
        try check(finetuneSteps, in: 0...100_000, "finetune_steps")
        try check(dartsEpochs, in: 1...1000, "darts_epochs")
        guard dartsSubset > 0 && dartsSubset <= 1 else { throw ShrinkError(.value, "darts_subset must be in (0, 1]") }
        guard workers >= 1, worker >= 0, worker < workers else {
            throw ShrinkError(.value, "worker must be I/N with 0 ≤ I < N, got \(worker)/\(workers)")
        }
    }

    /// The population: as given, or a quarter of the trials (Real et al. evolve 100 of 20,000; with tens of trials
    /// a fixed 10 would leave few children).
    public var effectivePopulation: Int { population ?? max(2, min(20, trials / 4)) }

    /// One trial in the report.
    public struct TrialSummary: Encodable, Sendable {
        public var index: Int, architecture: String, accuracy: Double, macs: Int, parameters: Int, latency_ms: Double?

        init(_ t: Trial) {
            index = t.index
            architecture = t.architecture
            accuracy = t.accuracy
            macs = t.macs
            parameters = t.parameters
            latency_ms = t.latencyMs
        }
    }

    /// The `shrink search --json` document (also OUT/result.json).
    public struct Details: Encodable, Sendable {
        public var space: String, strategy: String, estimator: String, seed: UInt64
        public var trials: Int, evaluated: Int, reused: Int, stopped_early: Int
        public var search_cpu_seconds: Double, train_samples: Int
        public var best: TrialSummary?
        public var front: [TrialSummary]
        public var final_test_accuracy: Double?, final_epochs: Int, final_cpu_seconds: Double?
        /// Where the retrained model was saved (set by whoever saves it).
        public var model: String?
        /// Every trial, for the chart (not in the JSON).
        public var allTrials: [Trial] = []

        enum CodingKeys: String, CodingKey {
            case space, strategy, estimator, seed, trials, evaluated, reused, stopped_early, search_cpu_seconds,
                 train_samples, best, front, final_test_accuracy, final_epochs, final_cpu_seconds, model
        }

        /// Accuracy against MACs of every trial, with the Pareto front.
        public var frontChart: LineChart {
            let front = paretoFront(allTrials)
            var chart = LineChart(title: "Architecture search: validation accuracy against MACs",
                                  xLabel: "MACs per sample (millions)", yLabel: "validation accuracy (%)", series: [
                .init(name: "all trials", points: allTrials.map { (Double($0.macs) / 1e6, 100 * $0.accuracy) },
                      connected: false),
                .init(name: "Pareto front", points: front.map { (Double($0.macs) / 1e6, 100 * $0.accuracy) }),
            ])
            chart.width = 760
            return chart
        }

        /// DIR/front.json, DIR/front.svg and DIR/result.json (each written atomically).
        public func write(to directory: String) throws {
            func json<T: Encodable>(_ value: T, _ name: String) throws {
                try AtomicFile.write(Array(try jsonString(value).utf8) + [UInt8(ascii: "\n")], to: "\(directory)/\(name)")
            }
            try json(front, "front.json")
            try AtomicFile.write(Array(frontChart.svg.utf8), to: "\(directory)/front.svg")
            try json(self, "result.json")
        }
    }

    /// The pass: the retrained best architecture and the report. A worker's share or a search without final
    /// training gives no model: use `search(data:progress:)` for those.
    public func run(_ model: ShrinkModel?, data: DataSplit?, progress: @escaping ProgressHandler) throws -> PassResult {
        let outcome = try search(data: try required(data), progress: progress)
        guard let best = outcome.model else {
            throw ShrinkError(.value, "the search retrained no best model (final_epochs is 0, or this is one worker "
                + "of several); give final_epochs ≥ 1, or merge the workers' journals")
        }
        return PassResult(model: best, report: outcome.report)
    }

    /// Runs this process's share of the search (resuming from the journal) and, unless it is a worker's share or
    /// `finalEpochs` is 0, retrains the best architecture.
    public func search(data split: DataSplit, progress: @escaping ProgressHandler = { _ in }) throws -> SearchResult {
        try validate()
        let searchSpace = try SearchSpace.load(space)
        do {
            try FileManager.default.createDirectory(atPath: journal, withIntermediateDirectories: true)
        } catch {
            throw ShrinkError(.io, "cannot create the journal directory \(journal): \(error.localizedDescription)")
        }
        let journalStore = try Journal(directory: journal, worker: worker, workers: workers)
        guard split.train.count > validationSamples else {
            throw ShrinkError(.value, "the training split has \(split.train.count) samples; validation_samples "
                + "\(validationSamples) must leave some to train on")
        }
        let normalization = try Normalization.fit(split.train)
        let fullTrain = try split.train.normalized(normalization), test = try split.test.normalized(normalization)
        let searchTrain = fullTrain.rows(0..<(fullTrain.count - validationSamples))
        let validation = fullTrain.rows((fullTrain.count - validationSamples)..<fullTrain.count)

        let strategyValue: any SearchStrategy
        switch strategy {
        case .random: strategyValue = RandomSearch()
        case .evolution:
            // A defaulted population may be smaller than the tournament: the tournament shrinks with it.
            strategyValue = RegularizedEvolution(population: effectivePopulation,
                                                 sampleSize: min(sampleSize, effectivePopulation))
        case .reinforce: strategyValue = Reinforce()
        case .bayesian: strategyValue = BayesianOptimization()
        case .darts:
            strategyValue = DifferentiableSearch(train: searchTrain, validation: validation, epochs: dartsEpochs,
                                                 subset: dartsSubset, seed: seed)
        }
        let estimatorValue: any PerformanceEstimator
        switch estimator {
        case .full: estimatorValue = FullTraining(epochs: epochs ?? 3)
        case .lowFidelity: estimatorValue = LowFidelity(epochs: epochs ?? 1, subset: subset ?? 0.2, widthFactor: widthFactor)
        case .curve: estimatorValue = CurveExtrapolation(epochs: epochs ?? 3, subset: subset ?? 0.2)
        case .weightSharing:
            estimatorValue = WeightSharing(epochs: epochs ?? 3, subset: subset ?? 1, finetuneSteps: finetuneSteps, seed: seed)
        }
        var settings = SearchSettings()
        settings.trials = trials
        settings.budgetSeconds = budgetSeconds
        settings.constraints = SearchConstraints(maxMACs: maxMacs, maxParameters: maxParams, maxLatencyMs: maxLatencyMs)
        settings.seed = seed
        var recorded: [String: String] = [
            "space": searchSpace.name,
            "space_decisions": searchSpace.decisions.map { "\($0.name)=\($0.options.joined(separator: "|"))" }
                .joined(separator: ";"),
            "strategy": strategyValue.name, "estimator": estimatorValue.name, "seed": "\(seed)",
            "data": split.name, "validation_samples": "\(validationSamples)", "workers": "\(workers)",
            "epochs": "\(epochs ?? 0)", "subset": "\(subset ?? 0)", "width_factor": "\(widthFactor)",
            "finetune_steps": "\(finetuneSteps)",
        ]
        if strategy == .evolution {
            recorded["population"] = "\(effectivePopulation)"
            recorded["sample_size"] = "\(min(sampleSize, effectivePopulation))"
        }
        if strategy == .darts { recorded["darts_epochs"] = "\(dartsEpochs)"; recorded["darts_subset"] = "\(dartsSubset)" }
        if let maxMacs { recorded["max_macs"] = "\(maxMacs)" }
        if let maxParams { recorded["max_params"] = "\(maxParams)" }
        if let maxLatencyMs { recorded["max_latency_ms"] = "\(maxLatencyMs)" }
        try journalStore.claim(settings: recorded)

        let allTrials: [Trial]
        if merge {
            allTrials = try journalStore.trials(of: searchSpace)
            guard !allTrials.isEmpty else { throw ShrinkError(.value, "the journal in \(journal) holds no trials to merge") }
        } else {
            allTrials = try runSearch(space: searchSpace, strategy: strategyValue, estimator: estimatorValue,
                                      train: searchTrain, validation: validation, settings: settings,
                                      journal: journalStore) { line in
                progress(PassProgress(pass: Self.name, message: line))
            }
        }
        let front = paretoFront(allTrials)
        let timings = try journalStore.timings()
        var details = Details(
            space: searchSpace.name, strategy: strategyValue.name, estimator: estimatorValue.name, seed: seed,
            trials: allTrials.count, evaluated: allTrials.filter { $0.reused != true }.count,
            reused: allTrials.filter { $0.reused == true }.count,
            stopped_early: allTrials.filter { $0.stopped == true }.count,
            search_cpu_seconds: timings.reduce(0) { $0 + $1.cpuSeconds },
            train_samples: allTrials.reduce(0) { $0 + $1.trainSamples }, best: bestTrial(allTrials).map(TrialSummary.init),
            front: front.map(TrialSummary.init), final_test_accuracy: nil, final_epochs: finalEpochs,
            final_cpu_seconds: nil, model: nil, allTrials: allTrials)
        // Workers leave the final training to the merge step.
        var result: ShrinkModel?, testFigures: Metrics?
        if finalEpochs > 0 && (workers == 1 || merge), let best = bestTrial(allTrials) {
            let cpu = processCPUSeconds()
            let graph = try searchSpace.graph(for: best.candidate, inputShape: fullTrain.sampleShape,
                                              classes: fullTrain.classCount, seed: best.seed)
            var c = TrainingConfiguration()
            c.epochs = finalEpochs
            c.seed = best.seed
            _ = try Trainer(graph: graph, configuration: c).fit(train: fullTrain)
            let metrics = try evaluate(graph, on: test)
            let model = Model(architecture: "nas-\(searchSpace.name)", graph: graph, normalization: normalization,
                              provenance: [ProvenanceStep(pass: Self.name, settings: recorded.merging([
                                  "candidate": best.candidate.description, "architecture": best.architecture,
                                  "final_epochs": "\(finalEpochs)",
                              ]) { $1 })], classNames: split.classNames)
            result = try ShrinkModel(model)
            testFigures = metrics
            details.final_test_accuracy = metrics.top1
            details.final_cpu_seconds = processCPUSeconds() - cpu
        }
        return SearchResult(model: result, report: PassReport(
            pass: Self.name, settings: recorded, before: nil,
            after: result.map { ModelFigures($0.cost, validationAccuracy: bestTrial(allTrials)?.accuracy, test: testFigures) },
            details: details))
    }
}

/// A search's outcome, which may hold no model (a worker's share, or no final training).
public struct SearchResult: @unchecked Sendable {
    public var model: ShrinkModel?
    public var report: PassReport
}
