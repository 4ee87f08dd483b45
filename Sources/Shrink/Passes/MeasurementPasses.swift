// The measurement passes: evaluation (accuracy on a split), benchmark (latency and throughput on this machine) and
// sensitivity (accuracy against sparsity per layer). They give back the model they were given, with a report.
import Datasets
import Foundation
import NeuralNetworks
import Pruning
import Tensors

/// Which split of a data spec a measurement uses.
public enum SplitKind: String, CaseIterable, Sendable, Codable, NamedChoice {
    public static let choiceName = "split"
    case test, train
}

/// Top-1, top-5 and loss of a model on a split (the test split by default), on the model's own engine.
public struct EvaluatePass: RecipePass {
    public static let name = "eval"
    public var split = SplitKind.test
    /// Evaluate the first N samples only.
    public var limit: Int?
    /// Samples per forward pass; nil: `Graph.inferenceBatchSize()` (256 for small inputs).
    public var batchSize: Int?

    public init() {}

    public static let optionKeys = ["split", "limit", "batch_size"]

    public init(options: inout PassOptions) throws {
        split = try options.choice("split", SplitKind.self) ?? split
        limit = try options.int("limit")
        batchSize = try options.int("batch_size")
    }

    public func validate() throws {
        if let batchSize { try check(batchSize, in: 1...(1 << 20), "batch_size") }
        if let limit { try check(limit, in: 1...Int.max, "limit") }
    }

    /// The `shrink eval --json` document (accuracy as a fraction 0–1).
    public struct Details: Encodable, Sendable {
        public var accuracy: Double, top5: Double, loss: Double, samples: Int

        public init(_ metrics: Metrics) {
            accuracy = metrics.top1
            top5 = metrics.top5
            loss = metrics.loss
            samples = metrics.samples
        }
    }

    /// The logits of every evaluated sample with their metrics.
    public func logits(of model: ShrinkModel, data: DataSplit) throws -> (logits: Tensor, metrics: Metrics) {
        try validate()
        var dataset = split == .test ? data.test : data.train
        if let limit { dataset = dataset.prefix(limit) }
        let prepared = try model.prepare(dataset)
        let logits = try model.predict(prepared, batchSize: batchSize)
        return (logits, metrics(logits: logits, labels: prepared.labels))
    }

    public func run(_ model: ShrinkModel?, data: DataSplit?, progress: @escaping ProgressHandler) throws -> PassResult {
        let input = try required(model)
        let measured = try logits(of: input, data: try required(data)).metrics
        let figures = ModelFigures(input.cost, validationAccuracy: nil, test: split == .test ? measured : nil)
        return PassResult(model: input, report: PassReport(
            pass: Self.name, settings: ["split": split.rawValue, "limit": limit.map { "\($0)" } ?? "all",
                                        "batch_size": "\(batchSize ?? input.float.graph.inferenceBatchSize())"],
            before: figures, after: figures,
            details: Details(measured)))
    }
}

/// The latency and throughput of a model on this machine: per batch size, the median and 99th percentile of single
/// inference calls timed for at least `seconds` after a warm-up (the protocol of `measureCalls`). The machine may be
/// shared: compare medians and ratios from one run.
public struct BenchmarkPass: RecipePass {
    public static let name = "bench"
    public var batchSizes = [1, 256]
    /// Seconds of timed calls per figure (after warm-up).
    public var seconds = 1.0
    /// Threads the float engine may split a batch across (nil: BLAS.threads at the time of the run).
    public var threads: Int?

    public init() {}

    public static let optionKeys = ["batch_sizes", "seconds"]

    public init(options: inout PassOptions) throws {
        if let sizes = options.list("batch_sizes") {
            batchSizes = try sizes.map { text in
                guard let n = Int(text) else {
                    throw ShrinkError(.format, "\(options.location): 'batch_sizes' must be integers, got '\(text)'")
                }
                return n
            }
        }
        seconds = try options.double("seconds") ?? seconds
    }

    public func validate() throws {
        guard seconds > 0 && seconds <= 600 else { throw ShrinkError(.value, "seconds must be in (0, 600], got \(seconds)") }
        guard !batchSizes.isEmpty, batchSizes.allSatisfy({ (1...65_536).contains($0) }) else {
            throw ShrinkError(.value, "batch_sizes must be integers in 1…65536, got \(batchSizes)")
        }
        if let threads { try check(threads, in: 1...256, "threads") }
    }

    /// One batch size's timing.
    public struct Latency: Encodable, Sendable {
        public var batch_size: Int, median_ms: Double, p99_ms: Double, samples_per_second: Double, calls: Int
    }

    /// The `shrink bench --json` document of one model.
    public struct Details: Encodable, Sendable {
        public var arch: String, parameters: Int, macs: Int, bytes: Int, threads: Int
        public var latency: [Latency]

        /// The timing at `batch`.
        public func at(_ batch: Int) -> Latency? { latency.first { $0.batch_size == batch } }
    }

    /// Times the model's inference at each batch size on seeded random inputs.
    public func measure(_ model: ShrinkModel) throws -> Details {
        try validate()
        let threads = self.threads ?? BLAS.threads
        var latencies: [Latency] = []
        for batch in batchSizes {
            var generator = SeededGenerator(seed: 0, stream: "bench-input")
            let shape = [batch] + model.inputShape
            let input = Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in generator.nextNormal() })
            let timing = try measureCalls(seconds: seconds) { _ = try model.infer(input, threads: threads) }
            latencies.append(Latency(batch_size: batch, median_ms: timing.median * 1e3, p99_ms: timing.p99 * 1e3,
                                     samples_per_second: Double(batch) / timing.median, calls: timing.calls))
        }
        let cost = model.cost
        return Details(arch: model.architecture, parameters: cost.parameters, macs: cost.macs, bytes: cost.bytes,
                       threads: threads, latency: latencies)
    }

    public func run(_ model: ShrinkModel?, data: DataSplit?, progress: @escaping ProgressHandler) throws -> PassResult {
        let input = try required(model)
        let details = try measure(input)
        let figures = ModelFigures(input.cost)
        return PassResult(model: input, report: PassReport(
            pass: Self.name, settings: ["batch_sizes": batchSizes.map(String.init).joined(separator: ","),
                                        "seconds": "\(seconds)", "threads": "\(details.threads)"],
            before: figures, after: figures, details: details))
    }
}

/// Accuracy against sparsity for each conv and linear layer pruned alone (no fine-tuning): each layer in turn loses
/// the lowest-scored share of its weights while the others stay dense, the accuracy is measured on the last
/// `samples` training samples (or the first `samples` test samples), and the weights are put back.
public struct SensitivityPass: Pass {
    public static let name = "sensitivity"
    public var sparsities: [Double] = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    public var score = PruningScore.magnitude
    public var split = SplitKind.train
    public var samples = 2000
    public var seed: UInt64 = 0

    public init() {}

    public func validate() throws {
        try check(samples, in: 1...1_000_000, "samples")
        guard !sparsities.isEmpty, sparsities.allSatisfy({ $0 >= 0 && $0 < 1 }) else {
            throw ShrinkError(.value, "sparsities must be numbers in [0, 1), got \(sparsities)")
        }
    }

    /// The `shrink sensitivity --json` document.
    public struct Details: Encodable, Sendable {
        public var split: String, samples: Int, score: String
        public var layers: [LayerSensitivity]
        /// The model's architecture (for the chart's title).
        public var arch: String

        enum CodingKeys: String, CodingKey { case split, samples, score, layers }
    }

    public func run(_ model: ShrinkModel?, data: DataSplit?, progress: @escaping ProgressHandler) throws -> PassResult {
        try validate()
        let input = try required(model), source = try required(data)
        let float = try input.floatModel(advice: "analyse the float model it came from")
        let train = try float.prepare(source.train)
        let measured = split == .test ? try float.prepare(source.test).prefix(samples)
            : train.rows(max(0, train.count - samples)..<train.count)
        let layers = try sensitivity(
            of: float, on: measured, sparsities: sparsities, score: score,
            scoring: ScoringData(dataset: train.prefix(max(1, train.count - samples))), seed: seed) { layer in
            progress(PassProgress(pass: Self.name, message: "measured \(layer)"))
        }
        let figures = ModelFigures(input.cost)
        return PassResult(model: input, report: PassReport(
            pass: Self.name, settings: ["score": score.rawValue, "split": split.rawValue, "samples": "\(samples)",
                                        "seed": "\(seed)"],
            before: figures, after: figures,
            details: Details(split: split.rawValue, samples: measured.count, score: score.rawValue, layers: layers,
                             arch: float.architecture)))
    }
}
