// `shrink run RECIPE --out DIR`: runs a recipe's passes in order, each as the `shrink` subcommand it names (a child
// process of this same binary, so a step behaves exactly as on the command line), writes every intermediate model
// to DIR/models, records each finished step in DIR/journal.jsonl, and ends with a comparison report (Markdown, JSON,
// SVG). Run again after a crash or a kill, the same command skips the steps the journal records and ends with the
// same final model.
import ArgumentParser
import Foundation
import Shrink

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a compression recipe (YAML): train, prune, distil, quantize, qat, search, eval, bench — then a comparison report.",
        discussion: """
            A recipe names the data, the starting model ('model: FILE', or a first 'train' step) and the steps; \
            each step is one pass with the options of its subcommand (snake_case keys, e.g. finetune_epochs: 2). \
            Each step works on the model the step before produced; distill trains the student it names from the \
            current model as teacher, and search replaces the model with the best architecture it found. \
            Everything is checked before the first step runs, and errors name the recipe's line. Outputs: \
            DIR/models/STEP.safetensors, DIR/steps/STEP.json (what the step printed with --json), \
            DIR/journal.jsonl, DIR/report.md, DIR/report.json, DIR/accuracy-bytes.svg, DIR/accuracy-latency.svg. \
            See docs/recipes.md.
            """)

    @Argument(help: "The recipe file (.yaml).")
    var recipe: String

    @Option(help: "Output directory (created if missing).")
    var out: String

    @Option(help: "Use this data spec instead of the recipe's (e.g. a small .npz for a first try).")
    var data: String?

    @Flag(help: "Fast settings for a first look or a test: epochs, fine-tuning epochs, final epochs, rounds and seeds capped at 1, search trials at 2 (with 100 validation samples unless set), the report's benchmark at 0.05 s.")
    var fast = false

    @OptionGroup var runtime: RuntimeOptions

    /// The caps `--fast` puts on options that cost time.
    static let fastCaps: [String: Double] = [
        "--epochs": 1, "--finetune-epochs": 1, "--final-epochs": 1, "--rounds": 1, "--seeds": 1, "--trials": 2,
        "--darts-epochs": 1, "--population": 2,
    ]

    /// `options` with `--fast`'s caps applied.
    static func capped(_ options: [String]) -> [String] {
        var result = options
        for i in result.indices.dropLast() {
            if let cap = fastCaps[result[i]], let value = Double(result[i + 1]), value > cap {
                result[i + 1] = cap == cap.rounded() ? "\(Int(cap))" : "\(cap)"
            }
        }
        return result
    }

    struct JournalEntry: Codable {
        var step: String, pass: String, key: String, output: String?, output_hash: String?
    }

    func run() throws {
        try reporting {
            let text = String(decoding: try readFile(recipe), as: UTF8.self)
            var parsed = try Recipe.parse(text, file: recipe)
            if let data { parsed.data = data }
            if fast {
                for i in parsed.steps.indices {
                    parsed.steps[i].options = Run.capped(parsed.steps[i].options)
                    // A search holds out 10,000 validation samples by default: more than a small data set has.
                    if parsed.steps[i].pass == .search && !parsed.steps[i].options.contains("--validation-samples") {
                        parsed.steps[i].options += ["--validation-samples", "100"]
                    }
                }
                parsed.benchSeconds = min(parsed.benchSeconds, 0.05)
            }
            for directory in [out, "\(out)/models", "\(out)/steps"] {
                do {
                    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                } catch {
                    throw ShrinkError(.io, "cannot create \(directory): \(error.localizedDescription)")
                }
            }
            let journalPath = "\(out)/journal.jsonl"
            let done = (try? readJournal(journalPath)) ?? [:]
            var current = parsed.model
            var models: [(step: String, path: String)] = parsed.model.map { [("input", $0)] } ?? []
            for step in parsed.steps {
                if let from = step.from { current = "\(out)/models/\(from).safetensors" }
                let output: String? = step.pass.producesModel ? "\(out)/models/\(step.name).safetensors" : nil
                var arguments = [step.pass.rawValue]
                switch step.pass {
                case .train: arguments += step.options + ["--data", parsed.data, "--out", output!]
                case .search:
                    arguments += step.options + ["--data", parsed.data, "--out", "\(out)/steps/\(step.name)-search"]
                case .distill: arguments += step.options + ["--teacher", current!, "--data", parsed.data, "--out", output!]
                case .prune, .quantize, .qat: arguments += [current!] + step.options + ["--data", parsed.data, "--out", output!]
                case .eval: arguments += [current!] + step.options + ["--data", parsed.data]
                case .bench: arguments += [current!] + step.options
                }
                arguments.append("--json")
                if let threads = runtime.threads { arguments += ["--threads", "\(threads)"] }
                // A step is done when the journal has it with the same arguments and input, and its output is intact.
                let key = fnv1a(Array(arguments.joined(separator: "\u{1}").utf8) + (current.map { (try? readFile($0)) ?? [] } ?? []))
                if let entry = done[step.name], entry.key == key,
                   output.map({ path in (try? readFile(path)).map(fnv1a) == entry.output_hash }) ?? true {
                    FileHandle.standardError.write(Data("step \(step.name): done before, skipped\n".utf8))
                } else {
                    FileHandle.standardError.write(Data("step \(step.name): shrink \(arguments.joined(separator: " "))\n".utf8))
                    let stdout = try runChild(arguments, step: step)
                    try AtomicFile.write(Array(stdout.utf8), to: "\(out)/steps/\(step.name).json")
                    if step.pass == .search {
                        let best = "\(out)/steps/\(step.name)-search/best.safetensors"
                        guard FileManager.default.fileExists(atPath: best) else {
                            throw ShrinkError(.value, "step \(step.name) (line \(step.line)): the search wrote no best model; give it final_epochs ≥ 1")
                        }
                        try AtomicFile.write(try readFile(best), to: output!)
                    }
                    let entry = JournalEntry(step: step.name, pass: step.pass.rawValue, key: key, output: output,
                                             output_hash: try output.map { fnv1a(try readFile($0)) })
                    try JSONLines.append(entry, to: journalPath)
                }
                if let output {
                    current = output
                    models.append((step.name, output))
                }
            }
            var report = try Report.measure(models: models, data: parsed.data, benchSeconds: parsed.benchSeconds,
                                            threads: runtime.threads)
            report.steps = parsed.steps.map { step in
                let printed = (try? readFile("\(out)/steps/\(step.name).json")) ?? []
                let object = (try? JSONSerialization.jsonObject(with: Data(printed))) as? [String: Any] ?? [:]
                // The scalar figures the step printed (accuracies, bytes, sparsity, …), sorted by name.
                let figures = object.keys.sorted().compactMap { key -> String? in
                    switch object[key] {
                    case let flag as Bool where !(object[key] is Int || object[key] is Double):
                        return "\(key) \(flag)"
                    case let n as NSNumber:
                        let v = n.doubleValue
                        return "\(key) \(v == v.rounded() && abs(v) < 1e15 ? "\(Int(v))" : String(format: "%.4g", v))"
                    case let text as String where text.count <= 80: return "\(key) \(text)"
                    default: return nil
                    }
                }
                return Report.Step(name: step.name, pass: step.pass.rawValue, line: step.line,
                                   settings: step.options.joined(separator: " "), from: step.from,
                                   figures: figures.joined(separator: ", "))
            }
            try report.write(to: out, title: "Report of \(recipe)")
            if runtime.json {
                print(try jsonString(report.rows))
            } else {
                print(report.table)
                print("final model: \(current ?? "none"); report: \(out)/report.md")
            }
        }
    }

    private func readJournal(_ path: String) throws -> [String: JournalEntry] {
        var result = [String: JournalEntry]()
        // An entry that does not decode is not a finished step: it runs again.
        for line in try JSONLines.lines(of: path) {
            if let entry = try? JSONDecoder().decode(JournalEntry.self, from: Data(line.bytes)) { result[entry.step] = entry }
        }
        return result
    }

    private func runChild(_ arguments: [String], step: RecipeStep) throws -> String {
        let (status, stdout) = try runShrink(arguments)
        guard status == 0 else {
            throw ShrinkError(.value, "step \(step.name) (line \(step.line), \(step.pass.rawValue)) failed with status "
                + "\(status); its message is above")
        }
        return String(decoding: stdout, as: UTF8.self)
    }
}

/// Runs this same `shrink` binary with `arguments` as a child process, its stderr passed through; returns its exit
/// status and, unless `captureOutput` is false (then stdout passes through too), what it printed on stdout.
func runShrink(_ arguments: [String], captureOutput: Bool = true) throws -> (status: Int32, stdout: Data) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: selfExecutable())
    process.arguments = arguments
    let pipe = Pipe()
    if captureOutput { process.standardOutput = pipe }
    process.standardError = FileHandle.standardError
    try process.run()
    let stdout = captureOutput ? pipe.fileHandleForReading.readDataToEndOfFile() : Data()
    process.waitUntilExit()
    return (process.terminationStatus, stdout)
}

/// This process's executable (to run steps as child processes).
func selfExecutable() -> String {
    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
}

/// FNV-1a (64-bit) as 16 hex digits: a fingerprint for the journal, not a security measure.
func fnv1a(_ bytes: [UInt8]) -> String {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
    return String(h, radix: 16).leftPadded(to: 16)
}

extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}

/// The comparison of a set of model files: accuracy, size, cost and speed, against the first (dense) one.
struct Report {
    struct Row: Encodable {
        var model: String, path: String
        var accuracy: Double, top5: Double, parameters: Int, macs: Int, bytes: Int
        var latency_batch1_ms: Double?, images_per_second_batch256: Double?
        var compression: Double, speedup: Double?
    }

    var rows: [Row]

    /// One recipe step for the per-step log: its pass, settings and the figures it printed.
    struct Step: Encodable {
        var name: String, pass: String, line: Int, settings: String, from: String?, figures: String
    }

    var steps: [Step] = []

    /// Evaluates (test split), inspects and benchmarks each model with the `shrink` subcommands.
    static func measure(models: [(step: String, path: String)], data: String, benchSeconds: Double,
                        threads: Int?) throws -> Report {
        func child(_ arguments: [String]) throws -> [String: Any] {
            // `info` computes nothing and takes no --threads.
            let (status, bytes) = try runShrink(arguments + ["--json"]
                + (arguments.first == "info" ? [] : threads.map { ["--threads", "\($0)"] } ?? []))
            guard status == 0, let object = try JSONSerialization.jsonObject(with: bytes) as? [String: Any] else {
                throw ShrinkError(.value, "measuring the report: shrink \(arguments.joined(separator: " ")) failed")
            }
            return object
        }
        var rows: [Row] = []
        for (step, path) in models {
            let eval = try child(["eval", path, "--data", data])
            let info = try child(["info", path])
            var one: Double?, many: Double?
            if benchSeconds > 0 {
                let bench = try child(["bench", path, "--batch-sizes", "1,256", "--seconds", "\(benchSeconds)"])
                let latency = ((bench["models"] as? [[String: Any]])?.first?["latency"] as? [[String: Any]]) ?? []
                one = latency.first { $0["batch_size"] as? Int == 1 }?["median_ms"] as? Double
                many = latency.first { $0["batch_size"] as? Int == 256 }?["samples_per_second"] as? Double
            }
            let bytes = info["file_bytes"] as? Int ?? 0
            rows.append(Row(model: step, path: path, accuracy: eval["accuracy"] as? Double ?? 0, top5: eval["top5"] as? Double ?? 0,
                            parameters: info["parameters"] as? Int ?? 0, macs: info["macs"] as? Int ?? 0, bytes: bytes,
                            latency_batch1_ms: one, images_per_second_batch256: many, compression: 1, speedup: nil))
        }
        if let dense = rows.first {
            for i in rows.indices {
                rows[i].compression = Double(dense.bytes) / Double(max(rows[i].bytes, 1))
                if let a = dense.latency_batch1_ms, let b = rows[i].latency_batch1_ms, b > 0 { rows[i].speedup = a / b }
            }
        }
        return Report(rows: rows)
    }

    var table: TextTable {
        var t = TextTable(headers: ["model", "top-1", "top-5", "parameters", "MACs", "bytes", "batch 1 ms", "batch 256 img/s",
                                    "compression", "speed-up"])
        for r in rows {
            t.append([r.model, String(format: "%.2f%%", 100 * r.accuracy), String(format: "%.2f%%", 100 * r.top5),
                      groupedThousands(r.parameters), groupedThousands(r.macs), groupedThousands(r.bytes),
                      r.latency_batch1_ms.map { String(format: "%.3f", $0) } ?? "–",
                      r.images_per_second_batch256.map { String(format: "%.0f", $0) } ?? "–",
                      String(format: "%.2f×", r.compression), r.speedup.map { String(format: "%.2f×", $0) } ?? "–"])
        }
        return t
    }

    /// report.md, report.json and the two charts.
    func write(to directory: String, title: String) throws {
        var md = "# \(title)\n\nEvery model the recipe produced, on the test split; compression and speed-up are against "
            + "the first model (file bytes; batch-1 latency, one `shrink bench` each).\n\n"
        md += "| model | top-1 | top-5 | parameters | MACs | bytes | batch 1 ms | batch 256 images/s | compression | speed-up |\n"
        md += "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        for r in rows {
            md += "| \(r.model) | \(String(format: "%.2f%%", 100 * r.accuracy)) | \(String(format: "%.2f%%", 100 * r.top5)) | "
                + "\(groupedThousands(r.parameters)) | \(groupedThousands(r.macs)) | \(groupedThousands(r.bytes)) | "
                + "\(r.latency_batch1_ms.map { String(format: "%.3f", $0) } ?? "–") | "
                + "\(r.images_per_second_batch256.map { String(format: "%.0f", $0) } ?? "–") | "
                + "\(String(format: "%.2f×", r.compression)) | \(r.speedup.map { String(format: "%.2f×", $0) } ?? "–") |\n"
        }
        md += "\n![accuracy against bytes](accuracy-bytes.svg)\n"
        if rows.contains(where: { $0.latency_batch1_ms != nil }) { md += "\n![accuracy against latency](accuracy-latency.svg)\n" }
        if !steps.isEmpty {
            md += "\n## Steps\n\nWhat each pass did, with its settings (the recipe's options) and the figures it printed "
                + "(all of its JSON is in `steps/STEP.json`).\n\n| step | pass | settings | figures |\n|---|---|---|---|\n"
            for step in steps {
                let settings = (step.from.map { "from \($0); " } ?? "") + (step.settings.isEmpty ? "defaults" : step.settings)
                md += "| \(step.name) (line \(step.line)) | \(step.pass) | `\(settings)` | \(step.figures.replacingOccurrences(of: "|", with: "/")) |\n"
            }
        }
        try AtomicFile.write(Array(md.utf8), to: "\(directory)/report.md")
        struct Document: Encodable { var models: [Row]; var steps: [Step] }
        try AtomicFile.write(Array((try jsonString(Document(models: rows, steps: steps)) + "\n").utf8),
                             to: "\(directory)/report.json")
        let bytesChart = LineChart(title: "Accuracy against size", xLabel: "file size (KB)", yLabel: "test accuracy (%)",
                                   series: rows.map { .init(name: $0.model, points: [(Double($0.bytes) / 1000, 100 * $0.accuracy)], connected: false) })
        try AtomicFile.write(Array(bytesChart.svg.utf8), to: "\(directory)/accuracy-bytes.svg")
        let timed = rows.filter { $0.latency_batch1_ms != nil }
        if !timed.isEmpty {
            let latencyChart = LineChart(title: "Accuracy against latency", xLabel: "batch-1 latency (ms)", yLabel: "test accuracy (%)",
                                         series: timed.map { .init(name: $0.model, points: [($0.latency_batch1_ms!, 100 * $0.accuracy)], connected: false) })
            try AtomicFile.write(Array(latencyChart.svg.utf8), to: "\(directory)/accuracy-latency.svg")
        }
    }
}
