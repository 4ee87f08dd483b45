// Recipes: the data, the starting model and an ordered list of passes. A recipe is built in Swift from pass values,
// or parsed from YAML — each step one pass with the options of its `shrink` subcommand (snake_case keys) — and
// checked before anything runs: unknown keys, wrong types, invalid settings and impossible orders are errors that
// name the line.
import Datasets
import Foundation
import Tensors
import Yams

/// The passes a recipe step can name.
public enum RecipePassKind: String, CaseIterable, Sendable, NamedChoice {
    public static let choiceName = "pass"
    case train, prune, distill, quantize, qat, search, eval, bench

    /// Whether the pass produces a new model that later steps work on.
    public var producesModel: Bool { self != .eval && self != .bench }
    /// Whether the pass reads the current model.
    public var readsModel: Bool { self != .train && self != .search }
    /// Whether the pass needs a float model (it trains or rewrites float weights).
    public var needsFloat: Bool { [.prune, .distill, .quantize, .qat].contains(self) }
    /// Whether its output is quantized (integer engine, weight-only, binarized).
    public var quantizes: Bool { self == .quantize || self == .qat }

    /// The pass type.
    public var type: any RecipePass.Type {
        switch self {
        case .train: TrainPass.self
        case .prune: PrunePass.self
        case .distill: DistillPass.self
        case .quantize: QuantizePass.self
        case .qat: QATPass.self
        case .search: SearchPass.self
        case .eval: EvaluatePass.self
        case .bench: BenchmarkPass.self
        }
    }

    /// Builds and validates the pass from a step's options.
    public func make(_ options: PassOptions) throws -> any RecipePass {
        try type.make(options)
    }
}

/// One step of a recipe: a pass, and where its input comes from.
public struct RecipeStep: @unchecked Sendable {
    /// The step's name: its model is DIR/models/NAME.safetensors.
    public var name: String
    public var pass: any RecipePass
    /// The step whose model this one works on, when not the previous model-producing step.
    public var from: String?
    /// The recipe line the step was written on (0 for steps built in Swift).
    public var line: Int

    public init(_ name: String, _ pass: any RecipePass, from: String? = nil, line: Int = 0) {
        self.name = name
        self.pass = pass
        self.from = from
        self.line = line
    }

    /// The pass's kind (nil for a pass that is none of the built-in kinds, which `Recipe.check` refuses).
    public var kind: RecipePassKind? {
        RecipePassKind(rawValue: type(of: pass).name)
    }
}

/// A recipe: a typed list of passes on one data spec.
public struct Recipe: @unchecked Sendable {
    /// The data spec every step uses.
    public var data: String
    /// The starting model file, or nil when the first step trains or searches one.
    public var model: String?
    public var steps: [RecipeStep]
    /// Seconds of timed calls per figure in the report's benchmark (0 skips latency).
    public var benchSeconds: Double
    /// The file the recipe was parsed from, for errors ("recipe.yaml:12: …").
    public var source: String?

    /// A recipe built in Swift; `check()` validates it as parsing would.
    public init(data: String, model: String? = nil, steps: [RecipeStep], benchSeconds: Double = 0.5) throws {
        self.data = data
        self.model = model
        self.steps = steps
        self.benchSeconds = benchSeconds
        try check()
    }

    private init(unchecked data: String, model: String?, steps: [RecipeStep], benchSeconds: Double) {
        self.data = data
        self.model = model
        self.steps = steps
        self.benchSeconds = benchSeconds
    }

    /// Checks names, settings and the order of the steps (a pass that needs a model has one; a pass that needs a
    /// float model does not get a quantized one; `from` names an earlier model-producing step).
    public func check() throws {
        guard !steps.isEmpty else { throw ShrinkError(.format, "a recipe needs at least one step") }
        guard (0...60).contains(benchSeconds) else {
            throw ShrinkError(.format, "bench_seconds must be a number in 0…60, got \(benchSeconds)")
        }
        var names = Set<String>(), haveModel = model != nil, quantizedBy: RecipeStep?
        // Per model-producing step: the step that quantized its line of descent (nil: still float).
        var lineage = [String: RecipeStep?]()
        for step in steps {
            let at = step.line > 0 ? (source.map { "\($0):\(step.line)" } ?? "line \(step.line)") : "step '\(step.name)'"
            guard let kind = step.kind else {
                throw ShrinkError(.format, "\(at): a recipe step is one of the passes "
                    + RecipePassKind.allCases.map(\.rawValue).joined(separator: ", ") + ", not \(type(of: step.pass).name)")
            }
            if let search = step.pass as? SearchPass, search.finalEpochs == 0 {
                throw ShrinkError(.format, "\(at): a search step produces the retrained best model; give it final_epochs ≥ 1")
            }
            guard !step.name.isEmpty, step.name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
                throw ShrinkError(.format, "\(at): a step name is letters, digits, '-' and '_', got '\(step.name)'")
            }
            guard names.insert(step.name).inserted else {
                throw ShrinkError(.format, "\(at): step name '\(step.name)' is used twice")
            }
            if let from = step.from {
                guard let origin = lineage[from] else {
                    throw ShrinkError(.format, "\(at): 'from' must name an earlier step that produced a model; those "
                        + "are: \(lineage.keys.sorted().joined(separator: ", "))")
                }
                quantizedBy = origin
            }
            if kind.readsModel && !haveModel {
                throw ShrinkError(.format, "\(at): '\(kind.rawValue)' needs a model; give 'model:' or start with a "
                    + "train or search step")
            }
            if kind == .train && haveModel {
                throw ShrinkError(.format, "\(at): 'train' trains a new model from an architecture; it can only come "
                    + "first, without 'model:'")
            }
            if kind.needsFloat, let q = quantizedBy {
                throw ShrinkError(.format, "\(at): '\(kind.rawValue)' needs a float model, but step '\(q.name)'"
                    + (q.line > 0 ? " (line \(q.line))" : "") + " quantized it")
            }
            do {
                try step.pass.validate()
            } catch let error as ShrinkError {
                throw ShrinkError(.format, "\(at): \(kind.rawValue): \(error.message)")
            }
            if kind.producesModel { haveModel = true }
            if kind.quantizes { quantizedBy = step }
            if kind == .train || kind == .search || kind == .distill { quantizedBy = nil }
            if kind.producesModel { lineage[step.name] = .some(quantizedBy) }
        }
    }

    /// `--fast`: every step's costly settings capped (`RecipePass.fast`), the report's benchmark at 0.05 s.
    public func fast() -> Recipe {
        var copy = self
        copy.steps = steps.map { step in
            var capped = step
            capped.pass = step.pass.fast()
            return capped
        }
        copy.benchSeconds = min(benchSeconds, 0.05)
        return copy
    }

    /// Parses and checks a recipe; `file` names it in errors.
    public static func parse(_ text: String, file: String) throws -> Recipe {
        let root: Yams.Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw ShrinkError(.format, "\(file): not valid YAML: \(error.located)")
        }
        guard let root, case .mapping(let top) = root else {
            throw ShrinkError(.format, "\(file): a recipe is a mapping with 'data', 'model' or a first 'train' step, "
                + "and 'steps'")
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
                guard case .mapping(let report) = value else {
                    throw ShrinkError(.format, "\(line(value)): 'report' must be a mapping")
                }
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
        for item in items {
            let at = line(item)
            guard case .mapping(let mapping) = item, mapping.count == 1, let (key, value) = mapping.first,
                  let passName = key.string else {
                throw ShrinkError(.format, "\(at): each step is one pass with its options, e.g. '- prune: {sparsity: 0.5}'")
            }
            guard let kind = RecipePassKind(rawValue: passName) else {
                throw ShrinkError(.format, "\(at): unknown pass '\(passName)'; the passes are "
                    + RecipePassKind.allCases.map(\.rawValue).joined(separator: ", "))
            }
            var values: [String: OptionValue] = [:], locations: [String: String] = [:]
            var stepName = "\(steps.count + 1)-\(passName)", from: String?
            if case .mapping(let settings) = value {
                for (k, v) in settings {
                    guard let optionName = k.string else { throw ShrinkError(.format, "\(line(k)): option names must be strings") }
                    switch optionName {
                    case "from":
                        guard let s = v.string else { throw ShrinkError(.format, "\(line(v)): 'from' must name an earlier step") }
                        from = s
                        continue
                    case "name":
                        guard let s = v.string else { throw ShrinkError(.format, "\(line(v)): a step name is a string") }
                        stepName = s
                        continue
                    case "teacher", "student":
                        throw ShrinkError(.format, "\(line(k)): a distill step's teacher is the current model and its "
                            + "student the architecture 'arch' names; remove '\(optionName)'")
                    case "data", "out", "json", "model", "journal":
                        throw ShrinkError(.format, "\(line(k)): '\(optionName)' is set by the recipe itself; remove it "
                            + "from the step")
                    default: break
                    }
                    locations[optionName] = line(k)
                    switch v {
                    case .scalar(let scalar): values[optionName] = .scalar(scalar.string)
                    case .sequence(let list): values[optionName] = .list(list.compactMap(\.string))
                    default: throw ShrinkError(.format, "\(line(v)): option '\(optionName)' must be a value or a list")
                    }
                }
            } else if !(value.string ?? "").isEmpty && value.string != "null" {
                throw ShrinkError(.format, "\(at): the options of '\(passName)' must be a mapping (or nothing)")
            }
            // A flag set to false is the flag left out, as on the command line.
            values = values.filter { $0.value != .scalar("false") }
            let options = PassOptions(values, locations: locations, location: at)
            let pass: any RecipePass
            do {
                pass = try kind.make(options)
            } catch let error as ShrinkError {
                // Errors from the pass's settings name the step; errors from reading options name their key's line.
                throw error.message.hasPrefix(file) ? error : ShrinkError(.format, "\(at): \(passName): \(error.message)")
            }
            steps.append(RecipeStep(stepName, pass, from: from, line: item.mark?.line ?? 0))
        }
        var recipe = Recipe(unchecked: data, model: model, steps: steps, benchSeconds: benchSeconds)
        recipe.source = file
        try recipe.check()
        return recipe
    }
}
