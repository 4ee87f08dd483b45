// Import of ONNX models (opsets 11–17) into Shrink graphs: the operators Shrink's layers cover, initializers as
// weights, with every refusal naming the node, the operator or the field. A small constant evaluator follows the
// shape arithmetic PyTorch emits (Shape → Gather → Add/Sub/Mul/Div → Cast → Unsqueeze → Concat), so that
// `x.view(x.size(0), -1)` imports as a flatten, ShuffleNet's `x.chunk(2, dim=1)` (Slice or Split along the channels)
// as a channel selection, and its channel shuffle (Reshape to (N, g, C/g, H, W) → Transpose(0, 2, 1, 3, 4) →
// Reshape back) as one channel selection too.
import Datasets
import Foundation
import NeuralNetworks
import SwiftProtobuf
import Tensors

/// The opsets imports accept.
public let importOpsets: ClosedRange<Int64> = 11...17

/// Reads an ONNX file into a Shrink model. The normalisation comes from the file's `shrink.normalization` metadata
/// (written by `exportONNX`), else `normalization`, else none (mean 0, std 1: inputs as the network expects them).
///
/// - Throws: `ShrinkError(.format)` for a file that is not a decodable ONNX model; `ShrinkError(.unsupported)`
///   naming the operator and node, or the field, for what Shrink cannot represent (an operator, an opset, an
///   attribute value, a dynamic sample shape).
public func importONNX(from path: String, normalization: Normalization? = nil) throws -> Model {
    try importONNX(try readFile(path), file: path, normalization: normalization)
}

/// `importONNX(from:)` on bytes already read; `file` names the source in errors.
public func importONNX(_ bytes: [UInt8], file: String, normalization: Normalization? = nil) throws -> Model {
    let proto: Onnx_ModelProto
    do {
        proto = try Onnx_ModelProto(serializedBytes: bytes)
    } catch {
        throw ShrinkError(.format, "\(file): not a readable ONNX model (protobuf decoding failed: \(error)); is it truncated?")
    }
    do {
        var importer = ONNXImporter(proto, normalization: normalization)
        return try importer.model()
    } catch let error as ShrinkError {
        throw ShrinkError(error.kind, "\(file): \(error.message)")
    }
}

/// A value of the ONNX graph while importing: a Shrink node's output (with the ONNX rank it stands for), a constant
/// tensor, or an int64 shape vector where `batch` marks the (symbolic) batch size.
private enum Value {
    case node(String, rank: Int)
    case constant(Tensor)
    case shape([Int64])
    /// A node's (C, H, W) output viewed as (groups, C/groups, H, W), then (when `transposed`) as (C/groups, groups,
    /// H, W): the first two steps of a channel shuffle.
    case grouped(String, groups: Int, transposed: Bool)
}

private let batch = Int64.min

private struct ONNXImporter {
    let proto: Onnx_ModelProto
    let normalization: Normalization?
    var values: [String: Value] = [:]
    var nodes: [Node] = []
    var names = Set<String>([Graph.inputName])
    var shapes: [String: [Int]] = [Graph.inputName: []]   // per-sample shapes of Shrink nodes, as built

    init(_ proto: Onnx_ModelProto, normalization: Normalization?) {
        self.proto = proto
        self.normalization = normalization
    }

    mutating func model() throws -> Model {
        let opset = try checkOpset()
        let graph = proto.graph
        for initializer in graph.initializer { values[initializer.name] = try constant(initializer) }
        let dataInputs = graph.input.filter { values[$0.name] == nil }
        guard dataInputs.count == 1, let input = dataInputs.first else {
            throw ShrinkError(.unsupported, "graph has \(dataInputs.count) data inputs (\(dataInputs.map(\.name).joined(separator: ", "))); Shrink models take exactly one")
        }
        let inputShape = try sampleShape(input)
        shapes[Graph.inputName] = inputShape
        values[input.name] = .node(Graph.inputName, rank: inputShape.count + 1)
        for (index, node) in graph.node.enumerated() { try add(node, index: index) }
        guard let output = graph.output.first, graph.output.count == 1 else {
            throw ShrinkError(.unsupported, "graph has \(graph.output.count) outputs; Shrink models have one")
        }
        guard case .node(var name, _)? = values[output.name], name != Graph.inputName else {
            throw ShrinkError(.unsupported, "graph output '\(output.name)' is not computed by a supported node")
        }
        name = fuseGatedActivations(output: name)
        let built = try Graph(inputShape: inputShape, nodes: nodes, output: name)
        guard built.outputShape.count == 1 else {
            throw ShrinkError(.unsupported, "graph output '\(output.name)' has per-sample shape \(built.outputShape); a classifier's output must be (classes)")
        }
        var normalizationValue = normalization ?? Normalization(mean: 0, std: 1)
        var architecture = graph.name.isEmpty ? "onnx" : graph.name
        var classNames: [String]?
        for entry in proto.metadataProps {
            if entry.key == ExportMetadata.classes,
               let names = try? JSONDecoder().decode([String].self, from: Data(entry.value.utf8)),
               names.count == built.outputShape.reduce(1, *) { classNames = names }
            if entry.key == ExportMetadata.normalization, normalization == nil,
               let n = try? JSONDecoder().decode(Normalization.self, from: Data(entry.value.utf8)) { normalizationValue = n }
            if entry.key == ExportMetadata.architecture, !entry.value.isEmpty { architecture = entry.value }
        }
        // What Model.load refuses in a model file is refused here already, naming the tensor.
        for (name, parameter) in built.parameters {
            if let bad = parameter.value.firstNonFiniteIndex() {
                throw ShrinkError(.value, "tensor '\(name)' holds a non-finite value at index \(bad)")
            }
        }
        do { try normalizationValue.check(sampleShape: inputShape) } catch let error as ShrinkError {
            throw ShrinkError(error.kind, "metadata '\(ExportMetadata.normalization)': \(error.message)")
        }
        return Model(architecture: architecture, graph: built, normalization: normalizationValue,
                     provenance: [ProvenanceStep(pass: "import", settings: [
                         "format": "onnx", "opset": "\(opset)", "producer": proto.producerName,
                         "producer_version": proto.producerVersion,
                     ])], classNames: classNames)
    }

    /// The gated activations as exporters write them, `Mul(x, gate(x))` with the gate read by nothing else, become
    /// one node (named by the gate's node, its module): SiLU from `Sigmoid`, hard-swish from PyTorch's
    /// `HardSigmoid(α = 1/6, β = 1/2)` (how `torch.onnx.export` writes `Hardswish` below opset 14). One pass over the
    /// map instead of three, an activation a conv can fuse, and one function for the integer engine's table instead
    /// of a table and a product. Hard-swish computes `x · min(max(x + 3, 0), 6) / 6`, PyTorch's formula; the two
    /// nodes' `x · clamp(x/6 + 1/2, 0, 1)` can differ from it in the last bit or two. Returns the graph output's name
    /// afterwards.
    mutating func fuseGatedActivations(output: String) -> String {
        var readers: [String: Int] = [output: 1]
        for node in nodes { for input in node.inputs { readers[input, default: 0] += 1 } }
        var position: [String: Int] = [:]
        for (i, node) in nodes.enumerated() { position[node.name] = i }
        var renamed: [String: String] = [:], removed = Set<Int>()
        for (i, node) in nodes.enumerated() where node.layer is Multiply && node.inputs.count == 2 {
            for (gate, x) in [(node.inputs[1], node.inputs[0]), (node.inputs[0], node.inputs[1])] {
                guard let g = position[gate], let activation = nodes[g].layer as? PointwiseActivation,
                      nodes[g].inputs == [x], readers[gate] == 1 else { continue }
                let fused: PointwiseFunction
                switch activation.function {
                case .sigmoid: fused = .silu
                case .hardSigmoid where activation.alpha == Float(1.0 / 6.0) && activation.beta == 0.5: fused = .hardSwish
                default: continue
                }
                guard let layer = try? PointwiseActivation(fused) else { continue }
                nodes[g] = Node(name: nodes[g].name, layer: layer, inputs: [x])
                renamed[node.name] = nodes[g].name
                removed.insert(i)
                break
            }
        }
        guard !removed.isEmpty else { return output }
        nodes = nodes.enumerated().filter { !removed.contains($0.offset) }.map { _, node in
            Node(name: node.name, layer: node.layer, inputs: node.inputs.map { renamed[$0] ?? $0 })
        }
        for (mul, _) in renamed { shapes[mul] = nil; names.remove(mul) }
        return renamed[output] ?? output
    }

    func checkOpset() throws -> Int64 {
        guard let entry = proto.opsetImport.first(where: { $0.domain.isEmpty || $0.domain == "ai.onnx" }) else {
            throw ShrinkError(.unsupported, "field 'opset_import' has no entry for the default domain (ai.onnx)")
        }
        guard importOpsets.contains(entry.version) else {
            throw ShrinkError(.unsupported, "field 'opset_import': ai.onnx version \(entry.version) is outside "
                + "\(importOpsets.lowerBound)…\(importOpsets.upperBound), the opsets Shrink imports")
        }
        return entry.version
    }

    func sampleShape(_ input: Onnx_ValueInfoProto) throws -> [Int] {
        guard input.type.tensorType.elemType == Int32(Onnx_TensorProto.DataType.float.rawValue) else {
            throw ShrinkError(.unsupported, "input '\(input.name)' has element type \(input.type.tensorType.elemType); Shrink imports float inputs")
        }
        let dims = input.type.tensorType.shape.dim
        guard dims.count >= 2 else {
            throw ShrinkError(.unsupported, "input '\(input.name)' has rank \(dims.count); Shrink needs (batch, features…)")
        }
        let shape = try dims.dropFirst().enumerated().map { axis, d in
            guard d.dimValue > 0 else {
                let what = d.dimParam.isEmpty ? "unknown" : "'\(d.dimParam)'"
                throw ShrinkError(.unsupported, "input '\(input.name)': dimension \(axis + 1) is dynamic (\(what)); "
                    + "Shrink needs a fixed sample shape (only the batch dimension may vary)")
            }
            guard d.dimValue <= Int64(Int32.max) else {
                throw ShrinkError(.shape, "input '\(input.name)': dimension \(axis + 1) is \(d.dimValue), too large")
            }
            return Int(d.dimValue)
        }
        try Graph.checkShape(shape, "input '\(input.name)'")
        return shape
    }

    func constant(_ t: Onnx_TensorProto) throws -> Value {
        guard t.dims.allSatisfy({ $0 >= 0 && $0 <= Int64(Int32.max) }), let count = checkedProduct(t.dims.map(Int.init)) else {
            throw ShrinkError(.format, "initializer '\(t.name)' has dims \(t.dims); expected sizes from 0 to \(Int32.max) "
                + "whose product fits in memory")
        }
        let dims = t.dims.map(Int.init)
        switch Onnx_TensorProto.DataType(rawValue: Int(t.dataType)) {
        case .float?:
            var scalars: [Float]
            if !t.rawData.isEmpty {
                guard t.rawData.count % 4 == 0, t.rawData.count / 4 == count else {
                    throw ShrinkError(.format, "initializer '\(t.name)' holds \(t.rawData.count) bytes for \(count) floats")
                }
                scalars = [Float](repeating: 0, count: count)
                _ = scalars.withUnsafeMutableBytes { t.rawData.copyBytes(to: $0) }
            } else {
                scalars = t.floatData
            }
            guard scalars.count == count else {
                throw ShrinkError(.format, "initializer '\(t.name)' has \(scalars.count) values for dims \(dims)")
            }
            guard t.dataLocation != .external else {
                throw ShrinkError(.unsupported, "initializer '\(t.name)' is stored in an external file; Shrink reads self-contained models")
            }
            return .constant(Tensor(shape: dims, scalars: scalars))
        case .int64?:
            var v: [Int64]
            if !t.rawData.isEmpty {
                v = [Int64](repeating: 0, count: t.rawData.count / 8)
                _ = v.withUnsafeMutableBytes { t.rawData.copyBytes(to: $0) }
            } else {
                v = t.int64Data
            }
            return .shape(v)
        default:
            throw ShrinkError(.unsupported, "initializer '\(t.name)' has data type \(t.dataType); Shrink imports float weights and int64 shapes")
        }
    }

    // MARK: - Nodes

    func attribute(_ n: Onnx_NodeProto, _ name: String) -> Onnx_AttributeProto? { n.attribute.first { $0.name == name } }
    func int(_ n: Onnx_NodeProto, _ name: String, _ fallback: Int) -> Int { attribute(n, name).map { Int($0.i) } ?? fallback }
    func float(_ n: Onnx_NodeProto, _ name: String, _ fallback: Float) -> Float { attribute(n, name)?.f ?? fallback }
    func ints(_ n: Onnx_NodeProto, _ name: String) -> [Int]? { attribute(n, name).map { $0.ints.map(Int.init) } }

    func describe(_ n: Onnx_NodeProto, _ index: Int) -> String {
        "node '\(n.name.isEmpty ? "#\(index)" : n.name)' (\(n.opType))"
    }

    func tensor(_ name: String, _ n: Onnx_NodeProto, _ index: Int, role: String) throws -> Tensor {
        guard case .constant(let t)? = values[name] else {
            throw ShrinkError(.unsupported, "\(describe(n, index)): its \(role) '\(name)' must be a constant (an initializer)")
        }
        return t
    }

    func data(_ name: String, _ n: Onnx_NodeProto, _ index: Int) throws -> (name: String, rank: Int) {
        guard case .node(let node, let rank)? = values[name] else {
            throw ShrinkError(.unsupported, "\(describe(n, index)): input '\(name)' is \(values[name] == nil ? "not produced by any supported node" : "a constant where data is expected")")
        }
        return (node, rank)
    }

    mutating func emit(_ n: Onnx_NodeProto, _ index: Int, _ layer: any Layer, inputs: [String], rank: Int,
                       output: Int = 0) throws {
        var base = n.name.isEmpty ? "\(n.opType.lowercased())\(index)" : n.name
        // torch.onnx.export names a node by its module path and operator ("/features/features.0/features.0.0/Conv"):
        // the node is named by its module ("features_0_0", its state_dict prefix with '_' for '.'), and a second node
        // of the same module by the module and the operator ("features_0_2_mul").
        // Each component of the path repeats its parent's ("/layer1/layer1.0/conv1/Conv" is layer1.0.conv1).
        let path = base.split(separator: "/").map(String.init).dropLast()
        var module: String?
        if base.hasPrefix("/"), !path.isEmpty {
            var full = "", parent = ""
            for component in path {
                full += !parent.isEmpty && component.hasPrefix(parent + ".") ? String(component.dropFirst(parent.count))
                    : (full.isEmpty ? component : "." + component)
                parent = component
            }
            module = full
        }
        func sanitized(_ text: String) -> String {
            String(text.map { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" ? $0 : "_" })
        }
        if let module {
            base = sanitized(module)
            if names.contains(base) { base += "_" + sanitized(n.opType.lowercased()) }
        } else {
            // A node outside any module ("/Flatten") is named by its last component.
            base = sanitized(base.hasPrefix("/") ? base.split(separator: "/").last.map(String.init) ?? base : base)
        }
        if base.isEmpty || base == Graph.inputName { base = "\(n.opType.lowercased())\(index)" }
        var name = base, k = 1
        while names.contains(name) { k += 1; name = "\(base)_\(k)" }
        names.insert(name)
        let inShapes = inputs.map { shapes[$0]! }
        do {
            shapes[name] = try layer.outputShape(for: inShapes)
        } catch let error as ShrinkError {
            throw ShrinkError(error.kind, "\(describe(n, index)): \(error.message)")
        }
        nodes.append(Node(name: name, layer: layer, inputs: inputs))
        values[n.output[output]] = .node(name, rank: rank)
    }

    /// The shape vector `name` holds (a constant integer tensor or worked-out shape arithmetic), if it is one.
    func shapeValue(_ name: String) -> [Int64]? {
        switch values[name] {
        case .shape(let v)?: return v
        case .constant(let t)? where t.scalars.allSatisfy({ $0 == $0.rounded() && abs($0) < 1e15 }):
            return t.scalars.map { Int64($0) }
        default: return nil
        }
    }

    /// `ChannelSelect(slice:)` for channels `start..<end` of `x` (negative and past-the-end bounds as ONNX clamps them).
    mutating func channelSlice(_ n: Onnx_NodeProto, _ index: Int, _ x: (name: String, rank: Int), start: Int64, end: Int64,
                               output: Int = 0) throws {
        let channels = Int64(shapes[x.name]?.first ?? 0)
        func clamped(_ v: Int64) -> Int { Int(min(max(v < 0 ? v + channels : v, 0), channels)) }
        let range = clamped(start)..<max(clamped(start), clamped(end))
        guard !range.isEmpty else {
            throw ShrinkError(.unsupported, "\(describe(n, index)): the channels \(start)..<\(end) of \(channels) are empty")
        }
        try emit(n, index, try ChannelSelect(slice: range), inputs: [x.name], rank: x.rank, output: output)
    }

    func square(_ values: [Int]?, _ what: String, _ n: Onnx_NodeProto, _ index: Int, default fallback: Int) throws -> Int {
        guard let values, !values.isEmpty else { return fallback }
        guard values.allSatisfy({ $0 == values[0] }) else {
            throw ShrinkError(.unsupported, "\(describe(n, index)): attribute '\(what)' = \(values); Shrink supports equal values on both axes")
        }
        guard values[0] >= -LayerSpec.maximumWindow, values[0] <= LayerSpec.maximumWindow else {
            throw ShrinkError(.unsupported, "\(describe(n, index)): attribute '\(what)' = \(values[0]); Shrink supports windows, "
                + "strides and pads up to \(LayerSpec.maximumWindow)")
        }
        return values[0]
    }

    func checkAutoPad(_ n: Onnx_NodeProto, _ index: Int) throws {
        if let pad = attribute(n, "auto_pad"), let mode = String(data: pad.s, encoding: .utf8), mode != "NOTSET", !mode.isEmpty {
            throw ShrinkError(.unsupported, "\(describe(n, index)): auto_pad '\(mode)' is not supported; export with explicit pads")
        }
    }

    mutating func add(_ n: Onnx_NodeProto, index: Int) throws {
        guard n.domain.isEmpty || n.domain == "ai.onnx" else {
            throw ShrinkError(.unsupported, "\(describe(n, index)): operator domain '\(n.domain)' is not supported")
        }
        guard !n.output.isEmpty else { return }
        // Inputs by position; a missing trailing input reads as "", ONNX's name for an optional input left out, which
        // every required-input lookup refuses with the node's name.
        let named = n.input + [String](repeating: "", count: 8)
        switch n.opType {
        case "Constant":
            guard let value = attribute(n, "value"), value.type == .tensor else {
                throw ShrinkError(.unsupported, "\(describe(n, index)): only 'value' tensor constants are supported")
            }
            values[n.output[0]] = try constant(value.t)
        case "Identity", "Dropout":
            values[n.output[0]] = values[named[0]]
        case "Pad":
            // torch.onnx.export writes a Pad of zeros before some poolings (DenseNet's transitions): a no-op.
            _ = try data(named[0], n, index)
            var pads: [Int64] = []
            if n.input.count > 1, !named[1].isEmpty {
                guard let v = shapeValue(named[1]) else {
                    throw ShrinkError(.unsupported, "\(describe(n, index)): its pads must be a constant")
                }
                pads = v
            } else if let attribute = ints(n, "pads") {
                pads = attribute.map(Int64.init)
            }
            guard pads.allSatisfy({ $0 == 0 }) else {
                throw ShrinkError(.unsupported, "\(describe(n, index)): Pad \(pads); Shrink imports a Pad of zeros (a no-op), "
                    + "not one that changes the shape")
            }
            values[n.output[0]] = values[named[0]]
        case "Conv":
            try checkAutoPad(n, index)
            let x = try data(named[0], n, index)
            let w = try tensor(named[1], n, index, role: "weight")
            guard w.rank == 4, w.shape[2] == w.shape[3], w.shape.allSatisfy({ $0 >= 1 }) else {
                throw ShrinkError(.unsupported, "\(describe(n, index)): weight shape \(w.shape); Shrink supports 2-D convolutions with square kernels")
            }
            if let d = ints(n, "dilations"), d.contains(where: { $0 != 1 }) {
                throw ShrinkError(.unsupported, "\(describe(n, index)): dilations \(d); Shrink supports dilation 1")
            }
            let stride = try square(ints(n, "strides"), "strides", n, index, default: 1)
            let pad = try square(ints(n, "pads"), "pads", n, index, default: 0)
            guard stride >= 1, pad >= 0 else {
                throw ShrinkError(.format, "\(describe(n, index)): strides \(stride) and pads \(pad); expected strides ≥ 1 and pads ≥ 0")
            }
            let groups = int(n, "group", 1)
            let bias = n.input.count > 2 && !named[2].isEmpty ? try tensor(named[2], n, index, role: "bias") : nil
            guard groups >= 1, w.shape[0] % groups == 0, shapes[x.name]?.first == w.shape[1] * groups else {
                throw ShrinkError(.unsupported, "\(describe(n, index)): weight \(w.shape) with group \(groups) does not fit input \(shapes[x.name] ?? [])")
            }
            if let bias, bias.count != w.shape[0] {
                throw ShrinkError(.format, "\(describe(n, index)): bias of shape \(bias.shape) for \(w.shape[0]) output channels")
            }
            try emit(n, index, Conv2d(weight: w, bias: bias.map { $0.reshaped([w.shape[0]]) }, stride: stride,
                                      padding: pad, groups: groups), inputs: [x.name], rank: 4)
        case "Gemm", "MatMul":
            let x = try data(named[0], n, index)
            guard x.rank == 2 else {
                throw ShrinkError(.unsupported, "\(describe(n, index)): input of rank \(x.rank); Shrink's linear layer takes (batch, features)")
            }
            var b = try tensor(named[1], n, index, role: "weight")
            guard b.rank == 2 else { throw ShrinkError(.unsupported, "\(describe(n, index)): weight of rank \(b.rank)") }
            if n.opType == "Gemm" && int(n, "transA", 0) != 0 {
                throw ShrinkError(.unsupported, "\(describe(n, index)): transA = 1 is not supported")
            }
            // Shrink stores [out, in]: Gemm with transB = 1 already is; MatMul and transB = 0 hold [in, out].
            if n.opType == "MatMul" || int(n, "transB", 0) == 0 { b = b.transposed2D() }
            let alpha = n.opType == "Gemm" ? float(n, "alpha", 1) : 1, beta = n.opType == "Gemm" ? float(n, "beta", 1) : 1
            if alpha != 1 { b.scale(by: alpha) }
            var bias: Tensor?
            if n.opType == "Gemm", n.input.count > 2, !named[2].isEmpty {
                var c = try tensor(named[2], n, index, role: "bias")
                guard c.count == b.shape[0] else {
                    throw ShrinkError(.unsupported, "\(describe(n, index)): bias of shape \(c.shape) for \(b.shape[0]) outputs")
                }
                c = c.reshaped([b.shape[0]])
                if beta != 1 { c.scale(by: beta) }
                bias = c
            }
            guard shapes[x.name] == [b.shape[1]] else {
                throw ShrinkError(.unsupported, "\(describe(n, index)): weight for \(b.shape[1]) inputs, the input has \(shapes[x.name] ?? [])")
            }
            try emit(n, index, Linear(weight: b, bias: bias), inputs: [x.name], rank: 2)
        case "BatchNormalization":
            let x = try data(named[0], n, index)
            let p = try (1...4).map { try tensor(named[$0], n, index, role: ["", "scale", "bias", "mean", "variance"][$0]) }
            guard p.allSatisfy({ $0.count == p[0].count }), p[3].scalars.allSatisfy({ $0 >= 0 }) else {
                throw ShrinkError(.unsupported, "\(describe(n, index)): scale, bias, mean and variance must have one value per channel and the variance must be ≥ 0")
            }
            let epsilon = float(n, "epsilon", 1e-5), momentum = float(n, "momentum", 0.9)
            let c = p[0].count
            try emit(n, index, BatchNorm(weight: p[0].reshaped([c]), bias: p[1].reshaped([c]), runningMean: p[2].reshaped([c]),
                                         runningVariance: p[3].reshaped([c]), epsilon: epsilon, momentum: 1 - momentum),
                     inputs: [x.name], rank: x.rank)
        case "Relu":
            let x = try data(named[0], n, index)
            try emit(n, index, ReLU(), inputs: [x.name], rank: x.rank)
        case "Sigmoid", "HardSigmoid", "HardSwish", "LeakyRelu":
            let x = try data(named[0], n, index)
            let layer: PointwiseActivation
            do {
                switch n.opType {
                case "Sigmoid": layer = try PointwiseActivation(.sigmoid)
                case "HardSigmoid":
                    layer = try PointwiseActivation(.hardSigmoid, alpha: float(n, "alpha", 0.2), beta: float(n, "beta", 0.5))
                case "HardSwish": layer = try PointwiseActivation(.hardSwish)
                default: layer = try PointwiseActivation(.leakyReLU, alpha: float(n, "alpha", 0.01))
                }
            } catch let error as ShrinkError {
                throw ShrinkError(.unsupported, "\(describe(n, index)): \(error.message)")
            }
            try emit(n, index, layer, inputs: [x.name], rank: x.rank)
        case "Clip":
            let x = try data(named[0], n, index)
            func bound(_ i: Int) throws -> Float? {
                guard n.input.count > i, !named[i].isEmpty else { return nil }
                let t = try tensor(named[i], n, index, role: i == 1 ? "min" : "max")
                guard t.count == 1 else { throw ShrinkError(.unsupported, "\(describe(n, index)): a Clip bound must be a scalar") }
                return t.scalars[0]
            }
            let low = try bound(1), high = try bound(2)
            guard low == 0 else {
                throw ShrinkError(.unsupported, "\(describe(n, index)): Clip(min \(low.map { "\($0)" } ?? "none"), max \(high.map { "\($0)" } ?? "none")); Shrink supports ReLU (min 0) and ReLU6-like caps (min 0, max > 0)")
            }
            guard high.map({ $0 > 0 }) ?? true else { throw ShrinkError(.unsupported, "\(describe(n, index)): Clip max must be positive") }
            try emit(n, index, ClampedReLU(cap: high ?? .infinity), inputs: [x.name], rank: x.rank)
        case "MaxPool", "AveragePool":
            try checkAutoPad(n, index)
            let x = try data(named[0], n, index)
            guard x.rank == 4 else { throw ShrinkError(.unsupported, "\(describe(n, index)): input of rank \(x.rank); Shrink pools (batch, C, H, W)") }
            let ceilMode = int(n, "ceil_mode", 0) == 1
            guard !ceilMode || n.opType == "MaxPool" else {
                throw ShrinkError(.unsupported, "\(describe(n, index)): ceil_mode = 1 is supported for MaxPool only")
            }
            if let d = ints(n, "dilations"), d.contains(where: { $0 != 1 }) {
                throw ShrinkError(.unsupported, "\(describe(n, index)): dilations \(d) are not supported")
            }
            let k = try square(ints(n, "kernel_shape"), "kernel_shape", n, index, default: 0)
            let stride = try square(ints(n, "strides"), "strides", n, index, default: 1)
            let pad = try square(ints(n, "pads"), "pads", n, index, default: 0)
            guard k >= 1, stride >= 1, pad >= 0, pad <= k / 2 else {
                throw ShrinkError(.unsupported, "\(describe(n, index)): kernel \(k), stride \(stride), pads \(pad); Shrink needs pads ≤ kernel/2")
            }
            if n.opType == "AveragePool" && pad > 0 && int(n, "count_include_pad", 0) == 0 {
                throw ShrinkError(.unsupported, "\(describe(n, index)): count_include_pad = 0 with padding; Shrink's average pooling counts the padding")
            }
            let layer: any Layer = n.opType == "MaxPool" ? MaxPool2d(kernelSize: k, stride: stride, padding: pad, ceilMode: ceilMode)
                                                         : AvgPool2d(kernelSize: k, stride: stride, padding: pad)
            try emit(n, index, layer, inputs: [x.name], rank: 4)
        case "GlobalAveragePool":
            let x = try data(named[0], n, index)
            guard x.rank == 4 else { throw ShrinkError(.unsupported, "\(describe(n, index)): input of rank \(x.rank)") }
            // (N, C, 1, 1), which a 1×1 conv can read (squeeze-excitation); when a flatten reads it first, `flatten`
            // turns it into Shrink's flattening global pooling.
            try emit(n, index, GlobalMean(), inputs: [x.name], rank: 4)
        case "Flatten":
            let x = try data(named[0], n, index)
            guard int(n, "axis", 1) == 1 else { throw ShrinkError(.unsupported, "\(describe(n, index)): Flatten axis \(int(n, "axis", 1)); Shrink flattens from axis 1") }
            try flatten(n, index, x)
        case "Reshape" where { if case .grouped? = values[named[0]] { return true } else { return false } }():
            // The last step of a channel shuffle: (N, C/g, g, H, W) back to (N, C, H, W).
            guard case .grouped(let name, let groups, true)? = values[named[0]], let target = shapeValue(named[1]),
                  let shape = shapes[name], target.count == 4,
                  target.dropFirst().elementsEqual([-1, Int64(shape[1]), Int64(shape[2])]) ||
                  target.dropFirst().elementsEqual(shape.map(Int64.init)) else {
                throw ShrinkError(.unsupported, "\(describe(n, index)): a channel shuffle must be reshaped back to (N, C, H, W)")
            }
            try emit(n, index, try ChannelSelect(shuffling: shape[0], groups: groups), inputs: [name], rank: 4)
        case "Reshape" where shapeValue(named[1])?.count == 5:
            // The first step of a channel shuffle: (N, C, H, W) viewed as (N, g, C/g, H, W).
            let x = try data(named[0], n, index)
            let target = shapeValue(named[1])!, shape = shapes[x.name] ?? []
            guard x.rank == 4, shape.count == 3, target[1] > 0, Int64(shape[0]) % target[1] == 0,
                  target[2] == Int64(shape[0]) / target[1] || target[2] == -1,
                  target[3] == Int64(shape[1]), target[4] == Int64(shape[2]) else {
                throw ShrinkError(.unsupported, "\(describe(n, index)): Reshape of \(shape) to rank 5 "
                    + "\(target.map { $0 == batch ? "N" : "\($0)" }); Shrink supports the channel shuffle's (N, g, C/g, H, W)")
            }
            values[n.output[0]] = .grouped(x.name, groups: Int(target[1]), transposed: false)
        case "Reshape":
            let x = try data(named[0], n, index)
            guard case .shape(let target)? = values[named[1]] else {
                throw ShrinkError(.unsupported, "\(describe(n, index)): its target shape '\(named[1])' is not a constant or a shape Shrink can work out; dynamic shapes cannot be fixed")
            }
            let features = Int64((shapes[x.name] ?? []).reduce(1, *))
            guard target.count == 2, [batch, -1, 0, 1].contains(target[0]) || target[0] > 0,
                  target[1] == -1 || target[1] == features else {
                throw ShrinkError(.unsupported, "\(describe(n, index)): Reshape to [\(target.map { $0 == batch ? "N" : "\($0)" }.joined(separator: ", "))]; Shrink supports the flatten pattern (N, -1)")
            }
            try flatten(n, index, x)
        case let op where ["Add", "Sub", "Mul", "Div"].contains(op) && n.input.count == 2
                && shapeValue(named[0]) != nil && shapeValue(named[1]) != nil:
            // Shape arithmetic on int64 vectors (one may be a single value); the batch size stays symbolic.
            let a = shapeValue(named[0])!, b = shapeValue(named[1])!
            guard a.count == b.count || a.count == 1 || b.count == 1 else {
                throw ShrinkError(.unsupported, "\(describe(n, index)): shape vectors of lengths \(a.count) and \(b.count)")
            }
            values[n.output[0]] = .shape(try (0..<max(a.count, b.count)).map { i in
                let x = a[a.count == 1 ? 0 : i], y = b[b.count == 1 ? 0 : i]
                if x == batch || y == batch { return batch }
                switch n.opType {
                case "Add": return x &+ y
                case "Sub": return x &- y
                case "Mul": return x &* y
                default:
                    guard y != 0 else { throw ShrinkError(.unsupported, "\(describe(n, index)): division by zero in shape arithmetic") }
                    return x / y
                }
            })
        case "Cast" where shapeValue(named[0]) != nil:
            values[n.output[0]] = .shape(shapeValue(named[0])!)
        case "Slice":
            // Opset ≥ 10: starts, ends, axes, steps as inputs — a contiguous range of channels (axis 1, step 1).
            let x = try data(named[0], n, index)
            func input(_ i: Int) -> [Int64]? { n.input.count > i && !named[i].isEmpty ? shapeValue(named[i]) : nil }
            guard let starts = input(1), let ends = input(2), starts.count == 1, ends.count == 1 else {
                throw ShrinkError(.unsupported, "\(describe(n, index)): Slice needs constant starts and ends of one axis")
            }
            let axes = input(3) ?? [0], steps = input(4) ?? [1]
            guard axes.count == 1, axes[0] == 1 || axes[0] == 1 - Int64(x.rank), steps == [1] else {
                throw ShrinkError(.unsupported, "\(describe(n, index)): Slice along axes \(axes) with steps \(steps); Shrink "
                    + "slices channels (axis 1) with step 1")
            }
            try channelSlice(n, index, x, start: starts[0], end: ends[0])
        case "Split":
            let x = try data(named[0], n, index)
            let axis = int(n, "axis", 0)
            guard axis == 1 || axis == 1 - x.rank else {
                throw ShrinkError(.unsupported, "\(describe(n, index)): Split along axis \(axis); Shrink splits channels (axis 1)")
            }
            let channels = shapes[x.name]?.first ?? 0
            var sizes = (n.input.count > 1 && !named[1].isEmpty ? shapeValue(named[1]) : nil) ?? ints(n, "split")?.map(Int64.init)
            if sizes == nil {
                guard n.output.count >= 1, channels % n.output.count == 0 else {
                    throw ShrinkError(.unsupported, "\(describe(n, index)): \(channels) channels do not split evenly into \(n.output.count)")
                }
                sizes = [Int64](repeating: Int64(channels / n.output.count), count: n.output.count)
            }
            guard let sizes, sizes.count == n.output.count, sizes.allSatisfy({ $0 > 0 && $0 <= Int64(channels) }),
                  sizes.reduce(0, +) == Int64(channels) else {
                throw ShrinkError(.unsupported, "\(describe(n, index)): split sizes \(sizes ?? []) for \(channels) channels and \(n.output.count) outputs")
            }
            var start: Int64 = 0
            for (k, size) in sizes.enumerated() {
                try channelSlice(n, index, x, start: start, end: start + size, output: k)
                start += size
            }
        case "Transpose":
            guard case .grouped(let name, let groups, false)? = values[named[0]], ints(n, "perm") == [0, 2, 1, 3, 4] else {
                throw ShrinkError(.unsupported, "\(describe(n, index)): Transpose is supported only as the middle of a channel "
                    + "shuffle (Reshape to (N, g, C/g, H, W), Transpose(0, 2, 1, 3, 4), Reshape back)")
            }
            values[n.output[0]] = .grouped(name, groups: groups, transposed: true)
        case "Mul":
            guard n.input.count == 2, case .node(let left, let rank)? = values[named[0]],
                  case .node(let right, _)? = values[named[1]] else {
                throw ShrinkError(.unsupported, "\(describe(n, index)): Shrink multiplies two computed tensors (a gate, "
                    + "x · sigmoid(x)); a constant operand is not supported")
            }
            // A gate may come first; Shrink's mul takes the map first and the (C, 1, 1) gate second.
            let swapped = Multiply.isChannelGate(shapes[right] ?? [], shapes[left] ?? [])
            try emit(n, index, Multiply(), inputs: swapped ? [right, left] : [left, right], rank: rank)
        case "Add":
            let a = values[named[0]], b = values[named[1]]
            if case .node(let left, let rank)? = a, case .node(let right, _)? = b {
                try emit(n, index, Add(), inputs: [left, right], rank: rank)
            } else if let (producer, bias) = biasAdd(a, b), let position = nodes.firstIndex(where: { $0.name == producer }),
                      let linear = nodes[position].layer as? Linear, linear.bias == nil, bias.count == linear.outputFeatures {
                // MatMul + Add of a constant: the linear layer's bias.
                nodes[position] = Node(name: producer, layer: Linear(weight: linear.weight.value, bias: bias.reshaped([bias.count])),
                                       inputs: nodes[position].inputs)
                values[n.output[0]] = .node(producer, rank: 2)
            } else {
                throw ShrinkError(.unsupported, "\(describe(n, index)): Add of a constant is supported only as the bias of a MatMul")
            }
        case "Concat":
            let shapeParts = n.input.compactMap { name -> [Int64]? in
                if case .shape(let v)? = values[name] { return v }
                return nil
            }
            if shapeParts.count == n.input.count {   // shape arithmetic, e.g. (N) ++ (-1)
                values[n.output[0]] = .shape(shapeParts.flatMap { $0 })
                return
            }
            let inputs = try n.input.map { try data($0, n, index) }
            let rank = inputs.first?.rank ?? 4
            let axis = int(n, "axis", 1)
            guard axis == 1 || axis == 1 - rank else {
                throw ShrinkError(.unsupported, "\(describe(n, index)): Concat axis \(axis); Shrink concatenates channels (axis 1)")
            }
            if inputs.count == 1 {   // a concat of one tensor (DenseNet's first layer of a block) is that tensor
                values[n.output[0]] = .node(inputs[0].name, rank: inputs[0].rank)
                return
            }
            try emit(n, index, Concat(), inputs: inputs.map(\.name), rank: rank)
        case "ReduceMean":
            // The mean over H and W (MNASNet's x.mean([2, 3])): Shrink's global pooling, flattened or kept 4-D. The
            // axes are an attribute up to opset 17 (an input from opset 18 on).
            let x = try data(named[0], n, index)
            let axes = (ints(n, "axes") ?? []).map { $0 < 0 ? $0 + x.rank : $0 }.sorted()
            guard x.rank == 4, axes == [2, 3] else {
                throw ShrinkError(.unsupported, "\(describe(n, index)): ReduceMean over axes \(ints(n, "axes") ?? []) of a rank-\(x.rank) "
                    + "tensor; Shrink supports the mean over H and W (axes 2, 3) of an (N, C, H, W) tensor")
            }
            if int(n, "keepdims", 1) == 1 {
                try emit(n, index, GlobalMean(), inputs: [x.name], rank: 4)
            } else {
                try emit(n, index, GlobalAvgPool(), inputs: [x.name], rank: 2)
            }
        case "Shape":
            let x = try data(named[0], n, index)
            values[n.output[0]] = .shape([batch] + (shapes[x.name] ?? []).map(Int64.init))
        case "Gather":
            guard case .shape(let v)? = values[named[0]], case .shape(let i)? = values[named[1]], int(n, "axis", 0) == 0 else {
                throw ShrinkError(.unsupported, "\(describe(n, index)): Gather is supported only on shape vectors")
            }
            values[n.output[0]] = .shape(try i.map { k in
                let j = Int(k < 0 ? k + Int64(v.count) : k)
                guard v.indices.contains(j) else { throw ShrinkError(.unsupported, "\(describe(n, index)): index \(k) out of range") }
                return v[j]
            })
        case "Unsqueeze", "Squeeze":
            guard case .shape(let v)? = values[named[0]] else {
                throw ShrinkError(.unsupported, "\(describe(n, index)): \(n.opType) is supported only on shape vectors")
            }
            values[n.output[0]] = .shape(v)
        default:
            throw ShrinkError(.unsupported, "\(describe(n, index)): operator '\(n.opType)' is not supported; Shrink imports "
                + "Conv, Gemm, MatMul(+Add), BatchNormalization, Relu, Clip, Sigmoid, HardSigmoid, HardSwish, LeakyRelu, "
                + "MaxPool, AveragePool, GlobalAveragePool, ReduceMean (over H and W), "
                + "Flatten, Reshape (flatten), Add, Mul, Concat, Slice and Split (of channels), the channel shuffle "
                + "(Reshape → Transpose → Reshape), Pad (of zeros), Dropout, Identity and Constant")
        }
    }

    /// A constant operand added to a node's output: (the node, the constant).
    func biasAdd(_ a: Value?, _ b: Value?) -> (String, Tensor)? {
        if case .node(let name, _)? = a, case .constant(let t)? = b { return (name, t) }
        if case .constant(let t)? = a, case .node(let name, _)? = b { return (name, t) }
        return nil
    }

    mutating func flatten(_ n: Onnx_NodeProto, _ index: Int, _ x: (name: String, rank: Int)) throws {
        // A global mean that nothing has read yet, flattened: Shrink's global average pooling, which flattens.
        if let i = nodes.firstIndex(where: { $0.name == x.name }), nodes[i].layer is GlobalMean,
           !nodes.contains(where: { $0.inputs.contains(x.name) }), let channels = shapes[x.name]?.first {
            nodes[i] = Node(name: x.name, layer: GlobalAvgPool(), inputs: nodes[i].inputs)
            shapes[x.name] = [channels]
            values[n.output[0]] = .node(x.name, rank: 2)
            return
        }
        if x.rank == 2 {
            values[n.output[0]] = .node(x.name, rank: 2)   // already (batch, features)
        } else {
            try emit(n, index, Flatten(), inputs: [x.name], rank: 2)
        }
    }
}

extension Tensor {
    /// The transpose of a matrix.
    func transposed2D() -> Tensor {
        let r = shape[0], c = shape[1]
        var out = [Float](repeating: 0, count: count)
        for i in 0..<r { for j in 0..<c { out[j * r + i] = scalars[i * c + j] } }
        return Tensor(shape: [c, r], scalars: out)
    }
}
