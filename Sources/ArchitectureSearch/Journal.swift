// The search journal: one JSON line per evaluated candidate in `DIR/journal-I-of-N.jsonl` (worker I of N), so that a
// killed search resumes where it stopped and trials can be spread over machines sharing the directory. Each line is
// written whole with one `write` and flushed to disk before the next trial starts; a line cut short by a kill is
// dropped when the journal is read back. What a line holds is deterministic (architecture, estimate, MACs,
// parameters, the training work done, the seed); CPU seconds go to a `timing-I-of-N.jsonl` beside it, so the same
// search gives the same journal however fast the machine was.
import Datasets
import Foundation
import Tensors

/// One evaluated candidate.
public struct Trial: Codable, Sendable, Equatable {
    public var index: Int
    public var candidate: Candidate
    /// The candidate in words (`SearchSpace.describe`).
    public var architecture: String
    /// The estimator's estimate of the validation accuracy, 0…1.
    public var accuracy: Double
    public var macs: Int
    public var parameters: Int
    public var bytes: Int
    /// Measured latency at batch 1 (ms), when the search measures it (not deterministic).
    public var latencyMs: Double?
    /// Training epochs spent (fractions when a curve run stopped early) and samples seen.
    public var epochs: Double
    public var trainSamples: Int
    /// The seed the estimator trained with.
    public var seed: UInt64
    /// Validation accuracy after each epoch (curve extrapolation), and whether the run was stopped early.
    public var curve: [Double]?
    public var stopped: Bool?
    /// Whether the estimate was reused from an earlier trial of the same candidate (no training).
    public var reused: Bool?
    public var worker: Int

    public init(index: Int, candidate: Candidate, architecture: String, accuracy: Double, macs: Int, parameters: Int,
                bytes: Int, latencyMs: Double?, epochs: Double, trainSamples: Int, seed: UInt64, curve: [Double]?,
                stopped: Bool?, reused: Bool?, worker: Int) {
        self.index = index
        self.candidate = candidate
        self.architecture = architecture
        self.accuracy = accuracy
        self.macs = macs
        self.parameters = parameters
        self.bytes = bytes
        self.latencyMs = latencyMs
        self.epochs = epochs
        self.trainSamples = trainSamples
        self.seed = seed
        self.curve = curve
        self.stopped = stopped
        self.reused = reused
        self.worker = worker
    }

    enum CodingKeys: String, CodingKey {
        case index, candidate, architecture, accuracy, macs, parameters, bytes, epochs, seed, curve, stopped, reused
        case worker
        case latencyMs = "latency_ms", trainSamples = "train_samples"
    }
}

/// CPU seconds spent on one trial (kept apart from the journal, which stays deterministic).
public struct TrialTiming: Codable, Sendable {
    public var index: Int
    public var cpuSeconds: Double
    public var wallSeconds: Double

    public init(index: Int, cpuSeconds: Double, wallSeconds: Double) {
        self.index = index
        self.cpuSeconds = cpuSeconds
        self.wallSeconds = wallSeconds
    }

    enum CodingKeys: String, CodingKey { case index, cpuSeconds = "cpu_seconds", wallSeconds = "wall_seconds" }
}

/// A journal directory: the search's settings (`search.json`) and every worker's trial and timing files.
public struct Journal {
    public let directory: String
    public let worker: Int
    public let workers: Int

    public init(directory: String, worker: Int = 0, workers: Int = 1) throws {
        guard workers >= 1, worker >= 0, worker < workers else {
            throw ShrinkError(.value, "worker \(worker) of \(workers): the worker index must be in 0…\(workers - 1)")
        }
        self.directory = directory
        self.worker = worker
        self.workers = workers
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw ShrinkError(.io, "cannot create the journal directory \(directory): \(error.localizedDescription)")
        }
    }

    var trialsPath: String { "\(directory)/journal-\(worker)-of-\(workers).jsonl" }
    var timingPath: String { "\(directory)/timing-\(worker)-of-\(workers).jsonl" }
    var settingsPath: String { "\(directory)/search.json" }

    /// Records `settings` on first use; afterwards requires the same settings (a journal belongs to one search).
    ///
    /// - Throws: `ShrinkError(.value)` naming the first setting that differs.
    public func claim(settings: [String: String]) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        if FileManager.default.fileExists(atPath: settingsPath) {
            let stored: [String: String]
            do {
                stored = try JSONDecoder().decode([String: String].self, from: Data(try readFile(settingsPath)))
            } catch {
                throw ShrinkError(.format, "\(settingsPath) is not a search's settings file: \(error)")
            }
            for key in Set(stored.keys).union(settings.keys).sorted() where stored[key] != settings[key] {
                throw ShrinkError(.value, "the journal in \(directory) belongs to a search with \(key) = "
                    + "\(stored[key] ?? "(unset)"), this one has \(settings[key] ?? "(unset)"); use the same options "
                    + "to resume it, or another directory")
            }
            return
        }
        try AtomicFile.write(Array(try encoder.encode(settings)), to: settingsPath)
    }

    /// Every trial recorded, each checked against `space`: a line whose candidate does not fit it (a journal of
    /// another space, or edited by hand) is an error naming the journal and the trial.
    public func trials(of space: SearchSpace) throws -> [Trial] {
        let all = try trials()
        for trial in all {
            do { try space.check(trial.candidate) } catch let error as ShrinkError {
                throw ShrinkError(.format, "the journal in \(directory): trial \(trial.index): \(error.message)")
            }
        }
        return all
    }

    /// Every trial recorded by any worker, by index (a duplicate index keeps the first line read).
    public func trials() throws -> [Trial] {
        var result = [Int: Trial]()
        for file in try files(prefix: "journal-") {
            for trial in try JSONLines.read(Trial.self, from: file) where result[trial.index] == nil {
                result[trial.index] = trial
            }
        }
        return result.keys.sorted().map { result[$0]! }
    }

    /// Every timing record of any worker.
    public func timings() throws -> [TrialTiming] {
        try files(prefix: "timing-").flatMap { try JSONLines.read(TrialTiming.self, from: $0) }
    }

    private func files(prefix: String) throws -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasPrefix(prefix) && $0.hasSuffix(".jsonl") }.sorted().map { "\(directory)/\($0)" }
    }

    /// Appends one trial (and its timing) as whole lines, flushed to disk.
    public func append(_ trial: Trial, timing: TrialTiming) throws {
        try JSONLines.append(trial, to: trialsPath)
        try JSONLines.append(timing, to: timingPath)
    }

    /// Drops a partial last line left by a kill, so that appends start on a fresh line.
    public func repair() throws {
        for path in [trialsPath, timingPath] { try JSONLines.dropPartialLine(path) }
    }
}
