// Recipes: a YAML file naming the data, the starting model and an ordered list of passes, each with the options of
// its `shrink` subcommand. Parsing checks everything before anything runs — unknown keys, wrong types (each step's
// options go through the subcommand's own parser) and impossible orders — and every error names the line.
import ArgumentParser
import Foundation
import Shrink
import Yams

/// The passes a recipe step can name, and what they take and give.
enum RecipePass: String, CaseIterable {
    case train, prune, distill, quantize, qat, search, eval, bench

    /// Whether the pass writes a new model that later steps work on.
    var producesModel: Bool { self != .eval && self != .bench }
    /// Whether the pass reads the current model.
    var readsModel: Bool { self != .train && self != .search }
    /// Whether the pass needs a float model (it trains or rewrites float weights).
    var needsFloat: Bool { [.prune, .distill, .quantize, .qat].contains(self) }
    /// Whether its output is quantized (integer engine, binarized).
    var quantizes: Bool { self == .quantize || self == .qat }

    /// The subcommand's parser, to check a step's options before anything runs.
    func check(_ arguments: [String]) throws {
        switch self {
        case .train: _ = try Train.parse(arguments)
        case .prune: _ = try Prune.parse(arguments)
        case .distill: _ = try Distill.parse(arguments)
        case .quantize: _ = try Quantize.parse(arguments)
        case .qat: _ = try QAT.parse(arguments)
        case .search: _ = try Search.parse(arguments)
        case .eval: _ = try Eval.parse(arguments)
        case .bench: _ = try Bench.parse(arguments)
        }
    }
}

/// One step of a recipe.
struct RecipeStep {
    var name: String
    var pass: RecipePass
    /// The step's options as `--key value` arguments (snake_case keys become kebab-case options).
    var options: [String]
    var line: Int
    /// The step whose model this one works on, when not the previous model-producing step (`from:`).
    var from: String? = nil
}

/// A parsed recipe.
struct Recipe {
    var data: String
    /// The starting model file, or nil when the first step trains one.
    var model: String?
    var steps: [RecipeStep]
    /// Seconds of timed calls per figure in the report's benchmark (0 skips latency).
    var benchSeconds: Double

    /// Parses and checks a recipe; `file` names it in errors.
    static func parse(_ text: String, file: String) throws -> Recipe {
        let root: Yams.Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw ShrinkError(.format, "\(file): not valid YAML: \(error.located)")
        }
        guard let root, case .mapping(let top) = root else {
            throw ShrinkError(.format, "\(file): a recipe is a mapping with 'data', 'model' or a first 'train' step, and 'steps'")
        }
        func line(_ node: Yams.Node) -> String { "\(file):\(node.mark?.line ?? 0)" }
        var data: String?, model: String?, stepsNode: Yams.Node?, benchSeconds = 0.5
        for (key, value) in top {
            guard let name = key.string else { throw ShrinkError(.format, "\(line(key)): keys must be strings") }
            switch name {
            case "data":
                guard let s = value.string else { throw ShrinkError(.format, "\(line(value)): 'data' must be a data spec string") }
                data = s
            case "model":
                guard let s = value.string else { throw ShrinkError(.format, "\(line(value)): 'model' must be a model file path") }
                model = s
            case "steps": stepsNode = value
            case "report":
                guard case .mapping(let report) = value else { throw ShrinkError(.format, "\(line(value)): 'report' must be a mapping") }
                for (k, v) in report {
                    guard k.string == "bench_seconds" else {
                        throw ShrinkError(.format, "\(line(k)): unknown key '\(k.string ?? "?")' in 'report'; expected bench_seconds")
                    }
                    guard let s = v.string, let seconds = Double(s), seconds >= 0, seconds <= 60 else {
                        throw ShrinkError(.format, "\(line(v)): 'bench_seconds' must be a number in 0…60")
                    }
                    benchSeconds = seconds
                }
            default:
                throw ShrinkError(.format, "\(line(key)): unknown key '\(name)'; a recipe has data, model, steps and report")
            }
        }
        guard let data else { throw ShrinkError(.format, "\(line(root)): the recipe has no 'data'") }
        guard let stepsNode, case .sequence(let items) = stepsNode, !items.isEmpty else {
            throw ShrinkError(.format, "\(line(stepsNode ?? root)): 'steps' must be a non-empty list of passes")
        }
        var steps: [RecipeStep] = []
        var names = Set<String>()
        var haveModel = model != nil, quantizedBy: RecipeStep?
        // Per model-producing step: the step that quantized its line of descent (nil: still float).
        var lineage = [String: RecipeStep?]()
        var from: String?
        for item in items {
            let at = line(item)
            guard case .mapping(let mapping) = item, mapping.count == 1, let (key, value) = mapping.first,
                  let passName = key.string else {
                throw ShrinkError(.format, "\(at): each step is one pass with its options, e.g. '- prune: {sparsity: 0.5}'")
            }
            guard let pass = RecipePass(rawValue: passName) else {
                throw ShrinkError(.format, "\(at): unknown pass '\(passName)'; the passes are "
                    + RecipePass.allCases.map(\.rawValue).joined(separator: ", "))
            }
            var options: [String] = []
            var stepName = "\(steps.count + 1)-\(passName)"
            from = nil
            if case .mapping(let settings) = value {
                for (k, v) in settings {
                    guard let optionName = k.string else { throw ShrinkError(.format, "\(line(k)): option names must be strings") }
                    if optionName == "from" {
                        guard let s = v.string, let origin = lineage[s] else {
                            throw ShrinkError(.format, "\(line(v)): 'from' must name an earlier step that produced a model; "
                                + "those are: \(lineage.keys.sorted().joined(separator: ", "))")
                        }
                        from = s
                        quantizedBy = origin
                        continue
                    }
                    if optionName == "name" {
                        guard let s = v.string, !s.isEmpty, s.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
                            throw ShrinkError(.format, "\(line(v)): a step name is letters, digits, '-' and '_'")
                        }
                        stepName = s
                        continue
                    }
                    if ["data", "out", "json", "model", "teacher", "student"].contains(optionName) {
                        throw ShrinkError(.format, "\(line(k)): '\(optionName)' is set by the recipe itself; remove it from the step")
                    }
                    let option = "--" + optionName.replacingOccurrences(of: "_", with: "-")
                    switch v {
                    case .scalar(let scalar):
                        if scalar.string == "true" { options.append(option) }
                        else if scalar.string == "false" { continue }
                        else { options += [option, scalar.string] }
                    case .sequence(let list):
                        options += [option, list.compactMap(\.string).joined(separator: ",")]
                    default:
                        throw ShrinkError(.format, "\(line(v)): option '\(optionName)' must be a value or a list")
                    }
                }
            } else if !(value.string ?? "").isEmpty && value.string != "null" {
                throw ShrinkError(.format, "\(at): the options of '\(passName)' must be a mapping (or nothing)")
            }
            guard names.insert(stepName).inserted else { throw ShrinkError(.format, "\(at): step name '\(stepName)' is used twice") }
            // Impossible orders.
            if pass.readsModel && !haveModel {
                throw ShrinkError(.format, "\(at): '\(passName)' needs a model; give 'model:' or start with a train or search step")
            }
            if pass == .train && haveModel {
                throw ShrinkError(.format, "\(at): 'train' trains a new model from an architecture; it can only come first, without 'model:'")
            }
            if pass.needsFloat, let q = quantizedBy {
                throw ShrinkError(.format, "\(at): '\(passName)' needs a float model, but step '\(q.name)' (line \(q.line)) quantized it")
            }
            // The subcommand's own parser checks the options (names and types) now, not halfway through the run.
            var probe = options
            switch pass {
            case .train, .search, .distill: probe += ["--data", data, "--out", "x"]
            case .prune, .quantize, .qat: probe = ["m"] + probe + ["--data", data, "--out", "x"]
            case .eval: probe = ["m"] + probe + ["--data", data]
            case .bench: probe = ["m"] + probe
            }
            if pass == .distill { probe += ["--teacher", "m"] }
            do {
                try pass.check(probe)
            } catch {
                let message = ShrinkCommand.message(for: error)
                throw ShrinkError(.format, "\(at): \(passName): \(message)")
            }
            let step = RecipeStep(name: stepName, pass: pass, options: options, line: item.mark?.line ?? 0, from: from)
            if pass.producesModel { haveModel = true }
            if pass.quantizes { quantizedBy = step }
            if pass == .train || pass == .search || pass == .distill { quantizedBy = nil }
            if pass.producesModel { lineage[stepName] = .some(quantizedBy) }
            steps.append(step)
        }
        return Recipe(data: data, model: model, steps: steps, benchSeconds: benchSeconds)
    }
}
