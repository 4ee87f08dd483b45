// ONNX interchange: every built-in architecture survives Shrink → ONNX → Shrink with bit-identical outputs; the
// import follows the patterns exporters emit (Gemm without transB, MatMul + Add, the computed flatten shape); bad
// files are errors naming the node or the field.
import Datasets
import Foundation
import NeuralNetworks
@testable import ONNX
import Quantization
import Tensors
import Testing

func randomInputs(_ shape: [Int], count: Int, seed: UInt64) -> Tensor {
    var g = SeededGenerator(seed: seed)
    return Tensor(shape: [count] + shape, scalars: (0..<(count * shape.reduce(1, *))).map { _ in g.nextNormal() })
}

@Suite struct ONNXRoundTripTests {
    @Test(arguments: Architecture.allCases)
    func everyArchitectureRoundTripsExactly(architecture: Architecture) throws {
        let shape = architecture == .mlp ? [1, 28, 28] : [1, 28, 28]
        let graph = try architecture.makeGraph(inputShape: shape, classes: 10, seed: 3)
        // Non-trivial BatchNorm statistics, so that they must travel too.
        for node in graph.nodes {
            if let norm = node.layer as? BatchNorm {
                norm.runningMean.value = randomInputs([norm.features], count: 1, seed: 1).reshaped([norm.features])
                norm.runningVariance.value = Tensor(shape: [norm.features], repeating: 1.5)
            }
        }
        let model = Model(architecture: architecture.rawValue, graph: graph, normalization: Normalization(mean: 0.3, std: 0.4))
        let bytes = try onnxModel(model).serializedBytes() as [UInt8]
        let back = try importONNX(bytes, file: "m.onnx")
        #expect(back.architecture == architecture.rawValue && back.normalization == model.normalization)
        #expect(back.graph.inputShape == shape && back.graph.outputShape == [10])
        let x = randomInputs(shape, count: 3, seed: 9)
        #expect(back.graph.forward(x, mode: .inference).scalars == graph.forward(x, mode: .inference).scalars)
        #expect(back.graph.cost().parameters == graph.cost().parameters)
        #expect(back.provenance.last?.pass == "import" && back.provenance.last?.settings["opset"] == "17")
    }
}

@Suite struct ONNXActivationTests {
    /// conv → the activation → flatten → linear, on 1×4×4 inputs.
    func model(_ function: PointwiseFunction, alpha: Float? = nil, beta: Float? = nil) throws -> Model {
        var builder = GraphBuilder(inputShape: [1, 4, 4])
        try builder.add("conv", Conv2d(weight: randomInputs([1, 3, 3], count: 3, seed: 1), bias: Tensor(shape: [3], repeating: 0.1),
                                       stride: 1, padding: 1))
        try builder.add("act", try PointwiseActivation(function, alpha: alpha, beta: beta))
        try builder.add("flatten", Flatten())
        try builder.add("fc", Linear(weight: randomInputs([48], count: 2, seed: 2), bias: nil))
        return Model(architecture: "act", graph: try builder.build(), normalization: Normalization(mean: 0, std: 1))
    }

    @Test(arguments: [(PointwiseFunction.sigmoid, "Sigmoid"), (.hardSigmoid, "HardSigmoid"), (.hardSwish, "HardSwish"),
                      (.leakyReLU, "LeakyRelu")])
    func oneOperatorActivationsRoundTripExactly(_ function: PointwiseFunction, _ op: String) throws {
        let original = try model(function, alpha: function == .leakyReLU ? 0.2 : nil)
        let proto = try onnxModel(original)
        #expect(proto.graph.node.map(\.opType) == ["Conv", op, "Flatten", "Gemm"])
        let back = try importONNX(try serializedONNX(proto), file: "act.onnx")
        let layer = try #require(back.graph.node(named: "act")?.layer as? PointwiseActivation)
        #expect(layer.function == function && layer.alpha == (original.graph.node(named: "act")?.layer as? PointwiseActivation)?.alpha)
        let x = randomInputs([1, 4, 4], count: 5, seed: 7)
        #expect(back.graph.forward(x, mode: .inference).scalars == original.graph.forward(x, mode: .inference).scalars)
    }

    @Test func aSqueezeExcitationBlockRoundTripsAndAGateMayComeFirst() throws {
        var g = SeededGenerator(seed: 2)
        var b = GraphBuilder(inputShape: [1, 6, 6])
        try b.add("conv", Conv2d(inputChannels: 1, outputChannels: 4, kernelSize: 3, padding: 1, generator: &g))
        let features = try b.add("act", try PointwiseActivation(.hardSwish))
        try b.add("squeeze", GlobalMean())
        try b.add("reduce", Conv2d(inputChannels: 4, outputChannels: 2, kernelSize: 1, generator: &g))
        try b.add("reduce_act", ReLU())
        try b.add("expand", Conv2d(inputChannels: 2, outputChannels: 4, kernelSize: 1, generator: &g))
        let gate = try b.add("gate", try PointwiseActivation(.sigmoid))
        try b.add("excite", Multiply(), inputs: [features, gate])
        try b.add("pool", GlobalAvgPool())
        try b.add("fc", Linear(inputFeatures: 4, outputFeatures: 2, generator: &g))
        let model = Model(architecture: "se", graph: try b.build(), normalization: Normalization(mean: 0, std: 1))
        var proto = try onnxModel(model)
        #expect(proto.graph.node.map(\.opType).filter { $0 == "GlobalAveragePool" }.count == 2)
        let x = randomInputs([1, 6, 6], count: 4, seed: 3)
        let back = try importONNX(try serializedONNX(proto), file: "se.onnx")
        #expect(back.graph.node(named: "squeeze")?.layer is GlobalMean)
        #expect(back.graph.nodes.filter { $0.layer is GlobalAvgPool }.count == 1 && back.graph.nodes.count == model.graph.nodes.count)
        #expect(back.graph.forward(x, mode: .inference).scalars == model.graph.forward(x, mode: .inference).scalars)
        // Mul(gate, map), as some exporters write it: the same network.
        for i in proto.graph.node.indices where proto.graph.node[i].opType == "Mul" { proto.graph.node[i].input.reverse() }
        let swapped = try importONNX(try serializedONNX(proto), file: "se.onnx")
        #expect(swapped.graph.forward(x, mode: .inference).scalars == model.graph.forward(x, mode: .inference).scalars)
    }

    @Test func composedActivationsExportAsTheirFormulas() throws {
        let silu = try model(.silu)
        var proto = try onnxModel(silu)
        #expect(proto.graph.node.map(\.opType) == ["Conv", "Sigmoid", "Mul", "Flatten", "Gemm"])
        // Mul(x, Sigmoid(x)) imports as one silu node, either operand order, with the same values.
        let x = randomInputs([1, 4, 4], count: 3, seed: 4)
        for _ in 0..<2 {
            let back = try importONNX(try serializedONNX(proto), file: "silu.onnx")
            #expect(back.graph.nodes.map(\.layer.kind) == ["conv2d", "silu", "flatten", "linear"])
            #expect(back.graph.forward(x, mode: .inference).scalars == silu.graph.forward(x, mode: .inference).scalars)
            for i in proto.graph.node.indices where proto.graph.node[i].opType == "Mul" { proto.graph.node[i].input.reverse() }
        }
        // A sigmoid read by something else besides the product stays a sigmoid and a mul.
        let second = onnxNode("Add", name: "extra", inputs: [proto.graph.node[1].output[0], proto.graph.node[2].output[0]],
                              outputs: ["sum"])
        proto.graph.node.insert(second, at: 3)
        proto.graph.node[4].input[0] = "sum"
        let kept = try importONNX(try serializedONNX(proto), file: "silu.onnx")
        #expect(kept.graph.nodes.map(\.layer.kind) == ["conv2d", "sigmoid", "mul", "add", "flatten", "linear"])
        #expect(try onnxModel(try model(.gelu)).graph.node.map(\.opType)
            == ["Conv", "Mul", "Erf", "Add", "Mul", "Mul", "Flatten", "Gemm"])
        #expect(try onnxModel(try model(.geluTanh)).graph.node.map(\.opType).filter { $0 == "Tanh" }.count == 1)
    }

    @Test func hardSigmoidTimesItsInputImportsAsHardSwish() throws {
        let hardSwish = try model(.hardSwish)
        var proto = try onnxModel(hardSwish)
        // HardSwish as torch.onnx.export writes it below opset 14: Mul(x, HardSigmoid(x; α = 1/6, β = 1/2)).
        let act = try #require(proto.graph.node.firstIndex { $0.opType == "HardSwish" })
        let (x, out) = (proto.graph.node[act].input[0], proto.graph.node[act].output[0])
        func decomposed(alpha: Float) -> [Onnx_NodeProto] {
            [onnxNode("HardSigmoid", name: "act", inputs: [x], outputs: ["gate"],
                      attributes: [.float("alpha", alpha), .float("beta", 0.5)]),
             onnxNode("Mul", name: "act_mul", inputs: [x, "gate"], outputs: [out])]
        }
        proto.graph.node.replaceSubrange(act...act, with: decomposed(alpha: 1 / 6))
        let inputs = randomInputs([1, 4, 4], count: 3, seed: 5)
        let reference = hardSwish.graph.forward(inputs, mode: .inference).scalars
        for _ in 0..<2 {
            let back = try importONNX(try serializedONNX(proto), file: "hardswish.onnx")
            #expect(back.graph.nodes.map(\.layer.kind) == ["conv2d", "hardswish", "flatten", "linear"])
            #expect(back.graph.forward(inputs, mode: .inference).scalars == reference)
            for i in proto.graph.node.indices where proto.graph.node[i].opType == "Mul" { proto.graph.node[i].input.reverse() }
        }
        // Another slope is a hard-sigmoid gate, kept as the two nodes.
        proto.graph.node.replaceSubrange(act...(act + 1), with: decomposed(alpha: 0.2))
        let kept = try importONNX(try serializedONNX(proto), file: "hardsigmoid.onnx")
        #expect(kept.graph.nodes.map(\.layer.kind) == ["conv2d", "hardsigmoid", "mul", "flatten", "linear"])
    }
}

/// A small hand-built ONNX model: input (N, 2, 3, 3) → `body` → output.
func handModel(opset: Int64 = 13, inputDims: [Onnx_TensorShapeProto.Dimension]? = nil, nodes: [Onnx_NodeProto],
               initializers: [Onnx_TensorProto], output: String) -> Onnx_ModelProto {
    var m = Onnx_ModelProto()
    m.irVersion = 7
    var o = Onnx_OperatorSetIdProto()
    o.version = opset
    m.opsetImport = [o]
    var g = Onnx_GraphProto()
    var input = valueInfo("x", shape: [2, 3, 3])
    if let inputDims { input.type.tensorType.shape.dim = inputDims }
    g.input = [input]
    g.node = nodes
    g.initializer = initializers
    g.output = [valueInfo(output, shape: [4])]
    m.graph = g
    return m
}

@Suite struct ONNXImportPatternTests {
    let w = Tensor(shape: [18, 4], scalars: (0..<72).map { Float($0 % 7) / 10 - 0.3 })   // [in, out]
    let b = Tensor(shape: [4], scalars: [0.1, -0.2, 0.3, 0])

    /// What the imported model must compute: flatten, then x · w + b.
    func expected(_ x: Tensor) -> Tensor {
        let flat = x.reshaped([x.shape[0], 18])
        var out = [Float](repeating: 0, count: x.shape[0] * 4)
        for n in 0..<x.shape[0] {
            for o in 0..<4 {
                var s = b.scalars[o]
                for i in 0..<18 { s += flat.scalars[n * 18 + i] * w.scalars[i * 4 + o] }
                out[n * 4 + o] = s
            }
        }
        return Tensor(shape: [x.shape[0], 4], scalars: out)
    }

    func check(_ m: Onnx_ModelProto) throws {
        let model = try importONNX(try m.serializedBytes(), file: "hand.onnx")
        let x = randomInputs([2, 3, 3], count: 2, seed: 4)
        let y = model.graph.forward(x, mode: .inference), want = expected(x)
        #expect(zip(y.scalars, want.scalars).allSatisfy { abs($0 - $1) < 1e-5 })
        #expect(model.graph.nodes.map(\.layer.kind) == ["flatten", "linear"])
    }

    @Test func gemmWithoutTransposeAndAComputedFlattenShape() throws {
        // Shape → Gather(0) → Unsqueeze → Concat with [-1] → Reshape: x.view(x.size(0), -1) as PyTorch traces it.
        let nodes = [
            onnxNode("Shape", name: "shape", inputs: ["x"], outputs: ["s"]),
            onnxNode("Gather", name: "gather", inputs: ["s", "zero"], outputs: ["n"], attributes: [.int("axis", 0)]),
            onnxNode("Unsqueeze", name: "unsqueeze", inputs: ["n", "axes"], outputs: ["n1"]),
            onnxNode("Concat", name: "concat", inputs: ["n1", "minus1"], outputs: ["target"], attributes: [.int("axis", 0)]),
            onnxNode("Reshape", name: "reshape", inputs: ["x", "target"], outputs: ["flat"]),
            onnxNode("Gemm", name: "fc", inputs: ["flat", "w", "b"], outputs: ["y"]),
        ]
        let inits = [Onnx_TensorProto(name: "zero", int64: [0], dims: []), Onnx_TensorProto(name: "axes", int64: [0], dims: [1]),
                     Onnx_TensorProto(name: "minus1", int64: [-1], dims: [1]), Onnx_TensorProto(name: "w", w),
                     Onnx_TensorProto(name: "b", b)]
        try check(handModel(nodes: nodes, initializers: inits, output: "y"))
    }

    @Test func matMulPlusAddBecomesOneLinearLayer() throws {
        let nodes = [
            onnxNode("Flatten", name: "flatten", inputs: ["x"], outputs: ["flat"], attributes: [.int("axis", 1)]),
            onnxNode("MatMul", name: "mm", inputs: ["flat", "w"], outputs: ["m"]),
            onnxNode("Add", name: "add", inputs: ["m", "b"], outputs: ["y"]),
        ]
        try check(handModel(nodes: nodes, initializers: [Onnx_TensorProto(name: "w", w), Onnx_TensorProto(name: "b", b)], output: "y"))
    }
}

@Suite struct ONNXNamingTests {
    @Test func nodesAreNamedByThePyTorchModuleTheyComeFrom() throws {
        let nodes = [onnxNode("Relu", name: "/layer1/layer1.0/relu/Relu", inputs: ["x"], outputs: ["a"]),
                     onnxNode("Sigmoid", name: "/layer1/layer1.0/relu/Sigmoid", inputs: ["a"], outputs: ["b"]),
                     onnxNode("Relu", name: "/features/features.1/block/block.0/Relu", inputs: ["b"], outputs: ["c"]),
                     onnxNode("Flatten", name: "/Flatten", inputs: ["c"], outputs: ["y"], attributes: [.int("axis", 1)])]
        let model = try importONNX(try handModel(nodes: nodes, initializers: [], output: "y").serializedBytes(), file: "m.onnx")
        #expect(model.graph.nodes.map(\.name) == ["layer1_0_relu", "layer1_0_relu_sigmoid", "features_1_block_0", "Flatten"])
    }
}

@Suite struct ONNXReductionTests {
    @Test func aMeanOverHeightAndWidthIsGlobalPoolingAndAConcatOfOneIsItsInput() throws {
        let x = randomInputs([2, 3, 3], count: 4, seed: 5)
        for keep in [0, 1] {
            var nodes = [onnxNode("Concat", name: "one", inputs: ["x"], outputs: ["c"], attributes: [.int("axis", 1)]),
                         onnxNode("ReduceMean", name: "mean", inputs: ["c"], outputs: [keep == 1 ? "m" : "y"],
                                  attributes: [.ints("axes", [2, -1]), .int("keepdims", keep)])]
            if keep == 1 {
                nodes.append(onnxNode("Flatten", name: "flatten", inputs: ["m"], outputs: ["y"], attributes: [.int("axis", 1)]))
            }
            let model = try importONNX(try handModel(nodes: nodes, initializers: [], output: "y").serializedBytes(), file: "m.onnx")
            #expect(model.graph.nodes.map(\.layer.kind) == ["globalavgpool"], "keepdims \(keep)")
            #expect(model.graph.forward(x, mode: .inference).scalars == GlobalAvgPool().forward([x], mode: .inference).scalars)
        }
        // A Pad of zeros (as exporters write before some poolings) is nothing; one that pads is refused.
        for (pads, imported) in [([Int64](repeating: 0, count: 8), true), ([0, 0, 1, 1, 0, 0, 1, 1], false)] {
            let nodes = [onnxNode("Pad", name: "pad", inputs: ["x", "pads"], outputs: ["p"]),
                         onnxNode("GlobalAveragePool", name: "pool", inputs: ["p"], outputs: ["g"]),
                         onnxNode("Flatten", name: "flatten", inputs: ["g"], outputs: ["y"], attributes: [.int("axis", 1)])]
            let file = handModel(nodes: nodes, initializers: [Onnx_TensorProto(name: "pads", int64: pads, dims: [8])], output: "y")
            if imported {
                let model = try importONNX(try file.serializedBytes(), file: "m.onnx")
                #expect(model.graph.nodes.map(\.layer.kind) == ["globalavgpool"])
            } else {
                let refused = #expect(throws: ShrinkError.self) { try importONNX(try file.serializedBytes(), file: "m.onnx") }
                #expect(refused?.message.contains("node 'pad' (Pad): Pad [0, 0, 1, 1, 0, 0, 1, 1]") == true)
            }
        }
        let other = onnxNode("ReduceMean", name: "mean", inputs: ["x"], outputs: ["y"], attributes: [.ints("axes", [1])])
        let refused = #expect(throws: ShrinkError.self) {
            try importONNX(try handModel(nodes: [other], initializers: [], output: "y").serializedBytes(), file: "m.onnx")
        }
        #expect(refused?.message.contains("node 'mean' (ReduceMean): ReduceMean over axes [1]") == true)
    }
}

@Suite struct ONNXBadInputTests {
    func failure(_ m: Onnx_ModelProto) -> String {
        do {
            _ = try importONNX(try m.serializedBytes(), file: "bad.onnx")
            return "no error"
        } catch let error as ShrinkError {
            return error.message
        } catch {
            return "\(error)"
        }
    }

    let flatten = onnxNode("Flatten", name: "flatten", inputs: ["x"], outputs: ["y"], attributes: [.int("axis", 1)])

    @Test func namesWhatItCannotImport() throws {
        let softsign = onnxNode("Softsign", name: "gate", inputs: ["x"], outputs: ["y"])
        #expect(failure(handModel(nodes: [softsign], initializers: [], output: "y"))
            .contains("node 'gate' (Softsign): operator 'Softsign' is not supported"))
        // A hard-sigmoid whose slope is not positive has no Shrink form.
        let flat = onnxNode("HardSigmoid", name: "hs", inputs: ["x"], outputs: ["h"], attributes: [.float("alpha", 0)])
        #expect(failure(handModel(nodes: [flat, onnxNode("Flatten", name: "flatten", inputs: ["h"], outputs: ["y"],
                                                        attributes: [.int("axis", 1)])], initializers: [], output: "y"))
            .contains("node 'hs' (HardSigmoid)"))
        #expect(failure(handModel(opset: 9, nodes: [flatten], initializers: [], output: "y"))
            .contains("field 'opset_import': ai.onnx version 9 is outside 11…17"))
        var dynamic = Onnx_TensorShapeProto.Dimension()
        dynamic.dimParam = "height"
        var n = Onnx_TensorShapeProto.Dimension(), c = Onnx_TensorShapeProto.Dimension()
        n.dimParam = "N"
        c.dimValue = 2
        #expect(failure(handModel(inputDims: [n, c, dynamic, dynamic], nodes: [flatten], initializers: [], output: "y"))
            .contains("input 'x': dimension 2 is dynamic ('height')"))
        let conv = onnxNode("Conv", name: "c1", inputs: ["x", "w"], outputs: ["y"], attributes: [.ints("pads", [1, 1, 0, 0])])
        #expect(failure(handModel(nodes: [conv], initializers: [Onnx_TensorProto(name: "w", Tensor(zeros: [4, 2, 3, 3]))], output: "y"))
            .contains("node 'c1' (Conv): attribute 'pads' = [1, 1, 0, 0]"))
        let reshape = onnxNode("Reshape", name: "r", inputs: ["x", "shape"], outputs: ["y"])
        #expect(failure(handModel(nodes: [reshape], initializers: [Onnx_TensorProto(name: "shape", int64: [2, 9], dims: [2])], output: "y"))
            .contains("node 'r' (Reshape): Reshape to [2, 9]"))
    }

    @Test func truncatedFilesAreNotReadable() throws {
        let model = Model(architecture: "mlp", graph: try Architecture.mlp.makeGraph(inputShape: [4], classes: 3, seed: 1),
                          normalization: Normalization(mean: 0, std: 1))
        let bytes = try onnxModel(model).serializedBytes() as [UInt8]
        let error = #expect(throws: ShrinkError.self) { _ = try importONNX(Array(bytes.prefix(bytes.count / 2)), file: "cut.onnx") }
        #expect(error?.message.contains("cut.onnx: not a readable ONNX model") == true)
    }
}

@Suite struct ONNXQuantizedExportTests {
    func quantized(activationBits: Int) throws -> QuantizedModel {
        let graph = try Architecture.fmnistSmall.makeGraph(inputShape: [1, 12, 12], classes: 4, seed: 2)
        let model = Model(architecture: "fmnist-small", graph: graph, normalization: Normalization(mean: 0, std: 1))
        let x = randomInputs([1, 12, 12], count: 32, seed: 3)
        let data = try Dataset(inputs: x, labels: (0..<32).map { Int32($0 % 4) }, classCount: 4)
        let folded = try graph.foldingBatchNorm()
        let calibration = try calibrate(folded, on: data, samples: 32)
        let integer = try QuantizedGraph(folded: folded, calibration: calibration, activationBits: activationBits)
        return QuantizedModel(float: Model(architecture: "fmnist-small", graph: folded, normalization: model.normalization),
                              graph: integer)
    }

    @Test func writesTheQDQPattern() throws {
        let q = try quantized(activationBits: 8)
        let m = try onnxModel(q)
        let ops = m.graph.node.map(\.opType)
        // The input and every quantized edge get a Quantize/Dequantize pair; weights and biases a Dequantize.
        #expect(ops.filter { $0 == "QuantizeLinear" }.count == q.graph.edges.count - 3)   // conv1, conv2, fc1 fused into ReLUs
        #expect(ops.filter { $0 == "DequantizeLinear" }.count == ops.filter { $0 == "QuantizeLinear" }.count + 4 + 4)
        let weight = try #require(m.graph.initializer.first { $0.name == "conv1.weight_q" })
        #expect(weight.dataType == Int32(Onnx_TensorProto.DataType.int8.rawValue) && weight.rawData.count == 8 * 9)
        let bias = try #require(m.graph.initializer.first { $0.name == "conv1.bias_q" })
        #expect(bias.dataType == Int32(Onnx_TensorProto.DataType.int32.rawValue))
        #expect(m.graph.node.first { $0.name == "conv1_weight_dequantize" }?.attribute.first?.i == 0)   // axis 0
        let error = #expect(throws: ShrinkError.self) { _ = try onnxModel(try quantized(activationBits: 6)) }
        #expect(error?.message.contains("6-bit activations") == true)
    }
}
