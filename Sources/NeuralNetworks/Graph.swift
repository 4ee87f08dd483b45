// Graph: named nodes in topological order, with forward and a reverse walk for backward — the whole of backprop.
import Tensors

/// One node of a graph: a layer and the names of the nodes (or the graph input) it reads.
public struct Node {
    public let name: String
    public let layer: any Layer
    public let inputs: [String]

    public init(name: String, layer: any Layer, inputs: [String]) {
        self.name = name
        self.layer = layer
        self.inputs = inputs
    }
}

/// A directed acyclic graph of named layers with one input (named `input`) and one output.
///
/// Construction sorts the nodes topologically (Kahn's algorithm, keeping the given order among ready nodes),
/// rejects unknown inputs, duplicate names and cycles, and infers every node's per-sample output shape.
/// `backward` accepts gradients seeded at any node, so losses on inner features add to the output loss.
public final class Graph {
    /// The name by which nodes refer to the graph's input.
    public static let inputName = "input"

    /// The per-sample input shape, e.g. [1, 28, 28] or [784].
    public let inputShape: [Int]
    /// The nodes in topological order.
    public let nodes: [Node]
    /// The name of the node whose value `forward` returns.
    public let outputName: String
    /// Each node's per-sample output shape, in node order.
    public let outputShapes: [[Int]]

    private let inputIndices: [[Int]]  // per node: indices of its inputs; −1 = graph input
    private let indexByName: [String: Int]
    private let outputIndex: Int
    /// Inference fusion: for a ReLU/ReLU6 node index, the index of the producer that applies it (its only reader).
    private let activationFusion: [Int: (producer: Int, activation: FusedActivation)]
    /// Per node: the index of the last node that reads its value (−1 when none).
    private let lastUse: [Int]

    /// The most elements one sample may have at any node (2^28, 1 GiB of Float32), so that shape arithmetic
    /// never overflows and a crafted file cannot ask for absurd activations.
    public static let maximumElementsPerSample = 1 << 28

    /// Throws unless every extent is ≥ 1 and the product stays within `maximumElementsPerSample`.
    public static func checkShape(_ shape: [Int], _ what: String) throws {
        var product = 1
        for extent in shape {
            guard extent >= 1, extent <= maximumElementsPerSample else {
                throw ShrinkError(.shape, "\(what) has shape \(shape); every extent must be in 1…\(maximumElementsPerSample)")
            }
            product *= extent
            guard product <= maximumElementsPerSample else {
                throw ShrinkError(.shape, "\(what) has shape \(shape), more than \(maximumElementsPerSample) elements per sample")
            }
        }
    }

    public init(inputShape: [Int], nodes unsorted: [Node], output: String? = nil) throws {
        guard !inputShape.isEmpty else { throw ShrinkError(.shape, "the graph input needs a non-empty sample shape") }
        try Graph.checkShape(inputShape, "the graph input")
        var seen = Set<String>([Graph.inputName])
        for node in unsorted {
            guard !node.name.isEmpty, !node.name.contains(".") else {
                throw ShrinkError(.value, "node name '\(node.name)' must be non-empty and contain no '.'")
            }
            guard seen.insert(node.name).inserted else {
                throw ShrinkError(.value, "node name '\(node.name)' is used twice")
            }
        }
        for node in unsorted {
            for input in node.inputs where !seen.contains(input) {
                throw ShrinkError(.unknownName, "node '\(node.name)' reads '\(input)', which is no node of the graph")
            }
        }
        // Kahn's algorithm.
        var placed = Set<String>([Graph.inputName]), order: [Node] = [], remaining = unsorted
        while !remaining.isEmpty {
            guard let next = remaining.firstIndex(where: { $0.inputs.allSatisfy(placed.contains) }) else {
                throw ShrinkError(.value, "the graph has a cycle through '\(remaining[0].name)'")
            }
            placed.insert(remaining[next].name)
            order.append(remaining.remove(at: next))
        }
        guard !order.isEmpty else { throw ShrinkError(.value, "the graph has no nodes") }
        var index = [String: Int]()
        for (i, node) in order.enumerated() { index[node.name] = i }
        let outputName = output ?? order.last!.name
        guard let outputIndex = index[outputName] else {
            throw ShrinkError(.unknownName, "the graph output '\(outputName)' is no node of the graph")
        }
        var shapes: [[Int]] = []
        var inputIndices: [[Int]] = []
        for node in order {
            let indices = node.inputs.map { $0 == Graph.inputName ? -1 : index[$0]! }
            let inShapes = indices.map { $0 < 0 ? inputShape : shapes[$0] }
            do {
                let shape = try node.layer.outputShape(for: inShapes)
                try Graph.checkShape(shape, "the output")
                shapes.append(shape)
            } catch let error as ShrinkError {
                throw ShrinkError(error.kind, "node '\(node.name)': \(error.message)")
            }
            inputIndices.append(indices)
        }
        self.inputShape = inputShape
        self.nodes = order
        self.outputName = outputName
        self.outputIndex = outputIndex
        self.outputShapes = shapes
        self.inputIndices = inputIndices
        self.indexByName = index
        var lastUse = [Int](repeating: -1, count: order.count)
        var readers = [Int](repeating: 0, count: order.count)
        for (i, indices) in inputIndices.enumerated() {
            for j in indices where j >= 0 { lastUse[j] = i; readers[j] += 1 }
        }
        self.lastUse = lastUse
        var fused: [Int: (producer: Int, activation: FusedActivation)] = [:]
        for (i, node) in order.enumerated() {
            guard let activation = FusedActivation(node.layer), let producer = inputIndices[i].first, producer >= 0,
                  readers[producer] == 1, producer != outputIndex, order[producer].layer is any ActivationFusing
            else { continue }
            fused[i] = (producer, activation)
        }
        self.activationFusion = fused
    }

    /// The ReLU/ReLU6 nodes inference fuses into the layer before them, keyed by that producer: an activation is
    /// fused when it is the only reader of a conv or linear (`ActivationFusing`) that is not the graph output. The
    /// producer then clamps its own output; the integer engine fuses the same pairs into requantization. (Float
    /// inference fuses the pointwise activations — SiLU, hard-swish, … — the same way; they are not listed here,
    /// as the integer engine computes them as tables.)
    public var fusedActivations: [String: String] {
        var result = [String: String]()
        for (relu, fused) in activationFusion {
            if case .clamp = fused.activation { result[nodes[fused.producer].name] = nodes[relu].name }
        }
        return result
    }

    /// The node named `name`, if any.
    public func node(named name: String) -> Node? { indexByName[name].map { nodes[$0] } }

    /// The nodes that read each node (or the graph input), in graph order; a node reading the same value twice is
    /// listed twice. A node nobody reads has no entry.
    public var readers: [String: [String]] {
        var result = [String: [String]]()
        for node in nodes { for input in node.inputs { result[input, default: []].append(node.name) } }
        return result
    }

    /// The per-sample output shape of the graph.
    public var outputShape: [Int] { outputShapes[outputIndex] }

    /// Every parameter as `<node>.<parameter>` (PyTorch `state_dict` names), in node order.
    public var parameters: [(name: String, parameter: Parameter)] {
        nodes.flatMap { node in node.layer.parameters.map { ("\(node.name).\($0.name)", $0.parameter) } }
    }

    /// The parameters optimizers update.
    public var trainableParameters: [Parameter] {
        parameters.map(\.parameter).filter(\.isTrainable)
    }

    /// Sets every gradient to zero.
    public func zeroGradients() {
        for p in trainableParameters { p.zeroGradient() }
    }

    /// Runs the graph on a batch (N, inputShape…) and returns the output node's value.
    public func forward(_ input: Tensor, mode: Mode) -> Tensor {
        forward(input, mode: mode, keeping: [])[outputName]!
    }

    /// Runs the graph and returns the output together with the values of the nodes named in `keeping`
    /// (feature maps for distillation or calibration). Values are dropped as soon as no later node reads them.
    public func forward(_ input: Tensor, mode: Mode, keeping names: Set<String>) -> [String: Tensor] {
        precondition(Array(input.shape.dropFirst()) == inputShape,
                     "graph input must be (N, \(inputShape)), got \(input.shape)")
        // In inference, a producer whose only reader is an activation applies it itself (unless its own value is
        // wanted).
        var fusedActivation = [Int: FusedActivation]()
        if mode == .inference {
            for fusion in activationFusion.values where !names.contains(nodes[fusion.producer].name) {
                fusedActivation[fusion.producer] = fusion.activation
            }
        }
        var values = [Tensor?](repeating: nil, count: nodes.count)
        var kept = [String: Tensor]()
        for (i, node) in nodes.enumerated() {
            if let fusion = activationFusion[i], fusedActivation[fusion.producer] != nil {
                values[i] = values[fusion.producer]  // already applied by its producer
            } else {
                let inputs = inputIndices[i].map { $0 < 0 ? input : values[$0]! }
                if let activation = fusedActivation[i] {
                    values[i] = (node.layer as! any ActivationFusing).forward(inputs, fusing: activation)
                } else {
                    values[i] = node.layer.forward(inputs, mode: mode)
                }
            }
            if names.contains(node.name) || i == outputIndex { kept[node.name] = values[i] }
            for j in inputIndices[i] where j >= 0 && lastUse[j] == i { values[j] = nil }
        }
        return kept
    }

    /// Back-propagates gradients seeded at any nodes (usually the output) through the last training forward,
    /// accumulating into every parameter's gradient. Returns ∂loss/∂input when `inputGradient` is set (a graph nested
    /// inside a layer needs it), else nil.
    ///
    /// - Throws: before any gradient moves, `ShrinkError(.unknownName)` when a seed names no node of the graph and
    ///   `ShrinkError(.shape)` when a seed (N, …) does not hold N times the node's per-sample output size (a seed may
    ///   come flattened, (N, D)). That N is the batch of the last training forward is the caller's to keep.
    @discardableResult
    public func backward(seeds: [String: Tensor], inputGradient: Bool = false) throws -> Tensor? {
        var input: Tensor?
        var gradients = [Tensor?](repeating: nil, count: nodes.count)
        for (name, gradient) in seeds.sorted(by: { $0.key < $1.key }) {
            guard let i = indexByName[name] else {
                throw ShrinkError(.unknownName, "backward: a gradient is seeded at '\(name)', which is no node of the graph")
            }
            guard gradient.rank >= 1, gradient.count == gradient.shape[0] * outputShapes[i].reduce(1, *) else {
                throw ShrinkError(.shape, "backward: the gradient seeded at '\(name)' has shape \(gradient.shape); the "
                    + "node's output is (N, \(outputShapes[i].map(String.init).joined(separator: ", ")))")
            }
            gradients[i] = gradient
        }
        for i in stride(from: nodes.count - 1, through: 0, by: -1) {
            guard let gradient = gradients[i] else { continue }
            gradients[i] = nil
            let indices = inputIndices[i]
            let inputGradients = nodes[i].layer.backward(gradient, needsInputGradient: indices.map { $0 >= 0 || inputGradient })
            for (j, g) in zip(indices, inputGradients) {
                guard let g else { continue }
                if j < 0 {
                    if inputGradient { if input == nil { input = g } else { input!.add(g) } }
                } else if gradients[j] == nil { gradients[j] = g } else { gradients[j]!.add(g) }
            }
        }
        return input
    }
}

extension Graph: CustomStringConvertible {
    /// One line per node: name, kind, inputs and output shape.
    public var description: String {
        nodes.enumerated().map { i, node in
            "\(node.name): \(node.layer.kind)(\(node.inputs.joined(separator: ", "))) → \(outputShapes[i])"
        }.joined(separator: "\n")
    }
}
