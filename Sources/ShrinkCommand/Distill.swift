// `shrink distill`: trains a student against a teacher — response-based (soft targets), feature-based (FitNets hints
// or attention transfer) or relation-based (RKD) — and, with --seeds K, the same student K times with and K times
// without distillation, so the gain is read against the spread between seeds.
import ArgumentParser
import Foundation
import Shrink

struct Distill: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a student model from a teacher (knowledge distillation).",
        discussion: """
            The student is a built-in architecture (--arch, initialised from the seed) or a model file (--student, \
            e.g. a pruned model distilled from its dense parent). The teacher runs once over the training split in \
            inference mode and its outputs are cached. Kinds: response (α·T²·KL(teacher ‖ student) + (1 − α)·CE), \
            feature (CE + β·MSE between the student's node, through a learned 1×1 conv or linear regressor, and the \
            teacher's), attention (CE + β/2 · mean squared difference of normalised attention maps) and relation (CE + β·Huber \
            of normalised pairwise distances, RKD). Feature, attention and relation use --feature-pairs \
            teacherNode:studentNode, by default the input of each network's last layer (attention: the last feature \
            maps of equal size). With --seeds K the student is trained K times with distillation and K times alone \
            (seeds 0…K−1, same epochs and schedule) and the test accuracies are reported as mean ± standard \
            deviation; the first distilled student is saved.
            """)

    @Option(help: "The teacher model file (.safetensors).")
    var teacher: String

    @Option(help: "Student architecture to train from scratch: \(Architecture.names).")
    var arch: String?

    @Option(help: "Student model file to start from (instead of --arch).")
    var student: String?

    @Option(help: "Data spec: fashion-mnist, a directory of IDX files, or an .npz file.")
    var data: String

    @Option(help: "Output model file for the (first) distilled student; written atomically.")
    var out: String

    @Option(help: "response, feature, attention or relation.")
    var kind: String = "response"

    @Option(help: "Softmax temperature of the response loss (> 0).")
    var temperature: Float = 4

    @Option(help: "Weight of the soft term in the response loss, in [0, 1].")
    var alpha: Float = 0.5

    @Option(help: "Weight of the feature, attention or relation term (default 1, 1000 and 25).")
    var beta: Float?

    @Option(help: "teacherNode:studentNode for feature, attention and relation distillation.")
    var featurePairs: String?

    @Option(help: "Response distillation at each of these temperatures (comma-separated), against one set of students trained alone: a temperature sweep.")
    var temperatures: String?

    @Option(help: "With --temperatures: also write the sweep as an SVG chart to this file (written atomically).")
    var svg: String?

    @Option(help: "Training epochs of each student.")
    var epochs: Int = 3

    @Option(help: "Students trained with and without distillation (seeds 0…K−1).")
    var seeds: Int = 1

    @Option(help: "Base learning rate (SGD with Nesterov momentum, warm-up and cosine decay).")
    var lr: Float = 0.05

    @Option(help: "Samples per step.")
    var batchSize: Int = 128

    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        guard (arch == nil) != (student == nil) else { throw ValidationError("give either --arch NAME or --student MODEL") }
        guard epochs >= 1 && epochs <= 10_000 else { throw ValidationError("--epochs must be in 1…10000, got \(epochs)") }
        guard seeds >= 1 && seeds <= 100 else { throw ValidationError("--seeds must be in 1…100, got \(seeds)") }
        guard temperature > 0 && temperature.isFinite else {
            throw ValidationError("--temperature must be positive, got \(temperature)")
        }
        guard alpha >= 0 && alpha <= 1 else { throw ValidationError("--alpha must be in [0, 1], got \(alpha)") }
        if let beta, !(beta >= 0 && beta.isFinite) { throw ValidationError("--beta must be non-negative, got \(beta)") }
        guard lr > 0 && lr.isFinite else { throw ValidationError("--lr must be positive, got \(lr)") }
        guard batchSize >= 1 && batchSize <= 65_536 else {
            throw ValidationError("--batch-size must be in 1…65536, got \(batchSize)")
        }
        _ = try DistillationKind(named: kind)
        _ = try parsedPair()
        if temperatures != nil {
            guard kind == "response" else { throw ValidationError("--temperatures sweeps response distillation only") }
            _ = try parsedTemperatures()
        }
        if svg != nil && temperatures == nil { throw ValidationError("--svg draws a --temperatures sweep") }
    }

    func parsedTemperatures() throws -> [Float] {
        let values = (temperatures ?? "").split(separator: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ $0 != nil && $0! > 0 && $0!.isFinite }) else {
            throw ValidationError("--temperatures must be positive numbers separated by commas, got '\(temperatures ?? "")'")
        }
        return values.map { $0! }
    }

    func parsedPair() throws -> FeaturePair? {
        guard let featurePairs else { return nil }
        let parts = featurePairs.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw ValidationError("--feature-pairs must be teacherNode:studentNode, got '\(featurePairs)'")
        }
        return FeaturePair(teacher: parts[0], student: parts[1])
    }

    struct Summary: Encodable {
        var accuracies: [Double]
        var mean: Double, std: Double
    }

    struct Output: Encodable {
        var out: String, kind: String, temperature: Float, alpha: Float, beta: Float?, pair: FeaturePair?
        var teacher_accuracy: Double
        var student_parameters: Int, teacher_parameters: Int
        var epochs: Int, seeds: Int
        var with_distillation: Summary
        var student_alone: Summary?
        /// With --temperatures: one entry per temperature (with_distillation is then the first's).
        var sweep: [SweepPoint]?
    }

    struct SweepPoint: Encodable {
        var temperature: Float
        var accuracies: [Double]
        var mean: Double, std: Double
    }

    func run() throws {
        try reporting {
            runtime.apply()
            try checkWritable(out)
            let teacherModel = try loadFloat(teacher)
            let split = try DataSource.load(data)
            let train = try teacherModel.prepare(split.train), test = try teacherModel.prepare(split.test)
            var settings = DistillationSettings()
            settings.kind = try DistillationKind(named: kind)
            settings.temperature = temperature
            settings.alpha = alpha
            settings.beta = beta
            settings.pair = try parsedPair()
            try settings.validate()
            let teacherAccuracy = evaluate(teacherModel.graph, on: test).top1
            /// A fresh student for `seed`: the architecture initialised from it, or the model file as it is.
            func makeStudent(seed: UInt64) throws -> Model {
                if let arch {
                    let graph = try Architecture(named: arch).makeGraph(inputShape: train.sampleShape,
                                                                        classes: train.classCount, seed: seed)
                    return Model(architecture: arch, graph: graph, normalization: teacherModel.normalization)
                }
                let model = try loadFloat(student!)
                guard model.graph.outputShape == teacherModel.graph.outputShape else {
                    throw ShrinkError(.value, "the teacher has \(teacherModel.graph.outputShape.first ?? 0) classes and "
                        + "the student \(student!) \(model.graph.outputShape.first ?? 0); they must match")
                }
                guard model.normalization == teacherModel.normalization else {
                    throw ShrinkError(.value, "\(student!) normalises inputs differently from \(teacher); distil a "
                        + "student trained on the same data")
                }
                return model
            }
            var configuration = TrainingConfiguration()
            configuration.epochs = epochs
            configuration.learningRate = lr
            configuration.batchSize = batchSize
            if let svg { try checkWritable(svg) }
            let sweepTemperatures = temperatures == nil ? [temperature] : try parsedTemperatures()
            var sweep: [SweepPoint] = [], alone: [Double] = []
            var firstStudent: Model?
            var parameters = 0
            for t in sweepTemperatures {
                settings.temperature = t
                var distilled: [Double] = []
                for seed in 0..<seeds {
                    configuration.seed = UInt64(seed)
                    let model = try makeStudent(seed: UInt64(seed))
                    parameters = model.graph.cost().parameters
                    _ = try Shrink.distill(student: model, teacher: teacherModel, train: train, settings: settings,
                                           training: configuration)
                    distilled.append(evaluate(model.graph, on: test).top1)
                    if firstStudent == nil { firstStudent = model }
                    let label = settings.kind == .response ? String(format: "T %g, ", t) : ""
                    printError(String(format: "%@seed %d: distilled %.2f%%", label, seed, 100 * distilled.last!))
                }
                let summary = meanAndStandardDeviation(distilled)
                sweep.append(SweepPoint(temperature: t, accuracies: distilled, mean: summary.mean, std: summary.std))
            }
            if seeds > 1 || temperatures != nil {
                for seed in 0..<seeds {
                    configuration.seed = UInt64(seed)
                    let baseline = try makeStudent(seed: UInt64(seed))
                    _ = Trainer(graph: baseline.graph, configuration: configuration).fit(train: train)
                    alone.append(evaluate(baseline.graph, on: test).top1)
                    printError(String(format: "seed %d: alone %.2f%%", seed, 100 * alone.last!))
                }
            }
            try firstStudent!.save(to: out)
            let distilled = sweep[0].accuracies
            let d = meanAndStandardDeviation(distilled), a = meanAndStandardDeviation(alone)
            if let svg {
                var chart = LineChart(title: "Response distillation into \(firstStudent!.architecture): \(seeds) seeds",
                                      xLabel: "temperature T", yLabel: "test accuracy (%)", series: [
                    .init(name: "distilled, mean", points: sweep.map { (Double($0.temperature), 100 * $0.mean) }),
                    .init(name: "distilled, mean − std", points: sweep.map { (Double($0.temperature), 100 * ($0.mean - $0.std)) }),
                    .init(name: "alone, mean", points: sweep.map { (Double($0.temperature), 100 * a.mean) }),
                    .init(name: "alone, mean + std", points: sweep.map { (Double($0.temperature), 100 * (a.mean + a.std)) }),
                ])
                chart.width = 760
                try AtomicFile.write(Array(chart.svg.utf8), to: svg)
            }
            let pair = settings.kind == .response ? nil
                : try settings.pair ?? defaultPair(teacher: teacherModel.graph, student: firstStudent!.graph,
                                                   kind: settings.kind)
            let output = Output(out: out, kind: kind, temperature: temperature, alpha: alpha,
                                beta: settings.kind == .response ? nil : settings.effectiveBeta, pair: pair,
                                teacher_accuracy: teacherAccuracy, student_parameters: parameters,
                                teacher_parameters: teacherModel.graph.cost().parameters, epochs: epochs, seeds: seeds,
                                with_distillation: Summary(accuracies: distilled, mean: d.mean, std: d.std),
                                student_alone: alone.isEmpty ? nil : Summary(accuracies: alone, mean: a.mean, std: a.std),
                                sweep: temperatures == nil ? nil : sweep)
            if runtime.json {
                print(try jsonString(output))
            } else if temperatures != nil {
                var table = TextTable(headers: ["T", "distilled mean", "std", "− alone"])
                for point in sweep {
                    table.append([String(format: "%g", point.temperature), String(format: "%.2f%%", 100 * point.mean),
                                  String(format: "%.2f", 100 * point.std), String(format: "%+.2f", 100 * (point.mean - a.mean))])
                }
                print(String(format: "student alone: %.2f%% ± %.2f over %d seeds (teacher %.2f%%)", 100 * a.mean,
                             100 * a.std, seeds, 100 * teacherAccuracy))
                print(table)
            } else if alone.isEmpty {
                print(String(format: "distilled student: test accuracy %.2f%% (teacher %.2f%%); saved %@",
                             100 * d.mean, 100 * teacherAccuracy, out))
            } else {
                print(String(format: "with distillation %.2f%% ± %.2f, alone %.2f%% ± %.2f over %d seeds (teacher %.2f%%); "
                             + "difference %+.2f points; saved %@", 100 * d.mean, 100 * d.std, 100 * a.mean, 100 * a.std,
                             seeds, 100 * teacherAccuracy, 100 * (d.mean - a.mean), out))
            }
        }
    }

    /// A float model file (quantized ones are refused: the engine trains float models).
    private func loadFloat(_ path: String) throws -> Model {
        try loadFloatModel(path, advice: "distil with float models").model
    }
}
