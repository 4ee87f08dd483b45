// QuantizedEdges: the one rule for which edges of a folded graph the integer engine quantizes and which ReLUs it
// fuses into requantization. `QuantizedGraph` builds on it, quantization-aware training puts its fake quantizers on
// exactly these edges, and the QDQ export writes its QuantizeLinear/DequantizeLinear pairs by it — so the three agree
// by construction.
import NeuralNetworks

/// The quantized edges of a folded graph and the ReLU fusion of the integer engine.
///
/// A ReLU or ReLU6 is fused into the conv or linear before it — the producer requantizes straight to the ReLU's edge,
/// clamping on the way — when it is that producer's only reader, the producer is not the graph output (the float
/// engine's inference fusion, `Graph.fusedActivations`) and the producer computes on integers (not kept in float).
///
/// An edge has its own parameters when its values are new: the graph input; the output of a conv or linear that is
/// not fused; every ReLU (a fused one's edge is its producer's requantization target); the other activations
/// (sigmoid, hard-swish, …, computed as a table over codes); add, multiply and concat; a per-channel clamp fused into its
/// producer. Max and average pooling, the global mean, flatten, dropout and a per-channel clamp that is not fused keep
/// the parameters of their input.
public struct QuantizedEdges: Sendable, Equatable {
    /// The edges with their own quantization parameters: `input` first, then node names in graph order.
    public let edges: [String]
    /// For each fused producer (a conv or linear computed on integers), the ReLU/ReLU6 node fused into it.
    public let fusedReLU: [String: String]

    /// The rule applied to `graph` (BatchNorm folded), with the conv/linear nodes in `floatLayers` computed in float.
    public init(folded graph: Graph, floatLayers: Set<String> = []) {
        var fused = [String: String]()
        for (producer, relu) in graph.fusedActivations where !floatLayers.contains(producer)
            && graph.weightedLayer(named: producer) != nil {
            fused[producer] = relu
        }
        // A per-channel clamp (from cross-layer equalization) fuses by the same rule: its producer requantizes to the
        // clamp's edge with a ReLU's lower bound, and the clamp then caps each channel on codes.
        let readers = graph.readers
        for node in graph.nodes where node.layer is ChannelClamp {
            let producer = node.inputs[0]
            if producer != graph.outputName, readers[producer]?.count == 1, !floatLayers.contains(producer),
               graph.weightedLayer(named: producer) != nil {
                fused[producer] = node.name
            }
        }
        var edges = [Graph.inputName]
        for node in graph.nodes {
            switch node.layer {
            case is Conv2d, is Linear:
                if fused[node.name] == nil { edges.append(node.name) }
            case is ClampedReLU, is PointwiseActivation, is Add, is Multiply, is Concat:
                edges.append(node.name)
            case is ChannelClamp:
                if fused.values.contains(node.name) { edges.append(node.name) }
            default:
                break
            }
        }
        self.edges = edges
        self.fusedReLU = fused
    }
}
