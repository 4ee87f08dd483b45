// Reading a search space from YAML or JSON (JSON is YAML). Every error names the file and the line: a syntax error
// with libyaml's line and column, an unknown key, a wrong type or a value out of range with the line of the node.
//
//     name: tiny
//     kind: cnn                # or mlp
//     stem_width: 16           # cnn only
//     depth_multipliers: [0.5, 1.0]
//     width_multipliers: [0.5, 1.0]
//     blocks:
//       - operations: [conv3x3, dwsep3x3, identity]
//         widths: [16, 32]
//         residual: [false, true]
//         stride: 2
//       - repeat: 2             # the same choices, twice (each block decides on its own)
//         operations: [dwsep5x5, maxpool]
//         widths: [32]
import Foundation
import Tensors
import Yams

extension SearchSpace {
    /// Parses a space from YAML or JSON text; `file` names the source in errors.
    ///
    /// - Throws: `ShrinkError(.format)` naming `file:line` for syntax errors, unknown keys, wrong types and values
    ///   out of range; `ShrinkError(.value)` for an empty space.
    public static func parse(_ text: String, file: String) throws -> SearchSpace {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw ShrinkError(.format, "\(file): not valid YAML/JSON: \(error.located)")
        }
        guard let root else { throw ShrinkError(.value, "\(file): the space is empty; it needs at least 'blocks'") }
        let reader = Reader(file: file)
        let top = try reader.mapping(root, "the space", allowed: ["name", "kind", "stem_width", "depth_multipliers",
                                                                 "width_multipliers", "blocks"])
        let name = try top["name"].map { try reader.string($0, "name") } ?? (file as NSString).lastPathComponent
        let kind: SpaceKind
        if let node = top["kind"] {
            let value = try reader.string(node, "kind")
            guard let k = SpaceKind(rawValue: value) else {
                throw reader.error(node, "'kind' must be cnn or mlp, got '\(value)'")
            }
            kind = k
        } else {
            kind = .cnn
        }
        let stem = try top["stem_width"].map { try reader.integer($0, "stem_width", 1...4096) } ?? 16
        let depth = try top["depth_multipliers"].map { try reader.numbers($0, "depth_multipliers", minimum: 0, maximum: 1) } ?? [1]
        let width = try top["width_multipliers"].map { try reader.numbers($0, "width_multipliers", minimum: 0, maximum: 8) } ?? [1]
        guard let blocksNode = top["blocks"] else {
            throw reader.error(root, "the space has no 'blocks'; it needs at least one")
        }
        guard case .sequence(let items) = blocksNode else { throw reader.error(blocksNode, "'blocks' must be a list") }
        guard !items.isEmpty else { throw reader.error(blocksNode, "'blocks' is empty; a space needs at least one block") }
        var blocks: [BlockChoices] = []
        for item in items {
            let block = try reader.mapping(item, "a block", allowed: ["operations", "widths", "residual", "stride", "repeat"])
            guard let opsNode = block["operations"] else { throw reader.error(item, "the block has no 'operations'") }
            guard let widthsNode = block["widths"] else { throw reader.error(item, "the block has no 'widths'") }
            let operations = try reader.list(opsNode, "operations").map { node -> BlockOperation in
                let value = try reader.string(node, "operation")
                guard let op = BlockOperation(rawValue: value) else {
                    throw reader.error(node, "unknown operation '\(value)'; the operations are "
                        + BlockOperation.allCases.map(\.rawValue).joined(separator: ", "))
                }
                return op
            }
            let widths = try reader.list(widthsNode, "widths").map { try reader.integer($0, "a width", 1...4096) }
            let residual = try block["residual"].map { node in
                try reader.list(node, "residual").map { try reader.boolean($0, "residual") }
            } ?? [false]
            let stride = try block["stride"].map { try reader.integer($0, "stride", 1...4) } ?? 1
            let count = try block["repeat"].map { try reader.integer($0, "repeat", 1...64) } ?? 1
            for node in [opsNode, widthsNode] where reader.isEmptyList(node) {
                throw reader.error(node, "an empty list of choices; a block needs at least one option each")
            }
            let choices = BlockChoices(operations: operations, widths: widths, residual: residual, stride: stride)
            for (index, copy) in Array(repeating: choices, count: count).enumerated() {
                // Repeated blocks downsample once, in the first copy.
                var c = copy
                if index > 0 { c.stride = 1 }
                blocks.append(c)
            }
        }
        do {
            return try SearchSpace(name: name, kind: kind, stemWidth: stem, blocks: blocks,
                                   depthMultipliers: depth, widthMultipliers: width)
        } catch let error as ShrinkError {
            throw ShrinkError(error.kind, "\(file): \(error.message)")
        }
    }

}

extension YamlError {
    /// "line L, column C: problem" for syntax errors (libyaml's position), else the error's own description — for
    /// messages about space files and recipes.
    public var located: String {
        switch self {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
             .composer(_, let problem, let mark, _):
            return "line \(mark.line), column \(mark.column): \(problem)"
        default:
            return "\(self)"
        }
    }
}

/// Typed access to YAML nodes with errors naming `file:line`.
private struct Reader {
    let file: String

    func error(_ node: Node, _ message: String) -> ShrinkError {
        ShrinkError(.format, "\(file):\(node.mark.map { "\($0.line)" } ?? "?"): \(message)")
    }

    func mapping(_ node: Node, _ what: String, allowed: Set<String>) throws -> [String: Node] {
        guard case .mapping(let mapping) = node else { throw error(node, "\(what) must be a mapping of keys to values") }
        var result = [String: Node]()
        for (key, value) in mapping {
            guard let name = key.string else { throw error(key, "keys must be strings") }
            guard allowed.contains(name) else {
                throw error(key, "unknown key '\(name)' in \(what); expected one of \(allowed.sorted().joined(separator: ", "))")
            }
            result[name] = value
        }
        return result
    }

    func list(_ node: Node, _ what: String) throws -> [Node] {
        guard case .sequence(let items) = node else { throw error(node, "'\(what)' must be a list") }
        return Array(items)
    }

    func isEmptyList(_ node: Node) -> Bool {
        if case .sequence(let items) = node { return items.isEmpty }
        return false
    }

    func string(_ node: Node, _ what: String) throws -> String {
        guard case .scalar(let scalar) = node else { throw error(node, "'\(what)' must be a single value") }
        return scalar.string
    }

    func integer(_ node: Node, _ what: String, _ range: ClosedRange<Int>) throws -> Int {
        let text = try string(node, what)
        guard let value = Int(text), range.contains(value) else {
            throw error(node, "\(what) must be an integer in \(range.lowerBound)…\(range.upperBound), got '\(text)'")
        }
        return value
    }

    func boolean(_ node: Node, _ what: String) throws -> Bool {
        let text = try string(node, what)
        switch text.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw error(node, "\(what) must be true or false, got '\(text)'")
        }
    }

    func numbers(_ node: Node, _ what: String, minimum: Double, maximum: Double) throws -> [Double] {
        let items = try list(node, what)
        guard !items.isEmpty else { throw error(node, "'\(what)' is empty; it needs at least one value") }
        return try items.map { item in
            let text = try string(item, what)
            guard let value = Double(text), value > minimum, value <= maximum else {
                throw error(item, "each of '\(what)' must be a number in (\(minimum), \(maximum)], got '\(text)'")
            }
            return value
        }
    }
}
