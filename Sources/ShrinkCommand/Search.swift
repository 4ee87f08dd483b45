// `shrink search`: SearchPass — neural architecture search over a declared space, with any strategy and any estimator, a
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
    var space: String = SearchPass(journal: "").space

    @OptionGroup var data: DataOptions

    @Option(help: "Output directory (created if missing).")
    var out: String

    @Option(help: "The search strategy.")
    var strategy: StrategyKind = SearchPass(journal: "").strategy

    @Option(help: "The performance estimator.")
    var estimator: EstimatorKind = SearchPass(journal: "").estimator

    @Option(help: "Trials in total (over all workers).")
    var trials: Int = SearchPass(journal: "").trials

    @Option(help: "CPU seconds the search may spend in total (all workers); stops before the next trial once spent.")
    var budgetSeconds: Double?

    @Option(help: "Only candidates with at most this many multiply-accumulates per sample.")
    var maxMacs: Int?

    @Option(help: "Only candidates with at most this many parameters.")
    var maxParams: Int?

    @Option(help: "Only candidates whose measured batch-1 latency on this machine (1 thread, median) is at most this (ms). Measured latency is not deterministic.")
    var maxLatencyMs: Double?

    @Option(help: "Seed of every random choice (proposals and training).")
    var seed: UInt64 = SearchPass(journal: "").seed

    @Option(help: "Training epochs per estimate (default: full 3, low-fidelity 1, curve 3).")
    var epochs: Int?

    @Option(help: "Share of the training part that estimates train on (default: low-fidelity and curve 0.2, weight-sharing's supernet 1).")
    var subset: Double?

    @Option(help: "Low-fidelity only: widths scaled by this factor while estimating.")
    var widthFactor: Double = SearchPass(journal: "").widthFactor

    @Option(help: "Samples at the end of the training split that measure candidates.")
    var validationSamples: Int = SearchPass(journal: "").validationSamples

    @Option(help: "Epochs of the final training of the best architecture on the whole training split (0: skip).")
    var finalEpochs: Int = SearchPass(journal: "").finalEpochs

    @Option(help: "Evolution: population size (the oldest dies); default a quarter of --trials, between 2 and 20.")
    var population: Int?

    @Option(help: "Evolution: tournament size.")
    var sampleSize: Int = SearchPass(journal: "").sampleSize

    @Option(help: "Weight sharing: SGD steps each candidate takes alone from its inherited weights before it is measured.")
    var finetuneSteps: Int = SearchPass(journal: "").finetuneSteps

    @Option(help: "DARTS: epochs of the bilevel search over the supernet.")
    var dartsEpochs: Int = SearchPass(journal: "").dartsEpochs

    @Option(help: "DARTS: share of the training part the supernet's weights train on (α trains on the validation part).")
    var dartsSubset: Double = SearchPass(journal: "").dartsSubset

    @Option(help: "Run worker I of N (0-based, e.g. 2/4) on a shared --journal directory; workers skip the final training.")
    var worker: String?

    @Option(help: "The journal directory (default OUT/journal).")
    var journal: String?

    @Flag(help: "Only merge the journals in --journal: build the front and retrain the best.")
    var merge = false

    @OptionGroup var runtime: RuntimeOptions

    static func parseWorker(_ text: String) throws -> (Int, Int) {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]), n >= 1, i >= 0, i < n else {
            throw ValidationError("--worker must be I/N with 0 ≤ I < N, got '\(text)'")
        }
        return (i, n)
    }

    func pass() throws -> SearchPass {
        var p = SearchPass(journal: journal ?? "\(out)/journal")
        p.space = space
        p.strategy = strategy
        p.estimator = estimator
        p.trials = trials
        p.budgetSeconds = budgetSeconds
        p.maxMacs = maxMacs
        p.maxParams = maxParams
        p.maxLatencyMs = maxLatencyMs
        p.seed = seed
        p.epochs = epochs
        p.subset = subset
        p.widthFactor = widthFactor
        p.validationSamples = validationSamples
        p.finalEpochs = finalEpochs
        p.population = population
        p.sampleSize = sampleSize
        p.finetuneSteps = finetuneSteps
        p.dartsEpochs = dartsEpochs
        p.dartsSubset = dartsSubset
        (p.worker, p.workers) = try worker.map(Self.parseWorker) ?? (0, 1)
        p.merge = merge
        return p
    }

    func validate() throws { try validating(try pass()) }

    func run() throws {
        try reporting {
            runtime.apply()
            do {
                try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            } catch {
                throw ShrinkError(.io, "cannot create the output directory \(out): \(error.localizedDescription)")
            }
            let outcome = try pass().search(data: try data.load(), progress: ProgressPrinter("search", quiet: runtime.json).handler)
            var report = outcome.report
            var d = try details(of: report, as: SearchPass.Details.self)
            if let model = outcome.model {
                let path = "\(out)/best.safetensors"
                try model.save(to: path)
                d.model = path
                report.details = d
            }
            try d.write(to: out)
            if runtime.json {
                print(try jsonString(report))
                return
            }
            var table = TextTable(headers: ["trial", "architecture", "estimate", "MACs", "parameters"])
            for t in d.front {
                table.append(["\(t.index)", t.architecture, String(format: "%.2f%%", 100 * t.accuracy),
                              groupedThousands(t.macs), groupedThousands(t.parameters)])
            }
            print("Pareto front (\(d.front.count) of \(d.trials) trials; search \(String(format: "%.1f", d.search_cpu_seconds)) CPU s):")
            print(table)
            if let best = d.best {
                print(String(format: "best: trial %d, %@ — estimate %.2f%%", best.index, best.architecture, 100 * best.accuracy)
                      + (d.final_test_accuracy.map { String(format: "; retrained %d epochs: test accuracy %.2f%%, saved %@",
                                                            finalEpochs, 100 * $0, d.model ?? "") } ?? ""))
            }
        }
    }
}
