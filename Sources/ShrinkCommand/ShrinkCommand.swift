// The `shrink` command: subcommands over the library's passes. Each maps its flags to a pass's settings, calls the
// pass and prints its report; the compression policies (defaults, data splits, conversions, retraining,
// measurement) live in the library. Progress and logs go to stderr; `--json` prints one JSON document on stdout;
// errors exit with status 1 and a message naming the file or field.
import ArgumentParser
import Foundation
import Shrink

@main
struct ShrinkCommand: ParsableCommand {
    /// Keeps large freed blocks in the heap instead of returning them to the kernel: training allocates tens of
    /// megabytes of activations and gradients every step, and fresh pages from the kernel cost a page-clearing pass
    /// each time (about 7% of a training step). This tunes the `shrink` process only, not the library.
    static func tuneAllocator() {
        Allocator.keepFreedMemory()
    }

    static func main() {
        tuneAllocator()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            exit(withError: error)
        }
    }

    static let configuration = CommandConfiguration(
        commandName: "shrink",
        abstract: "Compress neural networks for edge devices: train, quantize, prune and distil models, then evaluate, inspect and benchmark them.",
        discussion: """
            Data specs: PATH[?options] — 'fashion-mnist' (the Debian package dataset-fashion-mnist, or \
            $SHRINK_DATA_DIR), an image folder (train/<class>/*.jpg|png and test/ or val/), a directory with \
            train.csv and test.csv lists of path,label, a directory of x_train.npy, y_train.npy, x_test.npy, \
            y_test.npy or of IDX files, or an .npz file with those arrays; options size, channels, skip_corrupt, \
            flip, pad_crop, resized_crop (docs/data.md).
            Architectures: \(Architecture.names).
            """,
        subcommands: [Info.self, Train.self, Eval.self, Predict.self, Bench.self, Quantize.self, Prune.self, Sensitivity.self,
                      Distill.self, QAT.self, Search.self, Import.self, Export.self, Run.self, Demo.self]
    )
}

// Every named choice is an argument whose help lists its values.
extension Architecture: ExpressibleByArgument {}
extension OptimizerKind: ExpressibleByArgument {}
extension ScheduleKind: ExpressibleByArgument {}
extension NormalizeKind: ExpressibleByArgument {}
extension SplitKind: ExpressibleByArgument {}
extension Granularity: ExpressibleByArgument {}
extension PruningStructure: ExpressibleByArgument {}
extension PruningScore: ExpressibleByArgument {}
extension PruningScope: ExpressibleByArgument {}
extension PruningSchedule: ExpressibleByArgument {}
extension DistillationKind: ExpressibleByArgument {}
extension StrategyKind: ExpressibleByArgument {}
extension EstimatorKind: ExpressibleByArgument {}

/// An observer choice: a built-in observer, or `auto` (the pass's automatic list).
enum ObserverOption: ExpressibleByArgument, CustomStringConvertible {
    case auto
    case kind(ObserverKind)

    init?(argument: String) {
        if argument == "auto" { self = .auto } else if let kind = ObserverKind(rawValue: argument) { self = .kind(kind) } else { return nil }
    }

    static var allValueStrings: [String] { ["auto"] + ObserverKind.allCases.map(\.rawValue) }
    var description: String {
        switch self {
        case .auto: "auto"
        case .kind(let kind): kind.rawValue
        }
    }
    var defaultValueDescription: String { description }
}

/// A granularity choice: per-channel, per-tensor, or `auto` (per-channel, then per-tensor).
enum GranularityOption: ExpressibleByArgument, CustomStringConvertible {
    case auto
    case one(Granularity)

    init?(argument: String) {
        if argument == "auto" { self = .auto } else if let g = Granularity(rawValue: argument) { self = .one(g) } else { return nil }
    }

    static var allValueStrings: [String] { ["auto"] + Granularity.allCases.map(\.rawValue) }
    var description: String {
        switch self {
        case .auto: "auto"
        case .one(let g): g.rawValue
        }
    }
    var defaultValueDescription: String { description }
}

/// `auto`, or one value of a named choice (`--rounding auto|nearest|adaround|gptq`).
struct AutoOr<Value: CaseIterable & RawRepresentable & Sendable>: ExpressibleByArgument, CustomStringConvertible
    where Value.RawValue == String {
    /// nil for auto.
    var value: Value?

    init(_ value: Value?) { self.value = value }

    init?(argument: String) {
        if argument == "auto" { value = nil } else if let v = Value(rawValue: argument) { value = v } else { return nil }
    }

    static var allValueStrings: [String] { ["auto"] + Value.allCases.map(\.rawValue) }
    var description: String { value?.rawValue ?? "auto" }
    var defaultValueDescription: String { description }
}

/// On or off, for `AutoOr`.
enum Switch: String, CaseIterable, Sendable {
    case on, off
}

/// Options every subcommand that computes shares.
struct RuntimeOptions: ParsableArguments {
    @Option(help: "Threads in total (the engine's own; OpenBLAS runs on one thread). Default: all cores.")
    var threads: Int?

    @Flag(help: "Print one JSON document on stdout instead of a table.")
    var json = false

    func validate() throws {
        if let threads, threads < 1 || threads > 256 {
            throw ValidationError("--threads must be between 1 and 256, got \(threads)")
        }
    }

    /// Applies the thread setting.
    func apply() {
        BLAS.threads = threads ?? BLAS.processors
    }
}

/// The data spec a pass reads, with the spec's options also as flags.
struct DataOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Data spec: PATH[?options] — fashion-mnist, an image folder (train/<class>/*.jpg|png with test/ or val/), "
            + "a directory with train.csv/test.csv lists, a directory of x_train.npy … or IDX files, or an .npz file.",
        discussion: "Options after '?', joined by '&': size=S|HxW, channels=1|3, skip_corrupt, flip, pad_crop[=P], "
            + "resized_crop[=S] (the flags below set the same). See docs/data.md."))
    var data: String

    @OptionGroup var flags: DataFlags

    /// The data spec with the flags folded in as options.
    var spec: String { flags.spec(data) }

    func validate() throws { try flags.check(data) }

    /// Loads the data, telling stderr what loading noticed (images skipped, the size chosen).
    func load() throws -> DataSplit { try flags.load(data) }
}

/// The data spec options as flags, for commands whose data spec is optional.
struct DataFlags: ParsableArguments {
    @Option(help: "Resize image data to S×S or H×W pixels (spec option size=; default: the model's input size, else the most common image size).")
    var imageSize: String?

    @Option(help: "Read image data as 1 (grey) or 3 (RGB) channels (spec option channels=; default: the model's, else RGB when any image is in colour).")
    var channels: Int?

    @Flag(help: "Skip images that do not decode (each is decoded once when the data is loaded) and report how many, instead of stopping with an error naming the file (spec option skip_corrupt).")
    var skipCorrupt = false

    @Option(help: "Training augmentation, comma-separated: flip, pad-crop[=P] (pad P pixels, default 4, then random crop), resized-crop[=S] (random resized crop keeping at least S of the area, default 0.08). Training batches only.")
    var augment: String?

    /// Whether any flag is set.
    var isEmpty: Bool { imageSize == nil && channels == nil && !skipCorrupt && augment == nil }

    /// `data` with the flags folded in as options.
    func spec(_ data: String) -> String {
        var options: [String] = []
        if let imageSize { options.append("size=\(imageSize)") }
        if let channels { options.append("channels=\(channels)") }
        if skipCorrupt { options.append("skip_corrupt") }
        if let augment {
            options += augment.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        guard !options.isEmpty else { return data }
        return data + (data.contains("?") ? "&" : "?") + options.joined(separator: "&")
    }

    func check(_ data: String) throws {
        do { _ = try DataSpec(parsing: spec(data)) } catch let error as ShrinkError { throw ValidationError(error.message) }
    }

    /// Loads `data` with the flags, telling stderr what loading noticed (images skipped, the size chosen).
    func load(_ data: String) throws -> DataSplit {
        let split = try loadData(spec(data))
        for note in split.notes { FileHandle.standardError.write(Data("note: \(note)\n".utf8)) }
        return split
    }
}

/// `--checkpoint DIR` of the training commands.
struct CheckpointOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Keep a checkpoint in DIR after every epoch: the same command run again after a kill resumes after the last whole epoch and writes the same bytes. A run with other settings, data or --threads starts its own. Removed once the output is written.", valueName: "DIR"))
    var checkpoint: String?

    /// Removes the checkpoint file of a finished run (its output is written, so nothing is left to resume).
    func remove(_ path: String?) {
        guard let path else { return }
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// The model file a pass writes.
struct OutputOptions: ParsableArguments {
    @Option(help: "Output model file (.safetensors); written atomically.")
    var out: String

    /// Fails early, before any work, when the output's directory does not exist or is not writable.
    func check() throws { try checkWritable(out) }
}

/// Turns a library error into the message ArgumentParser prints before exiting with status 1.
struct CommandError: Error, CustomStringConvertible {
    let description: String
}

/// Runs `body`, reporting a ShrinkError as a plain message (no Swift type dump).
func reporting<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as ShrinkError {
        throw CommandError(description: error.message)
    }
}

/// Checks a pass's settings in the command's `validate()` (the pass is the one place they are validated), so a bad
/// value is a usage error before anything runs; the message names the command-line options (`--weight-bits`) where the
/// pass names its settings by their recipe keys (`weight_bits`).
func validating<P: RecipePass>(_ pass: P) throws {
    try validating(pass, keys: P.optionKeys)
}

/// `validating` of a pass whose construction from the flags can itself fail (a malformed per-layer list).
func validating<P: RecipePass>(_ make: () throws -> P) throws {
    do {
        try validating(try make())
    } catch let error as ShrinkError {
        throw ValidationError(error.message)
    }
}

func validating(_ pass: some Pass, keys: [String]) throws {
    do {
        try pass.validate()
    } catch let error as ShrinkError {
        throw ValidationError(optionNames(in: error.message, keys: keys))
    }
}

/// `message` with each recipe key among `keys` written as its command-line option (`weight_bits` → `--weight-bits`).
func optionNames(in message: String, keys: [String]) -> String {
    var result = message
    for key in keys.sorted(by: { $0.count > $1.count }) {
        let pattern = "(?<![A-Za-z0-9_-])" + NSRegularExpression.escapedPattern(for: key) + "(?![A-Za-z0-9_])"
        guard let regex = try? NSRegularExpression(pattern: pattern) else { continue }
        let option = "--" + key.replacingOccurrences(of: "_", with: "-")
        result = regex.stringByReplacingMatches(in: result, range: NSRange(result.startIndex..., in: result),
                                                withTemplate: NSRegularExpression.escapedTemplate(for: option))
    }
    return result
}

/// The progress of a pass on stderr: a progress bar for counted steps (only when stderr is a terminal), a line for
/// each milestone.
final class ProgressPrinter: @unchecked Sendable {
    private var bar: ProgressBar?
    let title: String
    let quiet: Bool

    init(_ title: String, quiet: Bool = false) {
        self.title = title
        self.quiet = quiet
    }

    func callAsFunction(_ event: PassProgress) {
        guard !quiet else { return }
        if let completed = event.completed, let total = event.total {
            // A new bar for each counted run (a recipe's steps train one after the other).
            if bar == nil || bar?.total != total || completed == 1 { bar = ProgressBar(title: title, total: total) }
            bar?.update(completed, status: event.message)
        } else if let bar {
            bar.finish(event.message)
        } else {
            printError(event.message)
        }
    }

    var handler: ProgressHandler { { [self] event in self(event) } }
}

/// Prints `report` as JSON (with `out` set), or `line` for people.
func emit(_ report: PassReport, out: String?, json: Bool, line: @autoclosure () -> String) throws {
    var report = report
    report.out = out ?? report.out
    if json { print(try jsonString(report)) } else { print(line()) }
}

/// Fails early, before any work, when `path`'s directory does not exist or is not writable.
func checkWritable(_ path: String) throws {
    let directory = (path as NSString).deletingLastPathComponent
    let dir = directory.isEmpty ? "." : directory
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDirectory), isDirectory.boolValue else {
        throw ShrinkError(.io, "cannot write \(path): directory \(dir) does not exist")
    }
    guard FileManager.default.isWritableFile(atPath: dir) else {
        throw ShrinkError(.io, "cannot write \(path): directory \(dir) is not writable")
    }
}

/// Parses "1,28,28" into [1, 28, 28]; every extent must be a positive integer.
func parseShape(_ text: String, option: String) throws -> [Int] {
    let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard !parts.isEmpty, parts.allSatisfy({ ($0 ?? 0) > 0 && ($0 ?? 0) <= Graph.maximumElementsPerSample }) else {
        throw ShrinkError(.value, "\(option) must be positive integers separated by commas, got '\(text)'")
    }
    return parts.map { $0! }
}

/// A report's details as the pass's own type.
func details<T>(of report: PassReport, as type: T.Type) throws -> T {
    guard let details = report.details(as: type) else {
        throw CommandError(description: "\(report.pass) reported \(Swift.type(of: report.details)), not \(type)")
    }
    return details
}
