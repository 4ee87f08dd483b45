// ChannelGroups: which channels must go together when filters are removed. Every position along the channel axis
// of every edge carries the id of the channel that produced it; convs and linears make new ids, channel-wise layers
// (BatchNorm, ReLU, pooling, dropout, a depthwise conv) pass their input's ids on, a flatten repeats each id over
// its H·W features, concat joins lists, and add unites the ids it sums (a residual couples the channels of both
// branches). Ids united are one group: removing it removes that output channel from every producer in the group,
// and the matching input channels from every reader. The graph input's and output's channels are pinned.
// The same structure as Torch-Pruning's dependency graph [1], computed by propagation and union-find.
//
// [1] Fang et al., "DepGraph: Towards Any Structural Pruning", CVPR 2023.
import NeuralNetworks
import Tensors

/// The channel coupling of a graph.
public struct ChannelGroups {
    /// The channel id at each position of each edge's channel axis (`input` and node names).
    let edgeIDs: [String: [Int]]
    /// The producing node and output channel of each id; nil for the graph input's channels.
    let producers: [(node: String, channel: Int)?]
    /// Union-find parents over ids.
    private var parents: [Int]
    private let pinnedRoots: Set<Int>

    /// Traces `graph`.
    ///
    /// - Throws: `ShrinkError(.unsupported)` for a grouped conv that is not depthwise (its channel coupling is not
    ///   handled) or a layer kind this analysis does not know.
    public init(_ graph: Graph) throws {
        var producers: [(node: String, channel: Int)?] = []
        var parents: [Int] = []
        func fresh(_ producer: (node: String, channel: Int)?) -> Int {
            producers.append(producer)
            parents.append(parents.count)
            return parents.count - 1
        }
        func find(_ x: Int) -> Int {
            var x = x
            while parents[x] != x { parents[x] = parents[parents[x]]; x = parents[x] }
            return x
        }
        var ids = [String: [Int]]()
        let inputChannels = graph.inputShape.first ?? 1
        ids[Graph.inputName] = (0..<inputChannels).map { _ in fresh(nil) }
        var pinned = Set(ids[Graph.inputName]!)
        var shapes = [Graph.inputName: graph.inputShape]
        for (position, node) in graph.nodes.enumerated() {
            shapes[node.name] = graph.outputShapes[position]
            let inputs = node.inputs.map { ids[$0]! }
            let inputShapes = node.inputs.map { shapes[$0]! }
            let output: [Int]
            switch node.layer {
            case let conv as Conv2d:
                if conv.groups == 1 {
                    output = (0..<conv.outputChannels).map { fresh((node.name, $0)) }
                } else if conv.groups == conv.inputChannels {
                    // Depthwise (with a channel multiplier m): output o follows input o / m.
                    let multiplier = conv.outputChannels / conv.groups
                    output = (0..<conv.outputChannels).map { inputs[0][$0 / multiplier] }
                } else {
                    throw ShrinkError(.unsupported, "node '\(node.name)': filter pruning handles dense and depthwise "
                        + "convolutions, not \(conv.groups) groups of \(conv.inputChannels / conv.groups) channels")
                }
            case let linear as Linear:
                output = (0..<linear.outputFeatures).map { fresh((node.name, $0)) }
            case is BatchNorm, is ClampedReLU, is MaxPool2d, is AvgPool2d, is GlobalAvgPool, is Dropout:
                output = inputs[0]
            case let activation as PointwiseActivation:
                // Removed channels are zeros; an activation that maps 0 elsewhere would make them carry a constant.
                guard activation.value(0) == 0 else {
                    throw ShrinkError(.unsupported, "node '\(node.name)' (\(activation.kind)): filter pruning removes a "
                        + "channel as zeros, and \(activation.kind) maps 0 to \(activation.value(0)), so removing it would "
                        + "change what the next layer reads")
                }
                output = inputs[0]
            case is Flatten:
                let shape = inputShapes[0]
                let plane = shape.dropFirst().reduce(1, *)
                output = inputs[0].flatMap { [Int](repeating: $0, count: plane) }
            case is Add:
                for other in inputs.dropFirst() {
                    for (a, b) in zip(inputs[0], other) {
                        let (ra, rb) = (find(a), find(b))
                        if ra != rb { parents[rb] = ra }
                    }
                }
                output = inputs[0]
            case is Concat:
                output = inputs.flatMap { $0 }
            default:
                throw ShrinkError(.unsupported, "node '\(node.name)' (\(node.layer.kind)): filter pruning does not know "
                    + "how this layer maps channels")
            }
            ids[node.name] = output
        }
        pinned.formUnion(ids[graph.outputName]!)
        self.edgeIDs = ids
        self.producers = producers
        self.parents = parents
        self.pinnedRoots = Set(pinned.map { [parents] in
            var x = $0
            while parents[x] != x { x = parents[x] }
            return x
        })
        // Flatten the union-find so `root` needs no mutation.
        for i in 0..<self.parents.count { self.parents[i] = rootOf(i) }
    }

    private func rootOf(_ x: Int) -> Int {
        var x = x
        while parents[x] != x { x = parents[x] }
        return x
    }

    /// The group (root id) of channel id `x`.
    func root(_ x: Int) -> Int { parents[x] }

    /// A removable unit: channels that go together, and the producers they come from.
    public struct Group: Sendable {
        /// The root id (stable for one analysis).
        public let id: Int
        /// (node, output channel) of every producer in the group.
        public let members: [(node: String, channel: Int)]
        /// The producers' node names, sorted: groups with the same set form one layer for per-layer sparsity.
        public var layer: [String] { Array(Set(members.map(\.node))).sorted() }
    }

    /// Every group that may be removed (no pinned channel), in order of first appearance.
    public var removableGroups: [Group] {
        var members = [Int: [(node: String, channel: Int)]]()
        var order: [Int] = []
        for (id, producer) in producers.enumerated() {
            let r = root(id)
            guard !pinnedRoots.contains(r), let producer else { continue }
            if members[r] == nil { order.append(r) }
            members[r, default: []].append(producer)
        }
        return order.map { Group(id: $0, members: members[$0]!) }
    }

    /// The positions of an edge's channel axis that survive removing the groups `removed` (root ids).
    func keptPositions(_ edge: String, removing removed: Set<Int>) -> [Int] {
        edgeIDs[edge]!.indices.filter { !removed.contains(root(edgeIDs[edge]![$0])) }
    }
}
