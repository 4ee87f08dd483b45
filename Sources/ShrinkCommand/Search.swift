// `shrink search`: neural architecture search over a declared space, with any strategy and any estimator, a
// resumable journal that several workers can share, and the best architecture retrained fully.
import ArgumentParser
import Foundation
import Shrink

struct Search: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "Search for an architecture: propose candidates from a space, estimate them cheaply, keep the Pareto front, retrain the best.",
        discussion: """
            The training split is divided: its last --validation-samples samples measure every candidate, the rest \
            train them; the test split is used only for the best architecture after it is retrained on the whole \
            training split for --final-epochs. Every trial is appended to a journal (JSON lines in --journal, \
            default OUT/journal): a search killed at any point and run again with the same options continues where \
            it stopped and ends with the same journal. With --worker I/N, N processes (a Slurm job array, a \
            Kubernetes indexed Job) share one journal directory, each evaluating trials I, I+N, …; then \
            'shrink search --merge --journal DIR --out OUT' builds the front from all journals and retrains the \
            best. Writes OUT/best.safetensors, OUT/front.json, OUT/front.svg and OUT/result.json.
            """)

    @Option(help: "The search space: mobile-cnn, mlp, or a YAML/JSON file (see docs/nas.md).")
    var space: String = "mobile-cnn"

    @Option(help: "Data spec: fashion-mnist, a directory of IDX files, or an .npz file.")
    var data: String

    @Option(help: "Output directory (created if missing).")
    var out: String

    @Option(help: "The search strategy: \(StrategyKind.allCases.map(\.rawValue).joined(separator: ", ")).")
    var strategy: String = "random"

    @Option(help: "The performance estimator: \(EstimatorKind.allCases.map(\.rawValue).joined(separator: ", ")).")
    var estimator: String = "low-fidelity"

    @Option(help: "Trials in total (over all workers).")
    var trials: Int = 20

    @Option(help: "CPU seconds the search may spend in total (all workers); stops before the next trial once spent.")
    var budgetSeconds: Double?

    @Option(help: "Only candidates with at most this many multiply-accumulates per sample.")
    var maxMacs: Int?

    @Option(help: "Only candidates with at most this many parameters.")
    var maxParams: Int?

    @Option(help: "Only candidates whose measured batch-1 latency on this machine (1 thread, median) is at most this (ms). Measured latency is not deterministic.")
    var maxLatencyMs: Double?

    @Option(help: "Seed of every random choice (proposals and training).")
    var seed: UInt64 = 0

    @Option(help: "Training epochs per estimate (default: full 3, low-fidelity 1, curve 3).")
    var epochs: Int?

    @Option(help: "Share of the training part that estimates train on (default: low-fidelity and curve 0.2, weight-sharing's supernet 1).")
    var subset: Double?

    @Option(help: "Low-fidelity only: widths scaled by this factor while estimating.")
    var widthFactor: Double = 1

    @Option(help: "Samples at the end of the training split that measure candidates.")
    var validationSamples: Int = 10_000

    @Option(help: "Epochs of the final training of the best architecture on the whole training split (0: skip).")
    var finalEpochs: Int = 5

    @Option(help: "Evolution: population size (the oldest dies); default a quarter of --trials, between 2 and 20.")
    var population: Int?

    @Option(help: "Evolution: tournament size.")
    var sampleSize: Int = 3

    @Option(help: "Weight sharing: SGD steps each candidate takes alone from its inherited weights before it is measured.")
    var finetuneSteps: Int = 10

    @Option(help: "DARTS: epochs of the bilevel search over the supernet.")
    var dartsEpochs: Int = 2

    @Option(help: "DARTS: share of the training part the supernet's weights train on (α trains on the validation part).")
    var dartsSubset: Double = 0.2

    @Option(help: "Run worker I of N (0-based, e.g. 2/4) on a shared --journal directory; workers skip the final training.")
    var worker: String?

    @Option(help: "The journal directory (default OUT/journal).")
    var journal: String?

    @Flag(help: "Only merge the journals in --journal: build the front and retrain the best.")
    var merge = false

    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        guard trials >= 1 && trials <= 100_000 else { throw ValidationError("--trials must be in 1…100000, got \(trials)") }
        if let budgetSeconds, !(budgetSeconds > 0) { throw ValidationError("--budget-seconds must be positive") }
        if let maxMacs, maxMacs < 1 { throw ValidationError("--max-macs must be at least 1") }
        if let maxParams, maxParams < 1 { throw ValidationError("--max-params must be at least 1") }
        if let maxLatencyMs, !(maxLatencyMs > 0) { throw ValidationError("--max-latency-ms must be positive") }
        if let epochs, epochs < 1 || epochs > 10_000 { throw ValidationError("--epochs must be in 1…10000, got \(epochs)") }
        if let subset, !(subset > 0 && subset <= 1) { throw ValidationError("--subset must be in (0, 1], got \(subset)") }
        guard widthFactor > 0 && widthFactor <= 8 else { throw ValidationError("--width-factor must be in (0, 8]") }
        guard validationSamples >= 1 else { throw ValidationError("--validation-samples must be at least 1") }
        guard finalEpochs >= 0 && finalEpochs <= 10_000 else { throw ValidationError("--final-epochs must be in 0…10000") }
        if let population, population < 2 || sampleSize > population {
            throw ValidationError("--population must be at least 2 and --sample-size at most the population")
        }
        guard sampleSize >= 1 else { throw ValidationError("--sample-size must be at least 1") }
        guard finetuneSteps >= 0 && finetuneSteps <= 100_000 else { throw ValidationError("--finetune-steps must be in 0…100000") }
        guard dartsEpochs >= 1 && dartsEpochs <= 1000 else { throw ValidationError("--darts-epochs must be in 1…1000") }
        guard dartsSubset > 0 && dartsSubset <= 1 else { throw ValidationError("--darts-subset must be in (0, 1]") }
        if let worker { _ = try Self.parseWorker(worker) }
    }

    /// The population: as given, or a quarter of the trials (Real et al. evolve 100 of 20,000; with tens of trials a
    /// fixed 10 would leave few children).
    var effectivePopulation: Int { population ?? max(2, min(20, trials / 4)) }

    static func parseWorker(_ text: String) throws -> (Int, Int) {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]), n >= 1, i >= 0, i < n else {
            throw ValidationError("--worker must be I/N with 0 ≤ I < N, got '\(text)'")
        }
        return (i, n)
    }

    struct TrialOutput: Encodable {
        var index: Int, architecture: String, accuracy: Double, macs: Int, parameters: Int, latency_ms: Double?
    }

    struct Output: Encodable {
        var space: String, strategy: String, estimator: String, seed: UInt64
        var trials: Int, evaluated: Int, reused: Int, stopped_early: Int
        var search_cpu_seconds: Double, train_samples: Int
        var best: TrialOutput?
        var front: [TrialOutput]
        var final_test_accuracy: Double?, final_epochs: Int, final_cpu_seconds: Double?, model: String?
    }

    func run() throws {
        try reporting {
            runtime.apply()
            let searchSpace = try SearchSpace.load(space)
            let strategyKind = try StrategyKind(named: strategy)
            let estimatorKind = try EstimatorKind(named: estimator)
            let (workerIndex, workers) = try worker.map(Self.parseWorker) ?? (0, 1)
            do {
                try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            } catch {
                throw ShrinkError(.io, "cannot create the output directory \(out): \(error.localizedDescription)")
            }
            let journalDirectory = journal ?? "\(out)/journal"
            let journalStore = try Journal(directory: journalDirectory, worker: workerIndex, workers: workers)
            let split = try DataSource.load(data)
            guard split.train.count > validationSamples else {
                throw ShrinkError(.value, "the training split has \(split.train.count) samples; --validation-samples "
                    + "\(validationSamples) must leave some to train on")
            }
            let normalization = Normalization.fit(split.train.inputs)
            func prepared(_ d: Dataset) throws -> Dataset {
                var inputs = d.inputs
                normalization.apply(to: &inputs)
                return try Dataset(inputs: inputs, labels: d.labels, classCount: d.classCount)
            }
            let fullTrain = try prepared(split.train), test = try prepared(split.test)
            let searchTrain = fullTrain.rows(0..<(fullTrain.count - validationSamples))
            let validation = fullTrain.rows((fullTrain.count - validationSamples)..<fullTrain.count)

            let strategyValue: any SearchStrategy
            switch strategyKind {
            case .random: strategyValue = RandomSearch()
            case .evolution:
                // A defaulted population may be smaller than the tournament: the tournament shrinks with it.
                strategyValue = RegularizedEvolution(population: effectivePopulation,
                                                     sampleSize: min(sampleSize, effectivePopulation))
            case .reinforce: strategyValue = Reinforce()
            case .bayesian: strategyValue = BayesianOptimization()
            case .darts:
                strategyValue = DifferentiableSearch(train: searchTrain, validation: validation,
                                                     epochs: dartsEpochs, subset: dartsSubset, seed: seed)
            }
            let estimatorValue: any PerformanceEstimator
            switch estimatorKind {
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
                "data": data, "validation_samples": "\(validationSamples)", "workers": "\(workers)",
                "epochs": "\(epochs ?? 0)", "subset": "\(subset ?? 0)", "width_factor": "\(widthFactor)",
                "finetune_steps": "\(finetuneSteps)",
            ]
            if strategyKind == .evolution {
                recorded["population"] = "\(effectivePopulation)"
                recorded["sample_size"] = "\(min(sampleSize, effectivePopulation))"
            }
            if strategyKind == .darts { recorded["darts_epochs"] = "\(dartsEpochs)"; recorded["darts_subset"] = "\(dartsSubset)" }
            if let maxMacs { recorded["max_macs"] = "\(maxMacs)" }
            if let maxParams { recorded["max_params"] = "\(maxParams)" }
            if let maxLatencyMs { recorded["max_latency_ms"] = "\(maxLatencyMs)" }
            try journalStore.claim(settings: recorded)

            let allTrials: [Trial]
            if merge {
                allTrials = try journalStore.trials()
                guard !allTrials.isEmpty else {
                    throw ShrinkError(.value, "the journal in \(journalDirectory) holds no trials to merge")
                }
            } else {
                allTrials = try runSearch(space: searchSpace, strategy: strategyValue, estimator: estimatorValue,
                                          train: searchTrain, validation: validation, settings: settings,
                                          journal: journalStore) { line in
                    if !runtime.json { FileHandle.standardError.write(Data((line + "\n").utf8)) }
                }
            }
            let front = paretoFront(allTrials)
            let timings = try journalStore.timings()
            func output(_ t: Trial) -> TrialOutput {
                TrialOutput(index: t.index, architecture: t.architecture, accuracy: t.accuracy, macs: t.macs,
                            parameters: t.parameters, latency_ms: t.latencyMs)
            }
            try writeJSON(front.map(output), to: "\(out)/front.json")
            try writeFrontChart(all: allTrials, front: front, to: "\(out)/front.svg")

            var result = Output(space: searchSpace.name, strategy: strategyValue.name, estimator: estimatorValue.name,
                                seed: seed, trials: allTrials.count,
                                evaluated: allTrials.filter { $0.reused != true }.count,
                                reused: allTrials.filter { $0.reused == true }.count,
                                stopped_early: allTrials.filter { $0.stopped == true }.count,
                                search_cpu_seconds: timings.reduce(0) { $0 + $1.cpuSeconds },
                                train_samples: allTrials.reduce(0) { $0 + $1.trainSamples },
                                best: bestTrial(allTrials).map(output), front: front.map(output),
                                final_test_accuracy: nil, final_epochs: finalEpochs, final_cpu_seconds: nil, model: nil)
            // Workers leave the final training to the merge step.
            if finalEpochs > 0 && (workers == 1 || merge), let best = bestTrial(allTrials) {
                let cpu = processCPUSeconds()
                let graph = try searchSpace.graph(for: best.candidate, inputShape: fullTrain.sampleShape,
                                                  classes: fullTrain.classCount, seed: best.seed)
                var c = TrainingConfiguration()
                c.epochs = finalEpochs
                c.seed = best.seed
                _ = Trainer(graph: graph, configuration: c).fit(train: fullTrain)
                let accuracy = evaluate(graph, on: test).top1
                let model = Model(architecture: "nas-\(searchSpace.name)", graph: graph, normalization: normalization,
                                  provenance: [ProvenanceStep(pass: "search", settings: recorded.merging([
                                      "candidate": best.candidate.description, "architecture": best.architecture,
                                      "final_epochs": "\(finalEpochs)",
                                  ]) { $1 })])
                let path = "\(out)/best.safetensors"
                try model.save(to: path)
                result.final_test_accuracy = accuracy
                result.final_cpu_seconds = processCPUSeconds() - cpu
                result.model = path
            }
            try writeJSON(result, to: "\(out)/result.json")
            if runtime.json {
                print(try jsonString(result))
            } else {
                var table = TextTable(headers: ["trial", "architecture", "estimate", "MACs", "parameters"])
                for t in front {
                    table.append(["\(t.index)", t.architecture, String(format: "%.2f%%", 100 * t.accuracy),
                                  groupedThousands(t.macs), groupedThousands(t.parameters)])
                }
                print("Pareto front (\(front.count) of \(allTrials.count) trials; search \(String(format: "%.1f", result.search_cpu_seconds)) CPU s):")
                print(table)
                if let best = result.best {
                    print(String(format: "best: trial %d, %@ — estimate %.2f%%", best.index, best.architecture, 100 * best.accuracy)
                          + (result.final_test_accuracy.map { String(format: "; retrained %d epochs: test accuracy %.2f%%, saved %@",
                                                                     finalEpochs, 100 * $0, result.model ?? "") } ?? ""))
                }
            }
        }
    }

    private func writeJSON<T: Encodable>(_ value: T, to path: String) throws {
        try AtomicFile.write(Array(try jsonString(value).utf8) + [UInt8(ascii: "\n")], to: path)
    }

    private func writeFrontChart(all: [Trial], front: [Trial], to path: String) throws {
        var chart = LineChart(title: "Architecture search: validation accuracy against MACs", xLabel: "MACs per sample (millions)",
                              yLabel: "validation accuracy (%)", series: [
                                  .init(name: "all trials", points: all.map { (Double($0.macs) / 1e6, 100 * $0.accuracy) },
                                        connected: false),
                                  .init(name: "Pareto front", points: front.map { (Double($0.macs) / 1e6, 100 * $0.accuracy) }),
                              ])
        chart.width = 760
        try AtomicFile.write(Array(chart.svg.utf8), to: path)
    }
}
