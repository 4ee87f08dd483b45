// Export of integer-engine models in ONNX's QDQ form: QuantizeLinear/DequantizeLinear pairs on every edge the integer
// engine quantizes (uint8, per tensor), int8 weights with per-channel scales on axis 0 behind DequantizeLinear, and
// int32 biases at scale S_x·S_w — the pattern ONNX Runtime fuses into its int8 kernels (QLinearConv, QGemm, …).
// Shrink keeps the bias exact where ONNX Runtime rounds it to the accumulator grid, so the two agree on all but
// rare ties (measured in docs/onnx.md).
import Datasets
import Foundation
import NeuralNetworks
import Quantization
import Tensors

extension Onnx_TensorProto {
    /// An integer initializer of `dataType` (int8, uint8 or int32) from its little-endian bytes.
    init(name: String, dims: [Int], type: Onnx_TensorProto.DataType, bytes: Data) {
        self.init()
        self.name = name
        self.dims = dims.map(Int64.init)
        dataType = Int32(type.rawValue)
        rawData = bytes
    }
}

/// The ONNX QDQ model of an integer-engine model (opset 17).
///
/// - Throws: `ShrinkError(.unsupported)` for activations narrower than 8 bits (ONNX Runtime's uint8 kernels would
///   not saturate where Shrink's codes do) and for layers without an ONNX form.
public func onnxModel(_ quantized: QuantizedModel) throws -> Onnx_ModelProto {
    let graph = quantized.float.graph
    let edges = quantized.graph.edges
    let weights = quantized.graph.integerWeights
    if let narrow = edges.first(where: { $0.value.bits != 8 }) {
        throw ShrinkError(.unsupported, "edge '\(narrow.key)' has \(narrow.value.bits)-bit activations; the QDQ export "
            + "needs 8-bit activations (weights may be narrower)")
    }
    let fusedReLU = quantized.graph.quantizedEdges.fusedReLU
    var b = ONNXGraphBuilder()
    var renamed = [String: String]()

    func parameters(_ edge: String) throws -> QuantizationParameters {
        guard let p = edges[edge] else { throw ShrinkError(.value, "no quantization parameters for the edge '\(edge)'") }
        return p
    }
    func qdq(_ value: String, _ p: QuantizationParameters, as name: String) {
        b.initializers.append(Onnx_TensorProto(name: "\(name)_scale", Tensor(shape: [], scalars: [p.scales[0]])))
        b.initializers.append(Onnx_TensorProto(name: "\(name)_zero_point", dims: [], type: .uint8,
                                               bytes: Data([UInt8(p.zeroPoints[0])])))
        b.nodes.append(onnxNode("QuantizeLinear", name: "\(name)_quantize", inputs: [value, "\(name)_scale", "\(name)_zero_point"],
                                outputs: ["\(name)_q"]))
        b.nodes.append(onnxNode("DequantizeLinear", name: "\(name)_dequantize",
                                inputs: ["\(name)_q", "\(name)_scale", "\(name)_zero_point"], outputs: [name]))
    }

    qdq(Graph.inputName, try parameters(Graph.inputName), as: "input_dq")
    renamed[Graph.inputName] = "input_dq"
    for (node, shape) in zip(graph.nodes, graph.outputShapes) {
        let inputs = node.inputs.map { renamed[$0] ?? $0 }
        var weightValue: String?
        var biasValue: String??
        if let w = weights[node.name] {
            let name = node.name
            let perChannel = w.isPerChannel
            let scaleDims = perChannel ? [w.scales.count] : []
            b.initializers.append(Onnx_TensorProto(name: "\(name).weight_q", dims: w.shape, type: .int8,
                                                   bytes: w.values.withUnsafeBufferPointer { Data(buffer: $0) }))
            b.initializers.append(Onnx_TensorProto(name: "\(name).weight_scale", Tensor(shape: scaleDims, scalars: w.scales)))
            b.initializers.append(Onnx_TensorProto(name: "\(name).weight_zero_point", dims: scaleDims, type: .int8,
                                                   bytes: Data(repeating: 0, count: w.scales.count)))
            b.nodes.append(onnxNode("DequantizeLinear", name: "\(name)_weight_dequantize",
                                    inputs: ["\(name).weight_q", "\(name).weight_scale", "\(name).weight_zero_point"],
                                    outputs: ["\(name).weight"], attributes: perChannel ? [.int("axis", 0)] : []))
            weightValue = "\(name).weight"
            if let bias = WeightedLayer(node)?.bias?.value {
                // int32 at S_x·S_w per channel, zero point 0: what QLinearConv / QGemm take.
                let inputScale = try parameters(node.inputs[0]).scales[0]
                let scales = (0..<bias.count).map { inputScale * w.scales[perChannel ? $0 : 0] }
                let codes = (0..<bias.count).map { Int32(clamping: Int64((bias.scalars[$0] / scales[$0]).rounded())) }
                b.initializers.append(Onnx_TensorProto(name: "\(name).bias_q", dims: [bias.count], type: .int32,
                                                       bytes: codes.withUnsafeBufferPointer { Data(buffer: $0) }))
                b.initializers.append(Onnx_TensorProto(name: "\(name).bias_scale", Tensor(shape: [bias.count], scalars: scales)))
                b.initializers.append(Onnx_TensorProto(name: "\(name).bias_zero_point", dims: [bias.count], type: .int32,
                                                       bytes: Data(repeating: 0, count: 4 * bias.count)))
                b.nodes.append(onnxNode("DequantizeLinear", name: "\(name)_bias_dequantize",
                                        inputs: ["\(name).bias_q", "\(name).bias_scale", "\(name).bias_zero_point"],
                                        outputs: ["\(name).bias"], attributes: [.int("axis", 0)]))
                biasValue = .some("\(name).bias")
            } else {
                biasValue = .some(nil)
            }
        }
        // A conv or linear the integer engine fuses with the ReLU after it (`QuantizedEdges`) has no Q/DQ of its own:
        // Conv → Relu → Q/DQ.
        if fusedReLU[node.name] != nil {
            try b.layer(node, inputs: inputs, output: node.name, weight: weightValue, bias: biasValue,
                        sampleRank: shape.count)
        } else {
            try b.layer(node, inputs: inputs, output: "\(node.name)_float", weight: weightValue, bias: biasValue,
                        sampleRank: shape.count)
            qdq("\(node.name)_float", try parameters(node.name), as: node.name)
        }
    }
    return try b.model(quantized.float, input: graph.inputShape, output: graph.outputName, outputShape: graph.outputShape)
}

/// Writes an integer-engine model as a QDQ ONNX file, atomically.
public func exportONNX(_ quantized: QuantizedModel, to path: String) throws {
    try AtomicFile.write(try onnxModel(quantized).serializedBytes() as [UInt8], to: path)
}
