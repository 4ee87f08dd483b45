// `shrink import` and `shrink export`: ImportPass and ExportPass — ONNX files in and out (see docs/onnx.md).
import ArgumentParser
import Foundation
import Shrink

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import an ONNX model (opsets 11–17) as a Shrink model file.",
        discussion: """
            Supported operators: Conv (groups, pads, strides), Gemm, MatMul (+ Add as its bias), Sigmoid, HardSigmoid, \
            HardSwish, LeakyRelu, \
            BatchNormalization, Relu, Clip (ReLU and ReLU6-like caps), MaxPool, AveragePool, GlobalAveragePool, \
            Flatten and the Reshape of the flatten pattern (constant or computed from Shape), Add, Concat, \
            Dropout, Identity, Constant. Initializers become the weights. Anything else is an error naming the \
            operator and the node. The input's sample shape must be fixed (only the batch dimension may vary). \
            Files written by 'shrink export' carry their normalisation; for others give --mean and --std, the \
            normalisation the network expects of inputs scaled to [0, 1] (default none).
            """)

    @Argument(help: "The ONNX file.")
    var model: String

    @Option(help: "Output model file (.safetensors); written atomically.")
    var out: String

    @Option(help: "Mean subtracted from inputs scaled to [0, 1] (with --std).")
    var mean: Float?

    @Option(help: "Standard deviation inputs are divided by (with --mean).")
    var std: Float?

    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        guard (mean == nil) == (std == nil) else { throw ValidationError("--mean and --std go together") }
        if let std, !(std > 0 && std.isFinite) { throw ValidationError("--std must be positive, got \(std)") }
        if let mean, !mean.isFinite { throw ValidationError("--mean must be finite") }
    }

    func run() throws {
        try reporting {
            runtime.apply()
            try checkWritable(out)
            let normalization = mean.map { Normalization(mean: $0, std: std ?? 1) }
            let result = try ImportPass(file: model, normalization: normalization).run(nil, data: nil)
            try result.model.save(to: out)
            let d = try details(of: result.report, as: ImportPass.Details.self)
            try emit(result.report, out: out, json: runtime.json, line:
                "imported \(model) (opset \(d.opset)): \(d.nodes) nodes, \(groupedThousands(d.parameters)) parameters, "
                + "\(groupedThousands(d.macs)) MACs, input \(d.input_shape), \(d.classes) classes; saved \(out)")
        }
    }
}

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export a Shrink model as ONNX (opset 17): float, or int8 in the QDQ format.",
        discussion: """
            One ONNX node per layer (global average pooling becomes GlobalAveragePool + Flatten, dropout \
            Identity), weights as initializers named like the model file's tensors, a symbolic batch dimension. \
            The graph takes normalised inputs; the normalisation and the architecture are in metadata_props, \
            which 'shrink import' reads back. An integer-engine model (from 'shrink quantize' or 'shrink qat') is \
            exported in the QDQ format: QuantizeLinear/DequantizeLinear on every quantized edge (uint8), int8 \
            weights with per-channel scales on axis 0, int32 biases, which ONNX Runtime runs on its int8 kernels. \
            Weight-only and binarized files are refused.
            """)

    @Argument(help: "The model file (.safetensors).")
    var model: String

    @Option(help: "Output ONNX file; written atomically.")
    var out: String

    @OptionGroup var runtime: RuntimeOptions

    func run() throws {
        try reporting {
            runtime.apply()
            try checkWritable(out)
            let result = try ExportPass(out: out).run(try ShrinkModel.load(from: model), data: nil)
            let d = try details(of: result.report, as: ExportPass.Details.self)
            try emit(result.report, out: out, json: runtime.json, line:
                "exported \(model) → \(out) (opset \(d.opset), \(groupedThousands(Int(d.bytes) ?? 0)) bytes)")
        }
    }
}
