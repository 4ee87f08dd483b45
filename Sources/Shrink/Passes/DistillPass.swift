// DistillPass: trains a student against the input model as teacher — response-, feature-, attention- or
// relation-based — and, with `seeds` K, the same student K times with and K times without distillation, so the gain
// is read against the spread between seeds (or a temperature sweep against one set of students trained alone).
import Datasets
import Distillation
import Foundation
import NeuralNetworks
import Reports
import Tensors

/// Where a distillation's student comes from.
public enum StudentSource: @unchecked Sendable {
    /// A built-in architecture initialised from each seed.
    case architecture(Architecture)
    /// A float model as it is (e.g. a pruned model distilled from its dense parent).
    case model(ShrinkModel)
}

/// Knowledge distillation into a student; the input model is the teacher. Returns the first distilled student.
public struct DistillPass: RecipePass {
    public static let name = "distill"
    public var student: StudentSource
    public var settings = DistillationSettings()
    /// Response distillation at each of these temperatures against one set of students trained alone (a sweep);
    /// nil: `settings.temperature` only.
    public var temperatures: [Float]?
    public var epochs = 3
    /// Students trained with and without distillation (seeds 0…K−1).
    public var seeds = 1
    public var learningRate: Float = 0.05
    public var batchSize = 128

    public init(student: StudentSource) { self.student = student }

    /// Recipes name the student architecture (`arch`); a student file is given in Swift or on the command line.
    public static let optionKeys = ["arch", "kind", "temperature", "alpha", "beta", "feature_pairs", "temperatures",
                                    "epochs", "seeds", "lr", "batch_size"]

    public init(options: inout PassOptions) throws {
        guard let arch = try options.choice("arch", Architecture.self) else {
            throw ShrinkError(.format, "\(options.location): distill needs 'arch', the student architecture (one of "
                + "\(Architecture.names))")
        }
        student = .architecture(arch)
        settings.kind = try options.choice("kind", DistillationKind.self) ?? settings.kind
        settings.temperature = try options.float("temperature") ?? settings.temperature
        settings.alpha = try options.float("alpha") ?? settings.alpha
        settings.beta = try options.float("beta")
        if let pair = options.string("feature_pairs") { settings.pair = try DistillPass.pair(pair) }
        if let list = options.list("temperatures") {
            temperatures = try list.map { text in
                guard let t = Float(text) else {
                    throw ShrinkError(.format, "\(options.location): 'temperatures' must be numbers, got '\(text)'")
                }
                return t
            }
        }
        epochs = try options.int("epochs") ?? epochs
        seeds = try options.int("seeds") ?? seeds
        learningRate = try options.float("lr") ?? learningRate
        batchSize = try options.int("batch_size") ?? batchSize
    }

    /// Parses "teacherNode:studentNode".
    public static func pair(_ text: String) throws -> FeaturePair {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw ShrinkError(.value, "feature_pairs must be teacherNode:studentNode, got '\(text)'")
        }
        return FeaturePair(teacher: parts[0], student: parts[1])
    }

    public func fast() -> DistillPass {
        var copy = self
        copy.epochs = min(epochs, 1)
        copy.seeds = min(seeds, 1)
        return copy
    }

    public func validate() throws {
        try check(epochs, in: 1...10_000, "epochs")
        try check(seeds, in: 1...100, "seeds")
        try checkPositive(settings.temperature, "temperature")
        guard settings.alpha >= 0 && settings.alpha <= 1 else {
            throw ShrinkError(.value, "alpha must be in [0, 1], got \(settings.alpha)")
        }
        if let beta = settings.beta, !(beta >= 0 && beta.isFinite) {
            throw ShrinkError(.value, "beta must be non-negative, got \(beta)")
        }
        try checkPositive(learningRate, "lr")
        try check(batchSize, in: 1...65_536, "batch_size")
        if let temperatures {
            guard settings.kind == .response else { throw ShrinkError(.value, "temperatures sweeps response distillation only") }
            guard !temperatures.isEmpty, temperatures.allSatisfy({ $0 > 0 && $0.isFinite }) else {
                throw ShrinkError(.value, "temperatures must be positive numbers")
            }
        }
        if case .model(let model) = student, model.engine != .float {
            throw ShrinkError(.value, "\(model.origin) is already quantized (\(model.engine.rawValue)); distil with float models")
        }
        try settings.validate()
    }

    /// Accuracies over seeds.
    public struct Summary: Encodable, Sendable {
        public var accuracies: [Double]
        public var mean: Double, std: Double

        init(_ accuracies: [Double]) {
            let s = meanAndStandardDeviation(accuracies)
            self.accuracies = accuracies
            mean = s.mean
            std = s.std
        }
    }

    /// One temperature of a sweep.
    public struct SweepPoint: Encodable, Sendable {
        public var temperature: Float
        public var accuracies: [Double]
        public var mean: Double, std: Double
    }

    /// The `shrink distill --json` document.
    public struct Details: Encodable, Sendable {
        public var kind: String, temperature: Float, alpha: Float, beta: Float?, pair: FeaturePair?
        public var teacher_accuracy: Double
        public var student_parameters: Int, teacher_parameters: Int
        public var epochs: Int, seeds: Int
        public var with_distillation: Summary
        public var student_alone: Summary?
        /// With `temperatures`: one entry per temperature (with_distillation is then the first's).
        public var sweep: [SweepPoint]?
        /// The student's architecture.
        public var student: String

        /// The sweep as a chart: distilled mean (and mean − std) against the students alone (mean and mean + std).
        public var sweepChart: LineChart? {
            guard let sweep, let alone = student_alone else { return nil }
            var chart = LineChart(title: "Response distillation into \(student): \(seeds) seeds",
                                  xLabel: "temperature T", yLabel: "test accuracy (%)", series: [
                .init(name: "distilled, mean", points: sweep.map { (Double($0.temperature), 100 * $0.mean) }),
                .init(name: "distilled, mean − std", points: sweep.map { (Double($0.temperature), 100 * ($0.mean - $0.std)) }),
                .init(name: "alone, mean", points: sweep.map { (Double($0.temperature), 100 * alone.mean) }),
                .init(name: "alone, mean + std", points: sweep.map { (Double($0.temperature), 100 * (alone.mean + alone.std)) }),
            ])
            chart.width = 760
            return chart
        }
    }

    public func run(_ model: ShrinkModel?, data: DataSplit?, progress: @escaping ProgressHandler) throws -> PassResult {
        try validate()
        let teacherFile = try required(model), split = try required(data)
        let teacher = try teacherFile.floatModel(advice: "distil with float models")
        let train = try teacher.prepare(split.train), test = try teacher.prepare(split.test)
        let teacherTest = try evaluate(teacher.graph, on: test)
        /// A fresh student for `seed`: the architecture initialised from it, or the model as it is.
        func makeStudent(seed: UInt64) throws -> Model {
            switch student {
            case .architecture(let arch):
                let graph = try arch.makeGraph(inputShape: train.sampleShape, classes: train.classCount, seed: seed)
                return Model(architecture: arch.rawValue, graph: graph, normalization: teacher.normalization,
                             classNames: teacher.classNames)
            case .model(let file):
                let model = try file.floatModel(advice: "distil with float models")
                guard model.graph.outputShape == teacher.graph.outputShape else {
                    throw ShrinkError(.value, "the teacher has \(teacher.graph.outputShape.first ?? 0) classes and the "
                        + "student \(file.origin) \(model.graph.outputShape.first ?? 0); they must match")
                }
                guard model.normalization == teacher.normalization else {
                    throw ShrinkError(.value, "\(file.origin) normalises inputs differently from \(teacherFile.origin); "
                        + "distil a student trained on the same data")
                }
                return model
            }
        }
        var configuration = TrainingConfiguration()
        configuration.epochs = epochs
        configuration.learningRate = learningRate
        configuration.batchSize = batchSize
        var settings = self.settings
        var sweep: [SweepPoint] = [], alone: [Double] = []
        var first: Model?
        var parameters = 0
        for t in temperatures ?? [settings.temperature] {
            settings.temperature = t
            var distilled: [Double] = []
            for seed in 0..<seeds {
                configuration.seed = UInt64(seed)
                let studentModel = try makeStudent(seed: UInt64(seed))
                parameters = studentModel.graph.cost().parameters
                _ = try distill(student: studentModel, teacher: teacher, train: train, settings: settings,
                                training: configuration)
                let accuracy = try evaluate(studentModel.graph, on: test).top1
                distilled.append(accuracy)
                if first == nil { first = studentModel }
                let label = settings.kind == .response ? String(format: "T %g, ", t) : ""
                progress(PassProgress(pass: Self.name, message: String(format: "%@seed %d: distilled %.2f%%", label, seed,
                                                                       100 * accuracy)))
            }
            let summary = Summary(distilled)
            sweep.append(SweepPoint(temperature: t, accuracies: distilled, mean: summary.mean, std: summary.std))
        }
        if seeds > 1 || temperatures != nil {
            for seed in 0..<seeds {
                configuration.seed = UInt64(seed)
                let baseline = try makeStudent(seed: UInt64(seed))
                _ = try Trainer(graph: baseline.graph, configuration: configuration).fit(train: train)
                alone.append(try evaluate(baseline.graph, on: test).top1)
                progress(PassProgress(pass: Self.name, message: String(format: "seed %d: alone %.2f%%", seed,
                                                                       100 * alone.last!)))
            }
        }
        guard let first else { throw ShrinkError(.value, "distillation trained no student") }
        let result = try ShrinkModel(first)
        let pair = settings.kind == .response ? nil
            : try settings.pair ?? defaultPair(teacher: teacher.graph, student: first.graph, kind: settings.kind)
        let details = Details(
            kind: settings.kind.rawValue, temperature: self.settings.temperature, alpha: settings.alpha,
            beta: settings.kind == .response ? nil : settings.effectiveBeta, pair: pair,
            teacher_accuracy: teacherTest.top1, student_parameters: parameters,
            teacher_parameters: teacher.graph.cost().parameters, epochs: epochs, seeds: seeds,
            with_distillation: Summary(sweep[0].accuracies), student_alone: alone.isEmpty ? nil : Summary(alone),
            sweep: temperatures == nil ? nil : sweep, student: first.architecture)
        return PassResult(model: result, report: PassReport(
            pass: Self.name, settings: result.provenance.last?.settings ?? [:],
            before: ModelFigures(teacherFile.cost, test: teacherTest),
            after: ModelFigures(result.cost, test: try testMetrics(result, split)), details: details))
    }
}
