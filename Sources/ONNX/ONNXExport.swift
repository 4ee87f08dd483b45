// Export of float models to ONNX (opset 17): one ONNX node (or a short fixed pattern) per Shrink layer, weights as
// initializers named like the model file's tensors, the batch dimension symbolic ("N"). The graph takes the
// model's normalised inputs; the normalisation and the architecture travel in `metadata_props` so that an import
// restores them.
import Datasets
import Foundation
import NeuralNetworks
import SwiftProtobuf
import Tensors

/// The opset exported models declare.
public let exportOpset: Int64 = 17

extension Onnx_TensorProto {
    /// A float initializer.
    init(name: String, _ tensor: Tensor) {
        self.init()
        self.name = name
        dims = tensor.shape.map(Int64.init)
        dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        rawData = tensor.scalars.withUnsafeBufferPointer { Data(buffer: $0) }
    }

    /// An int64 initializer (shapes, axes).
    init(name: String, int64 values: [Int64], dims: [Int64]) {
        self.init()
        self.name = name
        self.dims = dims
        dataType = Int32(Onnx_TensorProto.DataType.int64.rawValue)
        rawData = values.withUnsafeBufferPointer { Data(buffer: $0) }
    }
}

extension Onnx_AttributeProto {
    static func int(_ name: String, _ value: Int) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .int
        a.i = Int64(value)
        return a
    }

    static func ints(_ name: String, _ values: [Int]) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .ints
        a.ints = values.map(Int64.init)
        return a
    }

    static func float(_ name: String, _ value: Float) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .float
        a.f = value
        return a
    }
}

/// An ONNX node.
func onnxNode(_ op: String, name: String, inputs: [String], outputs: [String],
              attributes: [Onnx_AttributeProto] = []) -> Onnx_NodeProto {
    var n = Onnx_NodeProto()
    n.opType = op
    n.name = name
    n.input = inputs
    n.output = outputs
    n.attribute = attributes
    return n
}

func valueInfo(_ name: String, shape: [Int], batch: String = "N") -> Onnx_ValueInfoProto {
    var tensor = Onnx_TypeProto.Tensor()
    tensor.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
    var dims: [Onnx_TensorShapeProto.Dimension] = []
    var first = Onnx_TensorShapeProto.Dimension()
    first.dimParam = batch
    dims.append(first)
    for extent in shape {
        var d = Onnx_TensorShapeProto.Dimension()
        d.dimValue = Int64(extent)
        dims.append(d)
    }
    var shapeProto = Onnx_TensorShapeProto()
    shapeProto.dim = dims
    tensor.shape = shapeProto
    var type = Onnx_TypeProto()
    type.tensorType = tensor
    var info = Onnx_ValueInfoProto()
    info.name = name
    info.type = type
    return info
}

/// The metadata keys an exported model carries.
enum ExportMetadata {
    static let normalization = "shrink.normalization"
    static let architecture = "shrink.architecture"
    static let classes = "shrink.classes"
}

/// Collects ONNX nodes and initializers.
struct ONNXGraphBuilder {
    var nodes: [Onnx_NodeProto] = []
    var initializers: [Onnx_TensorProto] = []

    /// The ONNX form of one Shrink layer reading `inputs` and writing `output`. Conv and linear layers take their
    /// weight (and bias) from the ONNX values `weight` and `bias` (initializers the caller added, or outputs of
    /// DequantizeLinear nodes); nil uses the layer's own float tensors as initializers. `sampleRank` is the rank of
    /// the node's per-sample output (a per-channel constant broadcasts as [C, 1, 1] for a feature map).
    mutating func layer(_ node: Node, inputs: [String], output out: String, weight: String? = nil,
                        bias: String?? = nil, sampleRank: Int = 3) throws {
        let name = node.name
        func weights(_ w: Tensor, _ b: Tensor?) -> [String] {
            let weightName = weight ?? "\(name).weight"
            if weight == nil { initializers.append(Onnx_TensorProto(name: weightName, w)) }
            var names = [inputs[0], weightName]
            switch bias {
            case .some(.some(let given)): names.append(given)
            case .some(.none): break
            case .none:
                if let b {
                    initializers.append(Onnx_TensorProto(name: "\(name).bias", b))
                    names.append("\(name).bias")
                }
            }
            return names
        }
        switch node.layer {
        case let conv as Conv2d:
            nodes.append(onnxNode("Conv", name: name, inputs: weights(conv.weight.value, conv.bias?.value), outputs: [out], attributes: [
                .ints("kernel_shape", [conv.kernelSize, conv.kernelSize]), .ints("strides", [conv.stride, conv.stride]),
                .ints("pads", Array(repeating: conv.padding, count: 4)), .ints("dilations", [1, 1]), .int("group", conv.groups),
            ]))
        case let linear as Linear:
            nodes.append(onnxNode("Gemm", name: name, inputs: weights(linear.weight.value, linear.bias?.value), outputs: [out],
                                  attributes: [.float("alpha", 1), .float("beta", 1), .int("transB", 1)]))
        case let norm as BatchNorm:
            for (p, parameter) in norm.parameters { initializers.append(Onnx_TensorProto(name: "\(name).\(p)", parameter.value)) }
            nodes.append(onnxNode("BatchNormalization", name: name,
                                  inputs: [inputs[0]] + ["weight", "bias", "running_mean", "running_var"].map { "\(name).\($0)" },
                                  outputs: [out], attributes: [.float("epsilon", norm.epsilon), .float("momentum", 1 - norm.momentum)]))
        case let relu as ClampedReLU:
            if relu.cap.isInfinite {
                nodes.append(onnxNode("Relu", name: name, inputs: inputs, outputs: [out]))
            } else {
                initializers.append(Onnx_TensorProto(name: "\(name).min", Tensor(shape: [], scalars: [0])))
                initializers.append(Onnx_TensorProto(name: "\(name).max", Tensor(shape: [], scalars: [relu.cap])))
                nodes.append(onnxNode("Clip", name: name, inputs: [inputs[0], "\(name).min", "\(name).max"], outputs: [out]))
            }
        case let clamp as ChannelClamp:
            // Relu, then Min with the caps per channel.
            let caps = clamp.caps.value.scalars
            initializers.append(Onnx_TensorProto(name: "\(name).cap",
                                                 Tensor(shape: [caps.count] + Array(repeating: 1, count: max(sampleRank - 1, 0)),
                                                        scalars: caps)))
            nodes.append(onnxNode("Relu", name: "\(name)_relu", inputs: inputs, outputs: ["\(name)_relu"]))
            nodes.append(onnxNode("Min", name: name, inputs: ["\(name)_relu", "\(name).cap"], outputs: [out]))
        case let activation as PointwiseActivation:
            try pointwise(activation, name: name, input: inputs[0], output: out)
        case let pool as MaxPool2d:
            nodes.append(onnxNode("MaxPool", name: name, inputs: inputs, outputs: [out], attributes: [
                .ints("kernel_shape", [pool.kernelSize, pool.kernelSize]), .ints("strides", [pool.stride, pool.stride]),
                .ints("pads", Array(repeating: pool.padding, count: 4)),
            ] + (pool.ceilMode ? [.int("ceil_mode", 1)] : [])))
        case let pool as AvgPool2d:
            nodes.append(onnxNode("AveragePool", name: name, inputs: inputs, outputs: [out], attributes: [
                .ints("kernel_shape", [pool.kernelSize, pool.kernelSize]), .ints("strides", [pool.stride, pool.stride]),
                .ints("pads", Array(repeating: pool.padding, count: 4)), .int("count_include_pad", 1),
            ]))
        case is GlobalAvgPool:
            // Shrink's global pooling also flattens: GlobalAveragePool (N, C, 1, 1), then Flatten.
            nodes.append(onnxNode("GlobalAveragePool", name: "\(name)_pool", inputs: inputs, outputs: ["\(name)_pool"]))
            nodes.append(onnxNode("Flatten", name: name, inputs: ["\(name)_pool"], outputs: [out], attributes: [.int("axis", 1)]))
        case is GlobalMean:
            nodes.append(onnxNode("GlobalAveragePool", name: name, inputs: inputs, outputs: [out]))
        case is Multiply:
            nodes.append(onnxNode("Mul", name: name, inputs: inputs, outputs: [out]))
        case let select as ChannelSelect:
            if let range = select.contiguousRange {
                // A channel split: Slice along axis 1.
                for (suffix, value) in [("starts", range.lowerBound), ("ends", range.upperBound), ("axes", 1)] {
                    initializers.append(Onnx_TensorProto(name: "\(name).\(suffix)", int64: [Int64(value)], dims: [1]))
                }
                nodes.append(onnxNode("Slice", name: name, inputs: [inputs[0], "\(name).starts", "\(name).ends", "\(name).axes"],
                                      outputs: [out]))
            } else {
                // Any other selection (a channel shuffle): Gather along axis 1.
                initializers.append(Onnx_TensorProto(name: "\(name).channels", int64: select.channels.map(Int64.init),
                                                     dims: [Int64(select.channels.count)]))
                nodes.append(onnxNode("Gather", name: name, inputs: [inputs[0], "\(name).channels"], outputs: [out],
                                      attributes: [.int("axis", 1)]))
            }
        case is Flatten:
            nodes.append(onnxNode("Flatten", name: name, inputs: inputs, outputs: [out], attributes: [.int("axis", 1)]))
        case is Dropout:
            nodes.append(onnxNode("Identity", name: name, inputs: inputs, outputs: [out]))
        case is Add:
            nodes.append(onnxNode("Add", name: name, inputs: inputs, outputs: [out]))
        case is Concat:
            nodes.append(onnxNode("Concat", name: name, inputs: inputs, outputs: [out], attributes: [.int("axis", 1)]))
        default:
            throw ShrinkError(.unsupported, "node '\(name)' (\(node.layer.kind)) has no ONNX export; exportable "
                + "layers are conv2d, linear, batchnorm, relu, relu6, channel_clamp, sigmoid, hardsigmoid, silu, hardswish, gelu, gelu_tanh, "
                + "leaky_relu, maxpool2d, avgpool2d, globalavgpool, global_mean, mul, channel_select, flatten, "
                + "dropout, add and concat")
        }
    }

    /// The ONNX form of a pointwise activation: one operator where opset 17 has it (Sigmoid, HardSigmoid, HardSwish,
    /// LeakyRelu); SiLU as Sigmoid and Mul; GELU through Erf (x/2 · (1 + erf(x/√2))) or, for the tanh form, Tanh of
    /// the cubic, with the constants as initializers.
    mutating func pointwise(_ activation: PointwiseActivation, name: String, input x: String, output out: String) throws {
        func constant(_ suffix: String, _ value: Float) -> String {
            let constantName = "\(name).\(suffix)"
            initializers.append(Onnx_TensorProto(name: constantName, Tensor(shape: [], scalars: [value])))
            return constantName
        }
        func step(_ op: String, _ suffix: String, _ inputs: [String]) -> String {
            let stepName = "\(name)_\(suffix)"
            nodes.append(onnxNode(op, name: stepName, inputs: inputs, outputs: [stepName]))
            return stepName
        }
        switch activation.function {
        case .sigmoid:
            nodes.append(onnxNode("Sigmoid", name: name, inputs: [x], outputs: [out]))
        case .hardSigmoid:
            nodes.append(onnxNode("HardSigmoid", name: name, inputs: [x], outputs: [out], attributes: [
                .float("alpha", activation.alpha), .float("beta", activation.beta),
            ]))
        case .hardSwish:
            nodes.append(onnxNode("HardSwish", name: name, inputs: [x], outputs: [out]))
        case .leakyReLU:
            nodes.append(onnxNode("LeakyRelu", name: name, inputs: [x], outputs: [out],
                                  attributes: [.float("alpha", activation.alpha)]))
        case .silu:
            let gate = step("Sigmoid", "sigmoid", [x])
            nodes.append(onnxNode("Mul", name: name, inputs: [x, gate], outputs: [out]))
        case .gelu:
            let scaled = step("Mul", "scaled", [x, constant("inverse_sqrt2", PointwiseActivation.sqrtHalf)])
            let erf = step("Erf", "erf", [scaled])
            let plusOne = step("Add", "plus_one", [erf, constant("one", 1)])
            let gated = step("Mul", "gated", [x, plusOne])
            nodes.append(onnxNode("Mul", name: name, inputs: [gated, constant("half", 0.5)], outputs: [out]))
        case .geluTanh:
            let square = step("Mul", "square", [x, x])
            let cube = step("Mul", "cube", [square, x])
            let cubic = step("Mul", "cubic", [cube, constant("c", 0.044715)])
            let sum = step("Add", "sum", [x, cubic])
            let inner = step("Mul", "inner", [sum, constant("sqrt_2_over_pi", PointwiseActivation.sqrtTwoOverPi)])
            let tanh = step("Tanh", "tanh", [inner])
            let plusOne = step("Add", "plus_one", [tanh, constant("one", 1)])
            let gated = step("Mul", "gated", [x, plusOne])
            nodes.append(onnxNode("Mul", name: name, inputs: [gated, constant("half", 0.5)], outputs: [out]))
        }
    }

    /// A model around the collected nodes (opset 17) with `model`'s normalisation and architecture in metadata.
    func model(_ model: Model, input: [Int], output: String, outputShape: [Int]) throws -> Onnx_ModelProto {
        var g = Onnx_GraphProto()
        g.name = model.architecture
        g.input = [valueInfo(Graph.inputName, shape: input)]
        g.node = nodes
        g.initializer = initializers
        g.output = [valueInfo(output, shape: outputShape)]
        var m = Onnx_ModelProto()
        m.irVersion = 8
        m.producerName = "shrink"
        m.producerVersion = Model.formatVersion
        var opset = Onnx_OperatorSetIdProto()
        opset.domain = ""
        opset.version = exportOpset
        m.opsetImport = [opset]
        m.graph = g
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var normalization = Onnx_StringStringEntryProto()
        normalization.key = ExportMetadata.normalization
        normalization.value = String(decoding: try encoder.encode(model.normalization), as: UTF8.self)
        var architecture = Onnx_StringStringEntryProto()
        architecture.key = ExportMetadata.architecture
        architecture.value = model.architecture
        m.metadataProps = [architecture, normalization]
        if let names = model.classNames {
            var classes = Onnx_StringStringEntryProto()
            classes.key = ExportMetadata.classes
            classes.value = String(decoding: try encoder.encode(names), as: UTF8.self)
            m.metadataProps.append(classes)
        }
        return m
    }
}

/// The ONNX model of a float `model` (opset 17).
///
/// - Throws: `ShrinkError(.unsupported)` naming a node whose layer has no ONNX form here (binarized layers).
public func onnxModel(_ model: Model) throws -> Onnx_ModelProto {
    var builder = ONNXGraphBuilder()
    for (node, shape) in zip(model.graph.nodes, model.graph.outputShapes) {
        try builder.layer(node, inputs: node.inputs, output: node.name, sampleRank: shape.count)
    }
    return try builder.model(model, input: model.graph.inputShape, output: model.graph.outputName,
                             outputShape: model.graph.outputShape)
}

/// Writes `model` as an ONNX file, atomically.
public func exportONNX(_ model: Model, to path: String) throws {
    let bytes = try onnxModel(model).serializedBytes() as [UInt8]
    try AtomicFile.write(bytes, to: path)
}

/// The bytes of an ONNX model as a file holds them.
public func serializedONNX(_ proto: Onnx_ModelProto) throws -> [UInt8] {
    try proto.serializedBytes()
}
