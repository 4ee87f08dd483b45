// The weighted layers of a graph: its conv and linear nodes with their weights and biases — the one enumeration that
// pruning (what it may remove), quantization (what becomes integers or stays float), the sparse model file and the
// ONNX export share.
import Tensors

/// A conv or linear node of a graph, with its weight and bias.
public struct WeightedLayer {
    /// The node's name.
    public let node: String
    /// The layer: a `Conv2d` or a `Linear`.
    public let layer: any Layer
    /// The weight: [out, in / groups, k, k] for a conv, [out, in] for a linear.
    public let weight: Parameter
    /// The bias [out], when the layer has one.
    public let bias: Parameter?

    /// The node as a weighted layer, or nil when its layer is no `Conv2d` or `Linear`.
    public init?(_ node: Node) {
        switch node.layer {
        case let conv as Conv2d:
            weight = conv.weight
            bias = conv.bias
        case let linear as Linear:
            weight = linear.weight
            bias = linear.bias
        default:
            return nil
        }
        self.node = node.name
        self.layer = node.layer
    }

    /// A new layer of the same kind and geometry (stride, padding, groups for a conv) holding `weight` and `bias`,
    /// which must fit it: what a pass that rewrites a layer's tensors (folding, equalization, bias correction) puts
    /// in its place.
    public func replacing(weight: Tensor, bias: Tensor?) -> any Layer {
        if let conv = layer as? Conv2d {
            return Conv2d(weight: weight, bias: bias, stride: conv.stride, padding: conv.padding, groups: conv.groups)
        }
        return Linear(weight: weight, bias: bias)
    }
}

extension Graph {
    /// The conv and linear nodes with their weights and biases, in node (topological) order.
    ///
    /// Binarized layers (`BinaryConv2d`, `BinaryLinear`) are not among them — their weights are fixed ±1 codes, not
    /// trained, pruned or quantized further — and neither is BatchNorm's per-channel affine map.
    public var weightedLayers: [WeightedLayer] { nodes.compactMap(WeightedLayer.init) }

    /// The conv or linear node named `name`; nil when there is no such node or it is of another kind.
    public func weightedLayer(named name: String) -> WeightedLayer? {
        node(named: name).flatMap(WeightedLayer.init)
    }
}

extension Graph {
    /// A new graph with the layers of the nodes named in `replacements` swapped for the given ones (same names and
    /// inputs); the other nodes are shared with this graph.
    ///
    /// - Throws: `ShrinkError(.unknownName)` for a name that is no node; shape errors from the new layers.
    public func replacingLayers(_ replacements: [String: any Layer]) throws -> Graph {
        for name in replacements.keys.sorted() where node(named: name) == nil {
            throw ShrinkError(.unknownName, "'\(name)' is no node of the graph")
        }
        guard !replacements.isEmpty else { return self }
        return try Graph(inputShape: inputShape, nodes: nodes.map { node in
            Node(name: node.name, layer: replacements[node.name] ?? node.layer, inputs: node.inputs)
        }, output: outputName)
    }
}
