// The pass shape every technique shares: (model, data, settings) → (new model, report). The input is never
// mutated; the report carries the settings, the before/after figures and the pass's own details; progress goes
// through one callback type; settings validate in one place (`validate()`), which the CLI and recipes call too.
import Datasets
import Foundation
import NeuralNetworks
import Tensors

/// What a pass tells while it runs.
public struct PassProgress: Sendable {
    /// The pass (`prune`, `quantize`, …).
    public var pass: String
    /// One line for a log: "round 2: target 0.750, sparsity 0.750, validation 90.12% after pruning".
    public var message: String
    /// Steps done and in total, for a progress bar (training batches); nil for a milestone.
    public var completed: Int?
    public var total: Int?

    public init(pass: String, message: String, completed: Int? = nil, total: Int? = nil) {
        self.pass = pass
        self.message = message
        self.completed = completed
        self.total = total
    }
}

/// The one progress callback type of every pass.
public typealias ProgressHandler = (PassProgress) -> Void

/// A model's figures before or after a pass.
public struct ModelFigures: Codable, Sendable, Equatable {
    /// Accuracy on the validation samples the pass held out of the training split, when it uses any.
    public var validationAccuracy: Double?
    /// Accuracy (top-1 and top-5) on the test split, when the data has one.
    public var testAccuracy: Double?
    public var testTop5: Double?
    public var parameters: Int
    public var nonzeroParameters: Int
    public var macs: Int
    public var bytes: Int

    public init(_ cost: ModelCost, validationAccuracy: Double? = nil, test: Metrics? = nil) {
        self.validationAccuracy = validationAccuracy
        testAccuracy = test?.top1
        testTop5 = test?.top5
        parameters = cost.parameters
        nonzeroParameters = cost.nonzeroParameters
        macs = cost.macs
        bytes = cost.bytes
    }

    enum CodingKeys: String, CodingKey {
        case validationAccuracy = "validation_accuracy", testAccuracy = "test_accuracy", testTop5 = "test_top5"
        case parameters, nonzeroParameters = "nonzero_parameters", macs, bytes
    }
}

/// What a pass reports: its name and settings, the figures of the model before and after, and its own details.
///
/// Encoded as one JSON object: `pass`, `settings`, `before`, `after`, and the details' own keys beside them (the
/// keys each `shrink` subcommand printed with `--json`).
public struct PassReport: Encodable, @unchecked Sendable {
    public var pass: String
    /// The settings as recorded in the model's provenance.
    public var settings: [String: String]
    /// The input model's figures (nil for a pass that starts from no model: train, search, import).
    public var before: ModelFigures?
    /// The output model's figures (for eval and bench: the same model's).
    public var after: ModelFigures?
    /// The pass's own figures: attempts, rounds, trials, epochs, latency.
    public var details: any Encodable
    /// The file the caller saved the output to, when it did (encoded as `out`).
    public var out: String?

    public init(pass: String, settings: [String: String], before: ModelFigures?, after: ModelFigures?,
                details: any Encodable) {
        self.pass = pass
        self.settings = settings
        self.before = before
        self.after = after
        self.details = details
    }

    private enum CodingKeys: String, CodingKey { case pass, settings, before, after, out }

    public func encode(to encoder: any Encoder) throws {
        try details.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(pass, forKey: .pass)
        try container.encode(settings, forKey: .settings)
        try container.encodeIfPresent(before, forKey: .before)
        try container.encodeIfPresent(after, forKey: .after)
        try container.encodeIfPresent(out, forKey: .out)
    }

    /// The details as their own type.
    public func details<T>(as type: T.Type) -> T? { details as? T }
}

/// A pass's result: the new model and the report.
public struct PassResult: @unchecked Sendable {
    public var model: ShrinkModel
    public var report: PassReport

    public init(model: ShrinkModel, report: PassReport) {
        self.model = model
        self.report = report
    }
}

/// A compression, conversion or measurement pass: one call of the same shape for every technique.
///
/// `model` is the model the pass works on (nil for a pass that starts from none: train, search, import); `data`
/// the data spec's splits, raw (the pass normalises them as the model expects); the input is never mutated.
public protocol Pass: Sendable {
    /// The pass's name in reports, recipes and provenance (`prune`, `quantize`, …).
    static var name: String { get }
    /// Checks the settings; the one place they are validated (the CLI and recipes call it before anything runs).
    func validate() throws
    /// Runs the pass.
    func run(_ model: ShrinkModel?, data: DataSplit?, progress: @escaping ProgressHandler) throws -> PassResult
}

extension Pass {
    /// `run` without progress.
    public func run(_ model: ShrinkModel?, data: DataSplit?) throws -> PassResult {
        try run(model, data: data, progress: { _ in })
    }

    /// The model a pass needs, or an error saying so.
    func required(_ model: ShrinkModel?) throws -> ShrinkModel {
        guard let model else { throw ShrinkError(.value, "\(Self.name) needs a model to work on") }
        return model
    }

    /// The data a pass needs, or an error saying so.
    func required(_ data: DataSplit?) throws -> DataSplit {
        guard let data else { throw ShrinkError(.value, "\(Self.name) needs data (a data spec's train and test splits)") }
        return data
    }
}

/// Checks `value` is in `range`, naming the setting (its recipe key and CLI option) when it is not.
func check<T: Comparable>(_ value: T, in range: ClosedRange<T>, _ key: String) throws {
    guard range.contains(value) else {
        throw ShrinkError(.value, "\(key) must be in \(range.lowerBound)…\(range.upperBound), got \(value)")
    }
}

/// Checks a learning rate or another positive finite number.
func checkPositive(_ value: Float, _ key: String) throws {
    guard value > 0 && value.isFinite else { throw ShrinkError(.value, "\(key) must be positive, got \(value)") }
}

/// The test split's metrics of `model`, or nil when the split is empty.
func testMetrics(_ model: ShrinkModel, _ data: DataSplit) throws -> Metrics? {
    data.test.count > 0 ? try model.evaluate(on: data.test) : nil
}

/// The share of rows of two (N, classes) logit tensors whose arg-max class is the same.
public func agreement(_ a: Tensor, _ b: Tensor) -> Double {
    let same = zip(a.argmaxRows(), b.argmaxRows()).filter { $0 == $1 }.count
    return Double(same) / Double(max(a.shape[0], 1))
}
