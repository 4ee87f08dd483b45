// Cost model: parameters, multiply-accumulates and bytes, per layer and in total.
import Tensors

/// The cost of one node.
public struct LayerCost: Sendable, Equatable, Codable {
    public var name: String
    public var kind: String
    /// Per-sample output shape.
    public var outputShape: [Int]
    /// Trainable parameters (as PyTorch counts them: BatchNorm's running statistics excluded).
    public var parameters: Int
    /// Multiply-accumulates per sample.
    public var macs: Int
    /// Bytes of every stored tensor of the layer (weights and buffers) at their storage width.
    public var bytes: Int
}

/// The cost of a whole graph.
public struct CostReport: Sendable, Equatable {
    public var layers: [LayerCost]
    public var parameters: Int { layers.reduce(0) { $0 + $1.parameters } }
    public var macs: Int { layers.reduce(0) { $0 + $1.macs } }
    public var bytes: Int { layers.reduce(0) { $0 + $1.bytes } }
}

extension Graph {
    /// Parameters, MACs and bytes per node, from the layers' cost functions and the inferred shapes.
    public func cost() -> CostReport {
        var shapeByName = [Graph.inputName: inputShape]
        var layers: [LayerCost] = []
        for (node, shape) in zip(nodes, outputShapes) {
            shapeByName[node.name] = shape
            let inputShapes = node.inputs.map { shapeByName[$0]! }
            let params = node.layer.parameters.map(\.parameter)
            layers.append(LayerCost(
                name: node.name, kind: node.layer.kind, outputShape: shape,
                // A binarized layer's fixed weight and bias are parameters of the model all the same.
                parameters: (node.layer is any BinaryWeighted ? params : params.filter(\.isTrainable))
                    .reduce(0) { $0 + $1.value.count },
                macs: node.layer.macs(for: inputShapes),
                bytes: params.reduce(0) { $0 + $1.value.count * MemoryLayout<Float>.size }))
        }
        return CostReport(layers: layers)
    }
}
