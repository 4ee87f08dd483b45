// ChannelGroups: which channels must go together when filters are removed. Every position along the channel axis
// of every edge carries the id of the channel that produced it; convs and linears make new ids, channel-wise layers
// (BatchNorm, ReLU and the other activations, pooling, the global mean, dropout, a depthwise conv) pass their input's
// ids on, a flatten repeats each id over its H·W features, concat joins lists, a channel split or shuffle picks
// from its input's list, and add and multiply unite the ids
// they combine (a residual couples the channels of both branches; a squeeze-excitation gate couples the expand conv
// that makes the gate with the channels it scales). Ids united are one group: removing it removes that output channel
// from every producer in the group, and the matching input channels from every reader. The graph input's and
// output's channels are pinned.
//
// Removing a channel must not change what the kept channels compute, so a removed channel must carry 0 wherever a
// layer with weights would have read it (the dense graph with the channel silenced is the pruned graph). Every edge
// tracks whether that holds: producers make zeros, activations with f(0) = 0 keep them, an activation with
// f(0) ≠ 0 (sigmoid, hard-sigmoid) breaks them, and a product keeps them when either factor does (a gate times a
// silenced channel is 0). Channels that reach a conv or linear without zeros are pinned instead of removed.
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
        // Whether the silenced channels of an edge carry 0 (see the file comment).
        var zeros = [Graph.inputName: true]
        func unite(_ a: [Int], _ b: [Int]) {
            for (x, y) in zip(a, b) {
                let (rx, ry) = (find(x), find(y))
                if rx != ry { parents[ry] = rx }
            }
        }
        for (position, node) in graph.nodes.enumerated() {
            shapes[node.name] = graph.outputShapes[position]
            let inputs = node.inputs.map { ids[$0]! }
            let inputShapes = node.inputs.map { shapes[$0]! }
            let inputZeros = node.inputs.map { zeros[$0]! }
            var outputZeros = inputZeros.allSatisfy { $0 }
            if node.layer is Conv2d || node.layer is Linear {
                // A reader whose input channels would not be 0 when silenced: those channels stay.
                if !inputZeros[0] { pinned.formUnion(inputs[0]) }
                outputZeros = true
            }
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
            case is BatchNorm:
                // Silencing zeroes its scale and shift, so a silenced channel leaves it as 0.
                outputZeros = true
                output = inputs[0]
            case is ClampedReLU, is MaxPool2d, is AvgPool2d, is GlobalAvgPool, is GlobalMean, is Dropout:
                output = inputs[0]
            case let activation as PointwiseActivation:
                outputZeros = inputZeros[0] && activation.value(0) == 0
                output = inputs[0]
            case is Multiply:
                // Same shape (x · σ(x)) or a (C, 1, 1) gate: channel c of one factor scales channel c of the other.
                unite(inputs[0], inputs[1])
                outputZeros = inputZeros[0] || inputZeros[1]
                output = inputs[0]
            case is Flatten:
                let shape = inputShapes[0]
                let plane = shape.dropFirst().reduce(1, *)
                output = inputs[0].flatMap { [Int](repeating: $0, count: plane) }
            case is Add:
                for other in inputs.dropFirst() { unite(inputs[0], other) }
                output = inputs[0]
            case is Concat:
                output = inputs.flatMap { $0 }
            case let select as ChannelSelect:
                // A channel split or shuffle: each output channel is the input channel it copies.
                output = select.channels.map { inputs[0][$0] }
            default:
                throw ShrinkError(.unsupported, "node '\(node.name)' (\(node.layer.kind)): filter pruning does not know "
                    + "how this layer maps channels")
            }
            ids[node.name] = output
            zeros[node.name] = outputZeros
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
