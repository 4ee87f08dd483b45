// QuantizedGraph: the integer engine for a whole network — a float graph with its BatchNorms folded, every edge
// given uint8 parameters from calibration, convs and linears run on the u8 × s8 GEMM with a following ReLU fused
// into requantization, the other activations as a 256-entry table over codes, products (squeeze-excitation gates,
// x · σ(x)), sums and concatenations as integer arithmetic requantized, and the rest (pooling, the global mean,
// flatten, channel selection) on codes. Feature maps travel channels-last between integer layers; a linear after a
// flatten reads its weight columns in that order, and the float edges of the graph (input, output, average pools)
// see NCHW.
import CKernels
import NeuralNetworks
import Tensors

/// An integer version of a graph: float input → quantize → integer layers → dequantize → float logits.
///
/// Max pooling, flatten and dropout pass codes through with the parameters of their input (the maximum commutes
/// with the monotonic map `R = S·(Q − Z)`); average pools and the global mean average `Q − Z` and add `Z` back, so
/// padding stays real 0; a channel split or shuffle copies codes. Sigmoid, hard-sigmoid, SiLU, hard-swish, GELU,
/// leaky ReLU and a ReLU no conv or linear took into its requantization look their output code up in a table of 256
/// built from the two edges' parameters. A product of two edges (one of them may be a (C, 1, 1) gate) is
/// `Z_y + round(S_a·S_b/S_y · (Q_a − Z_a)(Q_b − Z_b))` on integer products; an add of same-shaped edges is
/// `Z_y + round(Σ S_j/S_y · (Q_j − Z_j))`; concat requantizes each input the same way and joins them.
/// Batches are split across `BLAS.threads` threads.
public final class QuantizedGraph: @unchecked Sendable {
    /// How a step's codes lie in memory, per sample.
    enum Layout: Equatable {
        /// The float graph's order (NCHW for a feature map).
        case canonical
        /// A (C, H, W) feature map stored (H, W, C) — also after a flatten, which keeps the bytes.
        case channelsLast(channels: Int, height: Int, width: Int)
    }

    enum Operation {
        case linear(QuantizedLinear)
        case conv(QuantizedConv2d)
        case passThrough          // max pool handled apart; flatten, dropout, a fused ReLU
        case maxPool(MaxPool2d)
        case averagePool(any Layer)   // AvgPool2d, GlobalAvgPool or GlobalMean, run on Q − Z
        case table([UInt8])       // an elementwise activation: output code = table[input code]
        case multiply(Double)     // Q_y = Z_y + round(M · (Q_a − Z_a)(Q_b − Z_b)), M = S_a·S_b/S_y
        case add([Double])        // Q_y = Z_y + round(Σ M_j · (Q_j − Z_j)), M_j = S_j/S_y
        case channelClamp(low: UInt8, highs: [UInt8])   // per-channel clamp on codes (input parameters kept)
        case select([Int])        // a channel split or shuffle: output channel j copies input channel [j]
        case concat([Double])     // each input requantized (M_j = S_j/S_y) and joined along the channels
        case float(any Layer)     // kept-float layers: dequantize, compute, requantize
    }

    struct Step {
        var name: String
        var inputs: [Int]         // indices into steps; −1 = graph input
        var operation: Operation
        var output: QuantizationParameters
        var shape: [Int]          // per-sample output shape
        var layout: Layout = .canonical
    }

    let steps: [Step]
    public let inputParameters: QuantizationParameters
    let inputShape: [Int]
    /// Names of the nodes that kept float arithmetic on codes (the convs and linears kept in float); for reports.
    /// Empty when the whole network runs on integers.
    public let floatComputedNodes: [String]
    /// The conv and linear nodes kept in float (their weights stay F32 in a file).
    public let floatLayers: [String]
    /// Which edges have their own parameters and which ReLUs are fused into requantization (the rule the QDQ export
    /// and quantization-aware training share).
    public let quantizedEdges: QuantizedEdges

    /// Builds the integer graph from `graph` (folded first) and a calibration of the *folded* graph's edges, with
    /// `activationBits`-bit unsigned activations, weights quantized by `weights` except the nodes whose integer
    /// weights `stored` supplies (e.g. another bit width per layer), and the conv/linear nodes in `floatLayers`
    /// computed in float. `ranges` replaces the calibrated range of the edges it names.
    ///
    /// - Throws: `ShrinkError(.unsupported)` naming a node whose kind has no integer form (BatchNorm that could not
    ///   be folded, for one); errors from parameter computation.
    public convenience init(folded graph: Graph, calibration: CalibrationResult, activationBits: Int = 8,
                            weights: WeightScheme? = nil, floatLayers: Set<String> = [],
                            stored: [String: IntegerWeightTensor] = [:],
                            ranges: [String: ClosedRange<Float>] = [:]) throws {
        guard (2...8).contains(activationBits) else {
            throw ShrinkError(.value, "activation bits must be in 2…8 for the integer engine, got \(activationBits)")
        }
        var edges = [String: QuantizationParameters]()
        for (edge, observer) in calibration.observers {
            edges[edge] = try observer.computeParameters(bits: activationBits, signed: false, symmetric: false)
        }
        for (edge, range) in ranges {
            edges[edge] = try QuantizationParameters.compute(minimum: range.lowerBound, maximum: range.upperBound,
                                                             bits: activationBits, signed: false, symmetric: false)
        }
        try self.init(folded: graph, edges: edges, stored: stored, scheme: weights ?? WeightScheme(),
                      floatLayers: floatLayers)
    }

    /// Builds the integer graph from `graph` (BatchNorms folded) and unsigned per-tensor parameters for its edges
    /// (`input` and node names). `stored` supplies integer weights already quantized (from a model file) for conv
    /// and linear nodes; the others are quantized by `scheme`, except those in `floatLayers`, which compute in
    /// float between a dequantized input and a requantized output.
    public init(folded graph: Graph, edges: [String: QuantizationParameters],
                stored: [String: IntegerWeightTensor] = [:], scheme: WeightScheme? = nil,
                floatLayers: Set<String> = []) throws {
        let scheme = try scheme ?? WeightScheme()
        for name in floatLayers where graph.weightedLayer(named: name) == nil {
            throw ShrinkError(.unknownName, "'\(name)' is not a conv or linear node of the graph; the nodes that "
                + "can stay in float are: " + graph.weightedLayers.map(\.node).joined(separator: ", "))
        }
        func weight(_ node: String, _ value: Tensor) throws -> IntegerWeightTensor {
            if let saved = stored[node] { return saved }
            do {
                return try scheme.quantize(value)
            } catch let error as ShrinkError {
                throw ShrinkError(error.kind, "weights of node '\(node)': \(error.message)")
            }
        }
        func parameters(_ edge: String) throws -> QuantizationParameters {
            guard let p = edges[edge] else {
                throw ShrinkError(.value, "no quantization parameters for the edge of node '\(edge)'")
            }
            return p
        }
        var index = [String: Int]()
        var steps: [Step] = []
        var floatNodes: [String] = []
        let inputParameters = try parameters(Graph.inputName)
        func edgeParameters(_ i: Int) -> QuantizationParameters { i < 0 ? inputParameters : steps[i].output }
        func edgeLayout(_ i: Int) -> Layout { i < 0 ? .canonical : steps[i].layout }
        /// The multipliers `S_j / S_y` that requantize each input edge to `output`.
        func requantizing(_ inputs: [Int], to output: QuantizationParameters) -> [Double] {
            inputs.map { Double(edgeParameters($0).scales[0]) / Double(output.scales[0]) }
        }
        func featureMap(_ shape: [Int]) -> Layout {
            .channelsLast(channels: shape[0], height: shape[1], width: shape[2])
        }
        // Producer name → the ReLU fused into it: its clamp cap and the edge whose parameters the fused output takes.
        let quantizedEdges = QuantizedEdges(folded: graph, floatLayers: floatLayers)
        var fusedInto = [String: (cap: Float, relu: String)]()
        for (producer, relu) in quantizedEdges.fusedReLU {
            if let layer = graph.node(named: relu)?.layer as? ClampedReLU { fusedInto[producer] = (layer.cap, relu) }
            if graph.node(named: relu)?.layer is ChannelClamp { fusedInto[producer] = (.infinity, relu) }
        }
        for (position, node) in graph.nodes.enumerated() {
            let inputs = node.inputs.map { $0 == Graph.inputName ? -1 : index[$0]! }
            let shape = graph.outputShapes[position]
            let inputParameter = inputs.first.map(edgeParameters) ?? inputParameters
            var step: Step
            switch node.layer {
            case let layer as Linear where floatLayers.contains(node.name):
                step = Step(name: node.name, inputs: inputs, operation: .float(layer), output: try parameters(node.name),
                            shape: shape)
                floatNodes.append(node.name)
            case let layer as Conv2d where floatLayers.contains(node.name):
                step = Step(name: node.name, inputs: inputs, operation: .float(layer), output: try parameters(node.name),
                            shape: shape)
                floatNodes.append(node.name)
            case let linear as Linear:
                let cap = fusedInto[node.name]?.cap
                let out = try parameters(fusedInto[node.name]?.relu ?? node.name)
                var layer = try QuantizedLinear(linear, weight: try weight(node.name, linear.weight.value),
                                                input: inputParameter, output: out, clampCap: cap)
                if case .channelsLast(let c, let h, let w) = edgeLayout(inputs[0]), c > 1 {
                    // Feature p = (y·W + x)·C + ch of the flattened channels-last map is float feature ch·H·W + y·W + x.
                    layer = layer.readingInputs(in: (0..<(c * h * w)).map { p in (p % c) * h * w + p / c })
                }
                step = Step(name: node.name, inputs: inputs, operation: .linear(layer), output: out, shape: shape)
            case let conv as Conv2d:
                let cap = fusedInto[node.name]?.cap
                let out = try parameters(fusedInto[node.name]?.relu ?? node.name)
                step = Step(name: node.name, inputs: inputs,
                            operation: .conv(try QuantizedConv2d(conv, weight: try weight(node.name, conv.weight.value),
                                                                 input: inputParameter, output: out, clampCap: cap)),
                            output: out, shape: shape, layout: featureMap(shape))
            case is ClampedReLU where fusedInto[node.inputs[0]] != nil:
                step = Step(name: node.name, inputs: inputs, operation: .passThrough, output: inputParameter, shape: shape,
                            layout: edgeLayout(inputs[0]))
            case let clamp as ChannelClamp:
                // Fused: the producer already requantized to this edge with a ReLU's floor; either way the codes keep
                // their parameters and each channel is capped at the code of its own cap.
                let p = inputParameter, z = p.zeroPoints[0]
                let highs = clamp.caps.value.scalars.map { UInt8(clamping: max(p.code(ofCap: $0), z)) }
                step = Step(name: node.name, inputs: inputs, operation: .channelClamp(low: UInt8(clamping: z), highs: highs),
                            output: p, shape: shape, layout: edgeLayout(inputs[0]))
            case let pool as MaxPool2d:
                step = Step(name: node.name, inputs: inputs, operation: .maxPool(pool), output: inputParameter, shape: shape,
                            layout: featureMap(shape))
            case let select as ChannelSelect:
                step = Step(name: node.name, inputs: inputs, operation: .select(select.channels), output: inputParameter,
                            shape: shape, layout: shape.count == 3 ? featureMap(shape) : .canonical)
            case is Flatten, is Dropout:
                step = Step(name: node.name, inputs: inputs, operation: .passThrough, output: inputParameter, shape: shape,
                            layout: edgeLayout(inputs[0]))
            case is AvgPool2d, is GlobalAvgPool, is GlobalMean:
                step = Step(name: node.name, inputs: inputs, operation: .averagePool(node.layer), output: inputParameter,
                            shape: shape)
            case let activation as PointwiseActivation:
                let out = try parameters(node.name)
                step = Step(name: node.name, inputs: inputs,
                            operation: .table(activationTable(activation.value, input: inputParameter, output: out)),
                            output: out, shape: shape, layout: edgeLayout(inputs[0]))
            case is Multiply:
                let out = try parameters(node.name), b = edgeParameters(inputs[1])
                let multiplier = Double(inputParameter.scales[0]) * Double(b.scales[0]) / Double(out.scales[0])
                // A gate (C, 1, 1) lies the same in every layout; a factor of the same shape is read in the first's.
                step = Step(name: node.name, inputs: inputs, operation: .multiply(multiplier), output: out, shape: shape,
                            layout: edgeLayout(inputs[0]))
            case is Add:
                // Inputs of one shape (the layer demands it), read in the first one's layout.
                let out = try parameters(node.name)
                step = Step(name: node.name, inputs: inputs, operation: .add(requantizing(inputs, to: out)), output: out,
                            shape: shape, layout: edgeLayout(inputs[0]))
            case is Concat:
                let out = try parameters(node.name)
                step = Step(name: node.name, inputs: inputs, operation: .concat(requantizing(inputs, to: out)),
                            output: out, shape: shape, layout: shape.count == 3 ? featureMap(shape) : .canonical)
            case let relu as ClampedReLU:
                // A ReLU or ReLU6 that no conv or linear could take into its requantization: a table like the others.
                let out = try parameters(node.name)
                step = Step(name: node.name, inputs: inputs,
                            operation: .table(activationTable({ min(max($0, 0), relu.cap) }, input: inputParameter,
                                                              output: out)),
                            output: out, shape: shape, layout: edgeLayout(inputs[0]))
            default:
                throw ShrinkError(.unsupported, "node '\(node.name)' (\(node.layer.kind)) has no integer form"
                    + (node.layer is BatchNorm ? "; fold BatchNorm into the layer before it first"
                       : "; the integer engine runs conv, linear, the activations, pooling, the global mean, flatten, "
                         + "add, mul, concat, channel_select and channel_clamp"))
            }
            index[node.name] = steps.count
            steps.append(step)
        }
        guard let last = index[graph.outputName] else { throw ShrinkError(.value, "the graph has no output node") }
        self.steps = steps
        self.inputParameters = inputParameters
        self.inputShape = graph.inputShape
        self.floatComputedNodes = floatNodes
        self.floatLayers = graph.nodes.map(\.name).filter(floatLayers.contains)
        self.quantizedEdges = quantizedEdges
        self.outputIndex = last
    }

    let outputIndex: Int

    /// The uint8 parameters of every edge: `input` and each node's output.
    public var edges: [String: QuantizationParameters] {
        var result = [Graph.inputName: inputParameters]
        for step in steps { result[step.name] = step.output }
        return result
    }

    /// The integer weight of each conv and linear node not kept in float.
    public var integerWeights: [String: IntegerWeightTensor] {
        var result: [String: IntegerWeightTensor] = [:]
        for step in steps {
            switch step.operation {
            case .linear(let layer): result[step.name] = layer.weight
            case .conv(let layer): result[step.name] = layer.weight
            default: break
            }
        }
        return result
    }

    /// Runs a batch of float inputs (already normalised) and returns dequantized float outputs (N, classes), the
    /// batch split across `BLAS.threads` threads. Every backend and thread count gives the same values.
    public func forward(_ x: Tensor, backend: IntegerGEMMBackend = .native) throws -> Tensor {
        let n = x.shape[0], size = steps[outputIndex].shape.reduce(1, *)
        var output = Tensor(uninitialized: [n] + steps[outputIndex].shape)
        var failure: Error?
        output.withUnsafeMutableBufferPointer { po in
            nonisolated(unsafe) let po = po
            nonisolated(unsafe) var failures = [Error?](repeating: nil, count: Parallel.chunkCount(count: n))
            failures.withUnsafeMutableBufferPointer { pf in
                nonisolated(unsafe) let pf = pf
                Parallel.forEachChunk(count: n) { chunk, rows in
                    do {
                        let y = try forwardSerial(x.slice(rows: rows), backend: backend)
                        y.withUnsafeBufferPointer {
                            (po.baseAddress! + rows.lowerBound * size).update(from: $0.baseAddress!, count: y.count)
                        }
                    } catch {
                        pf[chunk] = error
                    }
                }
            }
            failure = failures.compactMap { $0 }.first
        }
        if let failure { throw failure }
        return output
    }

    /// Every step's output on a batch of float inputs, dequantized, in the float graph's layout (NCHW), keyed by node
    /// name: what the integer engine holds on each edge. A conv or linear with a fused ReLU holds the ReLU's values.
    public func edgeValues(_ x: Tensor, backend: IntegerGEMMBackend = .native) throws -> [String: Tensor] {
        var result = [String: Tensor]()
        _ = try forwardSerial(x, backend: backend) { result[$0] = $1 }
        return result
    }

    /// `forward` on the calling thread; `visit`, when given, hears each step's dequantized NCHW output.
    func forwardSerial(_ x: Tensor, backend: IntegerGEMMBackend,
                       visit: ((String, Tensor) -> Void)? = nil) throws -> Tensor {
        let n = x.shape[0]
        var values = [[UInt8]?](repeating: nil, count: steps.count)
        let input = try quantizeToUInt8(x, with: inputParameters)
        func parameters(_ i: Int) -> QuantizationParameters { i < 0 ? inputParameters : steps[i].output }
        func shape(_ i: Int) -> [Int] { i < 0 ? inputShape : steps[i].shape }
        /// Step `i`'s codes in `layout` (converted when they lie otherwise).
        func codes(_ i: Int, as layout: Layout) -> [UInt8] {
            let stored = i < 0 ? input : values[i]!
            let current = i < 0 ? Layout.canonical : steps[i].layout
            switch (current, layout) {
            case (.canonical, .channelsLast(let c, let h, let w)) where c > 1:
                return convert(stored, batch: n, channels: c, pixels: h * w, toChannelsLast: true)
            case (.channelsLast(let c, let h, let w), .canonical) where c > 1:
                return convert(stored, batch: n, channels: c, pixels: h * w, toChannelsLast: false)
            default:
                return stored
            }
        }
        func featureMap(_ i: Int) -> Layout {
            let s = shape(i)
            return .channelsLast(channels: s[0], height: s[1], width: s[2])
        }
        for (i, step) in steps.enumerated() {
            let first = step.inputs[0]
            switch step.operation {
            case .linear(let layer):
                // Built for its input's layout (see init): the codes as they lie.
                values[i] = layer.forward(first < 0 ? input : values[first]!, batch: n, backend: backend)
            case .conv(let layer):
                let s = shape(first)
                values[i] = layer.forward(codes(first, as: featureMap(first)), batch: n, height: s[1], width: s[2],
                                          backend: backend)
            case .passThrough:
                values[i] = codes(first, as: step.layout)
            case .channelClamp(let low, let highs):
                var x = codes(first, as: step.layout)
                let c = highs.count, size = step.shape.reduce(1, *), plane = size / max(c, 1)
                x.withUnsafeMutableBufferPointer { px in
                    for sample in 0..<n {
                        let base = sample * size
                        if case .channelsLast = step.layout {
                            for p in 0..<plane {
                                for ch in 0..<c { px[base + p * c + ch] = min(max(px[base + p * c + ch], low), highs[ch]) }
                            }
                        } else {
                            for ch in 0..<c {
                                for p in 0..<plane { px[base + ch * plane + p] = min(max(px[base + ch * plane + p], low), highs[ch]) }
                            }
                        }
                    }
                }
                values[i] = x
            case .maxPool(let pool):
                let s = shape(first), out = step.shape
                let x = codes(first, as: featureMap(first))
                values[i] = [UInt8](unsafeUninitializedCapacity: n * out.reduce(1, *)) { po, initialized in
                    x.withUnsafeBufferPointer { pi in
                        ck_maxpool2d_u8_nhwc(pi.baseAddress!, Int64(n), Int64(s[1]), Int64(s[2]), Int64(s[0]),
                                             Int64(pool.kernelSize), Int64(pool.stride), Int64(pool.padding),
                                             po.baseAddress!, Int64(out[1]), Int64(out[2]))
                    }
                    initialized = n * out.reduce(1, *)
                }
            case .averagePool(let pool) where (pool is GlobalMean || pool is GlobalAvgPool)
                                                && shape(first).count == 3 && shape(first)[1] * shape(first)[2] <= 1 << 16:
                // The mean of each channel's plane from the exact integer sum of its codes: the float path's sum of
                // Q − Z is exact too (below 2^24 for planes up to 2^16), so both divide the same number.
                let s = shape(first), plane = s[1] * s[2], c = s[0]
                let z = parameters(first).zeroPoints[0], zf = Float(z)
                let x = codes(first, as: featureMap(first))
                var sums = [Int32](repeating: 0, count: c)
                values[i] = [UInt8](unsafeUninitializedCapacity: n * c) { py, initialized in
                    x.withUnsafeBufferPointer { px in
                        sums.withUnsafeMutableBufferPointer { ps in
                            for sample in 0..<n {
                                for ch in 0..<c { ps[ch] = 0 }
                                for p in 0..<plane {
                                    let row = px.baseAddress! + (sample * plane + p) * c
                                    for ch in 0..<c { ps[ch] &+= Int32(row[ch]) }
                                }
                                for ch in 0..<c {
                                    let mean = Float(ps[ch] - Int32(plane) * z) / Float(plane)
                                    py[sample * c + ch] = UInt8(clamping: Int((mean + zf).rounded(.toNearestOrEven)))
                                }
                            }
                        }
                    }
                    initialized = n * c
                }
            case .averagePool(let pool):
                let z = Float(parameters(first).zeroPoints[0])
                let centred = Tensor(shape: [n] + shape(first), scalars: codes(first, as: .canonical).map { Float($0) - z })
                values[i] = pool.forward([centred], mode: .inference).scalars.map {
                    UInt8(clamping: Int(($0 + z).rounded(.toNearestOrEven)))
                }
            case .table(let table):
                let x = codes(first, as: step.layout)
                values[i] = [UInt8](unsafeUninitializedCapacity: x.count) { py, initialized in
                    x.withUnsafeBufferPointer { px in
                        table.withUnsafeBufferPointer { pt in
                            if let input = px.baseAddress, let output = py.baseAddress, let table = pt.baseAddress {
                                // Blocks across threads (a batch of one too): each code is looked up alike.
                                nonisolated(unsafe) let (input, output, table) = (input, output, table)
                                Parallel.forEachRange(count: x.count, grain: 1 << 16) { range in
                                    ck_lookup_u8(input + range.lowerBound, Int64(range.count), table,
                                                 output + range.lowerBound)
                                }
                            }
                        }
                    }
                    initialized = x.count
                }
            case .multiply(let multiplier):
                let a = codes(first, as: step.layout)
                let second = step.inputs[1]
                let b = shape(second) == step.shape ? codes(second, as: step.layout) : codes(second, as: .canonical)
                values[i] = multiplyCodes(a, parameters(first), b, parameters(second), multiplier: multiplier,
                                          output: step.output, layout: step.layout, shape: step.shape, batch: n)
            case .select(let channels):
                let s = shape(first)
                let layout: Layout = s.count == 3 ? featureMap(first) : .canonical
                values[i] = selectChannels(codes(first, as: layout), channels: channels, inputChannels: s[0],
                                           plane: s.dropFirst().reduce(1, *), channelsLast: s.count == 3, batch: n)
            case .concat(let multipliers):
                let featureMaps = step.shape.count == 3
                let parts = step.inputs.enumerated().map { k, j in
                    addCodes([codes(j, as: featureMaps ? featureMap(j) : .canonical)], [parameters(j)],
                             multipliers: [multipliers[k]], output: step.output)
                }
                let widths = step.inputs.map { shape($0)[0] }
                values[i] = joinChannels(parts, widths: widths, plane: featureMaps ? step.shape[1] * step.shape[2] : 1,
                                         perSample: step.inputs.map { shape($0).reduce(1, *) }, batch: n)
            case .add(let multipliers):
                values[i] = addCodes(step.inputs.map { codes($0, as: step.layout) }, step.inputs.map(parameters),
                                     multipliers: multipliers, output: step.output)
            case .float(let layer):
                // A conv or linear kept in float, in the float order.
                let inputs = try step.inputs.map { j in
                    dequantize(try QuantizedTensor(shape: [n] + shape(j), values: codes(j, as: step.layout).map(Int32.init),
                                                   parameters: parameters(j)))
                }
                values[i] = try quantizeToUInt8(layer.forward(inputs, mode: .inference), with: step.output)
            }
            if let visit {
                visit(step.name, dequantize(try QuantizedTensor(shape: [n] + step.shape,
                                                                values: codes(i, as: .canonical).map(Int32.init),
                                                                parameters: step.output)))
            }
        }
        let out = steps[outputIndex]
        return dequantize(try QuantizedTensor(shape: [n] + out.shape,
                                              values: codes(outputIndex, as: .canonical).map(Int32.init),
                                              parameters: out.output))
    }
}

/// The output code of each input code of an elementwise activation: `Q_y = clamp(Z_y + round(f(S_x·(q − Z_x)) / S_y))`.
func activationTable(_ function: (Float) -> Float, input: QuantizationParameters,
                     output: QuantizationParameters) -> [UInt8] {
    let sx = input.scales[0], zx = Float(input.zeroPoints[0])
    let sy = output.scales[0], zy = Float(output.zeroPoints[0])
    let low = Float(output.qmin), high = Float(output.qmax)
    return (0..<256).map { q in
        let y = function(sx * (Float(q) - zx))
        return UInt8(min(max((y / sy).rounded(.toNearestOrEven) + zy, low), high))
    }
}

/// `Z_y + round(M · (Q_a − Z_a)(Q_b − Z_b))`, clamped to the output's codes, for a batch of `shape` (per sample): `b`
/// has `a`'s size (and layout) or holds one code per channel and sample (a gate, in channel order).
private func multiplyCodes(_ a: [UInt8], _ pa: QuantizationParameters, _ b: [UInt8], _ pb: QuantizationParameters,
                           multiplier: Double, output: QuantizationParameters, layout: QuantizedGraph.Layout,
                           shape: [Int], batch: Int) -> [UInt8] {
    let za = pa.zeroPoints[0], zb = pb.zeroPoints[0], zy = Double(output.zeroPoints[0])
    let low = Double(output.qmin), high = Double(output.qmax)
    guard !a.isEmpty else { return [] }
    let channels = shape[0], plane = shape.dropFirst().reduce(1, *)
    let channelsLast: Bool
    if case .channelsLast(let c, _, _) = layout, c > 1 { channelsLast = true } else { channelsLast = false }
    return [UInt8](unsafeUninitializedCapacity: a.count) { py, initialized in
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                nonisolated(unsafe) let (qa, qb, qy) = (pa.baseAddress!, pb.baseAddress!, py.baseAddress!)
                // Blocks of rows across threads (a batch of one too); each product is computed alike.
                if a.count == b.count {
                    Parallel.forEachRange(count: a.count, grain: 1 << 15) { range in
                        ck_multiply_u8(qa + range.lowerBound, qb + range.lowerBound, 1, Int64(range.count), 0, 1, za, zb,
                                       multiplier, zy, low, high, qy + range.lowerBound)
                    }
                    return
                }
                // A (C, 1, 1) gate: per sample, each channel's plane times its gate code.
                let (rows, columns, rowStride, columnStride) = channelsLast
                    ? (plane, channels, 0, 1) : (channels, plane, 1, 0)
                for s in 0..<batch {
                    let base = s * channels * plane
                    Parallel.forEachRange(count: rows, grain: max(1, (1 << 15) / max(columns, 1))) { part in
                        let start = part.lowerBound
                        ck_multiply_u8(qa + base + start * columns, qb + s * channels + start * rowStride,
                                       Int64(part.count), Int64(columns), Int64(rowStride), Int64(columnStride), za,
                                       zb, multiplier, zy, low, high, qy + base + start * columns)
                    }
                }
            }
        }
        initialized = a.count
    }
}

/// The codes of output channel j from input channel `channels[j]`, per sample, channels-last or in channel order.
private func selectChannels(_ x: [UInt8], channels: [Int], inputChannels: Int, plane: Int, channelsLast: Bool,
                            batch: Int) -> [UInt8] {
    var y = [UInt8](repeating: 0, count: batch * channels.count * plane)
    for s in 0..<batch {
        let input = s * inputChannels * plane, output = s * channels.count * plane
        for p in 0..<plane {
            for (j, c) in channels.enumerated() {
                if channelsLast {
                    y[output + p * channels.count + j] = x[input + p * inputChannels + c]
                } else {
                    y[output + j * plane + p] = x[input + c * plane + p]
                }
            }
        }
    }
    return y
}

/// Per sample, the parts joined: channels-last feature maps (`plane` pixels, `widths[j]` channels each) pixel by pixel;
/// vectors (`plane` = 1) one after the other.
private func joinChannels(_ parts: [[UInt8]], widths: [Int], plane: Int, perSample: [Int], batch: Int) -> [UInt8] {
    let total = perSample.reduce(0, +)
    var y = [UInt8](repeating: 0, count: batch * total)
    for s in 0..<batch {
        if plane == 1 {
            var offset = s * total
            for (j, part) in parts.enumerated() {
                for k in 0..<perSample[j] { y[offset + k] = part[s * perSample[j] + k] }
                offset += perSample[j]
            }
            continue
        }
        let channels = widths.reduce(0, +)
        for p in 0..<plane {
            var c = 0
            for (j, part) in parts.enumerated() {
                let source = s * perSample[j] + p * widths[j], target = s * total + p * channels + c
                for k in 0..<widths[j] { y[target + k] = part[source + k] }
                c += widths[j]
            }
        }
    }
    return y
}

/// `Z_y + round(Σ M_j · (Q_j − Z_j))`, clamped to the output's codes, over inputs of one size and layout.
private func addCodes(_ inputs: [[UInt8]], _ parameters: [QuantizationParameters], multipliers: [Double],
                      output: QuantizationParameters) -> [UInt8] {
    let zeros = parameters.map { Double($0.zeroPoints[0]) }, zy = Double(output.zeroPoints[0])
    let length = inputs[0].count
    guard length > 0 else { return [] }
    return [UInt8](unsafeUninitializedCapacity: length) { py, initialized in
        // Every input stays alive for the call: their buffers are pinned one inside the other.
        func pinned(_ index: Int, _ pointers: [UnsafePointer<UInt8>?]) {
            if index == inputs.count {
                // Blocks across threads (a batch of one too); each sum is computed alike.
                nonisolated(unsafe) let (pointers, y) = (pointers, py.baseAddress!)
                Parallel.forEachRange(count: length, grain: 1 << 15) { range in
                    let parts = pointers.map { $0.map { $0 + range.lowerBound } }
                    ck_add_u8(parts, Int64(inputs.count), Int64(range.count), multipliers, zeros, zy,
                              Double(output.qmin), Double(output.qmax), y + range.lowerBound)
                }
                return
            }
            inputs[index].withUnsafeBufferPointer { pinned(index + 1, pointers + [$0.baseAddress]) }
        }
        pinned(0, [])
        initialized = length
    }
}

/// NCHW ↔ channels-last for a batch of uint8 feature maps.
private func convert(_ codes: [UInt8], batch: Int, channels: Int, pixels: Int, toChannelsLast: Bool) -> [UInt8] {
    [UInt8](unsafeUninitializedCapacity: codes.count) { po, initialized in
        codes.withUnsafeBufferPointer { pi in
            if toChannelsLast {
                ck_nchw_to_nhwc_u8(pi.baseAddress!, Int64(batch), Int64(channels), Int64(pixels), po.baseAddress!)
            } else {
                ck_nhwc_to_nchw_u8(pi.baseAddress!, Int64(batch), Int64(channels), Int64(pixels), po.baseAddress!)
            }
        }
        initialized = codes.count
    }
}
