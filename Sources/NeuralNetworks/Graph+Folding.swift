// BatchNorm folding: a conv or linear followed only by a BatchNorm becomes one layer with scaled weights, so that
// inference (and quantization, which must see the weights inference uses) skips the normalisation.
import Tensors

extension Graph {
    /// A new graph in which every BatchNorm whose input is a Conv2d or Linear read by nothing else is folded into it:
    /// with `k = γ / √(σ² + ε)` per output channel, `W'[o] = k[o] · W[o]` and `b'[o] = k[o] · (b[o] − μ[o]) + β[o]`
    /// (`b = 0` when the layer had no bias), using the running statistics. The folded layer keeps the producer's
    /// name, nodes that read the BatchNorm read it instead, and the result equals this graph in inference mode.
    /// Other nodes are shared with this graph (not copied); folded layers are new.
    ///
    /// [1] Jacob et al., "Quantization and Training of Neural Networks for Efficient Integer-Arithmetic-Only
    ///     Inference", 2018, section 3.2.
    public func foldingBatchNorm() throws -> Graph {
        let readers = self.readers
        var replacement = [String: any Layer]()   // producer name → folded layer
        var renamed = [String: String]()          // folded BatchNorm name → producer name
        for node in nodes {
            guard let bn = node.layer as? BatchNorm, node.inputs.count == 1, let producerName = node.inputs.first,
                  producerName != Graph.inputName, readers[producerName]?.count == 1, producerName != outputName,
                  let producer = self.node(named: producerName) else { continue }
            let gamma = bn.weight.value.scalars, beta = bn.bias.value.scalars
            let mean = bn.runningMean.value.scalars, variance = bn.runningVariance.value.scalars
            let k = (0..<bn.features).map { gamma[$0] / (variance[$0] + bn.epsilon).squareRoot() }
            func folded(weight: Tensor, bias: Tensor?) -> (Tensor, Tensor) {
                var w = weight
                let perChannel = w.count / bn.features
                w.withUnsafeMutableBufferPointer { p in
                    for o in 0..<bn.features { for i in 0..<perChannel { p[o * perChannel + i] *= k[o] } }
                }
                let b = (0..<bn.features).map { o in k[o] * ((bias?.scalars[o] ?? 0) - mean[o]) + beta[o] }
                return (w, Tensor(shape: [bn.features], scalars: b))
            }
            guard let weighted = WeightedLayer(producer), weighted.weight.value.shape[0] == bn.features else { continue }
            let (w, b) = folded(weight: weighted.weight.value, bias: weighted.bias?.value)
            replacement[producerName] = weighted.replacing(weight: w, bias: b)
            renamed[node.name] = producerName
        }
        let kept = nodes.compactMap { node -> Node? in
            if renamed[node.name] != nil { return nil }
            return Node(name: node.name, layer: replacement[node.name] ?? node.layer,
                        inputs: node.inputs.map { renamed[$0] ?? $0 })
        }
        return try Graph(inputShape: inputShape, nodes: kept, output: renamed[outputName] ?? outputName)
    }
}
