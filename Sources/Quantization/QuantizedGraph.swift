// QuantizedGraph: the integer engine for a whole network — a float graph with its BatchNorms folded, every edge
// given uint8 parameters from calibration, convs and linears run on the u8 × s8 GEMM with a following ReLU fused
// into requantization, and the rest (pooling, flatten, add, concat) on codes.
import CKernels
import NeuralNetworks
import Tensors

/// An integer version of a graph: float input → quantize → integer layers → dequantize → float logits.
///
/// Max pooling, flatten and dropout pass codes through with the parameters of their input (the maximum commutes
/// with the monotonic map `R = S·(Q − Z)`); average pools average `Q − Z` and add `Z` back, so padding stays real 0;
/// add, concat and a ReLU that could not be fused dequantize, compute and requantize to their output edge.
public final class QuantizedGraph {
    enum Operation {
        case linear(QuantizedLinear)
        case conv(QuantizedConv2d)
        case passThrough          // max pool handled apart; flatten, dropout, a fused ReLU
        case maxPool(MaxPool2d)
        case averagePool(any Layer)   // AvgPool2d or GlobalAvgPool, run on Q − Z
        case float(any Layer)     // add, concat, unfused ReLU: dequantize, compute, requantize
    }

    struct Step {
        var name: String
        var inputs: [Int]         // indices into steps; −1 = graph input
        var operation: Operation
        var output: QuantizationParameters
        var shape: [Int]          // per-sample output shape
    }

    let steps: [Step]
    public let inputParameters: QuantizationParameters
    let inputShape: [Int]
    /// Names of the nodes that kept float arithmetic on codes (add, concat, unfused ReLU); for reports.
    public let floatComputedNodes: [String]

    /// Builds the integer graph from `graph` (folded first) and a calibration of the *folded* graph's edges.
    ///
    /// - Throws: `ShrinkError(.unsupported)` naming a node whose kind has no integer form (BatchNorm that could not
    ///   be folded, for one); errors from parameter computation.
    public convenience init(folded graph: Graph, calibration: CalibrationResult) throws {
        var edges = [String: QuantizationParameters]()
        for (edge, observer) in calibration.observers {
            edges[edge] = try observer.computeParameters(bits: 8, signed: false, symmetric: false)
        }
        try self.init(folded: graph, edges: edges)
    }

    /// Builds the integer graph from `graph` (BatchNorms folded) and uint8 parameters for its edges (`input` and
    /// node names). `stored` supplies int8 weights and per-channel scales already quantized (from a model file) for
    /// conv and linear nodes; the others are quantized from the float weights.
    public init(folded graph: Graph, edges: [String: QuantizationParameters],
                stored: [String: (values: [Int8], scales: [Float])] = [:]) throws {
        func parameters(_ edge: String) throws -> QuantizationParameters {
            guard let p = edges[edge] else {
                throw ShrinkError(.value, "no quantization parameters for the edge of node '\(edge)'")
            }
            return p
        }
        var readers = [String: Int]()
        for node in graph.nodes { for input in node.inputs { readers[input, default: 0] += 1 } }
        var index = [String: Int]()
        var steps: [Step] = []
        var floatNodes: [String] = []
        let inputParameters = try parameters(Graph.inputName)
        func edgeParameters(_ i: Int) -> QuantizationParameters { i < 0 ? inputParameters : steps[i].output }
        // Producer name → the ReLU that follows it (its only reader): its clamp cap and the edge whose parameters the
        // fused output takes.
        var fusedInto = [String: (cap: Float, relu: String)]()
        for node in graph.nodes {
            if let relu = node.layer as? ClampedReLU, let producer = node.inputs.first, producer != Graph.inputName,
               readers[producer] == 1, let layer = graph.node(named: producer)?.layer, layer is Conv2d || layer is Linear {
                fusedInto[producer] = (relu.cap, node.name)
            }
        }
        for (position, node) in graph.nodes.enumerated() {
            let inputs = node.inputs.map { $0 == Graph.inputName ? -1 : index[$0]! }
            let shape = graph.outputShapes[position]
            let inputParameter = inputs.first.map(edgeParameters) ?? inputParameters
            var step: Step
            switch node.layer {
            case let linear as Linear:
                let cap = fusedInto[node.name]?.cap
                let out = try parameters(fusedInto[node.name]?.relu ?? node.name)
                let layer: QuantizedLinear
                if let saved = stored[node.name] {
                    let p = try QuantizedWeights.weightParameters(scales: saved.scales)
                    layer = QuantizedLinear(weights: try QuantizedWeights(values: saved.values, parameters: p,
                                                                          bias: linear.bias?.value, input: inputParameter,
                                                                          output: out, clampCap: cap))
                } else {
                    layer = try QuantizedLinear(linear, input: inputParameter, output: out, clampCap: cap)
                }
                step = Step(name: node.name, inputs: inputs, operation: .linear(layer), output: out, shape: shape)
            case let conv as Conv2d:
                let cap = fusedInto[node.name]?.cap
                let out = try parameters(fusedInto[node.name]?.relu ?? node.name)
                step = Step(name: node.name, inputs: inputs,
                            operation: .conv(try QuantizedConv2d(conv, input: inputParameter, output: out, clampCap: cap,
                                                                 stored: stored[node.name])),
                            output: out, shape: shape)
            case is ClampedReLU where fusedInto[node.inputs[0]] != nil:
                step = Step(name: node.name, inputs: inputs, operation: .passThrough, output: inputParameter, shape: shape)
            case let pool as MaxPool2d:
                step = Step(name: node.name, inputs: inputs, operation: .maxPool(pool), output: inputParameter, shape: shape)
            case is Flatten, is Dropout:
                step = Step(name: node.name, inputs: inputs, operation: .passThrough, output: inputParameter, shape: shape)
            case is AvgPool2d, is GlobalAvgPool:
                step = Step(name: node.name, inputs: inputs, operation: .averagePool(node.layer), output: inputParameter,
                            shape: shape)
            case is Add, is Concat, is ClampedReLU:
                step = Step(name: node.name, inputs: inputs, operation: .float(node.layer),
                            output: try parameters(node.name), shape: shape)
                floatNodes.append(node.name)
            default:
                throw ShrinkError(.unsupported, "node '\(node.name)' (\(node.layer.kind)) has no integer form; fold "
                    + "BatchNorm into the layer before it first")
            }
            index[node.name] = steps.count
            steps.append(step)
        }
        guard let last = index[graph.outputName] else { throw ShrinkError(.value, "the graph has no output node") }
        self.steps = steps
        self.inputParameters = inputParameters
        self.inputShape = graph.inputShape
        self.floatComputedNodes = floatNodes
        self.outputIndex = last
    }

    let outputIndex: Int

    /// The uint8 parameters of every edge: `input` and each node's output.
    public var edges: [String: QuantizationParameters] {
        var result = [Graph.inputName: inputParameters]
        for step in steps { result[step.name] = step.output }
        return result
    }

    /// The int8 weights (all groups, `[out, …]` order) and per-channel scales of each conv and linear node.
    public var quantizedWeights: [String: (values: [Int8], scales: [Float])] {
        var result: [String: (values: [Int8], scales: [Float])] = [:]
        for step in steps {
            switch step.operation {
            case .linear(let layer):
                result[step.name] = (layer.weights.values, layer.weights.parameters.scales)
            case .conv(let layer):
                result[step.name] = (layer.groupWeights.flatMap(\.values), layer.groupWeights.flatMap(\.parameters.scales))
            default:
                break
            }
        }
        return result
    }

    /// Runs a batch of float inputs (already normalised) and returns dequantized float outputs (N, classes).
    public func forward(_ x: Tensor, backend: IntegerGEMMBackend = .native) throws -> Tensor {
        let n = x.shape[0]
        var values = [[UInt8]?](repeating: nil, count: steps.count)
        let input = try quantize(x, with: inputParameters).uint8Values
        func codes(_ i: Int) -> [UInt8] { i < 0 ? input : values[i]! }
        func parameters(_ i: Int) -> QuantizationParameters { i < 0 ? inputParameters : steps[i].output }
        func shape(_ i: Int) -> [Int] { i < 0 ? inputShape : steps[i].shape }
        for (i, step) in steps.enumerated() {
            let first = step.inputs[0]
            switch step.operation {
            case .linear(let layer):
                values[i] = layer.forward(codes(first), batch: n, backend: backend)
            case .conv(let layer):
                let s = shape(first)
                values[i] = layer.forward(codes(first), batch: n, height: s[1], width: s[2], backend: backend).codes
            case .passThrough:
                values[i] = codes(first)
            case .maxPool(let pool):
                let s = shape(first), out = step.shape
                var pooled = [UInt8](repeating: 0, count: n * out.reduce(1, *))
                codes(first).withUnsafeBufferPointer { pi in
                    pooled.withUnsafeMutableBufferPointer { po in
                        ck_maxpool2d_u8(pi.baseAddress!, Int64(n * s[0]), Int32(s[1]), Int32(s[2]), Int32(pool.kernelSize),
                                        Int32(pool.stride), Int32(pool.padding), po.baseAddress!, Int32(out[1]),
                                        Int32(out[2]))
                    }
                }
                values[i] = pooled
            case .averagePool(let pool):
                let z = Float(parameters(first).zeroPoints[0])
                let centred = Tensor(shape: [n] + shape(first), scalars: codes(first).map { Float($0) - z })
                values[i] = pool.forward([centred], mode: .inference).scalars.map {
                    UInt8(clamping: Int(($0 + z).rounded(.toNearestOrEven)))
                }
            case .float(let layer):
                let inputs = try step.inputs.map { j in
                    dequantize(try QuantizedTensor(shape: [n] + shape(j), values: codes(j).map(Int32.init),
                                                   parameters: parameters(j)))
                }
                values[i] = try quantize(layer.forward(inputs, mode: .inference), with: step.output).uint8Values
            }
        }
        let out = steps[outputIndex]
        return dequantize(try QuantizedTensor(shape: [n] + out.shape, values: codes(outputIndex).map(Int32.init),
                                              parameters: out.output))
    }
}
