// PassOptions: a pass's settings as a recipe step writes them — snake_case keys named like the `shrink`
// subcommand's options (`finetune_epochs` for `--finetune-epochs`), scalar values or lists — read into typed
// settings with errors that name the recipe's line and key.
import Foundation
import Tensors

/// One option value of a recipe step.
public enum OptionValue: Sendable, Equatable {
    case scalar(String)
    case list([String])

    /// The value as one string (a list joined by commas, as on the command line).
    public var text: String {
        switch self {
        case .scalar(let s): s
        case .list(let items): items.joined(separator: ",")
        }
    }
}

/// A step's options, consumed key by key by a pass's `init(options:)`; `finish()` refuses what is left over.
public struct PassOptions: Sendable {
    /// The values by key.
    public private(set) var values: [String: OptionValue]
    /// Where each key was written ("recipe.yaml:12"), for errors.
    public var locations: [String: String]
    /// Where the step is, for errors about the step as a whole.
    public var location: String
    private var used: Set<String> = []

    public init(_ values: [String: OptionValue], locations: [String: String] = [:], location: String = "options") {
        self.values = values
        self.locations = locations
        self.location = location
    }

    /// Options from plain strings (for callers building a step in code).
    public init(_ values: [String: String]) {
        self.init(values.mapValues { .scalar($0) })
    }

    private func at(_ key: String) -> String { locations[key] ?? location }

    private func fail(_ key: String, _ expected: String, _ got: String) -> ShrinkError {
        ShrinkError(.format, "\(at(key)): '\(key)' must be \(expected), got '\(got)'")
    }

    /// The raw text of `key`, marking it used.
    public mutating func string(_ key: String) -> String? {
        guard let value = values[key] else { return nil }
        used.insert(key)
        return value.text
    }

    public mutating func int(_ key: String) throws -> Int? {
        guard let text = string(key) else { return nil }
        guard let value = Int(text) else { throw fail(key, "an integer", text) }
        return value
    }

    public mutating func uint64(_ key: String) throws -> UInt64? {
        guard let text = string(key) else { return nil }
        guard let value = UInt64(text) else { throw fail(key, "a non-negative integer", text) }
        return value
    }

    public mutating func double(_ key: String) throws -> Double? {
        guard let text = string(key) else { return nil }
        guard let value = Double(text), value.isFinite else { throw fail(key, "a number", text) }
        return value
    }

    public mutating func float(_ key: String) throws -> Float? {
        try double(key).map { Float($0) }
    }

    public mutating func bool(_ key: String) throws -> Bool? {
        guard let text = string(key) else { return nil }
        switch text {
        case "true": return true
        case "false": return false
        default: throw fail(key, "true or false", text)
        }
    }

    /// A comma-separated list or a YAML list.
    public mutating func list(_ key: String) -> [String]? {
        guard let value = values[key] else { return nil }
        used.insert(key)
        switch value {
        case .list(let items): return items
        case .scalar(let s):
            return s.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
    }

    /// A choice of a `NamedChoice` enum.
    public mutating func choice<T: NamedChoice>(_ key: String, _ type: T.Type) throws -> T? {
        guard let text = string(key) else { return nil }
        do {
            return try T(named: text)
        } catch let error as ShrinkError {
            throw ShrinkError(.format, "\(at(key)): \(error.message)")
        }
    }

    /// Refuses keys no one read, listing the keys the pass knows.
    public func finish(known: [String]) throws {
        let unknown = values.keys.filter { !used.contains($0) }.sorted()
        guard let first = unknown.first else { return }
        throw ShrinkError(.format, "\(at(first)): unknown option '\(first)'; the options are: "
            + known.sorted().joined(separator: ", "))
    }
}

/// A pass that a recipe step can build from its options.
public protocol RecipePass: Pass {
    /// The option keys the pass reads (for errors and docs).
    static var optionKeys: [String] { get }
    /// Reads the settings from a step's options; unknown keys and wrong types are errors naming the line.
    init(options: inout PassOptions) throws
    /// The pass with its costly settings capped, for a first look or a test (`shrink run --fast`): epochs,
    /// fine-tuning epochs, final epochs, rounds and seeds at 1, search trials at 2 and its validation samples at 100.
    func fast() -> Self
}

extension RecipePass {
    public func fast() -> Self { self }

    /// Builds the pass from `options`, refuses unknown keys and validates the settings, naming the step's line.
    public static func make(_ options: PassOptions) throws -> Self {
        var options = options
        let pass = try Self(options: &options)
        try options.finish(known: optionKeys)
        do {
            try pass.validate()
        } catch let error as ShrinkError {
            throw ShrinkError(error.kind, "\(options.location): \(Self.name): \(error.message)")
        }
        return pass
    }
}

/// Per-layer settings written as "node=value" entries (`conv1=4`, or a YAML list of them), keyed by node name;
/// `location` names where they were written in errors (empty: the key alone says it).
public func layerSettings<T>(_ entries: [String], key: String, at location: String, _ parse: (String) -> T?) throws -> [String: T] {
    var result: [String: T] = [:]
    let at = location.isEmpty ? "" : "\(location): "
    for entry in entries {
        let parts = entry.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 2, !parts[0].isEmpty, let value = parse(parts[1]) else {
            throw ShrinkError(.format, "\(at)'\(key)' entries are node=value, got '\(entry)'")
        }
        guard result.updateValue(value, forKey: parts[0]) == nil else {
            throw ShrinkError(.format, "\(at)'\(key)' names '\(parts[0])' twice")
        }
    }
    return result
}
