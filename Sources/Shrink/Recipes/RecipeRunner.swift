// RecipeRunner: runs a recipe's passes in order in this process, writes every step's model to DIR/models and its
// report to DIR/steps, records each finished step in DIR/journal.jsonl, and ends with the comparison report. Run
// again after a crash or a kill, it skips the steps the journal records (same settings, same input, intact output)
// and ends with the same final model, byte for byte.
import Datasets
import Foundation
import NeuralNetworks
import Tensors

/// What a recipe run gives.
public struct RecipeOutcome: @unchecked Sendable {
    /// The models in the report's order: the starting model (as "input"), then each model-producing step's.
    public var models: [(step: String, path: String)]
    /// The last model produced (or the starting one), nil when there is none.
    public var finalModel: String?
    public var report: ComparisonReport
}

/// Runs a recipe in-process with a journal in its output directory.
public struct RecipeRunner: Sendable {
    public var recipe: Recipe
    /// The output directory (created if missing).
    public var directory: String
    /// The title of report.md.
    public var title: String

    public init(_ recipe: Recipe, directory: String, title: String? = nil) {
        self.recipe = recipe
        self.directory = directory
        self.title = title ?? "Report"
    }

    /// One finished step, as the journal records it.
    struct JournalEntry: Codable {
        var step: String, pass: String, key: String, output: String?, output_hash: String?
    }

    /// Runs every step not already done and writes the report; `progress` hears of each step and of the passes'
    /// own progress.
    public func run(progress: @escaping ProgressHandler = { _ in }) throws -> RecipeOutcome {
        let models = "\(directory)/models", stepsDirectory = "\(directory)/steps"
        for path in [directory, models, stepsDirectory] {
            do {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            } catch {
                throw ShrinkError(.io, "cannot create \(path): \(error.localizedDescription)")
            }
        }
        let journalPath = "\(directory)/journal.jsonl"
        let done = try readJournal(journalPath)
        // A kill mid-append leaves a cut last line; the next entry must start on a line of its own.
        try JSONLines.dropPartialLine(journalPath)
        let data = try loadData(recipe.data)
        var current: (path: String, model: ShrinkModel)? = try recipe.model.map { ($0, try ShrinkModel.load(from: $0)) }
        var outputs: [(step: String, path: String, model: ShrinkModel)] = current.map { [("input", $0.path, $0.model)] } ?? []
        var stepLog: [ComparisonReport.Step] = []
        try recipe.check()
        for step in recipe.steps {
            guard let kind = step.kind else { continue }
            if let from = step.from {
                let path = "\(models)/\(from).safetensors"
                current = (path, try ShrinkModel.load(from: path))
            }
            var pass = step.pass
            let output: String? = kind.producesModel ? "\(models)/\(step.name).safetensors" : nil
            // A step is done when the journal has it with the same settings, data, threads and input, and its
            // output is intact.
            let key = fnv1a(Array(([kind.rawValue, fingerprint(pass), recipe.data, "threads \(BLAS.threads)"]
                .joined(separator: "\u{1}")).utf8) + (current?.model.bytes ?? []))
            // A step's resumable state (a search's journal) lives in a directory of its key: a step run again with
            // other settings, data or input starts clean instead of meeting the state of the old ones, which goes.
            let stateDirectory = "\(stepsDirectory)/\(step.name)-\(kind.rawValue)-\(key)"
            if var search = pass as? SearchPass {
                search.journal = "\(stateDirectory)/journal"
                pass = search
            }
            let reportPath = "\(stepsDirectory)/\(step.name).json"
            let existing = done[step.name]?.key == key ? output.flatMap { try? readFile($0) } : nil
            var produced: ShrinkModel?
            if let entry = done[step.name], entry.key == key,
               output == nil || existing.map(fnv1a) == entry.output_hash {
                progress(PassProgress(pass: kind.rawValue, message: "step \(step.name): done before, skipped"))
                if let existing, let output { produced = try ShrinkModel(bytes: existing, origin: output) }
            } else {
                try removeStaleState(of: step.name, kind: kind.rawValue, keeping: stateDirectory, in: stepsDirectory)
                progress(PassProgress(pass: kind.rawValue, message: "step \(step.name): \(kind.rawValue) "
                    + describe(pass)))
                let result: PassResult
                do {
                    result = try pass.run(current?.model, data: data, progress: progress)
                } catch let error as ShrinkError {
                    throw ShrinkError(error.kind, "step \(step.name) (\(step.line > 0 ? "line \(step.line), " : "")"
                        + "\(kind.rawValue)): \(error.message)")
                }
                var report = result.report
                if let output {
                    try result.model.save(to: output)
                    report.out = output
                }
                if pass is SearchPass, var details = report.details(as: SearchPass.Details.self) {
                    details.model = output
                    report.details = details
                    try details.write(to: stateDirectory)
                }
                try AtomicFile.write(Array((try jsonString(report) + "\n").utf8), to: reportPath)
                let entry = JournalEntry(step: step.name, pass: kind.rawValue, key: key, output: output,
                                         output_hash: output.map { _ in fnv1a(result.model.bytes) })
                try JSONLines.append(entry, to: journalPath)
                if let output { produced = result.model.named(output) }
            }
            if let output, let model = produced {
                current = (output, model)
                outputs.append((step.name, output, model))
            }
            stepLog.append(ComparisonReport.Step(name: step.name, pass: kind.rawValue, line: step.line,
                                                 settings: describe(pass), from: step.from,
                                                 figures: scalarFigures(ofJSONFile: reportPath)))
        }
        var report = try ComparisonReport.measure(outputs.map { ($0.step, $0.path, $0.model) }, data: data,
                                                  benchSeconds: recipe.benchSeconds, progress: progress)
        report.steps = stepLog
        try report.write(to: directory, title: title)
        return RecipeOutcome(models: outputs.map { ($0.step, $0.path) }, finalModel: current?.path, report: report)
    }

    /// Removes the state directories of `step` other than `keeping` (left by runs with other settings): the names
    /// `STEP-KIND-KEY` with a key of hex digits, never another step's whose name starts the same.
    private func removeStaleState(of step: String, kind: String, keeping: String, in directory: String) throws {
        let prefix = "\(step)-\(kind)-"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        where name.hasPrefix(prefix) && !name.dropFirst(prefix.count).contains("-") && "\(directory)/\(name)" != keeping {
            do { try FileManager.default.removeItem(atPath: "\(directory)/\(name)") } catch {
                throw ShrinkError(.io, "cannot remove the old state \(directory)/\(name): \(error.localizedDescription)")
            }
        }
    }

    private func readJournal(_ path: String) throws -> [String: JournalEntry] {
        guard FileManager.default.fileExists(atPath: path) else { return [:] }
        var result = [String: JournalEntry]()
        // An entry that does not decode is not a finished step: it runs again.
        for line in try JSONLines.lines(of: path) {
            if let entry = try? JSONDecoder().decode(JournalEntry.self, from: Data(line.bytes)) { result[entry.step] = entry }
        }
        return result
    }
}

/// The settings of a pass as one line, "key value, …", for logs and the report (closures show as their type).
public func describe(_ pass: any Pass) -> String {
    Mirror(reflecting: pass).children.compactMap { child in
        guard let label = child.label else { return nil }
        return "\(label) \(canonical(child.value))"
    }.joined(separator: ", ")
}

/// A fingerprint of a pass's settings that is the same in every process: fields in declaration order, dictionaries
/// sorted by key (Swift randomises their order per process).
func fingerprint(_ pass: any Pass) -> String {
    "\(type(of: pass).name)(\(describe(pass)))"
}

/// A value as text, recursively, with dictionaries sorted.
func canonical(_ value: Any) -> String {
    let mirror = Mirror(reflecting: value)
    switch mirror.displayStyle {
    case .optional:
        guard let some = mirror.children.first else { return "nil" }
        return canonical(some.value)
    case .dictionary:
        let entries = mirror.children.map { pair -> String in
            let parts = Array(Mirror(reflecting: pair.value).children)
            return parts.count == 2 ? "\(canonical(parts[0].value)): \(canonical(parts[1].value))" : canonical(pair.value)
        }
        return "[" + entries.sorted().joined(separator: ", ") + "]"
    case .set:
        return "[" + mirror.children.map { canonical($0.value) }.sorted().joined(separator: ", ") + "]"
    case .collection, .tuple:
        return "[" + mirror.children.map { canonical($0.value) }.joined(separator: ", ") + "]"
    case .struct, .class:
        if mirror.children.isEmpty { return "\(value)" }
        return "(" + mirror.children.map { "\($0.label ?? "_"): \(canonical($0.value))" }.joined(separator: ", ") + ")"
    case .enum:
        // A case with a payload: its name and the payload, looked into (a model payload shows its byte fingerprint).
        guard let payload = mirror.children.first else { return "\(value)" }
        return "\(payload.label ?? "case")(\(canonical(payload.value)))"
    default:
        return "\(value)"
    }
}

/// The scalar figures of a JSON report file (accuracies, bytes, sparsity, …) as "key value", sorted by key.
public func scalarFigures(ofJSONFile path: String) -> String {
    guard let bytes = try? readFile(path),
          let object = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] else { return "" }
    return object.keys.sorted().compactMap { key -> String? in
        switch object[key] {
        case let flag as Bool where !(object[key] is Int || object[key] is Double):
            return "\(key) \(flag)"
        case let n as NSNumber:
            let v = n.doubleValue
            return "\(key) \(v == v.rounded() && abs(v) < 1e15 ? "\(Int(v))" : String(format: "%.4g", v))"
        case let text as String where text.count <= 80: return "\(key) \(text)"
        default: return nil
        }
    }.joined(separator: ", ")
}

/// FNV-1a (64-bit) as 16 hex digits: a fingerprint for journals, not a security measure.
public func fnv1a(_ bytes: [UInt8]) -> String {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
    let hex = String(h, radix: 16)
    return String(repeating: "0", count: max(0, 16 - hex.count)) + hex
}
