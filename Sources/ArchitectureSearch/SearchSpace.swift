// Search spaces: what a search can represent. A space is a stack of blocks; each block chooses an operation, a width
// and whether it has a residual connection, and the whole network chooses a depth multiplier (how many of the blocks
// it keeps) and a width multiplier. A candidate is one index per decision; `graph(for:)` builds it with the engine's
// layers, so every candidate trains, prunes, quantizes and saves like any other model. Spaces are declared in YAML
// or JSON (see `SearchSpace.parse`) or picked by name (`mobile-cnn`, `mlp`).
import Datasets
import Foundation
import NeuralNetworks
import Tensors

/// The operations a block can choose.
public enum BlockOperation: String, CaseIterable, Codable, Sendable, NamedChoice {
    public static let choiceName = "operation"
    /// conv k×k (no bias) – BatchNorm – ReLU.
    case conv3x3, conv5x5
    /// Depthwise-separable: depthwise k×k – BatchNorm – ReLU – pointwise 1×1 – BatchNorm – ReLU [MobileNet].
    case dwsep3x3, dwsep5x5
    /// Max pooling 3×3 (padding 1, the block's stride), then a 1×1 conv – BatchNorm – ReLU where the width changes.
    case maxpool
    /// Nothing where the shape is kept; a 1×1 conv (the block's stride) – BatchNorm – ReLU where it changes.
    case identity
    /// A fully connected layer – ReLU (multilayer-perceptron spaces).
    case linear
}

/// One block of a space: the choices for its operation, output width and residual connection, and its stride.
public struct BlockChoices: Codable, Sendable, Equatable {
    public var operations: [BlockOperation]
    public var widths: [Int]
    public var residual: [Bool]
    public var stride: Int

    public init(operations: [BlockOperation], widths: [Int], residual: [Bool] = [false], stride: Int = 1) {
        self.operations = operations
        self.widths = widths
        self.residual = residual
        self.stride = stride
    }
}

/// What a space's networks are made of: images through convolutions, or flat features through linear layers.
public enum SpaceKind: String, Codable, Sendable {
    case cnn, mlp
}

/// One decision of a space, with its number of options (for strategies and encodings).
public struct Decision: Sendable, Equatable {
    /// "block2.operation", "width_multiplier", …
    public let name: String
    public let options: [String]
}

/// A candidate architecture: one option index per decision of its space.
public struct Candidate: Hashable, Codable, Sendable, CustomStringConvertible {
    public var choices: [Int]
    public init(_ choices: [Int]) { self.choices = choices }
    public var description: String { choices.map(String.init).joined(separator: "-") }
}

/// A search space (see the file header).
public struct SearchSpace: Sendable, Equatable {
    public var name: String
    public var kind: SpaceKind
    /// The stem's width (cnn: conv 3×3 stride 1 – BatchNorm – ReLU before the blocks), scaled by the multiplier.
    public var stemWidth: Int
    public var blocks: [BlockChoices]
    /// Each keeps max(1, round(m · blocks)) of the blocks, from the first.
    public var depthMultipliers: [Double]
    /// Each scales every width (rounded to a multiple of 4, at least 4; mlp: at least 1).
    public var widthMultipliers: [Double]

    public init(name: String, kind: SpaceKind, stemWidth: Int = 16, blocks: [BlockChoices],
                depthMultipliers: [Double] = [1], widthMultipliers: [Double] = [1]) throws {
        self.name = name
        self.kind = kind
        self.stemWidth = stemWidth
        self.blocks = blocks
        self.depthMultipliers = depthMultipliers
        self.widthMultipliers = widthMultipliers
        try validate()
    }

    /// Throws `ShrinkError(.value)` naming what is empty or out of range.
    func validate() throws {
        guard !blocks.isEmpty else { throw ShrinkError(.value, "space '\(name)' has no blocks; it needs at least one") }
        guard stemWidth >= 1 && stemWidth <= 4096 else {
            throw ShrinkError(.value, "space '\(name)': stem width must be in 1…4096, got \(stemWidth)")
        }
        for (i, block) in blocks.enumerated() {
            let where_ = "space '\(name)', block \(i + 1)"
            guard !block.operations.isEmpty else { throw ShrinkError(.value, "\(where_) has no operations") }
            guard !block.widths.isEmpty else { throw ShrinkError(.value, "\(where_) has no widths") }
            guard !block.residual.isEmpty else { throw ShrinkError(.value, "\(where_) has no residual options") }
            guard block.widths.allSatisfy({ (1...4096).contains($0) }) else {
                throw ShrinkError(.value, "\(where_): widths must be in 1…4096, got \(block.widths)")
            }
            guard (1...4).contains(block.stride) else {
                throw ShrinkError(.value, "\(where_): stride must be in 1…4, got \(block.stride)")
            }
            let allowed: Set<BlockOperation> = kind == .mlp ? [.linear, .identity]
                                                            : Set(BlockOperation.allCases).subtracting([.linear])
            if let bad = block.operations.first(where: { !allowed.contains($0) }) {
                throw ShrinkError(.value, "\(where_): operation '\(bad.rawValue)' does not fit a \(kind.rawValue) space; "
                    + "use \(allowed.map(\.rawValue).sorted().joined(separator: ", "))")
            }
            guard Set(block.operations).count == block.operations.count, Set(block.widths).count == block.widths.count,
                  Set(block.residual).count == block.residual.count else {
                throw ShrinkError(.value, "\(where_) lists an option twice")
            }
        }
        guard !depthMultipliers.isEmpty, depthMultipliers.allSatisfy({ $0 > 0 && $0 <= 1 }) else {
            throw ShrinkError(.value, "space '\(name)': depth multipliers must be in (0, 1], got \(depthMultipliers)")
        }
        guard !widthMultipliers.isEmpty, widthMultipliers.allSatisfy({ $0 > 0 && $0 <= 8 }) else {
            throw ShrinkError(.value, "space '\(name)': width multipliers must be in (0, 8], got \(widthMultipliers)")
        }
    }

    /// The decisions, in the order of a candidate's choices: per block operation, width and residual, then the
    /// depth and width multipliers.
    public var decisions: [Decision] {
        var result: [Decision] = []
        for (i, block) in blocks.enumerated() {
            result.append(Decision(name: "block\(i + 1).operation", options: block.operations.map(\.rawValue)))
            result.append(Decision(name: "block\(i + 1).width", options: block.widths.map(String.init)))
            result.append(Decision(name: "block\(i + 1).residual", options: block.residual.map(String.init)))
        }
        result.append(Decision(name: "depth_multiplier", options: depthMultipliers.map { "\($0)" }))
        result.append(Decision(name: "width_multiplier", options: widthMultipliers.map { "\($0)" }))
        return result
    }

    /// The number of distinct candidates.
    public var size: Double { decisions.reduce(1) { $0 * Double($1.options.count) } }

    /// Throws unless `candidate` has one valid index per decision.
    public func check(_ candidate: Candidate) throws {
        let decisions = decisions
        guard candidate.choices.count == decisions.count,
              zip(candidate.choices, decisions).allSatisfy({ $0 >= 0 && $0 < $1.options.count }) else {
            throw ShrinkError(.value, "candidate \(candidate) does not fit space '\(name)' (\(decisions.count) decisions "
                + "with \(decisions.map { String($0.options.count) }.joined(separator: ", ")) options)")
        }
    }

    /// A uniformly random candidate.
    public func randomCandidate(_ generator: inout SeededGenerator) -> Candidate {
        Candidate(decisions.map { generator.nextInt(below: $0.options.count) })
    }

    /// A readable form: "conv3x3/32+res dwsep5x5/64 … ×0.75 depth 1.0".
    public func describe(_ candidate: Candidate) -> String {
        let c = candidate.choices, kept = keptBlocks(candidate)
        var parts: [String] = []
        for i in 0..<kept {
            let block = blocks[i]
            parts.append("\(block.operations[c[3 * i]].rawValue)/\(block.widths[c[3 * i + 1]])"
                         + (block.residual[c[3 * i + 2]] ? "+res" : ""))
        }
        return parts.joined(separator: " ") + " ×\(widthMultipliers[c[3 * blocks.count + 1]])"
    }

    /// Blocks kept by the candidate's depth multiplier.
    func keptBlocks(_ candidate: Candidate) -> Int {
        let m = depthMultipliers[candidate.choices[3 * blocks.count]]
        return max(1, Int((m * Double(blocks.count)).rounded()))
    }

    func scaled(_ width: Int, _ candidate: Candidate) -> Int {
        let m = widthMultipliers[candidate.choices[3 * blocks.count + 1]]
        let w = Double(width) * m
        return kind == .mlp ? max(1, Int(w.rounded())) : max(4, Int((w / 4).rounded()) * 4)
    }

    /// Builds the candidate's network for samples of `inputShape` and `classes` outputs, weights from `seed`.
    ///
    /// - Throws: `ShrinkError(.shape)` when the data does not fit the space (images for cnn spaces); invalid
    ///   candidates.
    public func graph(for candidate: Candidate, inputShape: [Int], classes: Int, seed: UInt64) throws -> Graph {
        try check(candidate)
        var g = SeededGenerator(seed: seed, stream: "nas-\(candidate)")
        var b = GraphBuilder(inputShape: inputShape)
        let c = candidate.choices
        switch kind {
        case .mlp:
            try b.add("flatten", Flatten())
            for i in 0..<keptBlocks(candidate) {
                let block = blocks[i], op = block.operations[c[3 * i]]
                guard op == .linear else { continue }
                let input = b.currentShape[0], width = scaled(block.widths[c[3 * i + 1]], candidate)
                let start = b.last
                try b.add("block\(i + 1)_fc", Linear(inputFeatures: input, outputFeatures: width, generator: &g))
                try b.add("block\(i + 1)_relu", ReLU())
                if block.residual[c[3 * i + 2]] && input == width {
                    try b.add("block\(i + 1)_add", Add(), inputs: [start, b.last])
                }
            }
            try b.add("classifier", Linear(inputFeatures: b.currentShape[0], outputFeatures: classes, generator: &g))
        case .cnn:
            guard inputShape.count == 3 else {
                throw ShrinkError(.shape, "space '\(name)' builds convolutional networks; the data has samples of shape "
                    + "\(inputShape), not (C, H, W)")
            }
            let stem = scaled(stemWidth, candidate)
            try convBNReLU(&b, "stem", from: inputShape[0], to: stem, kernel: 3, stride: 1, &g)
            for i in 0..<keptBlocks(candidate) {
                let block = blocks[i]
                try addBlock(&b, index: i + 1, block.operations[c[3 * i]], width: scaled(block.widths[c[3 * i + 1]], candidate),
                             stride: block.stride, residual: block.residual[c[3 * i + 2]], &g)
            }
            try b.add("pool", GlobalAvgPool())
            try b.add("classifier", Linear(inputFeatures: b.currentShape[0], outputFeatures: classes, generator: &g))
        }
        return try b.build()
    }

    func convBNReLU(_ b: inout GraphBuilder, _ prefix: String, from input: Int, to output: Int, kernel: Int,
                            stride: Int, groups: Int = 1, _ g: inout SeededGenerator) throws {
        try b.add("\(prefix)_conv", Conv2d(inputChannels: input, outputChannels: output, kernelSize: kernel, stride: stride,
                                           padding: kernel / 2, groups: groups, bias: false, generator: &g))
        try b.add("\(prefix)_bn", BatchNorm(features: output))
        try b.add("\(prefix)_relu", ReLU())
    }

    func addBlock(_ b: inout GraphBuilder, index: Int, _ op: BlockOperation, width: Int, stride: Int,
                          residual: Bool, _ g: inout SeededGenerator) throws {
        let start = b.last, input = b.currentShape[0], height = b.currentShape[1], widthPixels = b.currentShape[2]
        // A stride larger than the feature map would leave nothing: keep at least one pixel.
        let s = min(stride, max(1, min(height, widthPixels)))
        let p = "block\(index)"
        switch op {
        case .conv3x3, .conv5x5:
            try convBNReLU(&b, p, from: input, to: width, kernel: op == .conv3x3 ? 3 : 5, stride: s, &g)
        case .dwsep3x3, .dwsep5x5:
            try convBNReLU(&b, "\(p)_dw", from: input, to: input, kernel: op == .dwsep3x3 ? 3 : 5, stride: s,
                           groups: input, &g)
            try convBNReLU(&b, "\(p)_pw", from: input, to: width, kernel: 1, stride: 1, &g)
        case .maxpool:
            if s > 1 { try b.add("\(p)_pool", MaxPool2d(kernelSize: 3, stride: s, padding: 1)) }
            if width != input { try convBNReLU(&b, "\(p)_proj", from: input, to: width, kernel: 1, stride: 1, &g) }
        case .identity:
            if s > 1 || width != input { try convBNReLU(&b, "\(p)_proj", from: input, to: width, kernel: 1, stride: s, &g) }
        case .linear:
            throw ShrinkError(.value, "block \(index): 'linear' belongs to mlp spaces")
        }
        guard residual, b.last != start else { return }
        let main = b.last
        var shortcut = start
        if s > 1 || width != input {
            try b.add("\(p)_short_conv", Conv2d(inputChannels: input, outputChannels: width, kernelSize: 1, stride: s,
                                                bias: false, generator: &g), inputs: [start])
            try b.add("\(p)_short_bn", BatchNorm(features: width))
            shortcut = b.last
        }
        try b.add("\(p)_add", Add(), inputs: [main, shortcut])
    }

    /// A one-hot encoding of the candidate (for the Gaussian-process surrogate), one slot per option.
    public func encode(_ candidate: Candidate) -> [Double] {
        var result: [Double] = []
        for (choice, decision) in zip(candidate.choices, decisions) where decision.options.count > 1 {
            for option in 0..<decision.options.count { result.append(option == choice ? 1 : 0) }
        }
        return result
    }
}

extension SearchSpace {
    /// The built-in spaces, by name.
    public static let builtInNames = ["mobile-cnn", "mlp"]

    /// `mobile-cnn`, for 28×28 images: a stem conv 3×3 (16 wide) and five blocks with strides 2, 1, 2, 1, 2, each
    /// choosing among conv 3×3/5×5, depthwise-separable 3×3/5×5, max-pool and identity, three widths and an
    /// optional residual; depth multipliers 0.6 and 1, width multipliers 0.5, 0.75 and 1.
    public static let mobileCNN = try! SearchSpace(
        name: "mobile-cnn", kind: .cnn, stemWidth: 16,
        blocks: [
            BlockChoices(operations: convolutionOperations, widths: [16, 24, 32], residual: [false, true], stride: 2),
            BlockChoices(operations: convolutionOperations, widths: [24, 32, 48], residual: [false, true], stride: 1),
            BlockChoices(operations: convolutionOperations, widths: [32, 48, 64], residual: [false, true], stride: 2),
            BlockChoices(operations: convolutionOperations, widths: [48, 64, 96], residual: [false, true], stride: 1),
            BlockChoices(operations: convolutionOperations, widths: [64, 96, 128], residual: [false, true], stride: 2),
        ],
        depthMultipliers: [0.6, 1], widthMultipliers: [0.5, 0.75, 1])

    static let convolutionOperations: [BlockOperation] = [.conv3x3, .conv5x5, .dwsep3x3, .dwsep5x5, .maxpool, .identity]

    /// `mlp`, for flat features (or flattened images): three hidden layers, each linear or skipped, 64/128/256 wide,
    /// with an optional residual where the width is kept; width multipliers 0.5 and 1.
    public static let mlp = try! SearchSpace(
        name: "mlp", kind: .mlp, stemWidth: 1,
        blocks: Array(repeating: BlockChoices(operations: [.linear, .identity], widths: [64, 128, 256],
                                              residual: [false, true]), count: 3),
        depthMultipliers: [1], widthMultipliers: [0.5, 1])

    /// A built-in space by name, or a YAML/JSON file by path.
    ///
    /// - Throws: `ShrinkError(.unknownName)` for a name that is neither; parse errors naming the file and line.
    public static func load(_ nameOrPath: String) throws -> SearchSpace {
        switch nameOrPath {
        case "mobile-cnn": return mobileCNN
        case "mlp": return mlp
        default:
            guard FileManager.default.fileExists(atPath: nameOrPath) else {
                throw ShrinkError(.unknownName, "'\(nameOrPath)' is neither a built-in space (\(builtInNames.joined(separator: ", "))) nor a file")
            }
            let data = try readFile(nameOrPath)
            return try parse(String(decoding: data, as: UTF8.self), file: nameOrPath)
        }
    }
}
